{#- Incremental staging (issue 20). Each staging model is a table of the current versions of
    one raw table (macro latest_version), keyed by its natural key (the model's `unique_key`).
    A build after the first recomputes only the keys that changed since the last one: those
    with a raw record newer than the highest the table has read, and those of a partition
    whose batch status changed since (validation, an operator's acceptance, which change the
    current version without any new record). A changed key's current version is worked out
    over its whole history; a key with none any more (deleted, or only in rejected batches)
    is removed. A first build, `--full-refresh`, a changed model file, or a table whose
    watermark retention deleted, computes every key as a view did.

    What a table has read is its row of ops.staging_watermarks (migration 0011), written in
    the build's transaction: the pre-hook (staging_build_start) takes the raw table's landing
    lock (no record id lower than one already read can commit while the table is built),
    deletes the changed keys' rows (the tombstones go with them) and notes the batch-status
    snapshot it starts from; the model (current_versions) inserts the changed keys' current
    versions (dbt's delete+insert); the post-hook (staging_build_end) records what was read. -#}

{#- The current versions the staging model reads: every key's, or on an incremental build
    only the changed keys'. -#}
{% macro current_versions(relation) -%}
    {%- if is_incremental() -%}
        {{ latest_version(relation, among_keys=staging_changed_keys(relation)) }}
    {%- else -%}
        {{ latest_version(relation) }}
    {%- endif -%}
{%- endmacro %}

{#- The raw table a staging model reads: its one source. -#}
{% macro staging_raw_relation() -%}
    {%- if model.sources | length != 1 -%}
        {{ exceptions.raise_compiler_error(
            "an incremental staging model reads exactly one raw table: " ~ model.name) }}
    {%- endif -%}
    {{ return(source(model.sources[0][0], model.sources[0][1])) }}
{%- endmacro %}

{%- macro staging_watermark_key(relation) -%}
    '{{ relation.schema }}.{{ relation.identifier }}'
{%- endmacro %}

{#- Whether the watermark row `seen` still describes the table: written for this version of
    the model, and by this server's transactions (a warehouse restored from a dump onto
    another server may count its transactions from lower: its old snapshot would then hide
    new status changes). -#}
{%- macro staging_watermark_holds(seen) -%}
    {{ seen }}.model_checksum = '{{ model.checksum.checksum }}'
    and pg_snapshot_xmax({{ seen }}.batches_snapshot) <= pg_current_xact_id()
{%- endmacro %}

{#- The natural keys of the raw table changed since the staging table's watermark: a record
    landed after it, or in a batch partition whose status changed in a transaction its
    snapshot did not see (read through the batch's range of record ids: the raw primary
    key; a batch that gave no record has none, and changes no key). -#}
{% macro staging_changed_keys(relation) -%}
    {#- (as latest_version splits it: sqlfluff's stand-in relation has no `__`) -#}
    {%- set parts = (relation.identifier or '').split('__', 1) -%}
    with watermark as (
        select last_record_id, batches_snapshot from ops.staging_watermarks
        where model_relation = {{ staging_watermark_key(this) }}
    ),

    restatused as (
        select
            changed.batch_id,
            changed.partition,
            changed.first_record_id,
            changed.last_record_id,
            changed.landed + changed.deleted > 0 as gave_records
        from ops.batches as changed
        inner join watermark
            on changed.status_changed_xid >= pg_snapshot_xmin(watermark.batches_snapshot)
            and not pg_visible_in_snapshot(changed.status_changed_xid, watermark.batches_snapshot)
        where changed.source = '{{ parts[0] }}' and changed.entity = '{{ parts[-1] }}'
    )

    select newer.natural_key
    from {{ relation }} as newer
    where newer.record_id > coalesce((select last_record_id from watermark), 0)
    union
    select in_batch.natural_key
    from restatused
    inner join {{ relation }} as in_batch
        on in_batch.record_id between restatused.first_record_id and restatused.last_record_id
        and in_batch.batch_id = restatused.batch_id
        and in_batch.partition = restatused.partition
    union
    -- a batch landed before its record ids were kept (migration 0001 added them)
    select in_old_batch.natural_key
    from restatused
    inner join {{ relation }} as in_old_batch
        on in_old_batch.batch_id = restatused.batch_id
        and in_old_batch.partition = restatused.partition
    where restatused.first_record_id is null and restatused.gave_records
{%- endmacro %}

{#- Pre-hook of every staging model, in the build's transaction. -#}
{% macro staging_build_start() -%}
    {#- parsing renders hooks too, before the model's sources are known; a staging view
        (read between two builds) keeps no watermark -#}
    {%- if not execute or config.get('materialized') != 'incremental' %}{{ return('') }}{% endif -%}
    {%- set raw = staging_raw_relation() -%}
    {%- set key_column = config.get('unique_key') -%}
    select pg_advisory_xact_lock(hashtext('raw.{{ raw.identifier }}'));
    {%- if is_incremental() %}
    -- the changed keys' rows, to be inserted anew (or not: a tombstone); every row when the
    -- table's watermark is gone or no longer holds
    delete from {{ this }}
    where not exists (
        select 1 from ops.staging_watermarks as seen
        where seen.model_relation = {{ staging_watermark_key(this) }}
            and {{ staging_watermark_holds('seen') }}
    ) or {{ key_column }} in ({{ staging_changed_keys(raw) }});
    {%- endif %}
    -- no watermark (or one that no longer holds): every key is recomputed (from record id 0)
    insert into ops.staging_watermarks as seen (
        model_relation, raw_table, model_checksum, last_record_id, batches_snapshot,
        pending_batches_snapshot, built_at
    )
    values (
        {{ staging_watermark_key(this) }}, 'raw.{{ raw.identifier }}',
        '{{ model.checksum.checksum }}', 0, pg_current_snapshot(), pg_current_snapshot(),
        clock_timestamp()
    )
    on conflict (model_relation) do update set
        last_record_id = case when {{ staging_watermark_holds('seen') }}
            then seen.last_record_id else 0 end,
        model_checksum = excluded.model_checksum,
        pending_batches_snapshot = excluded.pending_batches_snapshot
{%- endmacro %}

{#- Post-hook of every staging model: what the build read, its watermark. -#}
{% macro staging_build_end() -%}
    {#- parsing renders hooks too, before the model's sources are known -#}
    {%- if not execute or config.get('materialized') != 'incremental' %}{{ return('') }}{% endif -%}
    {%- set raw = staging_raw_relation() -%}
    update ops.staging_watermarks set
        last_record_id = coalesce((select max(record_id) from {{ raw }}), 0),
        batches_snapshot = pending_batches_snapshot,
        pending_batches_snapshot = null,
        built_at = clock_timestamp()
    where model_relation = {{ staging_watermark_key(this) }}
{%- endmacro %}
