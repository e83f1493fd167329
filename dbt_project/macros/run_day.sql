{#-
    The run's day, the models' "today" (no model reads the clock). The transformation DAG
    sets it in the environment, EDUHUB_AS_OF_DATE (eduhub.transform): a new day then makes dbt
    re-parse only the models that read it, where a changed var made it re-parse the whole
    project (about 15 s of CPU each run). A var given by hand, `--vars '{as_of_date: ...}'`,
    wins over the environment.
-#}
{% macro as_of_date() -%}
    {{- return(var('as_of_date', env_var('EDUHUB_AS_OF_DATE', '2026-11-28'))) -}}
{%- endmacro %}
