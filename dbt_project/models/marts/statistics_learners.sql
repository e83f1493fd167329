-- Learners studying, in the shape of the statistical reports (Thông tư 03/2024): by level,
-- grade, sex and ethnicity, per commune and for the province.
with

learners as (
    select * from {{ ref('int_learners') }}
    where enrolment_status = 'dang_hoc'
),

term as (
    select * from {{ ref('int_term_context') }}
),

rolled_up as (
    select
        case when grouping(commune_code) = 0 then 'xa' else 'tinh' end as aggregation_level,
        case when grouping(commune_code) = 0 then commune_code else '80' end as unit_code,
        coalesce(school_level, 'chua_xac_dinh') as school_level,
        grade,
        coalesce(sex, 'chua_xac_dinh') as sex,
        coalesce(ethnicity, 'chua_xac_dinh') as ethnicity,
        count(*) as learners
    from learners
    group by grouping sets (
        (commune_code, school_level, grade, sex, ethnicity),
        (school_level, grade, sex, ethnicity)
    )
),

final as (
    select
        concat_ws(
            ':', rolled_up.aggregation_level, rolled_up.unit_code, rolled_up.school_level,
            rolled_up.grade, rolled_up.sex, rolled_up.ethnicity
        ) as statistic_key,
        term.school_year,
        term.term,
        rolled_up.*
    from rolled_up
    cross join term
    where rolled_up.unit_code is not null
)

select * from final
