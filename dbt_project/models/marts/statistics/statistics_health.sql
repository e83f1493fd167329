-- School health (y tế học đường) of the learners studying: nutrition status from the health
-- checks of the school year, by level and sex, per commune and for the province. Health is
-- sensitive data: published only as counts, counts of fewer than 5 learners suppressed.
-- The planner takes the filtered staging views for a row or two and joins the health checks
-- to the learners in a nested loop: hours at province scale. Hash joins for this model only
-- (`set local`: the model's transaction).
{{ config(pre_hook="set local enable_nestloop = off") }}
with

checks as (
    select
        moet_id,
        school_code,
        school_year,
        nutrition_status
    from {{ ref('stg_sms_vendor_a__health') }}
    union all
    select
        moet_id,
        school_code,
        school_year,
        nutrition_status
    from {{ ref('stg_sms_vendor_b__health') }}
),

learners as (
    select * from {{ ref('int_learners') }}
    where enrolment_status = 'dang_hoc'
),

term as (
    select * from {{ ref('int_term_context') }}
),

checked as (
    select
        learners.commune_code,
        learners.school_level,
        learners.sex,
        checks.nutrition_status
    from checks
    inner join learners
        on
            checks.school_code = learners.school_code
            and checks.moet_id = learners.moet_id
    where checks.school_year = (select term.school_year from term)
),

cells as (
    select
        case when grouping(commune_code) = 0 then 'xa' else 'tinh' end as aggregation_level,
        case when grouping(commune_code) = 0 then commune_code else '80' end as unit_code,
        coalesce(school_level, 'chua_xac_dinh') as school_level,
        coalesce(sex, 'chua_xac_dinh') as sex,
        coalesce(nutrition_status, 'chua_xac_dinh') as nutrition_status,
        count(*) as person_count
    from checked
    group by grouping sets (
        (commune_code, school_level, sex, nutrition_status),
        (school_level, sex, nutrition_status)
    )
),

{{ suppress_small_cells(
    'cells', ['school_level', 'sex', 'nutrition_status'], 'learners',
    margin=['school_level', 'sex']
) }},

final as (
    select
        concat_ws(
            ':', published.aggregation_level, published.unit_code, published.school_level,
            published.sex, published.nutrition_status
        ) as statistic_key,
        term.school_year,
        published.*
    from published
    cross join term
    where published.unit_code is not null
)

select * from final
