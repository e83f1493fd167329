-- The per-learner records of the school systems (results, health, digital transcripts)
-- and the per-school facilities, of both vendors, in one shape: what completeness counts, and
-- the year's outcome a whole-year result gives (statistics_year_end).
{#- (domain, staging model, its key, its term, its status: a transcript's only, the
    outcome: a result's only) -#}
{%- set parts = [
    ('results', 'stg_sms_vendor_a__results', 'result_record_key', 'term', 'null',
     'year_end_outcome'),
    ('results', 'stg_sms_vendor_b__results', 'result_record_key', 'term', 'null',
     'year_end_outcome'),
    ('health', 'stg_sms_vendor_a__health', 'health_record_key', "'ca_nam'", 'null', 'null'),
    ('health', 'stg_sms_vendor_b__health', 'health_record_key', "'ca_nam'", 'null', 'null'),
    ('transcripts', 'stg_sms_vendor_a__transcripts', 'transcript_record_key', "'ca_nam'",
     'transcript_status', 'null'),
    ('transcripts', 'stg_sms_vendor_b__transcripts', 'transcript_record_key', "'ca_nam'",
     'transcript_status', 'null'),
] %}

with

{% for domain, model, key, term, status, outcome in parts %}
part_{{ loop.index }} as (
    select
        '{{ domain }}' as data_domain,
        '{{ model }}' || ':' || {{ key }} as record_key,
        school_code,
        moet_id,
        school_year,
        {{ term }} as term,
        {{ status }}::text as transcript_status,
        {{ outcome }}::text as year_end_outcome,
        source_updated_at
    from {{ ref(model) }}
),
{% endfor %}

final as (
    {% for domain, model, key, term, status, outcome in parts %}
    select * from part_{{ loop.index }}
    {% if not loop.last %}union all{% endif %}
    {% endfor %}
)

select * from final
