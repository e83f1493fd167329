-- What each enrolled learner's result holds against what the regulations require of its
-- level: one row per learner and required subject (`required_subjects`, Thông tư 22/2021: a
-- score in every compulsory subject assessed by marks), or one row per learner for the
-- levels assessed as a whole (primary, Thông tư 27/2020: the term's assessment). The result
-- is term 1's until the end-of-year report's deadline has passed, the whole year's after (the
-- results the last deadline made due). A missing subject counts as missing, even when the
-- learner has a result.
-- The schools without an API send no results (their class exports carry none).
with

term as (
    select * from {{ ref('int_term_context') }}
),

learners as (
    select * from {{ ref('int_learners') }}
    where enrolment_status = 'dang_hoc' and grade >= 1 and source_system <> 'file_exports'
),

required as (
    select * from {{ ref('required_subjects') }}
),

results as (
    {% for model in ['stg_sms_vendor_a__results', 'stg_sms_vendor_b__results'] %}
    select
        moet_id,
        school_code,
        school_year,
        term,
        scores,
        assessment,
        source_updated_at
    from {{ ref(model) }}
    {% if not loop.last %}union all{% endif %}
    {% endfor %}
),

-- the term's result of each learner (one per learner, school, year and term; the latest
-- should a system hold two)
term_results as (
    select distinct on (results.moet_id, results.school_code) results.*
    from results
    inner join term on results.school_year = term.school_year
    where results.term = case when term.due_term = 'ca_nam' then 'ca_nam' else 'hk1' end
    order by
        results.moet_id asc, results.school_code asc, results.source_updated_at desc nulls last
),

-- per learner, the items due: each required subject of its level, or the assessment
items as (
    select
        learners.school_code,
        learners.moet_id,
        learners.school_level,
        coalesce(required.subject, 'danh_gia') as subject
    from learners
    left join required on learners.school_level = required.school_level
),

final as (
    select
        items.school_code,
        items.moet_id,
        items.school_level,
        items.subject,
        term_results.moet_id is not null as has_result,
        coalesce(case
            when items.subject = 'danh_gia' then term_results.assessment is not null
            else jsonb_typeof(term_results.scores -> items.subject) = 'number'
        end, false) as present,
        term_results.source_updated_at
    from items
    left join term_results
        on
            items.moet_id = term_results.moet_id
            and items.school_code = term_results.school_code
)

select * from final
