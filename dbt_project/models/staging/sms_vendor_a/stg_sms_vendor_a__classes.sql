{{ config(unique_key='class_record_key', indexes=[{'columns': ['class_record_key']}]) }}

with

latest as (
    {{ current_versions(source('sms_vendor_a', 'classes')) }}
),

final as (
    select
        natural_key as class_record_key,
        payload ->> 'class_id' as class_id,
        payload ->> 'school_code' as school_code,
        payload ->> 'school_year' as school_year,
        payload ->> 'class_name' as class_name,
        {{ cast_or_null("payload ->> 'grade'", 'integer') }} as grade,
        payload ->> 'homeroom_teacher_id' as homeroom_moet_id,
        {{ cast_or_null("payload ->> 'updated_at'", 'timestamptz') }} as source_updated_at,
        extracted_at
    from latest
)

select * from final
