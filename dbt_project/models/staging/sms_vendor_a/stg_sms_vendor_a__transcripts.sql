{{ config(unique_key='transcript_record_key', indexes=[{'columns': ['transcript_record_key']}]) }}

with

latest as (
    {{ current_versions(source('sms_vendor_a', 'transcripts')) }}
),

final as (
    select
        natural_key as transcript_record_key,
        payload ->> 'learner_id' as moet_id,
        payload ->> 'school_code' as school_code,
        payload ->> 'school_year' as school_year,
        payload ->> 'status' as transcript_status,
        {{ cast_or_null("payload ->> 'updated_at'", 'timestamptz') }} as source_updated_at,
        extracted_at
    from latest
)

select * from final
