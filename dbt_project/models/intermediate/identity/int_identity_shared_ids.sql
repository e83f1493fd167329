-- Shared personal IDs: one ID written on the records of two or more different people (as
-- the person table resolves them). One row per record carrying such an ID; the ID itself
-- only as its keyed pseudonym.
with

persons as (
    select * from {{ ref('int_school_persons') }}
),

person_records as (
    select * from {{ source('identity', 'person_records') }}
),

stated as (
    select
        persons.person_record_key,
        persons.person_role,
        persons.school_code,
        persons.personal_id,
        person_records.person_id,
        person_records.stated_id_pseudonym
    from persons
    inner join person_records on persons.person_record_key = person_records.person_record_key
    where persons.personal_id ~ '^[0-9]{12}$'
),

usage as (
    select
        personal_id,
        count(distinct person_id) as people_on_id,
        count(*) as records_on_id
    from stated
    group by personal_id
    having count(distinct person_id) > 1
),

final as (
    select
        stated.person_record_key,
        stated.person_role,
        stated.school_code,
        stated.person_id,
        stated.stated_id_pseudonym as id_pseudonym,
        usage.people_on_id,
        usage.records_on_id
    from stated
    inner join usage on stated.personal_id = usage.personal_id
)

select * from final
