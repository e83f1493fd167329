-- The failing rows of every quality rule, with the rule's Vietnamese description and what to
-- do: what the schools' worklists list (worklist.school_failures adds class and name, migration
-- 0007). No personal data beyond the record key.
with

checks as (
    select * from {{ ref('int_quality_checks') }}
),

rules as (
    select * from {{ ref('quality_rules') }}
),

final as (
    select
        checks.rule_id,
        checks.criterion,
        checks.entity,
        checks.record_key,
        checks.school_code,
        checks.commune_code,
        checks.managing_unit,
        checks.school_year,
        checks.term,
        rules.severity,
        rules.field_vi,
        rules.description_vi,
        rules.resolution_vi
    from checks
    inner join rules on checks.rule_id = rules.rule_id
    where not checks.passed
)

select * from final
