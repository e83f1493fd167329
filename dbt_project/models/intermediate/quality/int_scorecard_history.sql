-- The đúng-đủ-sạch-sống scorecard of every term the platform has evaluated: each run replaces
-- its own term's figures and keeps the terms before as their last run left them, so the
-- trend compares this term with the one before (marts.quality_trend). Incremental and never
-- rebuilt in full (full_refresh: false): the past terms' checks are gone from the sources'
-- current versions. A run for an earlier day of a term (a backfill) leaves the figures of a
-- later day of that term in place.
{{ config(
    materialized='incremental',
    unique_key=['school_year', 'term'],
    incremental_strategy='delete+insert',
    full_refresh=false,
    on_schema_change='fail',
) }}

with

checks as (
    select * from {{ ref('int_quality_checks') }}
),

term as (
    select * from {{ ref('int_term_context') }}
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
        rolled_up.aggregation_level || ':' || rolled_up.unit_code || ':'
        || rolled_up.school_year || ':' || rolled_up.term || ':'
        || rolled_up.criterion as scorecard_key,
        rolled_up.aggregation_level,
        rolled_up.unit_code,
        rolled_up.school_year,
        rolled_up.term,
        term.term_start,
        rolled_up.criterion,
        rolled_up.applicable,
        rolled_up.passed,
        {{ safe_rate('rolled_up.passed', 'rolled_up.applicable') }} as score,
        term.as_of_date as figures_as_of
    from rolled_up
    inner join term
        on
            rolled_up.school_year = term.school_year
            and rolled_up.term = term.term
    where rolled_up.unit_code is not null
)

select * from final
{% if is_incremental() %}
where
    not exists (
        select 1
        from {{ this }} as kept
        where
            kept.school_year = final.school_year
            and kept.term = final.term
            and kept.figures_as_of > final.figures_as_of
    )
{% endif %}
