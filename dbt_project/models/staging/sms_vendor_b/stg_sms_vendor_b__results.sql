{{ config(unique_key='result_record_key', indexes=[{'columns': ['result_record_key']}]) }}

with

latest as (
    {{ current_versions(source('sms_vendor_b', 'results')) }}
),

final as (
    select
        natural_key as result_record_key,
        payload ->> 'ma_dinh_danh_bo' as moet_id,
        payload ->> 'ma_truong' as school_code,
        payload ->> 'nam_hoc' as school_year,
        case payload ->> 'hoc_ky'
            when 'HK1' then 'hk1'
            when 'HK2' then 'hk2'
            when 'CN' then 'ca_nam'
        end as term,
        payload -> 'diem' as scores,
        case normalize(payload ->> 'danh_gia', nfc)
            when 'Hoàn thành tốt' then 'hoan_thanh_tot'
            when 'Hoàn thành' then 'hoan_thanh'
            when 'Chưa hoàn thành' then 'chua_hoan_thanh'
        end as assessment,
        case normalize(payload ->> 'ren_luyen', nfc)
            when 'Tốt' then 'tot' when 'Khá' then 'kha' when 'Đạt' then 'dat'
            when 'Chưa đạt' then 'chua_dat'
        end as conduct,
        case normalize(payload ->> 'ket_qua_cuoi_nam', nfc)
            when 'Được lên lớp' then 'len_lop'
            when 'Hoàn thành chương trình cấp học' then 'hoan_thanh_cap_hoc'
            when 'Kiểm tra lại, rèn luyện trong hè' then 'kiem_tra_lai'
            when 'Ở lại lớp' then 'o_lai_lop'
            -- an unknown wording kept as it is: its test names it rather than losing it
            else normalize(payload ->> 'ket_qua_cuoi_nam', nfc)
        end as year_end_outcome,
        {{ vn_timestamp("payload ->> 'ngay_cap_nhat'") }} as source_updated_at,
        extracted_at
    from latest
)

select * from final
