with

source as (
    select * from {{ source('sms_vendor_a', 'schools') }}
),

latest as (
    select
        *,
        row_number() over (partition by natural_key order by record_id desc) as version_rank
    from source
),

final as (
    select
        natural_key as school_code,
        normalize(trim(payload ->> 'school_name'), nfc) as school_name,
        payload ->> 'level' as school_level,
        payload ->> 'commune_code' as commune_code,
        payload ->> 'managing_unit' as managing_unit,
        extracted_at
    from latest
    where version_rank = 1 and not is_deleted
)

select * from final
