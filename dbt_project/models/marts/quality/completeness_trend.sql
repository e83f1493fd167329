-- Each unit's completeness of each data domain this term beside the term before's (as the
-- last run of that term left it, int_completeness_history): the trend by term of the pages
-- and the quality review. A unit or domain without an earlier term has no previous figures.
with

completeness as (
    select * from {{ ref('completeness') }}
),

history as (
    select * from {{ ref('int_completeness_history') }}
),

term as (
    select * from {{ ref('int_term_context') }}
),

earlier as (
    select
        history.*,
        row_number() over (
            partition by history.aggregation_level, history.unit_code, history.data_domain
            order by history.term_start desc
        ) as recency
    from history
    inner join term on history.term_start < term.term_start
),

final as (
    select
        completeness.completeness_key as trend_key,
        completeness.aggregation_level,
        completeness.unit_code,
        completeness.school_year,
        completeness.term,
        completeness.data_domain,
        completeness.record_completeness,
        earlier.school_year as previous_school_year,
        earlier.term as previous_term,
        earlier.record_completeness as previous_record_completeness,
        earlier.figures_as_of as previous_as_of,
        completeness.record_completeness - earlier.record_completeness as change_from_previous
    from completeness
    left join earlier
        on
            completeness.aggregation_level = earlier.aggregation_level
            and completeness.unit_code = earlier.unit_code
            and completeness.data_domain = earlier.data_domain
            and earlier.recency = 1
)

select * from final
