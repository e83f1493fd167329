-- The rules of the catalogue about schools: one row per school and rule, whether it passes.
with

schools as (
    select * from {{ ref('int_schools') }}
),

checks as (
    select
        'DUNG_COMMUNE_CODE' as rule_id,
        'school' as entity,
        school_code as record_key,
        school_code,
        commune_code_status = 'hien_hanh' as passed
    from schools
    where reported_commune_code is not null
)

select * from checks
