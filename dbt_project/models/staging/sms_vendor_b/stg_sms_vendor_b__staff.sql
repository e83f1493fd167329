{{ config(unique_key='staff_record_key', indexes=[{'columns': ['staff_record_key']}]) }}

with

latest as (
    {{ current_versions(source('sms_vendor_b', 'staff')) }}
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
        case normalize(payload ->> 'vi_tri_viec_lam', nfc)
            when 'Giáo viên' then 'giao_vien'
            when 'Cán bộ quản lý' then 'can_bo_quan_ly'
            when 'Nhân viên' then 'nhan_vien'
        end as staff_role,
        case normalize(payload ->> 'trinh_do_dao_tao', nfc)
            when 'Trung cấp' then 'trung_cap'
            when 'Cao đẳng' then 'cao_dang'
            when 'Đại học' then 'dai_hoc'
            when 'Thạc sĩ' then 'thac_si'
            when 'Tiến sĩ' then 'tien_si'
        end as qualification,
        normalize(trim(payload ->> 'dan_toc'), nfc) as ethnicity,
        {{ vn_timestamp("payload ->> 'ngay_cap_nhat'") }} as source_updated_at,
        extracted_at
    from latest
)

select * from final
