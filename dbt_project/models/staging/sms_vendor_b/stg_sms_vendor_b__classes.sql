{{ config(unique_key='class_record_key', indexes=[{'columns': ['class_record_key']}]) }}

with

latest as (
    {{ current_versions(source('sms_vendor_b', 'classes')) }}
),

final as (
    select
        natural_key as class_record_key,
        payload ->> 'ma_lop' as class_id,
        payload ->> 'ma_truong' as school_code,
        payload ->> 'nam_hoc' as school_year,
        payload ->> 'ten_lop' as class_name,
        {{ cast_or_null("payload ->> 'khoi'", 'integer') }} as grade,
        payload ->> 'ma_gvcn' as homeroom_moet_id,
        {{ vn_timestamp("payload ->> 'ngay_cap_nhat'") }} as source_updated_at,
        extracted_at
    from latest
)

select * from final
