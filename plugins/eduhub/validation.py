"""Great Expectations on landed batches: suites live in `expectations/`, results in `quality`.

A suite file names the source entity it guards and lists expectations, each with a
severity (critical or warning). The batch is selected in SQL (payload fields projected
as columns, `where batch_id = ...`), so the work is pushed down to PostgreSQL.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path

import psycopg
from psycopg import sql

from eduhub import settings
from eduhub.landing import raw_table_name
from eduhub.warehouse import WarehouseUrl

log = logging.getLogger(__name__)

META_COLUMNS = {"natural_key", "batch_id", "partition", "extracted_at"}

QUALITY_DDL = """
create schema if not exists quality;
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
create index if not exists validation_results_suite_batch_idx
    on quality.validation_results (suite, batch_id);
"""


class CriticalExpectationFailed(RuntimeError):
    """A critical expectation failed on a batch; the message names it and the observed value."""


@dataclass(frozen=True)
class ExpectationOutcome:
    expectation_type: str
    column: str | None
    severity: str
    success: bool
    element_count: int | None
    unexpected_count: int | None
    observed_value: object

    def describe(self) -> str:
        observed = (f"{self.unexpected_count} of {self.element_count} rows unexpected"
                    if self.unexpected_count is not None else f"observed {self.observed_value!r}")
        return f"{self.expectation_type}({self.column or ''}): {observed}"


@dataclass(frozen=True)
class SuiteResult:
    suite: str
    batch_id: str
    outcomes: list[ExpectationOutcome]

    @property
    def critical_failures(self) -> list[ExpectationOutcome]:
        return [o for o in self.outcomes if not o.success and o.severity == "critical"]

    @property
    def warnings(self) -> list[ExpectationOutcome]:
        return [o for o in self.outcomes if not o.success and o.severity != "critical"]


def load_suite_definition(name: str) -> dict:
    path = settings.EXPECTATIONS_DIR / f"{name}.json"
    definition = json.loads(Path(path).read_text(encoding="utf-8"))
    for exp in definition["expectations"]:
        if exp.get("severity") not in ("critical", "warning"):
            raise ValueError(f"{path}: {exp['type']} needs severity critical or warning")
    return definition


def batch_query(definition: dict, batch_id: str, conn: psycopg.Connection) -> str:
    columns = sorted({e["kwargs"]["column"] for e in definition["expectations"]
                      if "column" in e["kwargs"]})
    projections = [sql.Identifier(c) if c in META_COLUMNS else
                   sql.SQL("payload ->> {k} as {c}").format(k=sql.Literal(c), c=sql.Identifier(c))
                   for c in columns]
    table = sql.Identifier("raw", raw_table_name(definition["source"], definition["entity"]))
    return sql.SQL("select {cols} from {t} where batch_id = {b}").format(
        cols=sql.SQL(", ").join(projections or [sql.SQL("natural_key")]), t=table,
        b=sql.Literal(batch_id),
    ).as_string(conn)


def validate_batch(suite_name: str, conninfo: str, batch_id: str) -> SuiteResult:
    """Run a suite on one landed batch, record every outcome in `quality`, return the result."""
    import great_expectations as gx

    definition = load_suite_definition(suite_name)
    table = f"raw.{raw_table_name(definition['source'], definition['entity'])}"
    with psycopg.connect(conninfo) as conn:
        if conn.execute("select to_regclass(%s)", (table,)).fetchone()[0] is None:
            log.info("suite %s: %s has not landed yet, nothing to validate", suite_name, table)
            return SuiteResult(suite_name, batch_id, [])
        query = batch_query(definition, batch_id, conn)

    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    source = context.data_sources.add_postgres(
        name="warehouse", connection_string=WarehouseUrl.parse(conninfo).url("psycopg2"))
    asset = source.add_query_asset(name=suite_name, query=query)
    batch = asset.add_batch_definition_whole_table("landed_batch").get_batch()
    suite = gx.ExpectationSuite(name=suite_name, expectations=[
        {"type": e["type"], "kwargs": e["kwargs"], "severity": e["severity"]}
        for e in definition["expectations"]
    ])
    severities = [e["severity"] for e in definition["expectations"]]
    validation = batch.validate(suite)

    outcomes = []
    for severity, res in zip(severities, validation.results, strict=True):
        config = res.expectation_config
        detail = res.result or {}
        outcomes.append(ExpectationOutcome(
            expectation_type=config.type, column=config.kwargs.get("column"), severity=severity,
            success=bool(res.success), element_count=detail.get("element_count"),
            unexpected_count=detail.get("unexpected_count"),
            observed_value=detail.get("observed_value"),
        ))
    result = SuiteResult(suite_name, batch_id, outcomes)
    record_results(conninfo, result, definition)
    for warning in result.warnings:
        log.warning("suite %s batch %s: warning %s", suite_name, batch_id, warning.describe())
    return result


def record_results(conninfo: str, result: SuiteResult, definition: dict) -> None:
    kwargs_by_position = [e["kwargs"] for e in definition["expectations"]]
    with psycopg.connect(conninfo) as conn, conn.transaction():
        conn.execute("select pg_advisory_xact_lock(hashtext('eduhub.quality_ddl'))")
        conn.execute(QUALITY_DDL)
        with conn.cursor() as cur:
            cur.executemany("""
                insert into quality.validation_results
                    (suite, batch_id, expectation_type, column_name, kwargs, severity, success,
                     element_count, unexpected_count, observed_value)
                values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s)""",
                [(result.suite, result.batch_id, o.expectation_type, o.column,
                  json.dumps(kw), o.severity, o.success, o.element_count, o.unexpected_count,
                  json.dumps(o.observed_value, default=str))
                 for o, kw in zip(result.outcomes, kwargs_by_position, strict=True)])


def raise_on_critical(result: SuiteResult) -> None:
    if result.critical_failures:
        failures = "; ".join(o.describe() for o in result.critical_failures)
        raise CriticalExpectationFailed(
            f"suite {result.suite}, batch {result.batch_id}: critical expectation failed: {failures}")
