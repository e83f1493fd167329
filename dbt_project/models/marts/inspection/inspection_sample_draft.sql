-- The 30% inspection sample of the run's school year (int_term_context, from the school
-- calendar) as it would be drawn today: per inspecting authority and school level (the
-- stratum), at least ceil(30%) of the schools; half of each quota by risk (low quality score,
-- not inspected in the last two school years), the rest in the order of a seeded hash of the
-- school code, so the same seed and year always give the same list. The seed is the year's in
-- the calendar (var inspection_seed overrides it). The reason of each choice is spelled out.
-- The frame is every school that reports and every unit the Sở's registry lists as open: a
-- silent school (no data at all) is in its stratum, at the top of the risk order.
with

reporting_schools as (
    select * from {{ ref('int_schools') }}
    where managing_unit is not null
),

registry as (
    select * from {{ ref('stg_school_registry__units') }}
),

checks as (
    select * from {{ ref('int_quality_checks') }}
),

term as (
    select * from {{ ref('int_term_context') }}
),

years as (
    select * from {{ ref('int_school_years') }}
),

visits as (
    select * from {{ source('ops', 'inspection_visits') }}
),

schools as (
    select
        school_code,
        managing_unit,
        school_level,
        false as is_silent
    from reporting_schools
    union all
    select
        registry.unit_code as school_code,
        registry.managing_unit,
        registry.school_level,
        true as is_silent
    from registry
    cross join term
    where
        registry.opened_on <= term.as_of_date
        and (registry.closed_on is null or registry.closed_on > term.as_of_date)
        and not exists (
            select 1 from reporting_schools
            where reporting_schools.school_code = registry.unit_code
        )
),

chosen_seed as (
    select
        term.school_year,
        -- inspected in the last two school years: in this one's two predecessors
        (term.first_year - 2)::text || '-' || (term.first_year - 1)::text as recent_year,
        coalesce(
            {{ var('inspection_seed') if var('inspection_seed') is not none else 'null' }}::bigint,
            years.inspection_seed
        ) as seed
    from term
    left join years on term.school_year = years.school_year
),

scores as (
    select
        school_code,
        {{ safe_rate('count(*) filter (where passed)', 'count(*)') }} as quality_score
    from checks
    where school_code is not null
    group by school_code
),

last_visits as (
    select
        school_code,
        max(school_year) as last_inspected_year
    from visits
    where visit_status = 'da_kiem_tra'
    group by school_code
),

candidates as (
    select
        schools.school_code,
        schools.managing_unit as inspecting_authority,
        schools.school_level,
        schools.is_silent,
        scores.quality_score,
        last_visits.last_inspected_year,
        chosen_seed.seed,
        md5(chosen_seed.seed::text || ':' || schools.school_code) as draw_order,
        count(*) over (partition by schools.managing_unit, schools.school_level) as stratum_size,
        coalesce(last_visits.last_inspected_year, '')
        < chosen_seed.recent_year as not_recently_inspected
    from schools
    cross join chosen_seed
    left join scores on schools.school_code = scores.school_code
    left join last_visits on schools.school_code = last_visits.school_code
),

risks as (
    select
        *,
        -- a school that sends nothing is scored 0
        (1 - coalesce(quality_score, case when is_silent then 0 else 1 end))
        + case when not_recently_inspected then 0.2 else 0 end as risk
    from candidates
),

quotas as (
    select
        *,
        ceil({{ var('inspection_share') }} * stratum_size)::integer as stratum_quota,
        floor(ceil({{ var('inspection_share') }} * stratum_size) / 2)::integer as risk_quota,
        row_number() over (
            partition by inspecting_authority, school_level order by risk desc, draw_order asc
        ) as risk_rank
    from risks
),

risk_picks as (
    select
        *,
        'rui_ro' as selection
    from quotas
    where
        risk_rank <= risk_quota and (quality_score < 0.9 or not_recently_inspected or is_silent)
),

risk_counts as (
    select
        inspecting_authority,
        school_level,
        count(*) as risk_picked
    from risk_picks
    group by inspecting_authority, school_level
),

remaining as (
    select
        quotas.*,
        coalesce(risk_counts.risk_picked, 0) as risk_picked,
        row_number() over (
            partition by quotas.inspecting_authority, quotas.school_level
            order by quotas.draw_order
        ) as draw_rank
    from quotas
    left join risk_picks on quotas.school_code = risk_picks.school_code
    left join risk_counts
        on
            quotas.inspecting_authority = risk_counts.inspecting_authority
            and quotas.school_level = risk_counts.school_level
    where risk_picks.school_code is null
),

random_picks as (
    select
        *,
        'ngau_nhien' as selection
    from remaining
    where draw_rank <= stratum_quota - risk_picked
),

picked as (
    select
        school_code,
        inspecting_authority,
        school_level,
        stratum_size,
        stratum_quota,
        selection,
        is_silent,
        quality_score,
        not_recently_inspected,
        seed
    from risk_picks
    union all
    select
        school_code,
        inspecting_authority,
        school_level,
        stratum_size,
        stratum_quota,
        selection,
        is_silent,
        quality_score,
        not_recently_inspected,
        seed
    from random_picks
),

final as (
    select
        (select chosen_seed.school_year from chosen_seed) as school_year,
        school_code,
        inspecting_authority,
        school_level,
        stratum_size,
        stratum_quota,
        selection,
        case selection
            when 'rui_ro'
                then
                    'Chọn theo rủi ro: ' || concat_ws(
                        '; ',
                        case
                            when is_silent
                                then 'trường không gửi dữ liệu nào (có trong danh mục của Sở)'
                        end,
                        case
                            when quality_score < 0.9
                                then
                                    'điểm chất lượng dữ liệu '
                                    || to_char(quality_score * 100, 'FM990.0') || '% (dưới 90%)'
                        end,
                        case
                            when not_recently_inspected
                                then 'chưa được kiểm tra trong 2 năm học gần nhất'
                        end
                    )
            else 'Chọn ngẫu nhiên có thể tái lập (hạt giống ' || seed::text || ')'
        end as reason_vi,
        seed
    from picked
)

select * from final
