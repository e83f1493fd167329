-- Every school expected to report in the term the run evaluates, with each data domain its
-- channel carries: the registry's units open on the term's start, and any school that reports
-- (registered or not). Class exports hold the learner lists only. What completeness
-- (`reporting`) and freshness count a school against.
with

reporting_schools as (
    select * from {{ ref('int_schools') }}
),

registry as (
    select * from {{ ref('stg_school_registry__units') }}
),

term as (
    select * from {{ ref('int_term_context') }}
),

schools as (
    select
        school_code,
        school_level,
        commune_code,
        managing_unit,
        coalesce(registry_channel, source_system) as channel
    from reporting_schools
    union all
    select
        registry.unit_code as school_code,
        registry.school_level,
        registry.commune_code,
        registry.managing_unit,
        registry.channel
    from registry
    cross join term
    where
        registry.opened_on <= term.term_start
        and (registry.closed_on is null or registry.closed_on >= term.term_start)
        and not exists (
            select 1 from reporting_schools
            where reporting_schools.school_code = registry.unit_code
        )
),

channel_domains as (
    select
        channels.channel,
        domains.data_domain
    from (values ('sms_vendor_a'), ('sms_vendor_b')) as channels (channel)
    cross join (
        values ('learners'), ('staff'), ('facilities'), ('results'), ('health'),
        ('transcripts')
    ) as domains (data_domain)
    union all
    select
        'file_exports' as channel,
        'learners' as data_domain
),

final as (
    select
        schools.school_code || ':' || channel_domains.data_domain as school_domain_key,
        schools.school_code,
        schools.school_level,
        schools.commune_code,
        schools.managing_unit,
        schools.channel,
        channel_domains.data_domain
    from schools
    inner join channel_domains on schools.channel = channel_domains.channel
)

select * from final
