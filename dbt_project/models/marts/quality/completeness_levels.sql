-- Completeness of each unit split by school level (cấp học): per commune, managing unit and
-- the province, level, term and data domain, the records expected and present and the schools
-- expected and reporting. A level's rows of a unit add up to the unit's row of completeness.
{#- the communes, managing units and the province: a school is of one level -#}
{%- set levels = ['xa', 'don_vi_quan_ly', 'tinh'] %}
with

per_school as (
    select * from {{ ref('int_completeness') }}
),

rolled_up as (
    select
        {{ unit_rollup_columns(levels) }},
        coalesce(school_level, 'chua_xac_dinh') as school_level,
        school_year,
        term,
        data_domain,
        count(*) as expected_schools,
        count(*) filter (where present_records > 0) as reporting_schools,
        sum(expected_records) as expected_records,
        sum(present_records) as present_records,
        sum(complete_records) as complete_records
    from per_school
    group by {{ unit_rollup_grouping_sets(
        ['school_level', 'school_year', 'term', 'data_domain'], levels
    ) }}
),

final as (
    select
        aggregation_level || ':' || unit_code || ':' || school_level || ':' || school_year
        || ':' || term || ':' || data_domain as completeness_level_key,
        aggregation_level,
        unit_code,
        school_level,
        school_year,
        term,
        data_domain,
        expected_schools,
        reporting_schools,
        expected_records,
        present_records,
        complete_records,
        {{ safe_rate('present_records', 'expected_records') }} as record_completeness
    from rolled_up
    where unit_code is not null
)

select * from final
