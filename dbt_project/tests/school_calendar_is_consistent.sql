-- The school calendar contradicts itself (a row per fault): a year that does not start in its
-- first calendar year, terms out of order, a year that overlaps the next or leaves a gap, or a
-- run's day that is not in exactly one school year.
with

years as (
    select * from {{ ref('int_school_years') }}
),

faults as (
    select
        school_year,
        'ngày không theo thứ tự' as fault
    from years
    where
        extract(year from year_start) <> first_year
        or not (year_start < hk1_end and hk1_end < hk2_end and hk2_end <= year_end)
    union all
    select
        school_year,
        'năm học sau không bắt đầu ngay sau năm học này'
    from (
        select
            school_year,
            year_end,
            lead(year_start) over (order by first_year) as next_start
        from years
    ) as chained
    where next_start is not null and next_start <> year_end + 1
    union all
    select
        'as_of_date',
        'ngày chạy không thuộc đúng một năm học'
    from {{ ref('int_term_context') }}
    having count(*) <> 1
)

select * from faults
