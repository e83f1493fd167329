-- Every unit a reader may see named: the province, its communes, the Sở (managing unit of the
-- upper-secondary and continuing-education schools) and every school, those the sources report
-- and the registry's units that send nothing (silent schools). The names and levels readers see
-- instead of codes; the one list reports and the dashboard resolve a unit from.
with

communes as (
    select distinct on (commune_code) commune_code, commune_name
    from {{ ref('communes') }}
    order by commune_code
),

schools as (
    select school_code, school_name, school_level, commune_code, managing_unit
    from {{ ref('int_schools') }}
),

silent_schools as (
    select
        registry.unit_code as school_code,
        registry.unit_name as school_name,
        registry.school_level,
        registry.commune_code,
        registry.managing_unit
    from {{ ref('stg_school_registry__units') }} as registry
    where not exists (
        select 1 from schools where schools.school_code = registry.unit_code
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
        false as silent
    union all
    select 'don_vi_quan_ly', 'SO', 'Sở GDĐT (trực thuộc)', null, null, null, false
    union all
    select 'xa', commune_code, commune_name, null, commune_code, null, false
    from communes
    union all
    select
        'truong', school_code, coalesce(school_name, school_code), school_level, commune_code,
        managing_unit, false
    from schools
    union all
    select
        'truong', school_code, coalesce(school_name, school_code), school_level, commune_code,
        managing_unit, true
    from silent_schools
)

select
    aggregation_level || ':' || unit_code as unit_key,
    aggregation_level,
    unit_code,
    normalize(unit_name, nfc) as unit_name,
    school_level,
    located_in_commune,
    managed_by,
    silent
from units
