{{ config(unique_key='learner_record_key', indexes=[{'columns': ['learner_record_key']}]) }}

with

latest as (
    {{ current_versions(source('sms_vendor_b', 'learners')) }}
),

final as (
    select
        natural_key as learner_record_key,
        payload ->> 'ma_dinh_danh_bo' as moet_id,
        nullif(trim(payload ->> 'so_dinh_danh'), '') as personal_id,
        normalize(trim(payload ->> 'ho_ten'), nfc) as full_name,
        {{ vn_date("payload ->> 'ngay_sinh'") }} as date_of_birth,
        {{ sex_code("payload ->> 'gioi_tinh'") }} as sex,
        normalize(trim(payload ->> 'dan_toc'), nfc) as ethnicity,
        payload ->> 'ma_truong' as school_code,
        payload ->> 'lop' as class_name,
        {{ cast_or_null("payload ->> 'khoi'", 'integer') }} as grade,
        {{ status_code("payload ->> 'trang_thai'") }} as enrolment_status,
        {{ vn_timestamp("payload ->> 'ngay_cap_nhat'") }} as source_updated_at,
        extracted_at
    from latest
)

select * from final
