"""Rejected batches decided by the Sở's operators through one door (the dashboard's operations
page, issue 19), with who, when and why, and applied by the next transformation.

`eduhub_operator` is the group of the data engineers who run the platform (NOLOGIN; people log
in as their own roles, members of it). They read what validation rejected and what landing
quarantined through `operations.rejected_partitions()` and `operations.quarantine_counts()`
(the batch's keys, the failed expectations' names and counts: never a record), and decide a
rejected partition through `operations.decide_batch(...)`: `accept` (it counts after all) or
`keep_rejected`, with a reason of at least 10 characters. All three are `security definer`,
owned by the loader group, with a fixed search path.

A decision is recorded in `ops.batch_decisions` with the session's login (`session_user`) and
the time. Accepting rebuilds the partition's baselines, which only the loader's Python does
(`eduhub.validation.accept_partitions`), so the door does not change `ops.batches`: the next
`transform_warehouse` applies the pending decisions before its build
(`eduhub.validation.apply_batch_decisions`) and sets `applied_at`. A decision not yet applied
may be changed; a partition no longer rejected cannot be decided.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-07
"""

from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

LOADER = "eduhub_loader"
OPERATOR = "eduhub_operator"
MIN_REASON_LENGTH = 10  # as access.MIN_REASON_LENGTH

ROLES = f"""
do $$
begin
    if not exists (select 1 from pg_roles where rolname = '{OPERATOR}') then
        create role {OPERATOR} nologin;
    end if;
end $$;
"""

TABLES = f"""
create table if not exists ops.batch_decisions (
    batch_id text not null,
    source text not null,
    entity text not null,
    partition text not null,
    decision text not null check (decision in ('accept', 'keep_rejected')),
    reason text not null,
    decided_by text not null,
    decided_at timestamptz not null,
    applied_at timestamptz,
    -- what applying it did: accepted, kept rejected, or why nothing was left to do
    outcome text,
    primary key (batch_id, source, entity, partition)
);
-- what the door reads and writes as the loader (`eduhub warehouse grant` keeps it so)
grant usage on schema ops to {LOADER};
grant select, insert, update on ops.batch_decisions to {LOADER};
grant select on ops.batches, ops.batch_rejections, ops.quarantine to {LOADER};
create schema if not exists operations;
alter schema operations owner to {LOADER};
"""

FUNCTIONS = f"""
create or replace function operations.rejected_partitions()
returns table (
    batch_id text, source text, entity text, partition text, status text,
    extracted_at timestamptz, received integer, landed integer, quarantined integer,
    reasons text, decision text, decided_by text, decided_at timestamptz,
    decision_reason text, applied_at timestamptz, outcome text
)
language sql stable security definer set search_path = pg_catalog, pg_temp as $$
    select b.batch_id, b.source, b.entity, b.partition, b.status, b.extracted_at, b.received,
           b.landed, b.quarantined, r.reasons, d.decision, d.decided_by, d.decided_at,
           d.reason, d.applied_at, d.outcome
    from ops.batches as b
    left join ops.batch_rejections as r
        on r.batch_id = b.batch_id and r.source = b.source and r.entity = b.entity
        and r.partition = b.partition
    left join ops.batch_decisions as d
        on d.batch_id = b.batch_id and d.source = b.source and d.entity = b.entity
        and d.partition = b.partition
    -- what is still rejected, and what was decided in the last 90 days
    where b.status = 'rejected' or d.decided_at > now() - interval '90 days'
    order by b.status = 'rejected' desc, b.extracted_at desc, b.source, b.entity, b.partition
$$;

create or replace function operations.quarantine_counts()
returns table (
    source text, entity text, partition text, open_records bigint, resolved_records bigint,
    first_seen timestamptz, last_seen timestamptz
)
language sql stable security definer set search_path = pg_catalog, pg_temp as $$
    select q.source, q.entity, q.partition, count(*) filter (where q.resolved_at is null),
           count(*) filter (where q.resolved_at is not null), min(q.first_seen),
           max(q.last_seen)
    from ops.quarantine as q
    group by q.source, q.entity, q.partition
    order by count(*) filter (where q.resolved_at is null) desc, q.source, q.entity,
             q.partition
$$;

create or replace function operations.decide_batch(
    batch text, source_name text, entity_name text, part text, decision text, reason text
) returns void
language plpgsql security definer set search_path = pg_catalog, pg_temp as $$
declare
    said text := btrim(normalize(coalesce(reason, ''), nfc));
begin
    if decision is null or decision not in ('accept', 'keep_rejected') then
        raise exception 'quyết định % không hợp lệ (accept hoặc keep_rejected)',
            quote_literal(decision) using errcode = '22023';
    end if;
    if length(said) < {MIN_REASON_LENGTH} then
        raise exception 'cần ghi lý do của quyết định (ít nhất {MIN_REASON_LENGTH} ký tự)'
            using errcode = '22023';
    end if;
    perform 1 from ops.batches as b
    where b.batch_id = batch and b.source = source_name and b.entity = entity_name
        and b.partition = part and b.status = 'rejected'
    for update;
    if not found then
        raise exception 'lô % của %.%, phân vùng %: không có phân vùng bị từ chối để quyết định',
            quote_literal(batch), source_name, entity_name, quote_literal(part)
            using errcode = '22023';
    end if;
    insert into ops.batch_decisions as d (batch_id, source, entity, partition, decision,
                                          reason, decided_by, decided_at)
    values (batch, source_name, entity_name, part, decision, said, session_user,
            clock_timestamp())
    on conflict (batch_id, source, entity, partition) do update set
        decision = excluded.decision, reason = excluded.reason,
        decided_by = excluded.decided_by, decided_at = excluded.decided_at,
        applied_at = null, outcome = null;
end $$;
"""

GRANTS = f"""
alter function operations.rejected_partitions() owner to {LOADER};
alter function operations.quarantine_counts() owner to {LOADER};
alter function operations.decide_batch(text, text, text, text, text, text) owner to {LOADER};
revoke all on function operations.rejected_partitions() from public;
revoke all on function operations.quarantine_counts() from public;
revoke all on function operations.decide_batch(text, text, text, text, text, text) from public;
grant usage on schema operations to {OPERATOR};
grant execute on function operations.rejected_partitions() to {OPERATOR};
grant execute on function operations.quarantine_counts() to {OPERATOR};
grant execute on function operations.decide_batch(text, text, text, text, text, text)
    to {OPERATOR};
"""


def upgrade() -> None:
    op.execute(ROLES)
    op.execute(TABLES)
    op.execute(FUNCTIONS)
    op.execute(GRANTS)


def downgrade() -> None:
    raise NotImplementedError("the warehouse is upgraded only; restore a backup to go back")
