-- Per school person record: what the population database answered about its (ID, name,
-- birth date, sex), the fields it says do not match, and whether the record needs the
-- probabilistic matching (no usable ID, or an answer other than a match).
with

persons as (
    select * from {{ ref('int_school_persons') }}
),

schools as (
    select * from {{ ref('int_schools') }}
),

verifications as (
    select * from {{ ref('stg_population__verifications') }}
),

checked as (
    select
        persons.*,
        schools.commune_code,
        {{ personal_id_is_valid('persons.personal_id', 'persons.date_of_birth',
                                'persons.sex') }} as id_valid,
        -- what the verification DAG sends (pipelines/population.py)
        coalesce(
            persons.personal_id ~ '^[0-9]{12}$' and persons.full_name is not null
            and persons.date_of_birth is not null and persons.sex is not null,
            false
        ) as verifiable
    from persons
    left join schools on persons.school_code = schools.school_code
),

final as (
    select
        checked.person_record_key,
        checked.source_system,
        checked.person_role,
        checked.record_key,
        checked.school_code,
        checked.commune_code,
        checked.moet_id,
        checked.personal_id,
        checked.full_name,
        checked.date_of_birth,
        checked.sex,
        checked.id_valid,
        case
            when not checked.verifiable then 'not_verifiable'
            when verifications.verification_status is null then 'pending'
            else verifications.verification_status
        end as verification_status,
        coalesce(verifications.mismatched_fields, '{}'::text[]) as mismatched_fields,
        verifications.verified_at,
        -- a verified match is an identity; a pending answer waits for the next sync
        not coalesce(
            checked.id_valid
            and (
                verifications.verification_status = 'match'
                or (checked.verifiable and verifications.verification_status is null)
            ),
            false
        ) as needs_matching
    from checked
    left join verifications
        on
            {{ person_fingerprint('checked.personal_id', 'checked.full_name',
                                 'checked.date_of_birth', 'checked.sex') }}
            = verifications.fingerprint
)

select * from final
