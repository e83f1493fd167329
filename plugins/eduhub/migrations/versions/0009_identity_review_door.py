"""The identity review queue decided by reviewers through one door (the dashboard, issue 19),
with who, when and why, and applied by the next matching run.

`eduhub_reviewer` is the group of the Sở's staff who decide the matches the model could not
(NOLOGIN; people log in as their own roles, members of it). The queue holds both records side
by side (names, dates of birth, IDs): no reader role reads `pii`, so the reviewers read the
open items through `review.open_items()` and decide through `review.decide(item, decision,
reason)`, both `security definer`, owned by the loader group, with a fixed search path.

A decision is `accepted`, `rejected` or `unsure` (left open for another reviewer, with the
reason), needs a reason of at least 10 characters, and is taken once: an item already accepted
or rejected is refused. The function keeps the session's login (`session_user`) and the time.
`applied_run_id` stays empty until a matching run has applied the decision: the next run
re-matches those records whether or not their data changed (eduhub.identity.person).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06
"""

from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

LOADER = "eduhub_loader"
REVIEWER = "eduhub_reviewer"
MIN_REASON_LENGTH = 10  # as access.MIN_REASON_LENGTH

ROLES = f"""
do $$
begin
    if not exists (select 1 from pg_roles where rolname = '{REVIEWER}') then
        create role {REVIEWER} nologin;
    end if;
end $$;
"""

TABLES = f"""
alter table pii.match_review_queue add column if not exists applied_run_id text;
grant select, update on pii.match_review_queue to {LOADER};
create schema if not exists review;
alter schema review owner to {LOADER};
"""

FUNCTIONS = f"""
create or replace function review.open_items()
returns table (
    review_key text, person_record_key text, candidate_kind text,
    match_probability double precision, match_weight double precision, evidence jsonb,
    left_record jsonb, right_record jsonb, reason_vi text, status text, decided_by text,
    decided_at timestamptz, decision_reason text, queued_at timestamptz
)
language sql stable security definer set search_path = pg_catalog, pg_temp as $$
    select q.review_key, q.person_record_key, q.candidate_kind, q.match_probability,
           q.match_weight, q.evidence, q.left_record, q.right_record, q.reason_vi, q.status,
           q.decided_by, q.decided_at, q.decision_reason, q.queued_at
    from pii.match_review_queue as q
    where q.status in ('pending', 'unsure')
    order by q.person_record_key, q.match_weight desc, q.review_key
$$;
alter function review.open_items() owner to {LOADER};
revoke all on function review.open_items() from public;

create or replace function review.decide(item text, decision text, reason text) returns void
language plpgsql security definer set search_path = pg_catalog, pg_temp as $$
declare
    was text;
    said text := btrim(normalize(coalesce(reason, ''), nfc));
begin
    if decision is null or decision not in ('accepted', 'rejected', 'unsure') then
        raise exception 'quyết định % không hợp lệ (accepted, rejected hoặc unsure)',
            quote_literal(decision) using errcode = '22023';
    end if;
    if length(said) < {MIN_REASON_LENGTH} then
        raise exception 'cần ghi lý do của quyết định (ít nhất {MIN_REASON_LENGTH} ký tự)'
            using errcode = '22023';
    end if;
    select q.status into was from pii.match_review_queue as q
    where q.review_key = item for update;
    if not found then
        raise exception 'không có mục rà soát %', quote_literal(item) using errcode = '22023';
    end if;
    if was not in ('pending', 'unsure') then
        raise exception 'mục rà soát này đã được quyết định (%)', was using errcode = '22023';
    end if;
    update pii.match_review_queue as q
    set status = decision, decided_by = session_user, decided_at = clock_timestamp(),
        decision_reason = said, applied_run_id = null
    where q.review_key = item;
end $$;
alter function review.decide(text, text, text) owner to {LOADER};
revoke all on function review.decide(text, text, text) from public;
grant usage on schema review to {REVIEWER};
grant execute on function review.open_items() to {REVIEWER};
grant execute on function review.decide(text, text, text) to {REVIEWER};
"""


def upgrade() -> None:
    op.execute(ROLES)
    op.execute(TABLES)
    op.execute(FUNCTIONS)


def downgrade() -> None:
    raise NotImplementedError("the warehouse is upgraded only; restore a backup to go back")
