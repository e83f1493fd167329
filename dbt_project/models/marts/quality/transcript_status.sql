-- Digital transcripts (học bạ số) by status, per school year they record: each enrolled
-- learner's transcript of each school year its school's system lists, signed (da_ky_so),
-- created but not signed (chua_ky_so) or not yet created (chua_tao); per school, commune,
-- managing unit and the province, for the term the run evaluates. `is_due` marks the years the
-- transcripts completeness counts (int_completeness): the years completed, and this year once
-- its end-of-year report is past its deadline.
with

learners as (
    select * from {{ ref('int_learners') }}
    where enrolment_status = 'dang_hoc'
),

term as (
    select * from {{ ref('int_term_context') }}
),

transcripts as (
    select
        records.school_code,
        learners.commune_code,
        learners.managing_unit,
        records.school_year as transcript_year,
        records.transcript_status
    from {{ ref('int_school_records') }} as records
    inner join learners
        on
            records.moet_id = learners.moet_id
            and records.school_code = learners.school_code
    where records.data_domain = 'transcripts'
),

rolled_up as (
    select
        {{ unit_rollup_columns() }},
        transcript_year,
        count(*) as transcripts,
        count(*) filter (where transcript_status = 'da_ky_so') as signed,
        count(*) filter (where transcript_status = 'chua_ky_so') as created_unsigned,
        count(*) filter (where transcript_status = 'chua_tao') as not_created
    from transcripts
    group by {{ unit_rollup_grouping_sets(['transcript_year']) }}
),

final as (
    select
        rolled_up.aggregation_level || ':' || rolled_up.unit_code || ':' || term.school_year
        || ':' || term.term || ':' || rolled_up.transcript_year as transcript_status_key,
        rolled_up.aggregation_level,
        rolled_up.unit_code,
        term.school_year,
        term.term,
        rolled_up.transcript_year,
        (
            rolled_up.transcript_year < term.school_year
            or (
                rolled_up.transcript_year = term.school_year
                and term.term = 'ca_nam' and term.deadline_passed
            )
        ) as is_due,
        rolled_up.transcripts,
        rolled_up.signed,
        rolled_up.created_unsigned,
        rolled_up.not_created,
        {{ safe_rate('rolled_up.signed', 'rolled_up.transcripts') }} as signed_rate
    from rolled_up
    cross join term
    where rolled_up.unit_code is not null
)

select * from final
