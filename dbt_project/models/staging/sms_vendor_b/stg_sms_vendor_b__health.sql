{{ config(unique_key='health_record_key', indexes=[{'columns': ['health_record_key']}]) }}

with

latest as (
    {{ current_versions(source('sms_vendor_b', 'health')) }}
),

final as (
    select
        natural_key as health_record_key,
        payload ->> 'ma_dinh_danh_bo' as moet_id,
        payload ->> 'ma_truong' as school_code,
        payload ->> 'nam_hoc' as school_year,
        {{ vn_date("payload ->> 'ngay_kham'") }} as check_date,
        {{ cast_or_null("payload ->> 'chieu_cao_cm'", 'numeric') }} as height_cm,
        {{ cast_or_null("payload ->> 'can_nang_kg'", 'numeric') }} as weight_kg,
        case normalize(payload ->> 'tinh_trang_dinh_duong', nfc)
            when 'Bình thường' then 'binh_thuong'
            when 'Suy dinh dưỡng' then 'suy_dinh_duong'
            when 'Thừa cân' then 'thua_can'
            when 'Béo phì' then 'beo_phi'
        end as nutrition_status,
        {{ vn_timestamp("payload ->> 'ngay_cap_nhat'") }} as source_updated_at,
        extracted_at
    from latest
)

select * from final
