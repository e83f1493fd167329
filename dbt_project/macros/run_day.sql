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

{#-
    When the learner status history dates a record the source no longer holds (its
    `hard_deletes: invalidate` closing time; dbt's own is the wall clock, without a time zone):
    the start of the run's day in Vietnam, as the class exports' undated changes are. A
    backfill of a past day then dates its deletions in that day and term, and the closing time
    has the time zone the versions' start times have.
-#}
{% macro postgres__snapshot_get_time() -%}
    ('{{ as_of_date() }}' || ' 00:00:00+07')::timestamptz
{%- endmacro %}
