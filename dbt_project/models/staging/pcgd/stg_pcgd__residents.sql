-- recomputed a household at a time: its residents are the household's current version
{{ config(unique_key='household_id', indexes=[{'columns': ['household_id']}]) }}

with

latest as (
    {{ current_versions(source('pcgd', 'households')) }}
),

residents as (
    select
        latest.natural_key as household_id,
        latest.payload ->> 'commune_code' as commune_code,
        resident.value as resident
    from latest
    cross join lateral jsonb_array_elements(latest.payload -> 'residents') as resident (value)
),

final as (
    select
        resident ->> 'resident_id' as resident_id,
        household_id,
        commune_code,
        nullif(trim(resident ->> 'personal_id'), '') as personal_id,
        normalize(trim(resident ->> 'full_name'), nfc) as full_name,
        {{ iso_date("resident ->> 'date_of_birth'") }} as date_of_birth,
        {{ sex_code("resident ->> 'sex'") }} as sex,
        resident ->> 'education_status' as education_status
    from residents
)

select * from final
