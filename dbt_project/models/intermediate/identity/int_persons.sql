-- The person table as analysts may see it: one row per real person, the personal ID only
-- as its keyed pseudonym (HMAC-SHA256; the plain ID is in vault.personal_ids).
with

persons as (
    select * from {{ source('identity', 'persons') }}
),

final as (
    select
        person_id,
        id_pseudonym,
        registry_status,
        resident_id is not null as in_pcgd,
        learner_records,
        staff_records,
        schools,
        link_methods,
        updated_at
    from persons
)

select * from final
