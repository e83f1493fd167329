-- The đúng-đủ-sạch-sống scorecard: passed / applicable per unit, term and criterion, for
-- schools and rolled up to commune, managing unit and province.
with

checks as (
    select * from {{ ref('int_quality_checks') }}
),

rolled_up as (
    select
        {{ unit_rollup_columns() }},
        school_year,
        term,
        criterion,
        count(*) as applicable,
        count(*) filter (where passed) as passed
    from checks
    group by {{ unit_rollup_grouping_sets(['school_year', 'term', 'criterion']) }}
),

final as (
    select
        aggregation_level || ':' || unit_code || ':' || school_year || ':' || term || ':'
        || criterion as scorecard_key,
        aggregation_level,
        unit_code,
        school_year,
        term,
        criterion,
        applicable,
        passed,
        {{ safe_rate('passed', 'applicable') }} as score,
        {{ score_colour(safe_rate('passed', 'applicable')) }} as colour
    from rolled_up
    where unit_code is not null
)

select * from final
