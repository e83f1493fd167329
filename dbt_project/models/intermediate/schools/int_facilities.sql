with

vendor_a as (
    select * from {{ ref('stg_sms_vendor_a__facilities') }}
),

vendor_b as (
    select * from {{ ref('stg_sms_vendor_b__facilities') }}
),

final as (
    select
        'sms_vendor_a' as source_system,
        *
    from vendor_a
    union all
    select
        'sms_vendor_b' as source_system,
        *
    from vendor_b
)

select * from final
