{#- The fingerprint under which the population service's answer for a person is stored
    (see plugins/eduhub/pipelines/population.py: the same four values). -#}
{% macro person_fingerprint(personal_id, full_name, date_of_birth, sex) -%}
    encode(sha256(convert_to(
        {{ personal_id }} || chr(31) || {{ full_name }} || chr(31)
        || ({{ date_of_birth }})::text || chr(31) || {{ sex }}, 'UTF8'
    )), 'hex')
{%- endmacro %}

{#- Green, yellow, red as the Sở colours a score (section 4 of the design). -#}
{% macro score_colour(score) -%}
    case
        when {{ score }} is null then null
        when {{ score }} >= 0.9 then 'xanh'
        when {{ score }} >= 0.75 then 'vang'
        else 'do'
    end
{%- endmacro %}

{#- A rate that is null when nothing was expected (not zero). -#}
{% macro safe_rate(numerator, denominator) -%}
    round(({{ numerator }})::numeric / nullif({{ denominator }}, 0), 4)
{%- endmacro %}

{#- Whether a record arrived by the term's deadline: on the deadline's day or before, the day
    Vietnam's (UTC+7) whatever the session's time zone. Reads `term.deadline` from a CTE
    `term` of the calling model (int_term_context). -#}
{% macro arrived_by_deadline(arrived_at) -%}
    ({{ arrived_at }} at time zone interval '+07:00')::date <= (select term.deadline from term)
{%- endmacro %}
