{#- The current version of every record of a landed (raw) table: each partition (a school, a
    commune, a file) lands versions of the keys it lists, and a key is the latest of its
    partitions' latest versions that are not deletions (a partition that stopped listing it
    withdrew only its own). Fail closed: only partitions of batches that passed validation
    (ops.batches.status 'validated') or that an operator accepted after a rejection
    ('accepted', `eduhub batch accept`) count. A partition still 'landed' (its validation has
    not run, or crashed) or 'rejected' stays in raw, visible, but is skipped here, so the
    version before it, if any, stays current (plugins/eduhub/validation/). Written once, here:
    Python renders this macro too (eduhub.landing.current_versions_query), with
    `validated_only` false for the versions as they landed. `among_keys`, a query of natural
    keys, restricts it to them (an incremental staging build, macros/incremental_staging.sql):
    each key's current version is still worked out over its whole history. -#}
{% macro latest_version(relation, validated_only=true, among_keys=none) -%}
    {%- set parts = (relation.identifier or '').split('__', 1) -%}
    select *
    from (
        select
            claims.*,
            row_number() over (
                partition by claims.natural_key order by claims.record_id desc
            ) as version_rank
        from (
            select
                landed.*,
                row_number() over (
                    partition by landed.natural_key, landed.partition
                    order by landed.record_id desc
                ) as partition_rank
            from {{ relation }} as landed
            {%- if validated_only and parts | length == 2 %}
            where exists (
                select 1 from ops.batches as checked
                where checked.batch_id = landed.batch_id
                    and checked.source = '{{ parts[0] }}'
                    and checked.entity = '{{ parts[1] }}'
                    and checked.partition = landed.partition
                    and checked.status in ('validated', 'accepted')
            )
            {%- endif %}
            {%- if among_keys %}
            {{ 'and' if validated_only and parts | length == 2 else 'where' }} landed.natural_key in (
                {{ among_keys }}
            )
            {%- endif %}
        ) as claims
        where partition_rank = 1 and not is_deleted
    ) as versions
    where version_rank = 1
{%- endmacro %}

{#- dd/mm/yyyy text to a date; anything else to null (the GX contract reports it). -#}
{% macro vn_date(expression) -%}
    case
        when {{ expression }} ~ '^\d{2}/\d{2}/\d{4}$' then to_date({{ expression }}, 'DD/MM/YYYY')
    end
{%- endmacro %}

{#- A date as class exports hold it (d/m/yyyy with /, . or -, the day and month with or without
    their 0; yyyy-mm-dd from a date cell) to a date; anything else, or an impossible date
    (31/02), to null. -#}
{% macro export_date(expression) -%}
    {%- set iso -%}
        case
            when trim({{ expression }}) ~ '^\d{4}-\d{2}-\d{2}$' then trim({{ expression }})
            when trim({{ expression }}) ~ '^\d{1,2}[/.-]\d{1,2}[/.-]\d{4}$'
                then regexp_replace(
                    trim({{ expression }}), '^(\d{1,2})[/.-](\d{1,2})[/.-](\d{4})$',
                    '\3-\2-\1'
                )
        end
    {%- endset -%}
    {{ cast_or_null(iso, 'date') }}
{%- endmacro %}

{#- yyyy-mm-dd text to a date; anything else, or an impossible date (2026-02-31), to null. -#}
{% macro iso_date(expression) -%}
    {%- set iso -%}
        case when {{ expression }} ~ '^\d{4}-\d{2}-\d{2}$' then {{ expression }} end
    {%- endset -%}
    {{ cast_or_null(iso, 'date') }}
{%- endmacro %}

{#- The sources' ways of writing sex, to the warehouse's codes nam / nu. -#}
{% macro sex_code(expression) -%}
    case normalize(trim({{ expression }}), nfc)
        when 'M' then 'nam'
        when 'Nam' then 'nam'
        when 'nam' then 'nam'
        when 'F' then 'nu'
        when 'Nữ' then 'nu'
        when 'nu' then 'nu'
    end
{%- endmacro %}

{#- Enrolment status labels (vendor B, file exports) to codes; codes pass through. -#}
{% macro status_code(expression) -%}
    case normalize(trim({{ expression }}), nfc)
        when 'Đang học' then 'dang_hoc'
        when 'Chuyển trường' then 'chuyen_truong'
        when 'Bỏ học' then 'bo_hoc'
        when 'Tốt nghiệp' then 'tot_nghiep'
        else trim({{ expression }})
    end
{%- endmacro %}

{#- dd/mm/yyyy HH:MM:SS in Vietnam time (UTC+7) to a timestamptz. -#}
{% macro vn_timestamp(expression) -%}
    to_timestamp({{ expression }} || ' +07', 'DD/MM/YYYY HH24:MI:SS TZH')
{%- endmacro %}

{#- A source's text as `type`, or null when it is not one (a grade of 40 digits, a date of
    month 13): one bad value never stops the models. (Not named safe_cast: dbt has a macro
    of that name, which its unit tests use to cast their fixtures.) GX reports the value (the contract's
    format expectations); PostgreSQL 16's pg_input_is_valid decides without raising. -#}
{% macro cast_or_null(expression, type) -%}
    case when pg_input_is_valid({{ expression }}, '{{ type }}') then ({{ expression }})::{{ type }} end
{%- endmacro %}
