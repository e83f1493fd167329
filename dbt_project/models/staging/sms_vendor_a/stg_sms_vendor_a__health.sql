{{ config(unique_key='health_record_key', indexes=[{'columns': ['health_record_key']}]) }}

with

latest as (
    {{ current_versions(source('sms_vendor_a', 'health')) }}
),

final as (
    select
        natural_key as health_record_key,
        payload ->> 'learner_id' as moet_id,
        payload ->> 'school_code' as school_code,
        payload ->> 'school_year' as school_year,
        {{ iso_date("payload ->> 'check_date'") }} as check_date,
        {{ cast_or_null("payload ->> 'height_cm'", 'numeric') }} as height_cm,
        {{ cast_or_null("payload ->> 'weight_kg'", 'numeric') }} as weight_kg,
        payload ->> 'nutrition_status' as nutrition_status,
        {{ cast_or_null("payload ->> 'updated_at'", 'timestamptz') }} as source_updated_at,
        extracted_at
    from latest
)

select * from final
