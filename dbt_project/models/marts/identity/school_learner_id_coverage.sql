with

schools as (
    select * from {{ ref('stg_sms_vendor_a__schools') }}
),

learners as (
    select * from {{ ref('stg_sms_vendor_a__learners') }}
),

learner_counts as (
    select
        school_code,
        count(*) as learner_count,
        count(*) filter (where personal_id ~ '^\d{12}$') as learners_with_personal_id
    from learners
    group by school_code
),

final as (
    select
        schools.school_code,
        schools.school_name,
        schools.school_level,
        schools.commune_code,
        schools.managing_unit,
        coalesce(learner_counts.learner_count, 0) as learner_count,
        coalesce(learner_counts.learners_with_personal_id, 0) as learners_with_personal_id,
        round(
            coalesce(learner_counts.learners_with_personal_id, 0)::numeric
            / nullif(learner_counts.learner_count, 0),
            4
        ) as personal_id_share
    from schools
    left join learner_counts on schools.school_code = learner_counts.school_code
)

select * from final
