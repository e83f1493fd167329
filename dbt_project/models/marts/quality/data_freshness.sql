-- How live each school's data is ("sống"): per school and data domain its channel carries,
-- when the school last updated it and how many days before the run's day; `is_recent` within
-- var('fresh_days') (the rule SONG_SCHOOL_RECENTLY_UPDATED asks it of some domain). Schools
-- that never sent a domain are listed with no date.
with

freshness as (
    select * from {{ ref('int_data_freshness') }}
),

term as (
    select * from {{ ref('int_term_context') }}
),

final as (
    select
        freshness.school_domain_key,
        freshness.school_code,
        freshness.school_level,
        freshness.commune_code,
        freshness.managing_unit,
        term.school_year,
        term.term,
        term.as_of_date,
        freshness.data_domain,
        freshness.last_updated_at,
        freshness.days_since_update,
        coalesce(freshness.days_since_update <= {{ var('fresh_days') }}, false) as is_recent
    from freshness
    cross join term
)

select * from final
