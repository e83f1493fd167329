-- The rules of the catalogue about schools: one row per school and rule, whether it passes.
with

schools as (
    select * from {{ ref('int_schools') }}
),

freshness as (
    select * from {{ ref('int_data_freshness') }}
),

checks as (
    select
        'DUNG_COMMUNE_CODE' as rule_id,
        'school' as entity,
        school_code as record_key,
        school_code,
        commune_code_status = 'hien_hanh' as passed
    from schools
    where reported_commune_code is not null
    union all
    -- a school whose data is live updated some domain in the last var('fresh_days') days (a
    -- silent school, with nothing at all, is completeness's finding)
    select
        'SONG_SCHOOL_RECENTLY_UPDATED' as rule_id,
        'school' as entity,
        schools.school_code as record_key,
        schools.school_code,
        coalesce(min(freshness.days_since_update) <= {{ var('fresh_days') }}, false) as passed
    from schools
    left join freshness on schools.school_code = freshness.school_code
    group by schools.school_code
)

select * from checks
