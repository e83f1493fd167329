{{ config(unique_key='facility_record_key', indexes=[{'columns': ['facility_record_key']}]) }}

with

latest as (
    {{ current_versions(source('sms_vendor_a', 'facilities')) }}
),

final as (
    select
        natural_key as facility_record_key,
        payload ->> 'school_code' as school_code,
        payload ->> 'school_year' as school_year,
        {{ cast_or_null("payload ->> 'classrooms'", 'integer') }} as classrooms,
        {{ cast_or_null("payload ->> 'solid_classrooms'", 'integer') }} as solid_classrooms,
        {{ cast_or_null("payload ->> 'clean_water'", 'boolean') }} as has_clean_water,
        {{ cast_or_null("payload ->> 'toilets'", 'integer') }} as toilets,
        {{ cast_or_null("payload ->> 'minimum_equipment'", 'boolean') }} as has_minimum_equipment,
        {{ cast_or_null("payload ->> 'teacher_housing'", 'integer') }} as teacher_housing,
        {{ cast_or_null("payload ->> 'updated_at'", 'timestamptz') }} as source_updated_at,
        extracted_at
    from latest
)

select * from final
