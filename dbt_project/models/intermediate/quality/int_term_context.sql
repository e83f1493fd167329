-- The term the run evaluates (the last one started by var as_of_date), the start of its
-- school year, and the last term whose reporting deadline has passed (what must be complete).
with

deadlines as (
    select * from {{ ref('reporting_deadlines') }}
    where school_year = '{{ var("school_year") }}'
),

as_of as (
    select '{{ var("as_of_date") }}'::date as as_of_date
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
        current_term.term,
        current_term.report_name,
        current_term.term_start,
        current_term.deadline,
        as_of.as_of_date,
        as_of.as_of_date > current_term.deadline as deadline_passed,
        (select min(deadlines.term_start) from deadlines) as school_year_start,
        due_term.term as due_term,
        due_term.deadline as due_deadline
    from current_term
    cross join as_of
    left join due_term on true
)

select * from final
