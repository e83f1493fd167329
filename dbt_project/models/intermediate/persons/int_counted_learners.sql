-- The learners of the year, one row per person: what the statistics count (Thông tư 25/2024
-- counts persons, not records). A person studying is counted once, at the school whose record
-- arrived last (ties: the school code, then the MOET ID), with the year's outcome that school
-- gave them (its whole-year result, statistics_year_end); a person whose every record has
-- dropped out, in the year, is counted once among the year's drop-outs. Records are linked
-- to persons by the person table (pii.person_records, written by match_identities); a record
-- not linked yet counts as a person of its own.
with

term as (
    select * from {{ ref('int_term_context') }}
),

-- those studying, and those who dropped out in the run's school year (a record a source
-- still holds from a drop-out of an earlier year is not this year's)
learners as (
    select learners.*
    from {{ ref('int_learners') }} as learners
    cross join term
    where
        learners.enrolment_status = 'dang_hoc'
        or (
            learners.enrolment_status = 'bo_hoc'
            and learners.data_arrived_at >= term.school_year_start
        )
),

person_records as (
    select * from {{ source('identity', 'person_records') }}
),

-- the year's outcome of each record, from its whole-year result of the run's school year
year_end as (
    select distinct on (records.school_code, records.moet_id)
        records.school_code,
        records.moet_id,
        records.year_end_outcome
    from {{ ref('int_school_records') }} as records
    inner join term on records.school_year = term.school_year
    where
        records.data_domain = 'results'
        and records.term = 'ca_nam'
        and records.year_end_outcome is not null
    order by
        records.school_code asc,
        records.moet_id asc,
        records.source_updated_at desc nulls last
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
        count(*) filter (where enrolment_status = 'dang_hoc')
            over (partition by person_key) as enrolments,
        row_number() over (
            partition by person_key
            order by
                enrolment_status = 'dang_hoc' desc,
                data_arrived_at desc nulls last,
                school_code asc,
                moet_id asc
        ) as enrolment_rank
    from linked
),

final as (
    select
        ranked.learner_key,
        ranked.person_key,
        ranked.enrolment_status,
        ranked.enrolments,
        ranked.source_system,
        ranked.school_code,
        ranked.moet_id,
        ranked.sex,
        ranked.ethnicity,
        ranked.grade,
        ranked.school_level,
        ranked.commune_code,
        ranked.managing_unit,
        case when ranked.enrolment_status = 'dang_hoc' then year_end.year_end_outcome end
            as year_end_outcome
    from ranked
    left join year_end
        on ranked.school_code = year_end.school_code and ranked.moet_id = year_end.moet_id
    where ranked.enrolment_rank = 1
)

select * from final
