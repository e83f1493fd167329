-- The rules of the catalogue about staff, schools and PCGD-XMC residents: one row per record
-- and rule, whether it passes.
with

staff as (
    select * from {{ ref('int_staff') }}
),

schools as (
    select * from {{ ref('int_schools') }}
),

residents as (
    select * from {{ ref('stg_pcgd__residents') }}
),

learners as (
    select * from {{ ref('int_learners') }}
),

households as (
    select * from {{ ref('stg_pcgd__households') }}
),

term as (
    select * from {{ ref('int_term_context') }}
),

learner_ids as (
    select distinct personal_id from learners
    where personal_id is not null
),

learner_names as (
    select distinct
        full_name,
        date_of_birth
    from learners
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
        'DU_STAFF_QUALIFICATION',
        'staff',
        staff_key,
        school_code,
        qualification is not null
    from staff
    where staff_role in ('giao_vien', 'can_bo_quan_ly')
    union all
    select
        'DUNG_COMMUNE_CODE',
        'school',
        school_code as record_key,
        school_code,
        commune_code_status = 'hien_hanh'
    from schools
    where reported_commune_code is not null
    union all
    -- a child of school age (6 to 14 at the start of the school year) in no school. The census
    -- may list a child as studying before the school lists the child: schools have until the
    -- term's reporting deadline to enter learners enrolled during the term, so such a child
    -- is missing only once a deadline has passed since the census recorded the household.
    select
        'DU_PCGD_ENROLLED',
        'pcgd_resident',
        residents.resident_id,
        null,
        learner_ids.personal_id is not null
        or learner_names.full_name is not null
        or (
            starts_with(residents.education_status, 'dang_hoc')
            and coalesce(
                term.due_deadline is null
                or (census.source_updated_at at time zone interval '+07:00')::date
                > term.due_deadline,
                false
            )
        )
    from residents
    left join households as census on residents.household_id = census.household_id
    left join term on true
    left join learner_ids on residents.personal_id = learner_ids.personal_id
    left join learner_names
        on
            residents.full_name = learner_names.full_name
            and residents.date_of_birth = learner_names.date_of_birth
    where
        term.first_year - extract(year from residents.date_of_birth) between 6 and 14
),

final as (
    select
        checks.rule_id,
        checks.entity,
        checks.record_key,
        checks.school_code,
        checks.passed,
        households.commune_code as resident_commune_code
    from checks
    left join
        residents
        on checks.entity = 'pcgd_resident' and checks.record_key = residents.resident_id
    left join households on residents.household_id = households.household_id
)

select * from final
