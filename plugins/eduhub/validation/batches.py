"""Landed batches validated: their partitions marked `validated` or `rejected` in `ops.batches`."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import UTC, date, datetime

import psycopg

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
    """Every landing suite of these sources on one batch (a DAG run), one Data Docs build."""
    runner = Runner(conninfo)
    results = [validate_batch(name, conninfo, batch_id, as_of=as_of, _runner=runner)
               for name in landing_suites(sources)]
    docs = runner.build_docs()
    if docs:
        log.info("Data Docs: %s", docs)
    return results


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
    """Partitions with a critical failure: `rejected` (the models skip them), with the reasons;
    the others: `validated`. Idempotent: validating the batch again marks it afresh."""
    reasons: dict[str, list[str]] = {p: [] for p in result.rejected_partitions}
    for failure in result.critical_failures:
        for partition in failure.partitions or result.rejected_partitions:
            reasons.setdefault(partition, []).append(failure.name + (
                f" on {failure.view}" if failure.view != "records" else ""))
    key = {"batch": result.batch_id, "source": suite.source, "entity": suite.entity}
    with psycopg.connect(conninfo, autocommit=True) as conn, conn.transaction():
        conn.execute("""
            update ops.batches set status = case when partition = any(%(rejected)s)
                then 'rejected' else 'validated' end
            where batch_id = %(batch)s and source = %(source)s and entity = %(entity)s""",
                     {**key, "rejected": list(result.rejected_partitions)})
        conn.execute("delete from ops.batch_rejections where batch_id = %(batch)s "
                     "and source = %(source)s and entity = %(entity)s", key)
        with conn.cursor() as cur:
            cur.executemany("""
                insert into ops.batch_rejections (batch_id, source, entity, partition, suite,
                                                  reasons, rejected_at)
                values (%s, %s, %s, %s, %s, %s, clock_timestamp())""",
                [(result.batch_id, suite.source, suite.entity, partition, result.suite,
                  "; ".join(sorted(set(names)))) for partition, names in sorted(reasons.items())])
