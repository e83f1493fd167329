-- What the learner status history (snapshots/learner_status_history.yml) follows: each learner
-- record of each source with its status, school, class and grade, and when that state began:
-- the source's update time, or, for the class exports that carry none, the start of the run's day
-- in Vietnam.
with

learners as (
    select * from {{ ref('int_learners') }}
),

final as (
    select
        learner_key,
        source_system,
        learner_record_key,
        school_code,
        class_name,
        grade,
        enrolment_status,
        coalesce(
            source_updated_at, ('{{ as_of_date() }}' || ' 00:00:00+07')::timestamptz
        ) as status_changed_at,
        source_updated_at is not null as change_time_known
    from learners
)

select * from final
