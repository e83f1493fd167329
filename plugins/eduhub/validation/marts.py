"""The marts plan: every published table checked before the publish gate swaps it in."""

from __future__ import annotations

import logging
import re
from datetime import UTC, date, datetime

import psycopg
from psycopg import sql

from eduhub.validation.gx_runner import Runner
from eduhub.validation.results import ExpectationOutcome, SuiteResult, record_result
from eduhub.validation.suites import (
    MARTS_SUITE,
    SEVERITIES,
    SuiteError,
    load_suite_definition,
    parameters_for,
)

log = logging.getLogger(__name__)


def _mart_columns(conn: psycopg.Connection, schema: str) -> dict[str, list[tuple[str, str]]]:
    rows = conn.execute("""
        select c.table_name, c.column_name, c.data_type
        from information_schema.columns as c
        join information_schema.tables as t
          on t.table_schema = c.table_schema and t.table_name = c.table_name
        where c.table_schema = %s and t.table_type in ('BASE TABLE', 'VIEW')
        order by c.table_name, c.ordinal_position""", (schema,)).fetchall()
    tables: dict[str, list[tuple[str, str]]] = {}
    for table, column, data_type in rows:
        tables.setdefault(table, []).append((column, data_type))
    return tables


def marts_plan(conn: psycopg.Connection, schema: str, label: str = "marts"
               ) -> list[tuple[str, str, list[dict], tuple[str, ...]]]:
    """(view name, query, expectations, index columns) for every table of `schema` (which
    publishes as `label`), from the generic rules of `expectations/marts.json` (columns chosen
    by name pattern and type, so that new marts are covered as they come) and its per-table
    checks (which run only when their table exists)."""
    definition = load_suite_definition(MARTS_SUITE)
    tables = _mart_columns(conn, schema)
    plan = []
    for table, columns in tables.items():
        expectations = []
        for rule in definition["rules"]:
            pattern = re.compile(rule.get("columns_matching", ".*"))
            types = rule.get("column_types")
            for column, data_type in columns:
                if pattern.search(column) and (types is None or data_type in types):
                    expectations.append({
                        "type": rule["type"], "severity": rule["severity"],
                        "kwargs": {**rule.get("kwargs", {}), "column": column},
                        "meta": {**rule.get("meta", {}), "rule": rule["rule"]},
                        **({"notes": rule["notes"]} if "notes" in rule else {})})
        query = sql.SQL("select * from {}").format(sql.Identifier(schema, table))
        if expectations:
            plan.append((f"{label}.{table}", query.as_string(conn), expectations, ()))
    for check_name, check in definition.get("tables", {}).items():
        if check.get("schema", "marts") != label or check["table"] not in tables:
            continue
        for exp in check["expectations"]:
            if exp.get("severity") not in SEVERITIES:
                raise SuiteError(f"marts.json: {check_name} needs severity critical or warning")
        query = sql.SQL(check["query"]).format(table=sql.Identifier(schema, check["table"]))
        plan.append((f"{label}.{check_name}", query.as_string(conn), check["expectations"],
                     tuple(check.get("index_columns", ()))))
    return plan


def validate_marts(conninfo: str, run_id: str, schemas: dict[str, str] | None = None, *,
                   as_of: date | None = None, data_docs: bool = True) -> SuiteResult:
    """The marts suite on the published schemas, or on the schemas given as
    {published name: schema to check} (a publication's staging schemas)."""
    from eduhub import publish

    schemas = schemas or {s: s for s in publish.PUBLISHED_SCHEMAS}
    as_of = as_of or datetime.now(UTC).date()
    with psycopg.connect(conninfo, autocommit=True) as conn:
        plan = [step for label, schema in schemas.items()
                for step in marts_plan(conn, schema, label)]
    runner = Runner(conninfo)
    outcomes: list[ExpectationOutcome] = []
    for view, query, expectations, index_columns in plan:
        outcomes += runner.run(f"{MARTS_SUITE}.{view}", query, expectations, run_id,
                               parameters_for(as_of), view, index_columns)
    result = SuiteResult(MARTS_SUITE, run_id, outcomes, (), as_of)
    record_result(conninfo, result, target=",".join(schemas.values()))
    for warning in result.warnings:
        log.warning("marts: warning %s", warning.describe())
    for failure in result.critical_failures:
        log.error("marts: critical %s", failure.describe())
    if data_docs:
        runner.build_docs()
    return result


def validate_publication(conninfo: str, run_id: str, *, as_of: date | None = None
                         ) -> SuiteResult:
    """The gate before the swap: the marts suite on the staging schemas of this run's build;
    when no critical expectation failed, they are marked validated (what `publish.swap`
    requires)."""
    from eduhub import publish

    result = validate_marts(conninfo, run_id, {s: publish.staging_schema(s)
                                               for s in publish.PUBLISHED_SCHEMAS}, as_of=as_of)
    if not result.critical_failures:
        publish.mark_validated(conninfo, run_id)
    return result
