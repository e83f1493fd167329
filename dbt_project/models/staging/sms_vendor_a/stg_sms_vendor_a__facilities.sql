with

latest as (
    {{ latest_version(source('sms_vendor_a', 'facilities')) }}
),

final as (
    select
        natural_key as facility_record_key,
        payload ->> 'school_code' as school_code,
        payload ->> 'school_year' as school_year,
        {{ safe_cast("payload ->> 'classrooms'", 'integer') }} as classrooms,
        {{ safe_cast("payload ->> 'solid_classrooms'", 'integer') }} as solid_classrooms,
        {{ safe_cast("payload ->> 'clean_water'", 'boolean') }} as has_clean_water,
        {{ safe_cast("payload ->> 'toilets'", 'integer') }} as toilets,
        {{ safe_cast("payload ->> 'minimum_equipment'", 'boolean') }} as has_minimum_equipment,
        {{ safe_cast("payload ->> 'teacher_housing'", 'integer') }} as teacher_housing,
        {{ safe_cast("payload ->> 'updated_at'", 'timestamptz') }} as source_updated_at,
        extracted_at
    from latest
)

select * from final
