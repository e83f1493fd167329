{#- Small-cell suppression of published statistics (Law 91/2025 on personal data): a count of
    fewer than var('small_cell_threshold') persons (5) is not published (null, is_suppressed),
    at commune level (`xa`), and the province cell (`tinh`) of a group is suppressed too when
    the commune cells suppressed in it add up to fewer than the threshold: the province total
    minus the published communes would otherwise give them away.
    `cells` is a CTE with aggregation_level, unit_code, the `groups` columns and `person_count`;
    the macro yields CTEs, the last named `published`: the cells with `count_name` and is_suppressed.
-#}
{% macro suppress_small_cells(cells, groups, count_name) -%}
    {%- set threshold = var('small_cell_threshold') -%}
residue as (
    select
        {% for column in groups -%}
        {{ column }},
        {% endfor -%}
        sum(person_count) as suppressed_persons
    from {{ cells }}
    where aggregation_level = 'xa' and person_count < {{ threshold }}
    group by {{ groups | join(', ') }}
),

suppressed as (
    select
        {{ cells }}.aggregation_level,
        {{ cells }}.unit_code,
        {% for column in groups -%}
        {{ cells }}.{{ column }},
        {% endfor -%}
        coalesce(
            {{ cells }}.person_count < {{ threshold }}
            or ({{ cells }}.aggregation_level = 'tinh'
                and residue.suppressed_persons < {{ threshold }}),
            false
        ) as is_suppressed
        , {{ cells }}.person_count
    from {{ cells }}
    left join residue
        on {{ cells }}.aggregation_level = 'tinh'
        {% for column in groups -%}
        and {{ cells }}.{{ column }} is not distinct from residue.{{ column }}
        {% endfor %}
),

published as (
    select
        aggregation_level,
        unit_code,
        {% for column in groups -%}
        {{ column }},
        {% endfor -%}
        case when not is_suppressed then person_count end as {{ count_name }},
        is_suppressed
    from suppressed
)
{%- endmacro %}
