{{ config(unique_key='unit_code', indexes=[{'columns': ['unit_code']}]) }}

with

latest as (
    {{ current_versions(source('school_registry', 'units')) }}
),

final as (
    select
        natural_key as unit_code,
        normalize(trim(payload ->> 'unit_name'), nfc) as unit_name,
        payload ->> 'level' as school_level,
        payload ->> 'ownership' as ownership_type,
        payload ->> 'commune_code' as commune_code,
        payload ->> 'managing_unit' as managing_unit,
        payload ->> 'channel' as channel,
        {{ iso_date("payload ->> 'opened_on'") }} as opened_on,
        {{ iso_date("payload ->> 'closed_on'") }} as closed_on,
        extracted_at
    from latest
)

select * from final
