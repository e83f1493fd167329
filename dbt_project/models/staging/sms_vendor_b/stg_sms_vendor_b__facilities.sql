{{ config(unique_key='facility_record_key', indexes=[{'columns': ['facility_record_key']}]) }}

with

latest as (
    {{ current_versions(source('sms_vendor_b', 'facilities')) }}
),

final as (
    select
        natural_key as facility_record_key,
        payload ->> 'ma_truong' as school_code,
        payload ->> 'nam_hoc' as school_year,
        {{ cast_or_null("payload ->> 'so_phong_hoc'", 'integer') }} as classrooms,
        {{ cast_or_null("payload ->> 'so_phong_hoc_kien_co'", 'integer') }} as solid_classrooms,
        {{ cast_or_null("payload ->> 'nuoc_sach'", 'boolean') }} as has_clean_water,
        {{ cast_or_null("payload ->> 'so_cong_trinh_ve_sinh'", 'integer') }} as toilets,
        {{ cast_or_null("payload ->> 'thiet_bi_day_hoc_toi_thieu'", 'boolean') }}
            as has_minimum_equipment,
        {{ cast_or_null("payload ->> 'so_nha_cong_vu'", 'integer') }} as teacher_housing,
        {{ vn_timestamp("payload ->> 'ngay_cap_nhat'") }} as source_updated_at,
        extracted_at
    from latest
)

select * from final
