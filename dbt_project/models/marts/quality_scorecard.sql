-- The đúng-đủ-sạch-sống scorecard: passed / applicable per unit, term and criterion, for
-- schools and rolled up to commune, managing unit and province.
with

checks as (
    select * from {{ ref('int_quality_checks') }}
),

rolled_up as (
    select
        case
            when grouping(school_code) = 0 then 'truong'
            when grouping(commune_code) = 0 then 'xa'
            when grouping(managing_unit) = 0 then 'don_vi_quan_ly'
            else 'tinh'
        end as aggregation_level,
        case
            when grouping(school_code) = 0 then school_code
            when grouping(commune_code) = 0 then commune_code
            when grouping(managing_unit) = 0 then managing_unit
            else '80'
        end as unit_code,
        school_year,
        term,
        criterion,
        count(*) as applicable,
        count(*) filter (where passed) as passed
    from checks
    group by grouping sets (
        (school_code, school_year, term, criterion),
        (commune_code, school_year, term, criterion),
        (managing_unit, school_year, term, criterion),
        (school_year, term, criterion)
    )
),

final as (
    select
        aggregation_level || ':' || unit_code || ':' || school_year || ':' || term || ':'
        || criterion as scorecard_key,
        aggregation_level,
        unit_code,
        school_year,
        term,
        criterion,
        applicable,
        passed,
        {{ safe_rate('passed', 'applicable') }} as score,
        {{ score_colour(safe_rate('passed', 'applicable')) }} as colour
    from rolled_up
    where unit_code is not null
)

select * from final
