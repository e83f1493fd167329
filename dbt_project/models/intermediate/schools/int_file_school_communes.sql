-- The commune of each school known only from its class exports, which name none: the commune
-- more than half of its learners live in ("Chỗ ở hiện nay": hamlet, commune or ward,
-- province), else unknown. Preschool, primary and lower secondary schools serve their own
-- commune, so that is where the school is, as a rule; int_schools flags it as inferred.
with

learners as (
    select * from {{ ref('stg_file_exports__learners') }}
),

communes as (
    select * from {{ ref('communes') }}
),

residences as (
    select
        learners.school_code,
        communes.commune_code
    from learners
    left join communes
        on
            trim(substring(learners.residence_address from ',([^,]+),[^,]+$'))
            = communes.commune_name
),

counted as (
    select
        school_code,
        commune_code,
        count(*) as residents,
        sum(count(*)) over (partition by school_code) as learners
    from residences
    group by school_code, commune_code
),

final as (
    select distinct on (school_code)
        school_code,
        commune_code,
        residents,
        learners
    from counted
    where commune_code is not null and residents * 2 > learners
    order by school_code asc, residents desc, commune_code asc
)

select * from final
