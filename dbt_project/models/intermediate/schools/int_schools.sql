-- Every school the systems know of, with its current commune (pre-2025 codes mapped through
-- the crosswalk) and its managing unit: the commune for preschool, primary and THCS, the Sở
-- for THPT and GDTX (since 1 July 2025).
with

vendor_a as (
    select * from {{ ref('stg_sms_vendor_a__schools') }}
),

vendor_b as (
    select * from {{ ref('stg_sms_vendor_b__schools') }}
),

file_learners as (
    select * from {{ ref('stg_file_exports__learners') }}
),

communes as (
    select * from {{ ref('communes') }}
),

crosswalk as (
    select * from {{ ref('commune_crosswalk') }}
),

inferred as (
    select * from {{ ref('int_file_school_communes') }}
),

-- schools without an API are known from their class exports; the level from their grades
file_schools as (
    select
        school_code,
        null::text as school_name,
        case
            when max(grade) = 0 then 'mam_non'
            when max(grade) <= 5 then 'tieu_hoc'
            when max(grade) <= 9 then 'thcs'
            else 'thpt'
        end as school_level,
        null::text as commune_code
    from file_learners
    group by school_code
),

unioned as (
    select
        'sms_vendor_a' as source_system,
        school_code,
        school_name,
        school_level,
        commune_code
    from vendor_a
    union all
    select
        'sms_vendor_b' as source_system,
        school_code,
        school_name,
        school_level,
        commune_code
    from vendor_b
    union all
    select
        'file_exports' as source_system,
        school_code,
        school_name,
        school_level,
        commune_code
    from file_schools
),

deduplicated as (
    select distinct on (school_code) *
    from unioned
    order by school_code, source_system
),

final as (
    select
        deduplicated.school_code,
        deduplicated.school_name,
        deduplicated.school_level,
        deduplicated.source_system,
        deduplicated.commune_code as reported_commune_code,
        coalesce(
            communes.commune_code, crosswalk.commune_code, inferred.commune_code
        ) as commune_code,
        case
            when deduplicated.commune_code is null then null
            when communes.commune_code is not null then 'hien_hanh'
            when crosswalk.commune_code is not null then 'truoc_2025'
            else 'khong_hop_le'
        end as commune_code_status,
        -- the school reports no commune: the one most of its learners live in
        deduplicated.commune_code is null and inferred.commune_code is not null
            as commune_inferred,
        case
            when deduplicated.school_level in ('thpt', 'gdtx') then 'SO'
            else coalesce(communes.commune_code, crosswalk.commune_code, inferred.commune_code)
        end as managing_unit
    from deduplicated
    left join communes on deduplicated.commune_code = communes.commune_code
    left join crosswalk on deduplicated.commune_code = crosswalk.legacy_commune_code
    left join inferred
        on deduplicated.commune_code is null and deduplicated.school_code = inferred.school_code
)

select * from final
