{#- Models land in the schema their folder names (staging, marts, ...), not <target>_<schema>.
    Under the publish gate (plugins/eduhub/publish.py), the transformation DAG passes the vars
    `publish_suffix` (`_next`) and `published_schemas`: those schemas are then built beside the
    published ones (marts_next, audit_next) and swapped in once the run's checks passed.
    Without the vars (a plain `dbt build`), everything builds in place. -#}
{% macro generate_schema_name(custom_schema_name, node) -%}
    {%- set schema = target.schema if custom_schema_name is none else custom_schema_name | trim -%}
    {%- set suffix = var('publish_suffix', '') -%}
    {%- if suffix and schema in var('published_schemas') -%}
        {{ schema ~ suffix }}
    {%- else -%}
        {{ schema }}
    {%- endif -%}
{%- endmacro %}
