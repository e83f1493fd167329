with

latest as (
    {{ latest_version(source('sms_vendor_a', 'facilities')) }}
),

final as (
    select
        natural_key as facility_record_key,
        payload ->> 'school_code' as school_code,
        payload ->> 'school_year' as school_year,
        (payload ->> 'classrooms')::integer as classrooms,
        (payload ->> 'solid_classrooms')::integer as solid_classrooms,
        (payload ->> 'clean_water')::boolean as has_clean_water,
        (payload ->> 'toilets')::integer as toilets,
        (payload ->> 'minimum_equipment')::boolean as has_minimum_equipment,
        (payload ->> 'teacher_housing')::integer as teacher_housing,
        (payload ->> 'updated_at')::timestamptz as source_updated_at,
        extracted_at
    from latest
)

select * from final
