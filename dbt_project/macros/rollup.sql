{#- The roll-up of per-school rows to the units the Sở reports on: each school, its commune,
    its managing unit (a commune, or the Sở) and the province ('80', Tây Ninh). Used together:
    `unit_rollup_columns()` in the select list (aggregation_level, unit_code), and
    `group by {{ unit_rollup_grouping_sets([...]) }}` with the other grouping columns. Rows of
    a unit left null (a school without a commune) are dropped by the caller's
    `where unit_code is not null`. Both take the same `levels`: those of the roll-up, in order
    (a mart split by school level leaves out 'truong', a school being of one level; the
    statistics have no managing units). -#}
{% macro unit_rollup_columns(levels=['truong', 'xa', 'don_vi_quan_ly', 'tinh']) -%}
    case
        {% for level in levels if level != 'tinh' -%}
        when grouping({{ unit_key_column(level) }}) = 0 then '{{ level }}'
        {% endfor -%}
        else 'tinh'
    end as aggregation_level,
    case
        {% for level in levels if level != 'tinh' -%}
        when grouping({{ unit_key_column(level) }}) = 0 then {{ unit_key_column(level) }}
        {% endfor -%}
        else '80'
    end as unit_code
{%- endmacro %}

{% macro unit_rollup_grouping_sets(columns, levels=['truong', 'xa', 'don_vi_quan_ly', 'tinh']) -%}
    {%- set rest = columns | join(', ') -%}
    grouping sets (
        {% for level in levels -%}
        ({{ (unit_key_column(level) ~ ', ') if level != 'tinh' else '' }}{{ rest }}){{ ',' if not loop.last }}
        {% endfor %}
    )
{%- endmacro %}

{#- The column that identifies a unit of a roll-up level (the province has none). -#}
{% macro unit_key_column(level) -%}
    {{- {'truong': 'school_code', 'xa': 'commune_code', 'don_vi_quan_ly': 'managing_unit'}[level] -}}
{%- endmacro %}
