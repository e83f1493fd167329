"""What a validation found: outcomes (never the failing values of personal data), the
results in `quality`, and the failure a task raises."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

import psycopg

from eduhub import log_masking

MAX_PARTITIONS_SHOWN = 10


MAX_VALUES_SHOWN = 5


class CriticalExpectationFailed(RuntimeError):
    """A critical expectation failed; the message names it and the observed value.

    `rejected` maps each failed suite to the partitions (school or commune codes) its failure
    rejected, and `batch_id` names the batch: for whoever reports it (`eduhub.alerts`)."""

    def __init__(self, message: str, rejected: dict[str, tuple[str, ...]] | None = None,
                 batch_id: str | None = None):
        super().__init__(message)
        self.rejected = dict(rejected or {})
        self.batch_id = batch_id


@dataclass(frozen=True)
class ExpectationOutcome:
    expectation_type: str
    column: str | None
    severity: str
    success: bool
    element_count: int | None
    unexpected_count: int | None
    observed_value: object
    view: str = "records"
    kwargs: dict = field(default_factory=dict)
    unexpected_percent: float | None = None
    partitions: tuple[str, ...] = ()
    values: tuple = ()

    @property
    def name(self) -> str:
        cols = self.column or ", ".join(
            str(self.kwargs[k]) for k in ("column_A", "column_B") if k in self.kwargs)
        return f"{self.expectation_type}({cols})"

    def describe(self) -> str:
        if self.unexpected_count is not None:
            observed = f"{self.unexpected_count} of {self.element_count} rows unexpected"
            if self.unexpected_percent is not None:
                observed += f" ({self.unexpected_percent:.1f}%)"
            if self.values:
                observed += ", e.g. " + ", ".join(map(_show, self.values))
        else:
            observed = f"observed {_show(self.observed_value)}"
        if self.partitions:
            shown = list(self.partitions[:MAX_PARTITIONS_SHOWN])
            more = len(self.partitions) - len(shown)
            observed += (f" in partition{'s' if len(self.partitions) > 1 else ''} "
                         + ", ".join(shown) + (f" and {more} more" if more > 0 else ""))
        where = "" if self.view == "records" else f" on {self.view}"
        return f"{self.name}{where}: {observed}"


def _show(value) -> str:
    if isinstance(value, (list, tuple)):
        return "(" + ", ".join(_show(v) for v in value) + ")"
    return json.dumps(value, ensure_ascii=False, default=str)


@dataclass(frozen=True)
class SuiteResult:
    suite: str
    batch_id: str
    outcomes: list[ExpectationOutcome]
    rejected_partitions: tuple[str, ...] = ()
    as_of_date: date | None = None

    @property
    def critical_failures(self) -> list[ExpectationOutcome]:
        return [o for o in self.outcomes if not o.success and o.severity == "critical"]

    @property
    def warnings(self) -> list[ExpectationOutcome]:
        return [o for o in self.outcomes if not o.success and o.severity != "critical"]

    @property
    def success(self) -> bool:
        return all(o.success for o in self.outcomes)

    def failed(self, severity: str | None = None) -> set[tuple[str, str, str | None]]:
        """(view, expectation type, column) of every failed expectation: what tests compare."""
        return {(o.view, o.expectation_type, o.column) for o in self.outcomes
                if not o.success and (severity is None or o.severity == severity)}

    def message(self) -> str:
        failures = "; ".join(o.describe() for o in self.critical_failures)
        text = f"suite {self.suite}, batch {self.batch_id}: critical expectation failed: {failures}"
        if self.rejected_partitions:
            text += (f" (rejected: {len(self.rejected_partitions)} partition(s) of the batch are "
                     "kept out of the models)")
        return text


def _shown(value):
    """A failing value as an expectation that shows values may show it: codes and counts pass,
    a personal ID or phone number a source put in the wrong field does not (masked)."""
    return log_masking.mask(value, []) if isinstance(value, str) else value


def _values_of(detail: dict) -> tuple:
    """A few distinct failing values (for expectations that show them), masked."""
    values = detail.get("partial_unexpected_list") or detail.get("unexpected_list") or []
    distinct = []
    for value in map(_shown, values):
        if value not in distinct:
            distinct.append(value)
        if len(distinct) == MAX_VALUES_SHOWN:
            break
    return tuple(distinct)


def _partitions_of(detail: dict) -> tuple[str, ...]:
    """The partitions (or, on marts, the index column's values) of the unexpected rows."""
    names = detail.get("unexpected_index_column_names") or []
    if not names:
        return ()
    found = {str(row[names[0]]) for row in detail.get("unexpected_index_list") or []
             if isinstance(row, dict) and row.get(names[0]) is not None}
    return tuple(sorted(found))


def _exception_message(info) -> str | None:
    """GX reports an exception either flat or per metric."""
    if not info:
        return None
    if info.get("raised_exception"):
        return str(info.get("exception_message"))
    for value in info.values():
        if isinstance(value, dict) and (value.get("raised_exception") or
                                        value.get("exception_message")):
            return str(value.get("exception_message"))
    return None


def outcome_of(res, view: str) -> ExpectationOutcome:
    config = res.expectation_config
    detail = res.result or {}
    meta = config.meta or {}
    severity = getattr(config.severity, "value", config.severity) or "critical"
    kwargs = {k: v for k, v in config.kwargs.items() if k != "batch_id"}
    error = _exception_message(res.exception_info)
    if error:
        # an expectation that could not run fails, with the reason (never data)
        message = error.splitlines()[0][:300]
        return ExpectationOutcome(config.type, kwargs.get("column"), severity, False, None,
                                  None, {"error": message}, view, kwargs)
    return ExpectationOutcome(
        expectation_type=config.type, column=kwargs.get("column"), severity=severity,
        success=bool(res.success), element_count=detail.get("element_count"),
        unexpected_count=detail.get("unexpected_count"),
        observed_value=detail.get("observed_value"), view=view, kwargs=kwargs,
        unexpected_percent=detail.get("unexpected_percent"),
        partitions=_partitions_of(detail) if not res.success else (),
        values=_values_of(detail) if (meta.get("show_values") and not res.success) else (),
    )


_SAFE_RESULT_KEYS = ("element_count", "unexpected_count", "unexpected_percent", "missing_count",
                     "missing_percent", "unexpected_percent_total",
                     "unexpected_percent_nonmissing", "observed_value", "details")


def scrub(validation) -> None:
    """Keep counts and observed aggregates, drop failing values (they may be personal data)
    unless the expectation shows them; what is rendered into Data Docs is what is left."""
    for res in validation.results:
        detail = res.result or {}
        keep = {k: v for k, v in detail.items() if k in _SAFE_RESULT_KEYS}
        if (res.expectation_config.meta or {}).get("show_values"):
            keep["partial_unexpected_list"] = list(_values_of(detail))
            if "partial_unexpected_counts" in detail:
                keep["partial_unexpected_counts"] = [
                    {**entry, "value": _shown(entry.get("value"))} if isinstance(entry, dict)
                    else entry for entry in detail["partial_unexpected_counts"][:MAX_VALUES_SHOWN]]
        partitions = _partitions_of(detail)
        if partitions and not res.success:
            name = detail["unexpected_index_column_names"][0]
            keep["partial_unexpected_index_list"] = [{name: p} for p in partitions[:20]]
            keep["unexpected_index_column_names"] = [name]
        res.result = keep


def record_result(conninfo: str, result: SuiteResult, target: str) -> None:
    run_key = f"{result.suite}:{result.batch_id}:{datetime.now(UTC).isoformat()}"
    with psycopg.connect(conninfo, autocommit=True) as conn, conn.transaction():
        with conn.cursor() as cur:
            cur.executemany("""
                insert into quality.validation_results
                    (suite, batch_id, view_name, expectation, expectation_type, column_name,
                     kwargs, severity, success, element_count, unexpected_count,
                     unexpected_percent, observed_value, unexpected_partitions, run_key)
                values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s, %s)""",
                [(result.suite, result.batch_id, o.view, o.name, o.expectation_type, o.column,
                  json.dumps(o.kwargs, default=str), o.severity, o.success, o.element_count,
                  o.unexpected_count, o.unexpected_percent,
                  json.dumps(o.observed_value, default=str), list(o.partitions) or None, run_key)
                 for o in result.outcomes])
        conn.execute("""
            insert into quality.validation_runs (run_key, validated_at, suite, batch_id, target,
                as_of_date, success, expectations, critical_failures, warnings,
                rejected_partitions)
            values (%s, clock_timestamp(), %s, %s, %s, %s, %s, %s, %s, %s, %s)""",
            (run_key, result.suite, result.batch_id, target, result.as_of_date, result.success,
             len(result.outcomes), len(result.critical_failures), len(result.warnings),
             list(result.rejected_partitions)))


def raise_on_critical(results: SuiteResult | Iterable[SuiteResult]) -> None:
    """CriticalExpectationFailed naming every failed critical expectation and what it saw."""
    results = [results] if isinstance(results, SuiteResult) else list(results)
    failed = [r for r in results if r.critical_failures]
    if failed:
        raise CriticalExpectationFailed(
            " | ".join(r.message() for r in failed),
            rejected={r.suite: tuple(r.rejected_partitions) for r in failed},
            batch_id=failed[0].batch_id)


def fail_task_on_critical(results: SuiteResult | Iterable[SuiteResult]) -> None:
    """For Airflow tasks: a critical failure fails the task at once (a retry would find the same
    data), with the same message."""
    from airflow.sdk.exceptions import AirflowFailException

    try:
        raise_on_critical(results)
    except CriticalExpectationFailed as exc:
        raise AirflowFailException(f"CriticalExpectationFailed: {exc}") from exc


def summary(results: Iterable[SuiteResult]) -> dict[str, dict]:
    """What a validate task returns (XCom): counts only, by suite (by suite and batch for a
    suite validated on more than one batch: the run's, then earlier ones left pending)."""
    out: dict[str, dict] = {}
    for r in results:
        out[r.suite if r.suite not in out else f"{r.suite} {r.batch_id}"] = {
            "expectations": len(r.outcomes), "warnings": len(r.warnings),
            "critical_failures": len(r.critical_failures),
            "rejected_partitions": len(r.rejected_partitions)}
    return out
