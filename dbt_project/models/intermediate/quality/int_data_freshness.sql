-- When each school last updated each data domain its channel carries, and how many days
-- before the run's day (in Vietnam) that was: how "sống" (live) its data is. The update time
-- is the source system's, or, for the class-export schools, the saving of the newest class
-- file. A domain the school never sent has none (null days), listed, not left out.
with

school_domains as (
    select * from {{ ref('int_school_domains') }}
),

term as (
    select * from {{ ref('int_term_context') }}
),

updates as (
    select
        school_code,
        'learners' as data_domain,
        max(data_arrived_at) as last_updated_at
    from {{ ref('int_learners') }}
    group by school_code
    union all
    select
        school_code,
        'staff' as data_domain,
        max(source_updated_at) as last_updated_at
    from {{ ref('int_staff') }}
    group by school_code
    union all
    select
        school_code,
        'facilities' as data_domain,
        max(source_updated_at) as last_updated_at
    from {{ ref('int_facilities') }}
    group by school_code
    union all
    select
        school_code,
        data_domain,
        max(source_updated_at) as last_updated_at
    from {{ ref('int_school_records') }}
    group by school_code, data_domain
),

final as (
    select
        school_domains.school_domain_key,
        school_domains.school_code,
        school_domains.school_level,
        school_domains.commune_code,
        school_domains.managing_unit,
        school_domains.data_domain,
        updates.last_updated_at,
        -- a record stamped later than the run's day (a run for a past day) is 0 days old;
        -- never updated stays null (greatest() would skip the null)
        case
            when updates.last_updated_at is not null
                then
                    greatest(
                        term.as_of_date
                        - (updates.last_updated_at at time zone interval '+07:00')::date,
                        0
                    )
        end as days_since_update
    from school_domains
    left join updates
        on
            school_domains.school_code = updates.school_code
            and school_domains.data_domain = updates.data_domain
    cross join term
)

select * from final
