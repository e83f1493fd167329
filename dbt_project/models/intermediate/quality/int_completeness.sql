-- Per school and data domain, for the term the run evaluates: the records expected (the
-- denominator, as DHIS2 counts it: what is due that term; for learners, those studying plus
-- those the source dropped in the term without a recorded departure; for results, each
-- required subject of each learner, int_result_subjects; for transcripts, each completed
-- year's), the records
-- present, those with every required field (transcripts: signed), and whether the school
-- reported by the deadline (some record of the domain arrived by the end of the deadline's
-- day in Vietnam: updated in the school's system, or saved in a class file, for the schools
-- without an API). The domain `reporting` counts, per school the Sở's registry expects (open
-- on the term's start) or that reports, the domains due through its channel against those it
-- sent: a silent school, which no system serves, is listed there at 0, never left out of the
-- denominator.
with

reporting_schools as (
    select * from {{ ref('int_schools') }}
),

term as (
    select * from {{ ref('int_term_context') }}
),

learners as (
    select * from {{ ref('int_learners') }}
    where enrolment_status = 'dang_hoc'
),

staff as (
    select * from {{ ref('int_staff') }}
),

records as (
    select school_records.*
    from {{ ref('int_school_records') }} as school_records
    inner join term on school_records.school_year = term.school_year
),

facilities as (
    select facilities.*
    from {{ ref('int_facilities') }} as facilities
    inner join term on facilities.school_year = term.school_year
),

roster as (
    select
        school_code,
        count(*) as present_records,
        count(*) filter (
            where personal_id is not null and date_of_birth is not null and sex is not null
            and ethnicity is not null and class_name is not null
        ) as complete_records,
        bool_or({{ arrived_by_deadline('data_arrived_at') }}) as reported_by_deadline
    from learners
    group by school_code
),

-- learners a source stopped holding during the term while they were studying, with no
-- departure recorded (int_learner_status_changes): the roster the school had plus its
-- recorded arrivals minus its recorded departures still holds them, so they are expected
-- and missing
silent_removals as (
    select
        changes.school_code,
        count(*) as removed_records
    from {{ ref('int_learner_status_changes') }} as changes
    inner join term
        on changes.school_year = term.school_year and changes.term = term.term
    where changes.change_kind = 'xoa_khoi_nguon' and changes.enrolment_status = 'dang_hoc'
    group by changes.school_code
),

learner_domain as (
    select
        coalesce(roster.school_code, silent_removals.school_code) as school_code,
        'learners' as data_domain,
        coalesce(roster.present_records, 0) + coalesce(silent_removals.removed_records, 0)
            as expected_records,
        coalesce(roster.present_records, 0) as present_records,
        coalesce(roster.complete_records, 0) as complete_records,
        coalesce(roster.reported_by_deadline, false) as reported_by_deadline
    from roster
    full outer join silent_removals on roster.school_code = silent_removals.school_code
),

staff_domain as (
    select
        school_code,
        'staff' as data_domain,
        count(*) as expected_records,
        count(*) as present_records,
        count(*) filter (
            where personal_id is not null
            and (qualification is not null or staff_role = 'nhan_vien')
        ) as complete_records,
        bool_or({{ arrived_by_deadline('source_updated_at') }}) as reported_by_deadline
    from staff
    group by school_code
),

facility_domain as (
    select
        reporting_schools.school_code,
        'facilities' as data_domain,
        1 as expected_records,
        count(facilities.school_code) as present_records,
        count(facilities.school_code) filter (
            where facilities.classrooms is not null and facilities.toilets is not null
        ) as complete_records,
        bool_or({{ arrived_by_deadline('facilities.source_updated_at') }})
            as reported_by_deadline
    from reporting_schools
    left join facilities on reporting_schools.school_code = facilities.school_code
    where reporting_schools.source_system <> 'file_exports'
    group by reporting_schools.school_code
),

-- each learner's record per domain, found once for all learners: a lateral
-- lookup per learner re-read the records view each time (quadratic; minutes at 5,000 learners)
learner_records as (
    select
        moet_id,
        school_code,
        data_domain,
        max(source_updated_at) as source_updated_at
    from records
    where data_domain <> 'results'
    group by moet_id, school_code, data_domain
),

-- per-learner domains: every enrolled learner is expected to have the record
per_learner as (
    select
        learners.school_code,
        domains.data_domain,
        count(*) as expected_records,
        count(learner_records.moet_id) as present_records,
        count(learner_records.moet_id) as complete_records,
        bool_or({{ arrived_by_deadline('learner_records.source_updated_at') }})
            as reported_by_deadline
    from learners
    cross join (
        values ('health', 0)
    ) as domains (data_domain, min_grade)
    left join learner_records
        on
            learners.moet_id = learner_records.moet_id
            and learners.school_code = learner_records.school_code
            and domains.data_domain = learner_records.data_domain
    where learners.grade >= domains.min_grade and learners.source_system <> 'file_exports'
    group by learners.school_code, domains.data_domain
),

-- results: every subject (or assessment) the regulations require of each learner's level
-- (int_result_subjects), so that a result missing a subject counts as incomplete
result_domain as (
    select
        school_code,
        'results' as data_domain,
        count(*) as expected_records,
        count(*) filter (where present) as present_records,
        count(*) filter (where present) as complete_records,
        bool_or({{ arrived_by_deadline('source_updated_at') }}) as reported_by_deadline
    from {{ ref('int_result_subjects') }}
    group by school_code
),

-- digital transcripts (học bạ số) of the school years each enrolled learner completed at
-- the school, as its system lists them: created (signed or not) present, signed complete, not
-- yet created (chua_tao) missing. This year's are due once its end-of-year report is past
-- its deadline; before, they are not counted (the school makes them at the year's end).
transcript_domain as (
    select
        transcripts.school_code,
        'transcripts' as data_domain,
        count(*) as expected_records,
        count(*) filter (
            where transcripts.transcript_status in ('da_ky_so', 'chua_ky_so')
        ) as present_records,
        count(*) filter (where transcripts.transcript_status = 'da_ky_so') as complete_records,
        bool_or({{ arrived_by_deadline('transcripts.source_updated_at') }})
            as reported_by_deadline
    from {{ ref('int_school_records') }} as transcripts
    inner join learners
        on
            transcripts.moet_id = learners.moet_id
            and transcripts.school_code = learners.school_code
    cross join term as evaluated
    where
        transcripts.data_domain = 'transcripts'
        and (
            transcripts.school_year < evaluated.school_year
            or (
                transcripts.school_year = evaluated.school_year
                and evaluated.term = 'ca_nam' and evaluated.deadline_passed
            )
        )
    group by transcripts.school_code
),

per_domain as (
    select * from learner_domain
    union all
    select * from result_domain
    union all
    select * from staff_domain
    union all
    select * from facility_domain
    union all
    select * from per_learner
    union all
    select * from transcript_domain
),

-- every school expected to report this term, with the domains its channel carries
school_domains as (
    select * from {{ ref('int_school_domains') }}
),

schools as (
    select distinct
        school_code,
        school_level,
        commune_code,
        managing_unit
    from school_domains
),

reporting_domain as (
    select
        school_domains.school_code,
        'reporting' as data_domain,
        count(*) as expected_records,
        count(*) filter (where per_domain.present_records > 0) as present_records,
        count(*) filter (where per_domain.present_records > 0) as complete_records,
        coalesce(bool_and(per_domain.reported_by_deadline), false) as reported_by_deadline
    from school_domains
    left join per_domain
        on
            school_domains.school_code = per_domain.school_code
            and school_domains.data_domain = per_domain.data_domain
    group by school_domains.school_code
),

unioned as (
    select * from per_domain
    union all
    select * from reporting_domain
),

final as (
    select
        unioned.school_code || ':' || term.school_year || ':' || term.term || ':'
        || unioned.data_domain as completeness_key,
        unioned.school_code,
        schools.school_level,
        schools.commune_code,
        schools.managing_unit,
        term.school_year,
        term.term,
        term.deadline,
        term.deadline_passed,
        unioned.data_domain,
        unioned.expected_records,
        unioned.present_records,
        unioned.complete_records,
        coalesce(unioned.reported_by_deadline, false) as reported_by_deadline
    from unioned
    inner join schools on unioned.school_code = schools.school_code
    cross join term
)

select * from final
