-- Learners studying per school, by level, grade and sex: the learners' form of a school's own
-- statistics report (Thông tư 25/2024). Ethnicity is not broken down per school (the commune
-- and province forms carry it, statistics_learners): a school's few learners of a minority are
-- too easily known. Cells of fewer than 5 learners are suppressed, with the complementary
-- suppression within each grade of the school, and a grade whose every cell is suppressed is
-- not published (as suppress_small_cells does for the communes).
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
        'truong' as aggregation_level,
        school_code as unit_code,
        coalesce(school_level, 'chua_xac_dinh') as school_level,
        grade,
        coalesce(sex, 'chua_xac_dinh') as sex,
        count(*) as person_count,
        count(*) < {{ var('small_cell_threshold') }} as is_small
    from learners
    group by school_code, school_level, grade, sex
),

{{ complement_small_cells('cells', 'published', ['school_level', 'grade', 'sex'],
                          ['school_level', 'grade'], withhold_hidden_groups=true) }},

final as (
    select
        concat_ws(
            ':', published.aggregation_level, published.unit_code, published.school_level,
            published.grade, published.sex
        ) as statistic_key,
        term.school_year,
        term.term,
        published.aggregation_level,
        published.unit_code,
        published.school_level,
        published.grade,
        published.sex,
        case when not published.is_suppressed then published.person_count end as learners,
        published.is_suppressed
    from published
    cross join term
)

select * from final
