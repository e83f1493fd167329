-- Completeness per unit, term and data domain for every term the platform has evaluated, as
-- int_scorecard_history keeps the scorecard: each run replaces its own term's figures, the
-- terms before stay as their last run left them, and a backfill of an earlier day of a term
-- leaves a later day's figures in place. Incremental, never rebuilt in full; a copy of the
-- run's completeness mart, kept among the intermediate models because the published schemas
-- are built afresh each run.
{{ config(
    materialized='incremental',
    unique_key=['school_year', 'term'],
    incremental_strategy='delete+insert',
    full_refresh=false,
    on_schema_change='fail',
) }}

with

completeness as (
    select * from {{ ref('completeness') }}
),

term as (
    select * from {{ ref('int_term_context') }}
),

final as (
    select
        completeness.completeness_key,
        completeness.aggregation_level,
        completeness.unit_code,
        completeness.school_year,
        completeness.term,
        term.term_start,
        completeness.data_domain,
        completeness.expected_schools,
        completeness.reporting_schools,
        completeness.schools_on_time,
        completeness.expected_records,
        completeness.present_records,
        completeness.complete_records,
        completeness.record_completeness,
        completeness.field_completeness,
        completeness.timeliness,
        term.as_of_date as figures_as_of
    from completeness
    inner join term
        on
            completeness.school_year = term.school_year
            and completeness.term = term.term
)

select * from final
{{ unless_a_later_day_is_kept() }}
