-- The đúng-đủ-sạch-sống scorecard of each unit split by school level (cấp học): passed /
-- applicable per commune, managing unit and the province, level, term and criterion. A
-- level's rows of a unit add up to the unit's row of quality_scorecard. Checks of PCGD-XMC
-- residents belong to no school: their level is "không theo trường" (int_quality_checks).
{#- the communes, managing units and the province: a school is of one level -#}
{%- set levels = ['xa', 'don_vi_quan_ly', 'tinh'] %}
with

checks as (
    select * from {{ ref('int_quality_checks') }}
),

rolled_up as (
    select
        {{ unit_rollup_columns(levels) }},
        school_level,
        school_year,
        term,
        criterion,
        count(*) as applicable,
        count(*) filter (where passed) as passed
    from checks
    group by {{ unit_rollup_grouping_sets(
        ['school_level', 'school_year', 'term', 'criterion'], levels
    ) }}
),

final as (
    select
        aggregation_level || ':' || unit_code || ':' || school_level || ':' || school_year
        || ':' || term || ':' || criterion as scorecard_level_key,
        aggregation_level,
        unit_code,
        school_level,
        school_year,
        term,
        criterion,
        applicable,
        passed,
        {{ safe_rate('passed', 'applicable') }} as score
    from rolled_up
    where unit_code is not null
)

select * from final
