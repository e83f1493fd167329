{#- Small-cell suppression of published statistics (Law 91/2025 on personal data), with the
    complementary suppression that keeps a small count from being recovered by subtraction:

    1. a commune cell (`xa`) of fewer than var('small_cell_threshold') persons (5) is not
       published (null, is_suppressed);
    2. in each `margin` group of a commune (the cells that add up to a total another mart or a
       sum gives away, e.g. a commune's learners of one level and grade, which exam_readiness
       publishes), when the suppressed cells add up to fewer than the threshold, the smallest
       published cell is suppressed too: the total minus the published cells then tells only a
       sum of at least the threshold, never a small count;
    3. a province cell (`tinh`) is suppressed when any commune cell under it is (or it is
       small): a published province cell is then the sum of published communes, and the
       province's totals minus its published cells tell nothing the communes do not;
    4. a margin group whose every cell is suppressed is not published at all: its rows would
       tell no count, only which sexes and ethnic groups it holds, and with its total known
       (3 learners in grade 9, one row) that is a disclosure.

    `cells` is a CTE with aggregation_level, unit_code, the `groups` columns and `person_count`;
    `margin` names the `groups` columns whose totals are known (the others, e.g. sex and
    ethnicity, are what suppression protects). The macro yields CTEs, the last named
    `published`: the cells with `count_name` and is_suppressed.
-#}
{% macro suppress_small_cells(cells, groups, count_name, margin) -%}
    {%- set threshold = var('small_cell_threshold') -%}
commune_cells as (
    select
        *,
        person_count < {{ threshold }} as is_small
    from {{ cells }}
    where aggregation_level = 'xa'
),

{{ complement_small_cells('commune_cells', 'commune_suppressed', groups, margin) }},

hidden_columns as (
    select distinct
        {% for column in groups -%}
        {{ column }},
        {% endfor -%}
        true as hidden
    from commune_suppressed
    where is_suppressed
),

province_suppressed as (
    select
        {{ cells }}.*,
        (
            {{ cells }}.person_count < {{ threshold }}
            or coalesce(hidden_columns.hidden, false)
        ) as is_suppressed
    from {{ cells }}
    left join hidden_columns
        on
            true
            {% for column in groups -%}
            and {{ cells }}.{{ column }} is not distinct from hidden_columns.{{ column }}
            {% endfor %}
    where {{ cells }}.aggregation_level = 'tinh'
),

flagged as (
    {% for suppressed in ['commune_suppressed', 'province_suppressed'] -%}
    select
        aggregation_level,
        unit_code,
        {% for column in groups -%}
        {{ column }},
        {% endfor -%}
        person_count,
        is_suppressed
    from {{ suppressed }}
    {% if not loop.last %}union all{% endif %}
    {% endfor -%}
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
    from (
        select
            *,
            bool_and(is_suppressed) over (
                partition by aggregation_level, unit_code, {{ margin | join(', ') }}
            ) as group_hidden
        from flagged
    ) as cells_of_groups
    where not group_hidden
)
{%- endmacro %}

{#- Step 2 of suppress_small_cells (and the whole of it for a school's own cells,
    statistics_school_learners, statistics_year_end): `source` (cells with unit_code and
    is_small) to `name` (with is_suppressed): the small cells, and in each margin group whose
    small cells add up to fewer than the threshold, the smallest other cell (ties broken by the
    group columns). With `withhold_hidden_groups`, a margin group all of whose cells are hidden
    is left out whole (a school's row of nothing but hidden cells tells nothing). -#}
{% macro complement_small_cells(source, name, groups, margin, withhold_hidden_groups=false) -%}
    {%- set threshold = var('small_cell_threshold') -%}
    {%- set by_margin = ['unit_code'] + margin -%}
{{ name }}_ranked as (
    select
        *,
        sum(case when is_small then person_count else 0 end)
            over (partition by {{ by_margin | join(', ') }})
            as small_persons,
        row_number() over (
            partition by {{ by_margin | join(', ') }}, is_small
            order by person_count, {{ groups | join(', ') }}
        ) as rank_in_kind
    from {{ source }}
),

{{ name }}{{ '_marked' if withhold_hidden_groups }} as (
    select
        *,
        is_small or (
            small_persons > 0 and small_persons < {{ threshold }} and rank_in_kind = 1
        ) as is_suppressed
    from {{ name }}_ranked
)
{%- if withhold_hidden_groups %},

{{ name }} as (
    select * from (
        select
            *,
            bool_and(is_suppressed) over (partition by {{ by_margin | join(', ') }})
                as group_hidden
        from {{ name }}_marked
    ) as marked
    where not group_hidden
)
{%- endif %}
{%- endmacro %}
