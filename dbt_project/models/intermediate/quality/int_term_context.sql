-- The school year and term the run evaluates, from the run's date (var as_of_date), and
-- whether that term's reporting deadline has passed.
with

deadlines as (
    select * from {{ ref('reporting_deadlines') }}
),

final as (
    select
        school_year,
        term,
        report_name,
        term_start,
        deadline,
        '{{ var("as_of_date") }}'::date as as_of_date,
        '{{ var("as_of_date") }}'::date > deadline as deadline_passed
    from deadlines
    where
        school_year = '{{ var("school_year") }}'
        and term_start <= '{{ var("as_of_date") }}'::date
    order by term_start desc
    limit 1
)

select * from final
