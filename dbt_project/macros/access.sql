{#- Access to the published models (issue 8, plugins/eduhub/access.py, README "Privacy and
    access"). `eduhub warehouse grant` keeps the roles in step; this macro makes sure a dbt run
    never builds a mart that a role could read before its row-level security is in place. -#}

{#- post-hook of every mart and audit table: row-level security. The analyst and provincial
    roles see every row (and the loader group, which writes them: the schools' worklists read
    the failures as that group, migration 0007); a commune role sees the rows of the units it manages (its schools and
    the commune itself, access.commune_units) through its school_code (else commune_code) or
    unit_code column; a table without such a column shows a commune no row at all.
    A table with a column of var('personal_columns') (a record key holding a MOET ID, ...) is
    the analyst's column by column, without those (the `grants` config gives the analyst no
    table-level grant on it). -#}
{% macro row_access() -%}
    {%- if execute and model.config.materialized in ('table', 'incremental') -%}
        {%- set columns = adapter.get_columns_in_relation(this) | map(attribute='name') | list -%}
        {%- if 'school_code' in columns and 'commune_code' in columns -%}
            {%- set unit = 'coalesce(school_code, commune_code)' -%}
        {%- elif 'school_code' in columns -%}
            {%- set unit = 'school_code' -%}
        {%- elif 'unit_code' in columns -%}
            {%- set unit = 'unit_code' -%}
        {%- elif 'commune_code' in columns -%}
            {%- set unit = 'commune_code' -%}
        {%- else -%}
            {%- set unit = none -%}
        {%- endif -%}
        alter table {{ this }} enable row level security;
        drop policy if exists whole_province on {{ this }};
        create policy whole_province on {{ this }} for select
            to eduhub_analyst, eduhub_provincial, eduhub_loader using (true);
        drop policy if exists own_units on {{ this }};
        {%- set personal = columns | select('in', var('personal_columns')) | list %}
        {%- if personal %}
        grant select (
            {%- for column in columns if column not in personal %}
            {{- adapter.quote(column) }}{{ ', ' if not loop.last }}
            {%- endfor -%}
        ) on {{ this }} to eduhub_analyst;
        {%- endif %}
        {%- if unit %}
        create policy own_units on {{ this }} for select to eduhub_commune using (
            {{ unit }} in (
                select units.unit_code
                from access.commune_units as units
                inner join access.commune_roles as communes
                    on units.commune_code = communes.commune_code
                inner join pg_catalog.pg_roles as roles on communes.role_name = roles.rolname
                where pg_catalog.pg_has_role(roles.oid, 'MEMBER')
            )
        );
        {%- endif %}
    {%- endif -%}
{%- endmacro %}
