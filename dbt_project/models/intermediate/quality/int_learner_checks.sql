-- One row per learner record and rule: whether the record passes. Each rule of the
-- catalogue (seed quality_rules) that concerns learners is implemented here, once.
with

learners as (
    select * from {{ ref('int_learners') }}
),

verifications as (
    select * from {{ ref('stg_population__verifications') }}
),

residents as (
    select * from {{ ref('stg_pcgd__residents') }}
),

ethnic_groups as (
    select * from {{ ref('ethnic_groups') }}
),

term as (
    select * from {{ ref('int_term_context') }}
),

term_results as (
    select distinct
        records.moet_id,
        records.school_code
    from {{ ref('int_school_records') }} as records
    inner join term on records.school_year = term.school_year and records.term = term.due_term
    where records.data_domain = 'results'
),

resident_ids as (
    select distinct personal_id from residents
    where personal_id is not null
),

resident_names as (
    select distinct
        full_name,
        date_of_birth
    from residents
),

id_usage as (
    -- people per personal ID: the same ID on different (name, birth date) is shared
    select
        personal_id,
        count(distinct concat_ws('|', full_name, date_of_birth)) as people,
        count(distinct school_code) as schools
    from learners
    where personal_id ~ '^\d{12}$'
    group by personal_id
),

-- per class, whether the school updated any of its learners this school year
class_activity as (
    select
        learners.school_code,
        learners.class_name,
        bool_or(learners.source_updated_at >= term.school_year_start) as updated_this_year
    from learners
    cross join term
    where learners.enrolment_status = 'dang_hoc' and learners.class_name is not null
    group by learners.school_code, learners.class_name
),

facts as (
    select
        learners.learner_key,
        learners.school_code,
        learners.personal_id,
        learners.personal_id ~ '^\d{12}$' as has_valid_id,
        learners.date_of_birth,
        learners.sex,
        learners.grade,
        learners.enrolment_status,
        learners.source_system,
        learners.ethnicity,
        learners.source_updated_at,
        term.due_term is not null as results_due,
        term.school_year_start,
        term.first_year as school_year_first_year,
        ethnic_groups.ethnic_group_name is not null as ethnicity_official,
        verifications.verification_status,
        id_usage.people as people_on_id,
        id_usage.schools as schools_on_id,
        -- found in the census by ID, or by name and birth date when the ID is wrong or missing
        (
            resident_ids.personal_id is not null or resident_names.full_name is not null
        ) as in_pcgd,
        term_results.moet_id is not null as has_term_results,
        coalesce(class_activity.updated_this_year, false) as class_updated_this_year
    from learners
    cross join term
    left join class_activity
        on
            learners.school_code = class_activity.school_code
            and learners.class_name = class_activity.class_name
    left join resident_ids on learners.personal_id = resident_ids.personal_id
    left join resident_names
        on
            learners.full_name = resident_names.full_name
            and learners.date_of_birth = resident_names.date_of_birth
    left join term_results
        on
            learners.moet_id = term_results.moet_id
            and learners.school_code = term_results.school_code
    left join ethnic_groups on learners.ethnicity = ethnic_groups.ethnic_group_name
    left join verifications
        on
            {{ person_fingerprint('learners.personal_id', 'learners.full_name',
                                 'learners.date_of_birth', 'learners.sex') }}
            = verifications.fingerprint
    left join id_usage on learners.personal_id = id_usage.personal_id
),

checks as (
    select
        'DU_PERSONAL_ID' as rule_id,
        learner_key,
        school_code,
        personal_id is not null as passed
    from facts
    union all
    select
        'DUNG_ID_FORMAT',
        learner_key,
        school_code,
        has_valid_id
    from facts
    where personal_id is not null
    union all
    -- 4th digit: 0/1 born 1900s male/female, 2/3 2000s, 4/5 2100s
    select
        'DUNG_ID_CENTURY_SEX',
        learner_key,
        school_code,
        substr(personal_id, 4, 1)::integer
        = (extract(year from date_of_birth)::integer / 100 - 19) * 2
        + case sex when 'nu' then 1 else 0 end
    from facts
    where has_valid_id and date_of_birth is not null and sex is not null
    union all
    select
        'DUNG_ID_YEAR',
        learner_key,
        school_code,
        substr(personal_id, 5, 2) = to_char(date_of_birth, 'YY')
    from facts
    where has_valid_id and date_of_birth is not null
    union all
    select
        'DUNG_POPULATION_VERIFIED',
        learner_key,
        school_code,
        verification_status = 'match'
    from facts
    where verification_status is not null
    union all
    -- grade g is normally reached at 5 + g; a year early or two late is plausible
    select
        'DUNG_AGE_GRADE',
        learner_key,
        school_code,
        case
            when grade = 0
                then school_year_first_year - extract(year from date_of_birth) between 2 and 6
            else
                school_year_first_year - extract(year from date_of_birth) - 5 - grade
                between -1 and 2
        end
    from facts
    where date_of_birth is not null and grade is not null
    union all
    select
        'DUNG_ETHNICITY_CODE',
        learner_key,
        school_code,
        ethnicity_official
    from facts
    where ethnicity is not null
    union all
    select
        'DU_REQUIRED_FIELDS',
        learner_key,
        school_code,
        date_of_birth is not null and sex is not null
    from facts
    union all
    select
        'DU_TERM_RESULTS',
        learner_key,
        school_code,
        has_term_results
    from facts
    -- the xlsx class exports carry no results: only schools with an API are held to it
    where
        results_due and grade >= 1 and source_system <> 'file_exports'
        and enrolment_status = 'dang_hoc'
    union all
    select
        'DU_LEARNER_IN_PCGD',
        learner_key,
        school_code,
        in_pcgd
    from facts
    where enrolment_status = 'dang_hoc'
    union all
    select
        'SACH_SHARED_ID',
        learner_key,
        school_code,
        people_on_id = 1
    from facts
    where has_valid_id
    union all
    -- one person (same ID, name and birth date) with records in two schools
    select
        'SACH_DUPLICATE_ENROLMENT',
        learner_key,
        school_code,
        not(people_on_id = 1 and schools_on_id > 1)
    from facts
    where has_valid_id
    union all
    select
        'SONG_UPDATED_THIS_YEAR',
        learner_key,
        school_code,
        source_updated_at >= school_year_start
    from facts
    where enrolment_status = 'dang_hoc' and source_updated_at is not null
    union all
    -- left as it was last year while the school updated the rest of the class this year: the
    -- class moved on without the learner (a whole class left as it was is the school's
    -- freshness, SONG_SCHOOL_RECENTLY_UPDATED, not this learner's)
    select
        'SONG_CLASS_MOVED_ON',
        learner_key,
        school_code,
        source_updated_at >= school_year_start or not class_updated_this_year
    from facts
    where enrolment_status = 'dang_hoc' and source_updated_at is not null
),

final as (
    select
        rule_id,
        'learner' as entity,
        learner_key as record_key,
        school_code,
        passed
    from checks
)

select * from final
