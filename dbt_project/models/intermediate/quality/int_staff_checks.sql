-- The rules of the catalogue about staff: one row per staff record and rule, whether it passes.
with

staff as (
    select * from {{ ref('int_staff') }}
),

checks as (
    select
        'DU_STAFF_PERSONAL_ID' as rule_id,
        'staff' as entity,
        staff_key as record_key,
        school_code,
        personal_id is not null as passed
    from staff
    union all
    select
        'DU_STAFF_QUALIFICATION' as rule_id,
        'staff' as entity,
        staff_key as record_key,
        school_code,
        qualification is not null as passed
    from staff
    where staff_role in ('giao_vien', 'can_bo_quan_ly')
)

select * from checks
