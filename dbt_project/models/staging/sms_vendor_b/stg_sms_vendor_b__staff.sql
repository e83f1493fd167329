with

latest as (
    {{ latest_version(source('sms_vendor_b', 'staff')) }}
),

final as (
    select
        natural_key as staff_record_key,
        payload ->> 'ma_dinh_danh_bo' as moet_id,
        nullif(trim(payload ->> 'so_dinh_danh'), '') as personal_id,
        normalize(trim(payload ->> 'ho_ten'), nfc) as full_name,
        {{ vn_date("payload ->> 'ngay_sinh'") }} as date_of_birth,
        {{ sex_code("payload ->> 'gioi_tinh'") }} as sex,
        payload ->> 'ma_truong' as school_code,
        payload ->> 'vi_tri_viec_lam' as staff_role,
        payload ->> 'trinh_do_dao_tao' as qualification,
        {{ vn_timestamp("payload ->> 'ngay_cap_nhat'") }} as source_updated_at,
        extracted_at
    from latest
)

select * from final
