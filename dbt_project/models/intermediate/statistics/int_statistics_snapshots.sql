-- The statistics frozen at the official data dates of each school year (Thông tư 25/2024:
-- the start-of-year figures as of 30 September, the end-of-year ones as of 31 May; the dates
-- of the school calendar): the learners' and the schools' figures of the run closest on or
-- after the date, kept from then on. A later run of the year leaves them as they are; a run
-- of an earlier day still on or after the date (a backfill of the date itself) replaces them.
-- One row per figure (long form: a form, a statistic, a measure, its value), so both forms
-- share one table; a school's learners are counted by grade and sex only
-- (statistics_school_learners); the year's outcomes (statistics_year_end) only at the
-- end-of-year date. Incremental and never rebuilt in full: the figures of a past
-- date cannot be computed again from the sources' current versions.
{{ config(
    materialized='incremental',
    unique_key=['school_year', 'data_point'],
    incremental_strategy='delete+insert',
    full_refresh=false,
    on_schema_change='fail',
) }}

with

term as (
    select * from {{ ref('int_term_context') }}
),

years as (
    select * from {{ ref('int_school_years') }}
),

-- the data date the run's day has reached in its school year, if any
data_date as (
    select
        years.school_year,
        term.as_of_date,
        case
            when term.as_of_date >= years.end_of_year_data_date then 'cuoi_nam'
            else 'dau_nam'
        end as data_point,
        case
            when term.as_of_date >= years.end_of_year_data_date
                then years.end_of_year_data_date
            else years.start_of_year_data_date
        end as data_date
    from years
    inner join term on years.school_year = term.school_year
    where term.as_of_date >= years.start_of_year_data_date
),

learner_figures as (
    select
        'hoc_sinh' as form,
        statistic_key,
        aggregation_level,
        unit_code,
        school_level,
        grade,
        sex,
        ethnicity,
        'learners' as measure,
        learners as figure,
        is_suppressed
    from {{ ref('statistics_learners') }}
    union all
    select
        'hoc_sinh' as form,
        statistic_key,
        aggregation_level,
        unit_code,
        school_level,
        grade,
        sex,
        null::text as ethnicity,
        'learners' as measure,
        learners as figure,
        is_suppressed
    from {{ ref('statistics_school_learners') }}
),

school_figures as (
    select
        'truong' as form,
        schools.statistic_key,
        schools.aggregation_level,
        schools.unit_code,
        schools.school_level,
        null::integer as grade,
        null::text as sex,
        null::text as ethnicity,
        measures.measure,
        measures.figure,
        false as is_suppressed
    from {{ ref('statistics_schools') }} as schools
    cross join lateral (
        values
        ('schools', schools.schools),
        ('classes', schools.classes),
        ('staff', schools.staff),
        ('teachers', schools.teachers),
        ('managers', schools.managers),
        ('employees', schools.employees),
        ('teachers_university_or_above', schools.teachers_university_or_above),
        ('classrooms', schools.classrooms),
        ('solid_classrooms', schools.solid_classrooms),
        ('schools_with_clean_water', schools.schools_with_clean_water),
        ('toilets', schools.toilets),
        ('schools_with_minimum_equipment', schools.schools_with_minimum_equipment),
        ('teacher_housing', schools.teacher_housing)
    ) as measures (measure, figure)
),

-- the year's outcomes and the indicators from them: figures of the end-of-year data point only
year_end_figures as (
    select
        'ket_qua_cuoi_nam' as form,
        statistic_key,
        aggregation_level,
        unit_code,
        school_level,
        grade,
        null::text as sex,
        null::text as ethnicity,
        outcome as measure,
        learners as figure,
        is_suppressed
    from {{ ref('statistics_year_end') }}
    union all
    select
        'ket_qua_cuoi_nam' as form,
        rates.statistic_key,
        rates.aggregation_level,
        rates.unit_code,
        rates.school_level,
        rates.grade,
        null::text as sex,
        null::text as ethnicity,
        measures.measure,
        measures.figure,
        rates.is_suppressed
    from {{ ref('statistics_year_end_rates') }} as rates
    cross join lateral (
        values
        ('promotion_rate', rates.promotion_rate),
        ('retest_rate', rates.retest_rate),
        ('repetition_rate', rates.repetition_rate),
        ('not_evaluated_share', rates.not_evaluated_share),
        ('dropout_rate', rates.dropout_rate),
        ('completion_rate', rates.completion_rate)
    ) as measures (measure, figure)
),

figures as (
    select * from learner_figures
    union all
    select * from school_figures
    union all
    select * from year_end_figures
),

final as (
    select
        data_date.school_year || ':' || data_date.data_point || ':' || figures.form || ':'
        || figures.statistic_key || ':' || figures.measure as snapshot_key,
        data_date.school_year,
        data_date.data_point,
        data_date.data_date,
        data_date.as_of_date as figures_as_of,
        figures.*
    from figures
    cross join data_date
    where figures.form != 'ket_qua_cuoi_nam' or data_date.data_point = 'cuoi_nam'
)

select * from final
{% if is_incremental() %}
where
    not exists (
        select 1
        from {{ this }} as kept
        where
            kept.school_year = final.school_year
            and kept.data_point = final.data_point
            and kept.figures_as_of <= final.figures_as_of
    )
{% endif %}
