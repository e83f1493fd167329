-- The rules of the catalogue about PCGD-XMC residents: one row per resident and rule, whether
-- it passes, with the commune of the resident's household (a resident has no school).
with

residents as (
    select * from {{ ref('stg_pcgd__residents') }}
),

households as (
    select * from {{ ref('stg_pcgd__households') }}
),

learners as (
    select * from {{ ref('int_learners') }}
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

-- a child of school age (6 to 14 at the start of the school year) in no school. The census
-- may list a child as studying before the school lists the child: schools have until the
-- term's reporting deadline to enter learners enrolled during the term, so such a child
-- is missing only once a deadline has passed since the census recorded the household.
checks as (
    select
        'DU_PCGD_ENROLLED' as rule_id,
        'pcgd_resident' as entity,
        residents.resident_id as record_key,
        null::text as school_code,
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
        ) as passed,
        census.commune_code as resident_commune_code
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
)

select * from checks
