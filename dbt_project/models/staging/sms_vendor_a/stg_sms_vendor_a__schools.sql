{{ config(unique_key='school_code', indexes=[{'columns': ['school_code']}]) }}

with

latest as (
    {{ current_versions(source('sms_vendor_a', 'schools')) }}
),

final as (
    select
        natural_key as school_code,
        normalize(trim(payload ->> 'school_name'), nfc) as school_name,
        payload ->> 'level' as school_level,
        payload ->> 'commune_code' as commune_code,
        payload ->> 'managing_unit' as managing_unit,
        extracted_at
    from latest
)

select * from final
