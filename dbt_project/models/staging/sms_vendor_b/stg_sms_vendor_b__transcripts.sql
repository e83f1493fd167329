{{ config(unique_key='transcript_record_key', indexes=[{'columns': ['transcript_record_key']}]) }}

with

latest as (
    {{ current_versions(source('sms_vendor_b', 'transcripts')) }}
),

final as (
    select
        natural_key as transcript_record_key,
        payload ->> 'ma_dinh_danh_bo' as moet_id,
        payload ->> 'ma_truong' as school_code,
        payload ->> 'nam_hoc' as school_year,
        case normalize(payload ->> 'trang_thai_hoc_ba', nfc)
            when 'Đã ký số' then 'da_ky_so'
            when 'Chưa ký số' then 'chua_ky_so'
            when 'Chưa tạo' then 'chua_tao'
        end as transcript_status,
        {{ vn_timestamp("payload ->> 'ngay_cap_nhat'") }} as source_updated_at,
        extracted_at
    from latest
)

select * from final
