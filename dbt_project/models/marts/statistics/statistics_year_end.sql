-- The learners' outcomes of the school year: the end-of-year forms of Thông tư 25/2024 (data
-- as of 31 May), with the outcomes of Thông tư 22/2021 (secondary) and 27/2020 (primary).
-- Per commune and for the province by level and grade, per school by level: the persons of
-- the year (grades 1 to 12, int_counted_learners) by outcome: promoted (len_lop), the last
-- grade of a level completed (hoan_thanh_cap_hoc: primary completed, lower secondary
-- graduated, upper secondary completed), a summer re-test (kiem_tra_lai), kept back
-- (o_lai_lop), not evaluated yet (chua_danh_gia: no whole-year result), dropped out in the
-- year (bo_hoc). Counts of fewer than 5 persons are suppressed, with their complements (macro
-- suppress_small_cells; a school's own by complement_small_cells).
with

learners as (
    select * from {{ ref('int_counted_learners') }}
    where grade >= 1
),

term as (
    select * from {{ ref('int_term_context') }}
),

outcomes as (
    select
        school_code,
        commune_code,
        coalesce(school_level, 'chua_xac_dinh') as school_level,
        grade,
        case
            when enrolment_status = 'bo_hoc' then 'bo_hoc'
            else coalesce(year_end_outcome, 'chua_danh_gia')
        end as outcome
    from learners
),

cells as (
    select
        {{ unit_rollup_columns(['xa', 'tinh']) }},
        school_level,
        grade,
        outcome,
        count(*) as person_count
    from outcomes
    group by {{ unit_rollup_grouping_sets(['school_level', 'grade', 'outcome'], ['xa', 'tinh']) }}
),

{#- a grade's persons of the year are the margin: the outcomes are what suppression protects -#}
{{ suppress_small_cells(
    'cells', ['school_level', 'grade', 'outcome'], 'learners', margin=['school_level', 'grade']
) }},

-- a school's grades are too small to show a kept-back learner or two: by level only
school_cells as (
    select
        'truong' as aggregation_level,
        school_code as unit_code,
        school_level,
        null::integer as grade,
        outcome,
        count(*) as person_count,
        count(*) < {{ var('small_cell_threshold') }} as is_small
    from outcomes
    group by school_code, school_level, outcome
),

{{ complement_small_cells('school_cells', 'school_suppressed', ['school_level', 'outcome'],
                          ['school_level'], withhold_hidden_groups=true) }},

school_published as (
    select
        aggregation_level,
        unit_code,
        school_level,
        grade,
        outcome,
        case when not is_suppressed then person_count end as learners,
        is_suppressed
    from school_suppressed
),

all_published as (
    select * from published
    where unit_code is not null
    union all
    select * from school_published
    where unit_code is not null
),

final as (
    select
        concat_ws(
            ':', all_published.aggregation_level, all_published.unit_code,
            all_published.school_level, all_published.grade, all_published.outcome
        ) as statistic_key,
        term.school_year,
        term.term,
        all_published.*
    from all_published
    cross join term
)

select * from final
