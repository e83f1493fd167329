-- Learners studying, in the shape of the statistical reports (Thông tư 03/2024): by level,
-- grade, sex and ethnicity, per commune and for the province. Ethnicity is sensitive data: it
-- is published only as counts, counts of fewer than 5 learners are suppressed, and so are the
-- cells that would let a total give them away (macro suppress_small_cells).
with

-- each person once (int_counted_learners)
learners as (
    select * from {{ ref('int_counted_learners') }}
    where enrolment_status = 'dang_hoc'
),

term as (
    select * from {{ ref('int_term_context') }}
),

cells as (
    select
        case when grouping(commune_code) = 0 then 'xa' else 'tinh' end as aggregation_level,
        case when grouping(commune_code) = 0 then commune_code else '80' end as unit_code,
        coalesce(school_level, 'chua_xac_dinh') as school_level,
        grade,
        coalesce(sex, 'chua_xac_dinh') as sex,
        coalesce(ethnicity, 'chua_xac_dinh') as ethnicity,
        count(*) as person_count
    from learners
    group by grouping sets (
        (commune_code, school_level, grade, sex, ethnicity),
        (school_level, grade, sex, ethnicity)
    )
),

{#- a commune's learners of a level and grade are known (exam_readiness, the other cells):
    suppression within them is complemented -#}
{{ suppress_small_cells(
    'cells', ['school_level', 'grade', 'sex', 'ethnicity'], 'learners',
    margin=['school_level', 'grade']
) }},

final as (
    select
        concat_ws(
            ':', published.aggregation_level, published.unit_code, published.school_level,
            published.grade, published.sex, published.ethnicity
        ) as statistic_key,
        term.school_year,
        term.term,
        published.*
    from published
    cross join term
    where published.unit_code is not null
)

select * from final
