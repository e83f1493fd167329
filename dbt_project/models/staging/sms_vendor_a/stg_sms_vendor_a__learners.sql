{{ config(unique_key='learner_record_key', indexes=[{'columns': ['learner_record_key']}]) }}

with

latest as (
    {{ current_versions(source('sms_vendor_a', 'learners')) }}
),

final as (
    select
        natural_key as learner_record_key,
        payload ->> 'learner_id' as moet_id,
        nullif(trim(payload ->> 'national_id'), '') as personal_id,
        normalize(trim(payload ->> 'full_name'), nfc) as full_name,
        {{ iso_date("payload ->> 'birth_date'") }} as date_of_birth,
        {{ sex_code("payload ->> 'gender'") }} as sex,
        normalize(trim(payload ->> 'ethnicity'), nfc) as ethnicity,
        payload ->> 'school_code' as school_code,
        payload ->> 'class_name' as class_name,
        {{ cast_or_null("payload ->> 'grade'", 'integer') }} as grade,
        payload ->> 'enrollment_status' as enrolment_status,
        {{ cast_or_null("payload ->> 'updated_at'", 'timestamptz') }} as source_updated_at,
        extracted_at
    from latest
)

select * from final
