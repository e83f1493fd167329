{#- on-run-start: the tables the models read outside dbt (ops, pii, access, raw) come from the
    platform's migrations (plugins/eduhub/migrations); a warehouse never migrated gets this
    error rather than one about a missing table half-way through the build. -#}
{% macro require_migrated_warehouse() -%}
do $$
begin
    if to_regclass('ops.alembic_version') is null then
        raise exception 'the warehouse is not migrated: run `eduhub warehouse migrate` (each DAG''s first task does)';
    end if;
end $$
{%- endmacro %}
