-- Per-term completeness by data domain, for each school and rolled up to commune, managing
-- unit and province: the share of expected records present, the share of present records
-- with every required field, and the share of schools that reported by the deadline.
with

per_school as (
    select * from {{ ref('int_completeness') }}
),

rolled_up as (
    select
        {{ unit_rollup_columns() }},
        school_year,
        term,
        data_domain,
        count(*) as expected_schools,
        count(*) filter (where present_records > 0) as reporting_schools,
        count(*) filter (where reported_by_deadline) as schools_on_time,
        sum(expected_records) as expected_records,
        sum(present_records) as present_records,
        sum(complete_records) as complete_records
    from per_school
    group by {{ unit_rollup_grouping_sets(['school_year', 'term', 'data_domain']) }}
),

final as (
    select
        aggregation_level || ':' || unit_code || ':' || school_year || ':' || term || ':'
        || data_domain as completeness_key,
        aggregation_level,
        unit_code,
        school_year,
        term,
        data_domain,
        expected_schools,
        reporting_schools,
        schools_on_time,
        expected_records,
        present_records,
        complete_records,
        {{ safe_rate('present_records', 'expected_records') }} as record_completeness,
        {{ safe_rate('complete_records', 'present_records') }} as field_completeness,
        {{ safe_rate('schools_on_time', 'expected_schools') }} as timeliness,
        {{ score_colour(safe_rate('present_records', 'expected_records')) }} as colour
    from rolled_up
    where unit_code is not null
)

select * from final
