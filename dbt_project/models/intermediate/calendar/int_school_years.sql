-- One row per school year of the school calendar: the dates the Sở set for the year (seed
-- school_calendar), each date it left empty by the MOET default rule (seed
-- school_calendar_defaults: a month and day in the year's first or second calendar year).
-- A year runs from its opening day (year_start) to the day before the next year's: the
-- summer after học kỳ II belongs to the year that just ended. Every year from ten before the
-- run's day (var as_of_date) to the one after it is listed, and every year the Sở set: the
-- calendar never stops at a year. The same rule as eduhub.school_calendar (Python), which the
-- DAGs use; tests/test_school_calendar.py proves that both agree day by day.
with

overrides as (
    select
        *,
        left(school_year, 4)::integer as first_year
    from {{ ref('school_calendar') }}
),

defaults as (
    select * from {{ ref('school_calendar_defaults') }}
),

as_of as (
    select extract(year from '{{ as_of_date() }}'::date)::integer as as_of_year
),

-- one year more than listed: a year ends the day before the next one starts
years as (
    select
        generate_series(
            least(as_of.as_of_year - 10, (select min(overrides.first_year) from overrides)),
            greatest(as_of.as_of_year + 1, (select max(overrides.first_year) from overrides))
            + 1
        ) as first_year
    from as_of
),

-- each default date of each year: its month and day in the year's first or second calendar year
year_defaults as (
    select
        years.first_year,
        defaults.field,
        make_date(years.first_year + defaults.year_offset, defaults.month, defaults.day)
            as default_date
    from years
    cross join defaults
),

default_dates as (
    select
        first_year,
        max(default_date) filter (where field = 'year_start') as year_start,
        max(default_date) filter (where field = 'hk1_end') as hk1_end,
        max(default_date) filter (where field = 'hk2_end') as hk2_end,
        max(default_date) filter (where field = 'mid_year_deadline') as mid_year_deadline,
        max(default_date) filter (where field = 'end_of_year_deadline') as end_of_year_deadline,
        max(default_date) filter (where field = 'start_of_year_data_date')
            as start_of_year_data_date,
        max(default_date) filter (where field = 'end_of_year_data_date') as end_of_year_data_date,
        max(default_date) filter (where field = 'inspection_freeze_date')
            as inspection_freeze_date
    from year_defaults
    group by first_year
),

dates as (
    select
        default_dates.first_year,
        coalesce(overrides.year_start, default_dates.year_start) as year_start,
        coalesce(overrides.hk1_end, default_dates.hk1_end) as hk1_end,
        coalesce(overrides.hk2_end, default_dates.hk2_end) as hk2_end,
        coalesce(overrides.mid_year_deadline, default_dates.mid_year_deadline)
            as mid_year_deadline,
        coalesce(overrides.end_of_year_deadline, default_dates.end_of_year_deadline)
            as end_of_year_deadline,
        coalesce(overrides.start_of_year_data_date, default_dates.start_of_year_data_date)
            as start_of_year_data_date,
        coalesce(overrides.end_of_year_data_date, default_dates.end_of_year_data_date)
            as end_of_year_data_date,
        coalesce(overrides.inspection_freeze_date, default_dates.inspection_freeze_date)
            as inspection_freeze_date,
        overrides.inspection_seed
    from default_dates
    left join overrides on default_dates.first_year = overrides.first_year
),

final as (
    select
        first_year::text || '-' || (first_year + 1)::text as school_year,
        first_year,
        year_start,
        (lead(year_start) over (order by first_year) - 1)::date as year_end,
        hk1_end,
        (hk1_end + 1)::date as hk2_start,
        hk2_end,
        mid_year_deadline,
        end_of_year_deadline,
        start_of_year_data_date,
        end_of_year_data_date,
        inspection_freeze_date,
        -- the opening day's digits (20260905) unless the Sở set one
        coalesce(inspection_seed, to_char(year_start, 'YYYYMMDD')::bigint) as inspection_seed
    from dates
)

select * from final
where year_end is not null
