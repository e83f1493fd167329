-- The per-learner records of the school systems (results, health, digital transcripts)
-- and the per-school facilities, of both vendors, in one shape: what completeness counts.
{%- set parts = [
    ('results', 'stg_sms_vendor_a__results', 'result_record_key', 'term'),
    ('results', 'stg_sms_vendor_b__results', 'result_record_key', 'term'),
    ('health', 'stg_sms_vendor_a__health', 'health_record_key', "'ca_nam'"),
    ('health', 'stg_sms_vendor_b__health', 'health_record_key', "'ca_nam'"),
    ('transcripts', 'stg_sms_vendor_a__transcripts', 'transcript_record_key', "'ca_nam'"),
    ('transcripts', 'stg_sms_vendor_b__transcripts', 'transcript_record_key', "'ca_nam'"),
] %}

with

{% for domain, model, key, term in parts %}
part_{{ loop.index }} as (
    select
        '{{ domain }}' as data_domain,
        '{{ model }}' || ':' || {{ key }} as record_key,
        school_code,
        moet_id,
        school_year,
        {{ term }} as term,
        source_updated_at
    from {{ ref(model) }}
),
{% endfor %}

final as (
    {% for domain, model, key, term in parts %}
    select * from part_{{ loop.index }}
    {% if not loop.last %}union all{% endif %}
    {% endfor %}
)

select * from final
