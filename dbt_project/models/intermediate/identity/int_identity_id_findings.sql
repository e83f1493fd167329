-- One row per school person record and finding of its personal ID (the checks of
-- Nghị định 137/2015 Art. 13, macro personal_id_finding_codes): missing, not digits, wrong
-- length, 4th digit against sex and century, 5th-6th digits against the birth year, and an
-- unknown birth-registration prefix (a warning).
with

persons as (
    select * from {{ ref('int_school_persons') }}
),

messages as (
    {{ personal_id_finding_messages() }}
),

codes as (
    select
        persons.person_record_key,
        persons.source_system,
        persons.person_role,
        persons.school_code,
        finding.finding_code
    from persons
    cross join lateral unnest(
        {{ personal_id_finding_codes('persons.personal_id', 'persons.date_of_birth',
                                     'persons.sex') }}
    ) as finding (finding_code)
),

final as (
    select
        codes.person_record_key || ':' || codes.finding_code as finding_key,
        codes.person_record_key,
        codes.source_system,
        codes.person_role,
        codes.school_code,
        codes.finding_code,
        messages.severity,
        messages.message_vi
    from codes
    inner join messages on codes.finding_code = messages.finding_code
)

select * from final
