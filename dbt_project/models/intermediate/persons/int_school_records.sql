-- The per-learner records of the school systems (results, health, digital transcripts)
-- and the per-school facilities, of both vendors, in one shape: what completeness counts.
{#- (domain, staging model, its key, its term, its status: a transcript's only) -#}
{%- set parts = [
    ('results', 'stg_sms_vendor_a__results', 'result_record_key', 'term', 'null'),
    ('results', 'stg_sms_vendor_b__results', 'result_record_key', 'term', 'null'),
    ('health', 'stg_sms_vendor_a__health', 'health_record_key', "'ca_nam'", 'null'),
    ('health', 'stg_sms_vendor_b__health', 'health_record_key', "'ca_nam'", 'null'),
    ('transcripts', 'stg_sms_vendor_a__transcripts', 'transcript_record_key', "'ca_nam'",
     'transcript_status'),
    ('transcripts', 'stg_sms_vendor_b__transcripts', 'transcript_record_key', "'ca_nam'",
     'transcript_status'),
] %}

with

{% for domain, model, key, term, status in parts %}
part_{{ loop.index }} as (
    select
        '{{ domain }}' as data_domain,
        '{{ model }}' || ':' || {{ key }} as record_key,
        school_code,
        moet_id,
        school_year,
        {{ term }} as term,
        {{ status }}::text as transcript_status,
        source_updated_at
    from {{ ref(model) }}
),
{% endfor %}

final as (
    {% for domain, model, key, term, status in parts %}
    select * from part_{{ loop.index }}
    {% if not loop.last %}union all{% endif %}
    {% endfor %}
)

select * from final
