-- Each change the status history records, dated when it happened, in its school year and
-- report term (int_reporting_deadlines, from the school calendar): a status change (transfer
-- out, drop-out, graduation, back to school), a move of class, grade or school, a record the
-- source no longer holds, and the first version of a record when it is itself an event: a
-- learner enrolled during the school year after the school was first loaded, or a record first
-- seen already gone.
-- Days are Vietnam's (UTC+7), whatever the session's time zone.
with

history as (
    select * from {{ ref('learner_status_history') }}
),

terms as (
    select
        school_year,
        term,
        term_start,
        term_end,
        min(term_start) over (partition by school_year) as school_year_start
    from {{ ref('int_reporting_deadlines') }}
),

versions as (
    select
        history.*,
        row_number() over by_record as version_number,
        lag(history.enrolment_status) over by_record as previous_status,
        lag(history.school_code) over by_record as previous_school_code,
        lag(history.class_name) over by_record as previous_class_name,
        lag(history.grade) over by_record as previous_grade,
        lead(history.dbt_valid_from) over by_record as next_valid_from,
        -- the day this source's records of the school were first snapshotted
        min((history.dbt_valid_from at time zone interval '+07:00')::date) over (
            partition by history.source_system, history.school_code
        ) as school_first_seen_on
    from history
    window by_record as (partition by history.learner_key order by history.dbt_valid_from)
),

version_events as (
    select
        versions.*,
        versions.dbt_valid_from as changed_at,
        case
            when versions.version_number = 1 and versions.enrolment_status <> 'dang_hoc'
                then versions.enrolment_status
            when versions.version_number = 1 then 'nhap_hoc'
            when versions.enrolment_status <> versions.previous_status
                then
                    case
                        when versions.enrolment_status = 'dang_hoc' then 'tro_lai'
                        else versions.enrolment_status
                    end
            when versions.school_code <> versions.previous_school_code then 'doi_truong'
            else 'chuyen_lop'
        end as change_kind
    from versions
),

removals as (
    select
        versions.*,
        versions.dbt_valid_to as changed_at,
        'xoa_khoi_nguon' as change_kind
    from versions
    where versions.dbt_valid_to is not null and versions.next_valid_from is null
),

events as (
    select
        *,
        (changed_at at time zone interval '+07:00')::date as changed_on
    from (
        select * from version_events
        union all
        select * from removals
    ) as unioned
),

dated as (
    select
        events.*,
        terms.school_year,
        terms.term,
        terms.school_year_start
    from events
    left join terms
        on events.changed_on between terms.term_start and terms.term_end
),

final as (
    select
        learner_key || '@' || to_char(changed_at, 'YYYY-MM-DD"T"HH24:MI:SS.US') || ':'
        || change_kind as change_key,
        learner_key,
        source_system,
        school_code,
        class_name,
        grade,
        change_kind,
        previous_status,
        enrolment_status,
        previous_school_code,
        previous_class_name,
        previous_grade,
        changed_at,
        changed_on,
        change_time_known,
        school_year,
        term,
        version_number
    from dated
    -- a first version is an event only when it shows one (see above): the state the
    -- school was first loaded in is not a change
    where
        change_kind <> 'nhap_hoc'
        or changed_on > greatest(school_first_seen_on, school_year_start)
)

select * from final
