-- The terms of each school year, every day of the year in exactly one: học kỳ I (hk1), học
-- kỳ II (hk2), and the summer until the next year starts (ca_nam: it belongs to the year that
-- just ended). report_term is the report the term's data count towards (the codes of
-- int_reporting_deadlines and of the marts' term): hk1 for học kỳ I, ca_nam after it.
-- The term of a day: the row whose term_start and term_end enclose it.
with

years as (
    select * from {{ ref('int_school_years') }}
),

terms as (
    select
        school_year,
        'hk1' as term,
        1 as term_order,
        year_start as term_start,
        hk1_end as term_end,
        'hk1' as report_term
    from years
    union all
    select
        school_year,
        'hk2',
        2,
        hk2_start,
        hk2_end,
        'ca_nam'
    from years
    union all
    select
        school_year,
        'ca_nam',
        3,
        (hk2_end + 1)::date,
        year_end,
        'ca_nam'
    from years
    where hk2_end < year_end
),

final as (
    select
        school_year || ':' || term as school_term_key,
        *
    from terms
)

select * from final
