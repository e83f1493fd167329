-- Every person record of the school systems (learners and staff, all sources), with the
-- four values the population service verifies.
{%- set branches = [
    ('sms_vendor_a', 'learner', 'stg_sms_vendor_a__learners', 'learner_record_key'),
    ('sms_vendor_b', 'learner', 'stg_sms_vendor_b__learners', 'learner_record_key'),
    ('file_exports', 'learner', 'stg_file_exports__learners', 'learner_record_key'),
    ('sms_vendor_a', 'staff', 'stg_sms_vendor_a__staff', 'staff_record_key'),
    ('sms_vendor_b', 'staff', 'stg_sms_vendor_b__staff', 'staff_record_key'),
] %}

with

{% for source_system, role, model, key in branches %}
{{ source_system }}_{{ role }} as (
    select
        '{{ source_system }}' as source_system,
        '{{ role }}' as person_role,
        {{ key }} as record_key,
        school_code,
        moet_id,
        personal_id,
        full_name,
        date_of_birth,
        sex
    from {{ ref(model) }}
),
{% endfor %}

unioned as (
    {% for source_system, role, model, key in branches %}
    select * from {{ source_system }}_{{ role }}
    {% if not loop.last %}union all{% endif %}
    {% endfor %}
),

final as (
    select
        source_system || ':' || person_role || ':' || record_key as person_record_key,
        *
    from unioned
)

select * from final
