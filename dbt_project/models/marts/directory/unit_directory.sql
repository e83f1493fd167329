-- Every unit a reader may see named: the province, its communes, the Sở (managing unit of the
-- upper-secondary and continuing-education schools) and every school, those the sources report
-- and the registry's units that send nothing (silent schools). The names and levels readers see
-- instead of codes; the one list reports and the dashboard resolve a unit from.
with

communes as (
    select distinct on (commune_code)
        commune_code,
        commune_name
    from {{ ref('communes') }}
    order by commune_code
),

reporting_schools as (
    select
        school_code,
        school_name,
        school_level,
        commune_code,
        managing_unit,
        false as is_silent
    from {{ ref('int_schools') }}
),

-- the registry's units no source reports
schools as (
    select * from reporting_schools
    union all
    select
        registry.unit_code as school_code,
        registry.unit_name as school_name,
        registry.school_level,
        registry.commune_code,
        registry.managing_unit,
        true as is_silent
    from {{ ref('stg_school_registry__units') }} as registry
    where not exists (
        select 1 from reporting_schools
        where reporting_schools.school_code = registry.unit_code
    )
),

units as (
    select
        'tinh' as aggregation_level,
        '80' as unit_code,
        'Toàn tỉnh Tây Ninh' as unit_name,
        null::text as school_level,
        null::text as located_in_commune,
        null::text as managed_by,
        false as is_silent
    union all
    select
        'don_vi_quan_ly' as aggregation_level,
        'SO' as unit_code,
        'Sở GDĐT (trực thuộc)' as unit_name,
        null::text as school_level,
        null::text as located_in_commune,
        null::text as managed_by,
        false as is_silent
    union all
    select
        'xa' as aggregation_level,
        commune_code as unit_code,
        commune_name as unit_name,
        null::text as school_level,
        commune_code as located_in_commune,
        null::text as managed_by,
        false as is_silent
    from communes
    union all
    select
        'truong' as aggregation_level,
        school_code as unit_code,
        coalesce(school_name, school_code) as unit_name,
        school_level,
        commune_code as located_in_commune,
        managing_unit as managed_by,
        is_silent
    from schools
)

select
    aggregation_level || ':' || unit_code as unit_key,
    aggregation_level,
    unit_code,
    normalize(unit_name, nfc) as unit_name,
    school_level,
    located_in_commune,
    managed_by,
    is_silent
from units
