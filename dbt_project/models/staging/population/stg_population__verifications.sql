{{ config(unique_key='fingerprint', indexes=[{'columns': ['fingerprint']}]) }}

with

latest as (
    {{ current_versions(source('population', 'verifications')) }}
),

final as (
    select
        natural_key as fingerprint,
        payload -> 'request' ->> 'personal_id' as personal_id,
        payload -> 'result' ->> 'status' as verification_status,
        array(
            select jsonb_array_elements_text(payload -> 'result' -> 'mismatched_fields')
        ) as mismatched_fields,
        extracted_at as verified_at
    from latest
)

select * from final
