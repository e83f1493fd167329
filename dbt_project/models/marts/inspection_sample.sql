-- The year's inspection sample: the frozen one once the annual DAG has frozen it (it never
-- changes after that), the draft before; with the visit status and follow-up.
with

frozen as (
    select * from {{ source('ops', 'inspection_samples') }}
    where school_year = '{{ var("school_year") }}'
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
    where not exists (select 1 from frozen)
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
