"""Incremental staging (issue 20): what a staging table has taken into account, so that the
next build recomputes only the keys landed or whose batch status changed since.

A batch's status changes without any new raw record (validation, an operator's acceptance):
`ops.batches.status_changed_xid` is the transaction that last set it, stamped by a trigger. A
transaction id, not a sequence or a time: a build records the snapshot it read the statuses
in (`pg_current_snapshot()`), and a change is new to it when its transaction is not visible
in that snapshot, which also holds for a change committed after a later one (a sequence drawn
in commit order it is not would skip it).

`ops.staging_watermarks` has a row per staging table (dbt's macros/incremental_staging.sql
keep it, in the build's transaction): the highest raw record id it has read (landing holds
the table's lock while it writes, and so does the build, so no lower id commits later), the
batch-status snapshot, and the model's checksum (a changed model is built anew). No row, or
another checksum: the next build recomputes every key. Retention, which deletes raw rows
without a new record, deletes the rows of the raw table it purged.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-07
"""

from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

LOADER = "eduhub_loader"

BATCH_STATUS_STAMP = """
alter table ops.batches add column if not exists status_changed_xid xid8;
create or replace function ops.stamp_batch_status_change() returns trigger
language plpgsql as $$
begin
    if tg_op = 'INSERT' or new.status is distinct from old.status then
        new.status_changed_xid := pg_current_xact_id();
    end if;
    return new;
end $$;
drop trigger if exists batch_status_changed on ops.batches;
create trigger batch_status_changed before insert or update of status on ops.batches
    for each row execute function ops.stamp_batch_status_change();
-- a build reads the changes of its source and entity newer than its snapshot's xmin
create index if not exists batches_status_changed_idx
    on ops.batches (source, entity, status_changed_xid);
"""

WATERMARKS = f"""
create table if not exists ops.staging_watermarks (
    -- the staging table (schema.table) and the raw table it reads (schema.table)
    model_relation text primary key,
    raw_table text not null,
    -- the model file's checksum (dbt's) when the table was built
    model_checksum text not null,
    -- every raw record up to this id has been taken into account
    last_record_id bigint not null,
    -- every batch status change visible in this snapshot has been taken into account
    batches_snapshot pg_snapshot not null,
    -- the snapshot a build in progress started from: its batches_snapshot once it commits
    pending_batches_snapshot pg_snapshot,
    built_at timestamptz not null
);
create index if not exists staging_watermarks_raw_table_idx
    on ops.staging_watermarks (raw_table);
grant usage on schema ops to {LOADER};
grant select, insert, update, delete on ops.staging_watermarks to {LOADER};
"""


def upgrade() -> None:
    op.execute(BATCH_STATUS_STAMP)
    op.execute(WATERMARKS)


def downgrade() -> None:
    raise NotImplementedError("the warehouse is upgraded only; restore a backup to go back")
