{{ config(unique_key='school_code', indexes=[{'columns': ['school_code']}]) }}

with

latest as (
    {{ current_versions(source('sms_vendor_b', 'schools')) }}
),

final as (
    select
        natural_key as school_code,
        normalize(trim(payload ->> 'ten_truong'), nfc) as school_name,
        case normalize(trim(payload ->> 'cap_hoc'), nfc)
            when 'Mầm non' then 'mam_non'
            when 'Tiểu học' then 'tieu_hoc'
            when 'THCS' then 'thcs'
            when 'THPT' then 'thpt'
            when 'GDTX' then 'gdtx'
        end as school_level,
        payload ->> 'ma_xa' as commune_code,
        payload ->> 'don_vi_quan_ly' as managing_unit,
        extracted_at
    from latest
)

select * from final
