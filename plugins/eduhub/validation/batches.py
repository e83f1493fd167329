"""Landed batches validated: their partitions marked `validated` or `rejected` in `ops.batches`.

Fail closed: a partition counts (staging reads it, its watermark moves) only once `validated`,
or `accepted` by an operator after a rejection (`accept_partitions`, `eduhub batch accept`,
recorded with who, when and why in `ops.batch_acceptances`). A batch left `landed` (its
validation never ran or crashed, or a task landed it again) is validated by the next run of
its DAG (`validate_sources`)."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import UTC, date, datetime

import psycopg

from eduhub.landing import raw_table_name, rebaseline
from eduhub.landing.statements import ADVANCE_WATERMARKS
from eduhub.validation.batch_views import view_query
from eduhub.validation.gx_runner import Runner
from eduhub.validation.results import ExpectationOutcome, SuiteResult, record_result
from eduhub.validation.suites import Suite, landing_suites, load_suite, parameters_for

log = logging.getLogger(__name__)


def batch_record_ids(conn: psycopg.Connection, suite: Suite, batch_id: str
                     ) -> tuple[int | None, int | None]:
    """The first and last record id the batch gave in the suite's raw table (landing records
    them in ops.batches): its rows are read through the table's primary key."""
    return conn.execute("""
        select min(first_record_id), max(last_record_id) from ops.batches
        where batch_id = %s and source = %s and entity = %s""",
        (batch_id, suite.source, suite.entity)).fetchone()


def _batch_as_of(conn: psycopg.Connection, suite: Suite, batch_id: str) -> date:
    """The day a batch stands for when the caller does not say: its extraction day."""
    row = conn.execute("""
        select (max(extracted_at) at time zone 'Asia/Ho_Chi_Minh')::date from ops.batches
        where batch_id = %s and source = %s and entity = %s""",
        (batch_id, suite.source, suite.entity)).fetchone()
    return row[0] if row and row[0] else datetime.now(UTC).date()


def validate_batch(suite_name: str, conninfo: str, batch_id: str, *, as_of: date | None = None,
                   data_docs: bool = True, _runner: Runner | None = None) -> SuiteResult:
    """Run a landing suite on one landed batch: every outcome to `quality`, the batch's
    partitions marked `validated` or `rejected` in `ops.batches`. Raises nothing on failure:
    `raise_on_critical` does."""
    suite = load_suite(suite_name)
    with psycopg.connect(conninfo, autocommit=True) as conn:
        if conn.execute("select to_regclass(%s)", (f"raw.{suite.table}",)).fetchone()[0] is None:
            log.info("suite %s: raw.%s has not landed yet, nothing to validate", suite_name,
                     suite.table)
            return SuiteResult(suite_name, batch_id, [])
        as_of = as_of or _batch_as_of(conn, suite, batch_id)
        views = [v for v in ("records", "source_counts", *suite.views)
                 if suite.expectations_on(v)]
        record_ids = batch_record_ids(conn, suite, batch_id)
        queries = {v: view_query(suite, v, batch_id, record_ids).as_string(conn) for v in views}

    runner = _runner or Runner(conninfo)
    outcomes: list[ExpectationOutcome] = []
    for view in views:
        gx_name = suite_name if view == "records" else f"{suite_name}.{view}"
        outcomes += runner.run(gx_name, queries[view], suite.expectations_on(view), batch_id,
                               parameters_for(as_of), view)
    rejected = _rejected_partitions(conninfo, suite, batch_id, outcomes)
    result = SuiteResult(suite_name, batch_id, outcomes, rejected, as_of)
    record_result(conninfo, result, target="batch")
    _mark_batch(conninfo, suite, result)
    for warning in result.warnings:
        log.warning("suite %s batch %s: warning %s", suite_name, batch_id, warning.describe())
    for failure in result.critical_failures:
        log.error("suite %s batch %s: critical %s", suite_name, batch_id, failure.describe())
    if data_docs and _runner is None:
        runner.build_docs()
    return result


def validate_sources(conninfo: str, batch_id: str, sources: Iterable[str], *,
                     as_of: date | None = None) -> list[SuiteResult]:
    """Every landing suite of these sources on one batch (a DAG run), then on each earlier
    batch of theirs still waiting for its validation (each for its own day); one Data Docs
    build."""
    runner = Runner(conninfo)
    names = landing_suites(sources)
    results = [validate_batch(name, conninfo, batch_id, as_of=as_of, _runner=runner)
               for name in names]
    for name, waiting in pending_batches(conninfo, names, besides=batch_id):
        log.warning("suite %s: batch %s landed but was never validated: validating it now",
                    name, waiting)
        results.append(validate_batch(name, conninfo, waiting, _runner=runner))
    docs = runner.build_docs()
    if docs:
        log.info("Data Docs: %s", docs)
    return results


def pending_batches(conninfo: str, suite_names: Iterable[str], *, besides: str | None = None
                    ) -> list[tuple[str, str]]:
    """(suite, batch id) of every batch that landed in a suite's entity and waits for its
    validation (some partition still `landed`), the oldest first."""
    suites = {(s.source, s.entity): s.name for s in map(load_suite, suite_names)}
    if not suites:
        return []
    with psycopg.connect(conninfo, autocommit=True) as conn:
        rows = conn.execute("""
            select source, entity, batch_id from ops.batches
            where status = 'landed' and batch_id is distinct from %s
                and (source, entity) in (select * from unnest(%s::text[], %s::text[]))
            group by source, entity, batch_id
            order by min(extracted_at), batch_id, source, entity""",
            (besides, [k[0] for k in suites], [k[1] for k in suites])).fetchall()
    return [(suites[(source, entity)], batch) for source, entity, batch in rows]


def _rejected_partitions(conninfo: str, suite: Suite, batch_id: str,
                         outcomes: list[ExpectationOutcome]) -> tuple[str, ...]:
    failures = [o for o in outcomes if not o.success and o.severity == "critical"]
    if not failures:
        return ()
    rejected: set[str] = set()
    if any(not o.partitions for o in failures):  # not attributable to rows: the whole batch
        with psycopg.connect(conninfo, autocommit=True) as conn:
            rejected |= {r[0] for r in conn.execute(
                "select partition from ops.batches where batch_id = %s and source = %s "
                "and entity = %s", (batch_id, suite.source, suite.entity))}
    for o in failures:
        rejected |= set(o.partitions)
    return tuple(sorted(rejected))


def _mark_batch(conninfo: str, suite: Suite, result: SuiteResult) -> None:
    """The outcome of a suite on a batch, in `ops.batches` (`mark_partitions`)."""
    reasons: dict[str, list[str]] = {p: [] for p in result.rejected_partitions}
    for failure in result.critical_failures:
        for partition in failure.partitions or result.rejected_partitions:
            reasons.setdefault(partition, []).append(failure.name + (
                f" on {failure.view}" if failure.view != "records" else ""))
    mark_partitions(conninfo, result.batch_id, suite.source, suite.entity, reasons,
                    suite=result.suite)


def mark_partitions(conninfo: str, batch_id: str, source: str, entity: str,
                    rejected: dict[str, list[str]], *, suite: str) -> None:
    """A batch's partitions in `rejected` (partition -> the failed expectations): `rejected`
    (the models skip them), with the reasons, or `accepted` where an operator accepted them
    before; the others: `validated`, their watermarks moved to what the batch read. A rejected
    partition loses its watermark (its next read is a full one). Idempotent: validating the
    batch again marks it afresh. A partition rejected now, or no longer, gets its comparison
    baseline rebuilt."""
    key = {"batch": batch_id, "source": source, "entity": entity}
    with psycopg.connect(conninfo, autocommit=True) as conn:
        with conn.transaction():
            changed = conn.execute("""
                update ops.batches as b set status = case
                    when b.partition <> all(%(rejected)s) then 'validated'
                    when exists (select 1 from ops.batch_acceptances as a
                                 where a.batch_id = b.batch_id and a.source = b.source
                                     and a.entity = b.entity and a.partition = b.partition)
                        then 'accepted'
                    else 'rejected' end
                from ops.batches as before
                where b.batch_id = %(batch)s and b.source = %(source)s
                    and b.entity = %(entity)s and before.batch_id = b.batch_id
                    and before.source = b.source and before.entity = b.entity
                    and before.partition = b.partition
                returning b.partition, before.status, b.status""",
                {**key, "rejected": sorted(rejected)}).fetchall()
            conn.execute(ADVANCE_WATERMARKS, key)
            # a rejected partition is read in full next time: whatever it held (or a later
            # batch, landed while it waited for this validation, took as unchanged) comes again
            conn.execute("""
                delete from ops.watermarks where source = %(source)s and entity = %(entity)s
                    and partition = any(%(now_rejected)s)""",
                {**key, "now_rejected": [p for p, _, after in changed if after == "rejected"]})
            conn.execute("delete from ops.batch_rejections where batch_id = %(batch)s "
                         "and source = %(source)s and entity = %(entity)s", key)
            with conn.cursor() as cur:
                cur.executemany("""
                    insert into ops.batch_rejections (batch_id, source, entity, partition,
                                                      suite, reasons, rejected_at)
                    values (%s, %s, %s, %s, %s, %s, clock_timestamp())""",
                    [(batch_id, source, entity, partition, suite, "; ".join(sorted(set(names))))
                     for partition, names in sorted(rejected.items())])
        rebaseline(conn, raw_table_name(source, entity), sorted({
            partition for partition, before, after in changed
            if "rejected" in (before, after) and before != after}))


def accept_partitions(conninfo: str, batch_id: str, source: str, entity: str, *, reason: str,
                      accepted_by: str, partitions: Iterable[str] | None = None) -> list[str]:
    """An operator's decision that rejected partitions of a batch count after all: recorded in
    `ops.batch_acceptances` (who, when, why), the partitions `accepted` (staging reads them,
    their watermarks move), their baselines rebuilt. Returns the partitions accepted; raises
    ValueError, naming the batch, when none of those given is rejected."""
    if not reason or not reason.strip():
        raise ValueError("an acceptance needs a reason (--reason)")
    chosen = None if partitions is None else sorted(set(partitions))
    key = {"batch": batch_id, "source": source, "entity": entity, "chosen": chosen}
    with psycopg.connect(conninfo, autocommit=True) as conn:
        with conn.transaction():
            accepted = [row[0] for row in conn.execute("""
                update ops.batches set status = 'accepted'
                where batch_id = %(batch)s and source = %(source)s and entity = %(entity)s
                    and status = 'rejected'
                    and (%(chosen)s::text[] is null or partition = any(%(chosen)s::text[]))
                returning partition""", key).fetchall()]
            if not accepted:
                raise ValueError(
                    f"batch {batch_id} of {source}.{entity}: no rejected partition "
                    + (f"among {', '.join(chosen)}" if chosen else "") + " to accept")
            with conn.cursor() as cur:
                cur.executemany("""
                    insert into ops.batch_acceptances (batch_id, source, entity, partition,
                                                       accepted_by, reason, accepted_at)
                    values (%s, %s, %s, %s, %s, %s, clock_timestamp())
                    on conflict (batch_id, source, entity, partition) do update set
                        accepted_by = excluded.accepted_by, reason = excluded.reason,
                        accepted_at = excluded.accepted_at""",
                    [(batch_id, source, entity, p, accepted_by, reason.strip())
                     for p in sorted(accepted)])
            conn.execute(ADVANCE_WATERMARKS, key)
        rebaseline(conn, raw_table_name(source, entity), accepted)
    log.warning("batch %s of %s.%s: %d rejected partition(s) accepted by %s: %s", batch_id,
                source, entity, len(accepted), accepted_by, reason.strip())
    return sorted(accepted)


def batch_statuses(conninfo: str, statuses: Iterable[str] = ("rejected", "landed")
                   ) -> list[dict]:
    """The batch partitions in these statuses, the newest first, with the rejection's reasons
    and any acceptance: what `eduhub batch list` shows."""
    with psycopg.connect(conninfo, autocommit=True) as conn:
        cur = conn.execute("""
            select b.batch_id, b.source, b.entity, b.partition, b.status, b.extracted_at,
                   r.reasons, a.accepted_by, a.reason as accepted_reason
            from ops.batches as b
            left join ops.batch_rejections as r using (batch_id, source, entity, partition)
            left join ops.batch_acceptances as a using (batch_id, source, entity, partition)
            where b.status = any(%s)
            order by b.extracted_at desc, b.batch_id, b.source, b.entity, b.partition""",
            (list(statuses),))
        names = [c.name for c in cur.description]
        return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]


def apply_batch_decisions(conninfo: str) -> list[dict]:
    """The operators' decisions of the dashboard (`operations.decide_batch`, migration 0010)
    applied: an `accept` through `accept_partitions` (who and why are the decision's), a
    `keep_rejected` left as it is; each marked applied with its outcome. Run before a build, so
    the build reads what was accepted; a second run finds nothing pending."""
    with psycopg.connect(conninfo, autocommit=True) as conn:
        pending = conn.execute("""
            select batch_id, source, entity, partition, decision, reason, decided_by, decided_at
            from ops.batch_decisions where applied_at is null
            order by decided_at, batch_id, source, entity, partition""").fetchall()
    applied = []
    for batch, source, entity, partition, decision, reason, decided_by, decided_at in pending:
        outcome = "kept_rejected"
        if decision == "accept":
            try:
                accept_partitions(conninfo, batch, source, entity, reason=reason,
                                  accepted_by=decided_by, partitions=[partition])
                outcome = "accepted"
            except ValueError:  # validated again since, or accepted on the command line
                outcome = "no_longer_rejected"
        with psycopg.connect(conninfo, autocommit=True) as conn:
            # only the decision read above: one taken meanwhile waits for the next run
            conn.execute("""
                update ops.batch_decisions set applied_at = clock_timestamp(), outcome = %s
                where batch_id = %s and source = %s and entity = %s and partition = %s
                    and decided_at = %s and applied_at is null""",
                         (outcome, batch, source, entity, partition, decided_at))
        applied.append({"batch_id": batch, "source": source, "entity": entity,
                        "partition": partition, "decision": decision, "outcome": outcome})
    if applied:
        log.info("operators' batch decisions applied: %s", ", ".join(
            f"{d['source']}.{d['entity']} {d['partition']} {d['outcome']}" for d in applied))
    return applied
