-- The reports of each school year and their deadlines, from the school calendar: the
-- mid-year report (hk1) covers học kỳ I, the end-of-year report (ca_nam) the rest of the year
-- (học kỳ II and the summer). A report is due once its deadline has passed.
with

years as (
    select * from {{ ref('int_school_years') }}
),

reports as (
    select
        school_year,
        'hk1' as term,
        'Báo cáo giữa năm học' as report_name,
        year_start as term_start,
        hk1_end as term_end,
        mid_year_deadline as deadline
    from years
    union all
    select
        school_year,
        'ca_nam',
        'Báo cáo cuối năm học',
        hk2_start,
        year_end,
        end_of_year_deadline
    from years
),

final as (
    select
        school_year || ':' || term as report_key,
        *
    from reports
)

select * from final
