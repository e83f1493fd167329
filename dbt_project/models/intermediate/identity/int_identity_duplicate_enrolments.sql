-- Duplicate enrolments: one person (as the person table resolves them) with learner
-- records in two or more schools. One row per learner record of such a person.
with

persons as (
    select * from {{ ref('int_school_persons') }}
),

person_records as (
    select * from {{ source('identity', 'person_records') }}
),

learner_records as (
    select
        persons.person_record_key,
        persons.source_system,
        persons.school_code,
        person_records.person_id,
        person_records.link_method
    from persons
    inner join person_records on persons.person_record_key = person_records.person_record_key
    where persons.person_role = 'learner'
),

enrolments as (
    select
        person_id,
        count(distinct school_code) as schools,
        count(*) as learner_records
    from learner_records
    group by person_id
    having count(distinct school_code) > 1
),

final as (
    select
        learner_records.person_record_key,
        learner_records.source_system,
        learner_records.school_code,
        learner_records.person_id,
        learner_records.link_method,
        enrolments.schools,
        enrolments.learner_records
    from learner_records
    inner join enrolments on learner_records.person_id = enrolments.person_id
)

select * from final
