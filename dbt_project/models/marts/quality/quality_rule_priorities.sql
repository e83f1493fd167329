-- Each rule of the catalogue against its target, per managing unit and school level and for
-- the province: the score, how far it is below the target, and the rank of the units that
-- most need help on that rule and level (1 = the lowest score; ties: more failing records
-- first). What the Sở looks at to decide where to send support.
with

checks as (
    select * from {{ ref('int_quality_checks') }}
),

rules as (
    select * from {{ ref('quality_rules') }}
),

rolled_up as (
    select
        case
            when grouping(managing_unit) = 0 then 'don_vi_quan_ly' else 'tinh'
        end as aggregation_level,
        case when grouping(managing_unit) = 0 then managing_unit else '80' end as unit_code,
        school_level,
        school_year,
        term,
        rule_id,
        criterion,
        count(*) as applicable,
        count(*) filter (where passed) as passed
    from checks
    group by grouping sets (
        (managing_unit, school_level, school_year, term, rule_id, criterion),
        (school_level, school_year, term, rule_id, criterion)
    )
),

scored as (
    select
        rolled_up.*,
        rules.target,
        {{ safe_rate('rolled_up.passed', 'rolled_up.applicable') }} as score
    from rolled_up
    inner join rules on rolled_up.rule_id = rules.rule_id
    where rolled_up.unit_code is not null
),

final as (
    select
        concat_ws(
            ':', aggregation_level, unit_code, school_level, school_year, term, rule_id
        ) as priority_key,
        aggregation_level,
        unit_code,
        school_level,
        school_year,
        term,
        rule_id,
        criterion,
        applicable,
        passed,
        applicable - passed as failing,
        score,
        target,
        round(target::numeric - score, 4) as gap_to_target,
        score < target as below_target,
        rank() over (
            partition by aggregation_level, school_level, school_year, term, rule_id
            order by score asc, applicable - passed desc, unit_code asc
        ) as need_rank
    from scored
)

select * from final
