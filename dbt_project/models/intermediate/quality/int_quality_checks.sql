-- Every check of every rule, with where it counts: school, commune, managing unit.
with

learner_checks as (
    select * from {{ ref('int_learner_checks') }}
),

staff_checks as (
    select * from {{ ref('int_staff_checks') }}
),

school_checks as (
    select * from {{ ref('int_school_checks') }}
),

resident_checks as (
    select * from {{ ref('int_resident_checks') }}
),

schools as (
    select * from {{ ref('int_schools') }}
),

rules as (
    select * from {{ ref('quality_rules') }}
),

term as (
    select * from {{ ref('int_term_context') }}
),

checks as (
    select
        rule_id,
        entity,
        record_key,
        school_code,
        passed,
        null::text as resident_commune_code
    from learner_checks
    union all
    select
        rule_id,
        entity,
        record_key,
        school_code,
        passed,
        null::text as resident_commune_code
    from staff_checks
    union all
    select
        rule_id,
        entity,
        record_key,
        school_code,
        passed,
        null::text as resident_commune_code
    from school_checks
    union all
    select
        rule_id,
        entity,
        record_key,
        school_code,
        passed,
        resident_commune_code
    from resident_checks
),

final as (
    select
        checks.rule_id,
        rules.criterion,
        checks.entity,
        checks.record_key,
        checks.school_code,
        coalesce(schools.commune_code, checks.resident_commune_code) as commune_code,
        coalesce(schools.managing_unit, checks.resident_commune_code) as managing_unit,
        -- checks of PCGD-XMC residents belong to no school: their level is "không theo trường"
        coalesce(schools.school_level, 'khong_theo_truong') as school_level,
        term.school_year,
        term.term,
        checks.passed
    from checks
    inner join rules on checks.rule_id = rules.rule_id
    left join schools on checks.school_code = schools.school_code
    cross join term
)

select * from final
