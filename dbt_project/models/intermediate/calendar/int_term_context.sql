-- The day the run evaluates (var as_of_date) in the school calendar: its school year, the
-- report term it falls in (the last one started by that day: hk1, or ca_nam from học kỳ II
-- through the summer), the start of its school year, and the last report of the year whose
-- deadline has passed (what must be complete). One row; the summer still belongs to the
-- year that just ended, the next one starts on its opening day.
with

as_of as (
    select '{{ as_of_date() }}'::date as as_of_date
),

school_year as (
    select years.*
    from {{ ref('int_school_years') }} as years
    cross join as_of
    where as_of.as_of_date between years.year_start and years.year_end
),

deadlines as (
    select deadlines.*
    from {{ ref('int_reporting_deadlines') }} as deadlines
    inner join school_year on deadlines.school_year = school_year.school_year
),

current_term as (
    select deadlines.*
    from deadlines
    cross join as_of
    where deadlines.term_start <= as_of.as_of_date
    order by deadlines.term_start desc
    limit 1
),

due_term as (
    select deadlines.*
    from deadlines
    cross join as_of
    where deadlines.deadline < as_of.as_of_date
    order by deadlines.deadline desc
    limit 1
),

final as (
    select
        current_term.school_year,
        school_year.first_year,
        current_term.term,
        current_term.report_name,
        current_term.term_start,
        current_term.deadline,
        as_of.as_of_date,
        as_of.as_of_date > current_term.deadline as deadline_passed,
        school_year.year_start as school_year_start,
        school_year.year_end as school_year_end,
        due_term.term as due_term,
        due_term.deadline as due_deadline
    from current_term
    inner join school_year on current_term.school_year = school_year.school_year
    cross join as_of
    left join due_term on true
)

select * from final
