{#- A primary key: no null and no repeat, in one query (cheaper than unique + not_null on the
    staging views, each of which reads its raw table again). -#}
{% test primary_key(model, column_name) %}
    select
        {{ column_name }} as key_value,
        count(*) as rows_with_key
    from {{ model }}
    group by {{ column_name }}
    having {{ column_name }} is null or count(*) > 1
{% endtest %}
