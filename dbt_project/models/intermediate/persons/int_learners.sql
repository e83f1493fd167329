-- Every learner record of every school system, one row per (source, school, learner).
{%- set sources = [
    ('sms_vendor_a', 'stg_sms_vendor_a__learners'),
    ('sms_vendor_b', 'stg_sms_vendor_b__learners'),
    ('file_exports', 'stg_file_exports__learners'),
] %}

with

{% for source_system, model in sources %}
{{ source_system }} as (
    select
        '{{ source_system }}' as source_system,
        learner_record_key,
        school_code,
        moet_id,
        personal_id,
        full_name,
        date_of_birth,
        sex,
        ethnicity,
        class_name,
        grade,
        enrolment_status,
        {{ 'source_updated_at' if source_system != 'file_exports' else 'null::timestamptz' }}
            as source_updated_at,
        -- when the record's current data arrived: its update in the school's system, or the
        -- saving of the class file that carries it (the exports have no update time)
        {{ 'source_updated_at' if source_system != 'file_exports' else 'file_saved_at' }}
            as data_arrived_at
    from {{ ref(model) }}
),
{% endfor %}

schools as (
    select * from {{ ref('int_schools') }}
),

unioned as (
    {% for source_system, model in sources %}
    select * from {{ source_system }}
    {% if not loop.last %}union all{% endif %}
    {% endfor %}
),

final as (
    select
        unioned.source_system || ':' || unioned.learner_record_key as learner_key,
        unioned.*,
        schools.school_level,
        schools.commune_code,
        schools.managing_unit
    from unioned
    left join schools on unioned.school_code = schools.school_code
)

select * from final
