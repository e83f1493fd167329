{{ config(unique_key='household_id', indexes=[{'columns': ['household_id']}]) }}

with

latest as (
    {{ current_versions(source('pcgd', 'households')) }}
),

final as (
    select
        natural_key as household_id,
        payload ->> 'commune_code' as commune_code,
        normalize(trim(payload ->> 'head_name'), nfc) as head_name,
        normalize(trim(payload ->> 'address'), nfc) as address,
        {{ cast_or_null("payload ->> 'updated_at'", 'timestamptz') }} as source_updated_at,
        extracted_at
    from latest
)

select * from final
