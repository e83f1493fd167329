-- The inspection samples with their visit status and follow-up: every year's frozen sample
-- (the annual DAG froze it; it never changes after that), and the draft of the run's school
-- year (int_term_context, from the school calendar) until that year is frozen. Earlier years
-- stay, with their visits, after the school year rolls over.
with

frozen as (
    select * from {{ source('ops', 'inspection_samples') }}
),

draft as (
    select * from {{ ref('inspection_sample_draft') }}
),

visits as (
    select * from {{ source('ops', 'inspection_visits') }}
),

sample as (
    select
        school_year,
        school_code,
        inspecting_authority,
        school_level,
        stratum_size,
        stratum_quota,
        selection,
        reason_vi,
        seed,
        true as is_frozen
    from frozen
    union all
    select
        school_year,
        school_code,
        inspecting_authority,
        school_level,
        stratum_size,
        stratum_quota,
        selection,
        reason_vi,
        seed,
        false as is_frozen
    from draft
    where not exists (
        select 1 from frozen
        where frozen.school_year = draft.school_year
    )
),

final as (
    select
        sample.school_year || ':' || sample.school_code as sample_key,
        sample.*,
        coalesce(visits.visit_status, 'chua_kiem_tra') as visit_status,
        visits.visited_on,
        visits.findings_vi,
        visits.follow_up_vi,
        visits.follow_up_due
    from sample
    left join visits
        on sample.school_year = visits.school_year and sample.school_code = visits.school_code
)

select * from final
