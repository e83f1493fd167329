-- The learners studying, one row per person: what the statistics count (Thông tư 25/2024
-- counts persons, not records). A person enrolled at two schools, whose records the person
-- table links (pii.person_records, written by match_identities), is counted once, at the
-- school whose record arrived last (ties: the school code, then the MOET ID); a record not
-- linked to a person yet counts as a person of its own.
with

learners as (
    select * from {{ ref('int_learners') }}
    where enrolment_status = 'dang_hoc'
),

person_records as (
    select * from {{ source('identity', 'person_records') }}
),

linked as (
    select
        learners.*,
        coalesce(person_records.person_id, learners.learner_key) as person_key
    from learners
    left join person_records
        on
            person_records.person_record_key
            = learners.source_system || ':learner:' || learners.learner_record_key
),

ranked as (
    select
        *,
        count(*) over (partition by person_key) as enrolments,
        row_number() over (
            partition by person_key
            order by data_arrived_at desc nulls last, school_code asc, moet_id asc
        ) as enrolment_rank
    from linked
),

final as (
    select
        learner_key,
        person_key,
        enrolments,
        source_system,
        school_code,
        moet_id,
        sex,
        ethnicity,
        grade,
        school_level,
        commune_code,
        managing_unit
    from ranked
    where enrolment_rank = 1
)

select * from final
