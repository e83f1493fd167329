-- PCGD-XMC against the school records, per commune: school-age children (6-14) of the
-- census found enrolled or not, enrolled learners missing from the census, and the
-- universal-education and literacy rates the census gives.
with

checks as (
    select * from {{ ref('int_quality_checks') }}
    where rule_id in ('DU_PCGD_ENROLLED', 'DU_LEARNER_IN_PCGD')
),

residents as (
    select * from {{ ref('stg_pcgd__residents') }}
),

communes as (
    select * from {{ ref('communes') }}
),

term as (
    select * from {{ ref('int_term_context') }}
),

-- ages as counted at the start of the school year: its first calendar year minus the birth year
ages as (
    select
        residents.commune_code,
        residents.education_status,
        term.first_year - extract(year from residents.date_of_birth)::integer as age
    from residents
    cross join term
),

census as (
    select
        commune_code,
        count(*) filter (where age between 6 and 10) as children_6_10,
        count(*) filter (
            where age between 6 and 10 and education_status = 'dang_hoc_tieu_hoc'
        ) as children_6_10_in_primary,
        count(*) filter (where age between 11 and 14) as children_11_14,
        count(*) filter (
            where age between 11 and 14 and education_status = 'dang_hoc_thcs'
        ) as children_11_14_in_thcs,
        count(*) filter (where age between 15 and 60) as people_15_60,
        count(*) filter (where age between 15 and 60 and education_status <> 'mu_chu')
            as literate_15_60
    from ages
    group by commune_code
),

reconciled as (
    select
        commune_code,
        count(*) filter (where rule_id = 'DU_PCGD_ENROLLED') as school_age_children,
        count(*) filter (where rule_id = 'DU_PCGD_ENROLLED' and passed)
            as school_age_children_enrolled,
        count(*) filter (where rule_id = 'DU_LEARNER_IN_PCGD') as enrolled_learners,
        count(*) filter (where rule_id = 'DU_LEARNER_IN_PCGD' and not passed)
            as enrolled_learners_missing_from_pcgd
    from checks
    where commune_code is not null
    group by commune_code
),

final as (
    select
        communes.commune_code,
        communes.commune_name,
        coalesce(reconciled.school_age_children, 0) as school_age_children,
        coalesce(reconciled.school_age_children_enrolled, 0) as school_age_children_enrolled,
        {{ safe_rate('reconciled.school_age_children_enrolled', 'reconciled.school_age_children') }}
            as enrolment_rate,
        coalesce(reconciled.enrolled_learners, 0) as enrolled_learners,
        coalesce(reconciled.enrolled_learners_missing_from_pcgd, 0)
            as enrolled_learners_missing_from_pcgd,
        {{ safe_rate('census.children_6_10_in_primary', 'census.children_6_10') }}
            as primary_universal_rate,
        {{ safe_rate('census.children_11_14_in_thcs', 'census.children_11_14') }}
            as lower_secondary_universal_rate,
        {{ safe_rate('census.literate_15_60', 'census.people_15_60') }} as literacy_rate_15_60
    from communes
    left join reconciled on communes.commune_code = reconciled.commune_code
    left join census on communes.commune_code = census.commune_code
)

select * from final
