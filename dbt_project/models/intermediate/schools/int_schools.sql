-- Every school the systems know of, with its current commune and its managing unit. The
-- Sở's registry is the reference: a registered school's name, level, commune and managing
-- unit are the registry's. A school the registry does not list keeps what its own system
-- reports (pre-2025 commune codes mapped through the crosswalk; the managing unit the
-- commune for preschool, primary and THCS, the Sở for THPT and GDTX, since 1 July 2025); its
-- managing unit is never inferred from where its learners live (that would let a drop folder
-- re-home a school), so a class-export school outside the registry has none.
with

registry as (
    select * from {{ ref('stg_school_registry__units') }}
),

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
        coalesce(registry.unit_name, deduplicated.school_name) as school_name,
        coalesce(registry.school_level, deduplicated.school_level) as school_level,
        deduplicated.source_system,
        registry.unit_code is not null as in_registry,
        registry.channel as registry_channel,
        registry.ownership_type,
        deduplicated.commune_code as reported_commune_code,
        coalesce(
            registered_commune.commune_code,
            communes.commune_code,
            crosswalk.commune_code,
            inferred.commune_code
        ) as commune_code,
        case
            when deduplicated.commune_code is null then null
            when communes.commune_code is not null then 'hien_hanh'
            when crosswalk.commune_code is not null then 'truoc_2025'
            else 'khong_hop_le'
        end as commune_code_status,
        -- neither the registry nor the school says: the one most of its learners live in
        registered_commune.commune_code is null
        and deduplicated.commune_code is null
        and inferred.commune_code is not null as commune_inferred,
        case
            when registry.unit_code is not null then registry.managing_unit
            when deduplicated.school_level in ('thpt', 'gdtx') then 'SO'
            else coalesce(communes.commune_code, crosswalk.commune_code)
        end as managing_unit
    from deduplicated
    left join registry on deduplicated.school_code = registry.unit_code
    left join communes as registered_commune
        on registry.commune_code = registered_commune.commune_code
    left join communes on deduplicated.commune_code = communes.commune_code
    left join crosswalk on deduplicated.commune_code = crosswalk.legacy_commune_code
    left join inferred
        on deduplicated.commune_code is null and deduplicated.school_code = inferred.school_code
)

select * from final
