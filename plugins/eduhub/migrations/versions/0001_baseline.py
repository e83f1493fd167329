"""Baseline: the warehouse's own tables as of the first migrated release.

Written to adopt a warehouse that earlier releases built without migrations (every statement
creates only what is missing, and the layout changes those releases made on the fly are
applied here once), as well as to create an empty one.

Revision ID: 0001
Revises:
Create Date: 2026-12-03
"""

from alembic import op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None

SCHEMAS = ("raw", "staging", "intermediate", "snapshots", "marts", "audit", "ops", "quality",
           "pii", "access")
# NOLOGIN groups: people and services log in as their own roles, made members of these
# (eduhub.access). The names are the ones dbt_project.yml's grants name.
GROUP_ROLES = ("eduhub_loader", "eduhub_analyst", "eduhub_provincial", "eduhub_commune")

GROUPS = """
do $$
declare
    group_role text;
begin
    foreach group_role in array array['{roles}'] loop
        if not exists (select 1 from pg_roles where rolname = group_role) then
            execute format('create role %I nologin', group_role);
        end if;
    end loop;
end $$
"""

# Landing's bookkeeping (eduhub.landing).
OPS = """
create table if not exists ops.batches (
    batch_id text not null,
    source text not null,
    entity text not null,
    partition text not null,
    mode text not null,
    status text not null,
    received integer not null default 0,
    landed integer not null default 0,
    quarantined integer not null default 0,
    deleted integer not null default 0,
    extracted_at timestamptz not null,
    finished_at timestamptz,
    primary key (batch_id, source, entity, partition)
);
-- the record ids the batch gave in the partition (all of its rows lie between them): what
-- validation reads the batch by, through the raw table's primary key
alter table ops.batches
    add column if not exists first_record_id bigint,
    add column if not exists last_record_id bigint;
create table if not exists ops.quarantine (
    quarantine_id bigint generated always as identity primary key,
    source text not null,
    entity text not null,
    partition text not null,
    natural_key text,
    reason text not null,
    raw_text text not null,
    raw_hash text not null,
    first_batch_id text not null,
    last_batch_id text not null,
    first_seen timestamptz not null,
    last_seen timestamptz not null,
    times_seen integer not null default 1,
    resolved_at timestamptz,
    resolved_by_batch text,
    resolution text,
    unique (source, entity, partition, raw_hash)
);
create table if not exists ops.schema_drift (
    source text not null,
    entity text not null,
    batch_id text not null,
    partition text not null,
    change text not null,
    field text not null,
    renamed_to text,
    records_affected integer not null,
    detected_at timestamptz not null,
    primary key (source, entity, batch_id, partition, change, field)
);
create table if not exists ops.source_counts (
    source text not null,
    entity text not null,
    batch_id text not null,
    partition text not null,
    mode text not null,
    reported_total integer,
    received integer not null,
    distinct_keys integer not null,
    current_keys integer not null,
    difference integer,
    checked_at timestamptz not null,
    primary key (source, entity, batch_id, partition)
);
-- The latest version each partition landed of each key, a JSON document per partition:
-- {"keys": [...], "record_ids": [...], "hashes": [...], "deleted": [keys]}, the first three
-- aligned and in key order. Only landing reads and writes it, whole; stored uncompressed
-- (hashes do not compress, and compressing costs more than the document's COPY would).
create table if not exists ops.partition_versions (
    table_name text not null,
    partition text not null,
    versions text not null,
    keys integer not null,
    updated_at timestamptz not null,
    primary key (table_name, partition)
);
alter table ops.partition_versions alter column versions set storage external;
create table if not exists ops.watermarks (
    source text not null,
    entity text not null,
    partition text not null,
    high_water text not null,
    batch_id text not null,
    updated_at timestamptz not null,
    primary key (source, entity, partition)
);
"""

# Releases before 2026-12-02 kept the latest versions as rows of a table of this name: they
# become the documents of their partitions.
LATEST_VERSIONS_TABLE = """
do $$
begin
    if (select relkind = 'r' from pg_class where oid = to_regclass('ops.latest_versions')) then
        insert into ops.partition_versions (table_name, partition, versions, keys, updated_at)
        select table_name, partition,
               json_build_object(
                   'keys', json_agg(natural_key order by natural_key collate "C"),
                   'record_ids', json_agg(record_id order by natural_key collate "C"),
                   'hashes', json_agg(payload_hash order by natural_key collate "C"),
                   'deleted', coalesce(json_agg(natural_key order by natural_key collate "C")
                                       filter (where is_deleted), '[]'))::text,
               count(*), clock_timestamp()
        from ops.latest_versions group by table_name, partition
        on conflict do nothing;
        drop table ops.latest_versions;
    end if;
end $$
"""

# the partitions' documents, a row per key: for people and for tests, not for landing
LATEST_VERSIONS_VIEW = """
create or replace view ops.latest_versions as
select v.table_name, v.partition, k.natural_key,
       (d.doc -> 'record_ids' ->> (k.n - 1)::int)::bigint as record_id,
       d.doc -> 'hashes' ->> (k.n - 1)::int as payload_hash,
       d.doc -> 'deleted' ? k.natural_key as is_deleted
from ops.partition_versions as v
cross join lateral (select v.versions::jsonb as doc offset 0) as d
cross join lateral jsonb_array_elements_text(d.doc -> 'keys') with ordinality as k (natural_key, n)
"""

# The layout of every raw.<source>__<entity> table, copied by landing (`create table ... (like
# ops.raw_table_layout including all)`) for an entity that has none yet. No index but the
# primary key is kept up to date on every COPY: the latest version of a key is in
# ops.partition_versions, and a batch's rows are read by the range of record ids it gave.
RAW_LAYOUT = """
create table if not exists ops.raw_table_layout (
    record_id bigint generated always as identity primary key,
    natural_key text not null,
    payload jsonb not null,
    payload_hash text not null,
    batch_id text not null,
    partition text not null,
    extracted_at timestamptz not null,
    is_deleted boolean not null default false,
    loaded_at timestamptz not null default now()
);
-- raw tables landed before deletions were tracked
do $$
declare
    raw_table regclass;
begin
    for raw_table in
        select c.oid::regclass from pg_class as c
        where c.relnamespace = 'raw'::regnamespace and c.relkind = 'r'
          and not exists (select 1 from pg_attribute as a where a.attrelid = c.oid
                          and a.attname = 'is_deleted' and not a.attisdropped)
    loop
        execute format('alter table %s add column is_deleted boolean not null default false',
                       raw_table);
    end loop;
end $$
"""

# Great Expectations' outcomes (eduhub.validation) and the partitions they rejected.
QUALITY = """
create table if not exists quality.validation_results (
    result_id bigint generated always as identity primary key,
    validated_at timestamptz not null default clock_timestamp(),
    suite text not null,
    batch_id text not null,
    expectation_type text not null,
    column_name text,
    kwargs jsonb not null,
    severity text not null,
    success boolean not null,
    element_count bigint,
    unexpected_count bigint,
    observed_value jsonb
);
alter table quality.validation_results
    add column if not exists view_name text,
    add column if not exists expectation text,
    add column if not exists unexpected_percent double precision,
    add column if not exists unexpected_partitions text[],
    add column if not exists run_key text;
create index if not exists validation_results_suite_batch_idx
    on quality.validation_results (suite, batch_id);
create table if not exists quality.validation_runs (
    run_key text primary key,
    validated_at timestamptz not null,
    suite text not null,
    batch_id text not null,
    target text not null,
    as_of_date date,
    success boolean not null,
    expectations integer not null,
    critical_failures integer not null,
    warnings integer not null,
    rejected_partitions text[] not null default '{}'
);
create index if not exists validation_runs_suite_idx
    on quality.validation_runs (suite, validated_at);
create table if not exists ops.batch_rejections (
    batch_id text not null,
    source text not null,
    entity text not null,
    partition text not null,
    suite text not null,
    reasons text not null,
    rejected_at timestamptz not null,
    primary key (batch_id, source, entity, partition)
);
"""

# The other pipelines' records: file drops, publications of the marts, raw purges,
# re-identifications (eduhub.access.reveal), the frozen inspection samples and the visits
# recorded against them (the models read both, never rebuild them).
OPERATIONS = """
create table if not exists ops.files (
    source text not null,
    relative_path text not null,
    sha256 text not null,
    status text not null,
    message text,
    rows integer,
    batch_id text not null,
    processed_at timestamptz not null,
    primary key (source, relative_path, sha256)
);
create table if not exists ops.publications (
    publication_id bigint generated always as identity primary key,
    run_id text not null,
    published_at timestamptz not null,
    schemas text[] not null,
    tables integer not null,
    fingerprint text not null
);
create table if not exists ops.retention_purges (
    run_id text not null,
    table_name text not null,
    cutoff date not null,
    school_years_kept integer not null,
    rows_purged bigint not null,
    oldest_extracted_at timestamptz,
    newest_extracted_at timestamptz,
    purged_at timestamptz not null,
    primary key (run_id, table_name)
);
create table if not exists ops.reidentifications (
    reidentification_id bigint generated always as identity primary key,
    requested_at timestamptz not null,
    requested_by text not null,
    database_user text not null,
    pseudonym text not null,
    reason text not null,
    found boolean not null,
    person_id text
);
create table if not exists ops.inspection_samples (
    school_year text not null,
    school_code text not null,
    inspecting_authority text not null,
    school_level text not null,
    stratum_size integer not null,
    stratum_quota integer not null,
    selection text not null,
    reason_vi text not null,
    seed bigint not null,
    frozen_at timestamptz not null,
    primary key (school_year, school_code)
);
create table if not exists ops.inspection_visits (
    school_year text not null,
    school_code text not null,
    visit_status text not null,
    visited_on date,
    findings_vi text,
    follow_up_vi text,
    follow_up_due date,
    updated_at timestamptz not null default now(),
    primary key (school_year, school_code)
);
"""

# Which commune role sees which units (row-level security of the marts, eduhub.access).
ACCESS = """
create table if not exists access.commune_roles (
    role_name text primary key,
    commune_code text not null
);
create table if not exists access.commune_units (
    commune_code text not null,
    unit_code text not null,
    primary key (commune_code, unit_code)
);
"""

# The identity matching's tables (eduhub.identity.person); the identity models read them.
PII = """
create table if not exists pii.person_records (
    person_record_key text primary key,
    person_id text not null,
    link_method text not null,
    match_probability double precision,
    match_weight double precision,
    resident_id text,
    linked_record_key text,
    stated_id_pseudonym text,
    reason_vi text not null,
    input_hash text not null,
    run_id text not null,
    updated_at timestamptz not null
);
create table if not exists pii.persons (
    person_id text primary key,
    personal_id text,
    id_pseudonym text,
    registry_status text not null,
    resident_id text,
    learner_records integer not null,
    staff_records integer not null,
    schools integer not null,
    link_methods text [] not null,
    run_id text not null,
    updated_at timestamptz not null
);
create table if not exists pii.match_review_queue (
    review_key text primary key,
    person_record_key text not null,
    candidate_kind text not null,
    candidate_key text not null,
    match_probability double precision not null,
    match_weight double precision not null,
    evidence jsonb not null,
    left_record jsonb not null,
    right_record jsonb not null,
    reason_vi text not null,
    status text not null default 'pending',
    decided_by text,
    decided_at timestamptz,
    decision_reason text,
    run_id text not null,
    queued_at timestamptz not null
);
create table if not exists pii.match_models (
    model_id text primary key,
    trained_at timestamptz not null,
    splink_model jsonb not null,
    accept_probability double precision not null,
    review_probability double precision not null,
    training_records integer not null,
    run_id text not null
);
"""


def upgrade() -> None:
    for schema in SCHEMAS:
        op.execute(f'create schema if not exists "{schema}"')
    op.execute(GROUPS.replace("{roles}", "', '".join(GROUP_ROLES)))
    for statements in (OPS, LATEST_VERSIONS_TABLE, LATEST_VERSIONS_VIEW, RAW_LAYOUT, QUALITY,
                       OPERATIONS, ACCESS, PII):
        op.execute(statements)


def downgrade() -> None:
    raise NotImplementedError("the warehouse is upgraded only; restore a backup to go back")
