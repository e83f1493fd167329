{#- The roll-up of per-school rows to the units the Sở reports on: each school, its commune,
    its managing unit (a commune, or the Sở) and the province ('80', Tây Ninh). Used together:
    `unit_rollup_columns()` in the select list (aggregation_level, unit_code), and
    `group by {{ unit_rollup_grouping_sets([...]) }}` with the other grouping columns. Rows of
    a unit left null (a school without a commune) are dropped by the caller's
    `where unit_code is not null`. -#}
{% macro unit_rollup_columns() -%}
    case
        when grouping(school_code) = 0 then 'truong'
        when grouping(commune_code) = 0 then 'xa'
        when grouping(managing_unit) = 0 then 'don_vi_quan_ly'
        else 'tinh'
    end as aggregation_level,
    case
        when grouping(school_code) = 0 then school_code
        when grouping(commune_code) = 0 then commune_code
        when grouping(managing_unit) = 0 then managing_unit
        else '80'
    end as unit_code
{%- endmacro %}

{% macro unit_rollup_grouping_sets(columns) -%}
    {%- set rest = columns | join(', ') -%}
    grouping sets (
        (school_code, {{ rest }}),
        (commune_code, {{ rest }}),
        (managing_unit, {{ rest }}),
        ({{ rest }})
    )
{%- endmacro %}

{#- The same roll-up without the schools (a school is of one level): each commune, each
    managing unit and the province, for the marts split by school level. -#}
{% macro level_rollup_columns() -%}
    case
        when grouping(commune_code) = 0 then 'xa'
        when grouping(managing_unit) = 0 then 'don_vi_quan_ly'
        else 'tinh'
    end as aggregation_level,
    case
        when grouping(commune_code) = 0 then commune_code
        when grouping(managing_unit) = 0 then managing_unit
        else '80'
    end as unit_code
{%- endmacro %}

{% macro level_rollup_grouping_sets(columns) -%}
    {%- set rest = columns | join(', ') -%}
    grouping sets (
        (commune_code, {{ rest }}),
        (managing_unit, {{ rest }}),
        ({{ rest }})
    )
{%- endmacro %}
