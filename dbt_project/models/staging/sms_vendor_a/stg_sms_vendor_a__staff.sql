{{ config(unique_key='staff_record_key', indexes=[{'columns': ['staff_record_key']}]) }}

with

latest as (
    {{ current_versions(source('sms_vendor_a', 'staff')) }}
),

final as (
    select
        natural_key as staff_record_key,
        payload ->> 'staff_id' as moet_id,
        nullif(trim(payload ->> 'national_id'), '') as personal_id,
        normalize(trim(payload ->> 'full_name'), nfc) as full_name,
        {{ iso_date("payload ->> 'birth_date'") }} as date_of_birth,
        {{ sex_code("payload ->> 'gender'") }} as sex,
        payload ->> 'school_code' as school_code,
        payload ->> 'role' as staff_role,
        payload ->> 'qualification' as qualification,
        normalize(trim(payload ->> 'ethnicity'), nfc) as ethnicity,
        {{ cast_or_null("payload ->> 'updated_at'", 'timestamptz') }} as source_updated_at,
        extracted_at
    from latest
)

select * from final
