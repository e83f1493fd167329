-- Each unit's đúng-đủ-sạch-sống score this term beside its score in the term before (as the
-- last run of that term left it, int_scorecard_history): the trend by term of the overview.
-- A unit or criterion without an earlier term has no previous figures.
with

scorecard as (
    select * from {{ ref('quality_scorecard') }}
),

history as (
    select * from {{ ref('int_scorecard_history') }}
),

term as (
    select * from {{ ref('int_term_context') }}
),

earlier as (
    select
        history.*,
        row_number() over (
            partition by history.aggregation_level, history.unit_code, history.criterion
            order by history.term_start desc
        ) as recency
    from history
    inner join term on history.term_start < term.term_start
),

final as (
    select
        scorecard.scorecard_key as trend_key,
        scorecard.aggregation_level,
        scorecard.unit_code,
        scorecard.school_year,
        scorecard.term,
        scorecard.criterion,
        scorecard.score,
        earlier.school_year as previous_school_year,
        earlier.term as previous_term,
        earlier.score as previous_score,
        earlier.figures_as_of as previous_as_of,
        scorecard.score - earlier.score as change_from_previous
    from scorecard
    left join earlier
        on
            scorecard.aggregation_level = earlier.aggregation_level
            and scorecard.unit_code = earlier.unit_code
            and scorecard.criterion = earlier.criterion
            and earlier.recency = 1
)

select * from final
