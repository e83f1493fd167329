-- The đúng-đủ-sạch-sống scorecard of every term the platform has evaluated: each run replaces
-- its own term's figures and keeps the terms before as their last run left them, so the
-- trend compares this term with the one before (marts.quality_trend). Incremental and never
-- rebuilt in full (full_refresh: false): the past terms' checks are gone from the sources'
-- current versions. A run for an earlier day of a term (a backfill) leaves the figures of a
-- later day of that term in place.
--
-- It copies the run's scorecard mart rather than counting the checks again (15 s at province
-- scale), and lives among the intermediate models because the published schemas are built
-- afresh each run (the publish gate) while this table must outlive the run.
{{ config(
    materialized='incremental',
    unique_key=['school_year', 'term'],
    incremental_strategy='delete+insert',
    full_refresh=false,
    on_schema_change='fail',
) }}

with

scorecard as (
    select * from {{ ref('quality_scorecard') }}
),

term as (
    select * from {{ ref('int_term_context') }}
),

final as (
    select
        scorecard.scorecard_key,
        scorecard.aggregation_level,
        scorecard.unit_code,
        scorecard.school_year,
        scorecard.term,
        term.term_start,
        scorecard.criterion,
        scorecard.applicable,
        scorecard.passed,
        scorecard.score,
        term.as_of_date as figures_as_of
    from scorecard
    inner join term
        on
            scorecard.school_year = term.school_year
            and scorecard.term = term.term
)

select * from final
{{ unless_a_later_day_is_kept() }}
