"""Great Expectations on landed batches and on the marts: suites in `expectations/`, results in
`quality`, Data Docs in `settings.DATA_DOCS_DIR`.

A landing suite (`expectations/<source>__<entity>.json`) names the source entity it guards and
lists expectations, each critical or warning. GX runs them on *views* of one batch, each a SQL
query pushed down to PostgreSQL (nothing is pulled into memory but the outcomes):

- `records`: one row per record the batch landed (tombstones aside), payload fields projected
  as columns;
- `source_counts`: one row per partition of the batch from `ops.source_counts` (what the
  source reported against what arrived);
- a view the suite declares: one row per element of a payload array (`"unnest": "residents"`)
  or per entry of a payload object (`"entries": "scores"`).

Columns are derived from their names (see `projection`): `birth_date` is the field's text,
`birth_date__json` its JSON text (null only when the field is absent: a renamed or dropped
field), `grade__number` a number (null when malformed), `check_date__date` a date (null when
malformed or no calendar date), `residents__type` the JSON type, `request.personal_id` a
nested field; `columns` in a suite gives other names an explicit field. Regular expressions
used by many suites are GX suite parameters (`{"$PARAMETER": "iso_date"}`, see `PARAMETERS`),
as is `as_of_date`, the day the batch is validated for.

Severity: a failed critical expectation rejects the partitions of the batch holding the
unexpected rows (every partition when the expectation is not row-based): their
`ops.batches.status` becomes `rejected`, the reasons go to `ops.batch_rejections`, and the
staging models skip them (the dbt macro `latest_version`). They stay landed and visible. The
other partitions become `validated`. Warnings are recorded and change nothing.

Personal data never leaves the warehouse through validation: failing values are neither
logged, stored nor rendered, except those of expectations that ask for it
(`"meta": {"show_values": true}`, for codes and counts). Partitions (school or commune codes)
are.
"""

from __future__ import annotations

import fcntl
import json
import logging
import re
from collections.abc import Iterable
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path

import psycopg
from psycopg import sql

from eduhub import settings
from eduhub.landing import raw_table_name
from eduhub.warehouse import WarehouseUrl

log = logging.getLogger(__name__)

SEVERITIES = ("critical", "warning")
META_COLUMNS = ("natural_key", "batch_id", "partition", "extracted_at")
MARTS_SUITE = "marts"
MAX_PARTITIONS_SHOWN = 10
MAX_VALUES_SHOWN = 5
DATA_DOCS_RESULTS_KEPT = 400  # newest validation results listed on the Data Docs index
UNEXPECTED_ROWS_FETCHED = 500_000  # per failed expectation, to find the partitions to reject
DATA_DOCS_RESULTS_PER_SUITE = 30  # validation results kept per suite (and view) for the docs

# Date and time shapes, strict enough that PostgreSQL's casts in staging cannot fail on a value
# that matches: months 01-12, the days each month has (29 February in leap years only), years
# 1900-2099.
_YEAR = r"(19|20)[0-9]{2}"
_LEAP = r"((19|20)(0[48]|[2468][048]|[13579][26])|2000)"
_MD_ISO = (r"((0[13578]|1[02])-(0[1-9]|[12][0-9]|3[01])|(0[469]|11)-(0[1-9]|[12][0-9]|30)"
           r"|02-(0[1-9]|1[0-9]|2[0-8]))")
_DM_VN = (r"((0[1-9]|[12][0-9]|3[01])/(0[13578]|1[02])|(0[1-9]|[12][0-9]|30)/(0[469]|11)"
          r"|(0[1-9]|1[0-9]|2[0-8])/02)")
_ISO_DATE = rf"({_YEAR}-{_MD_ISO}|{_LEAP}-02-29)"
_VN_DATE = rf"({_DM_VN}/{_YEAR}|29/02/{_LEAP})"
_TIME = r"([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]"
PARAMETERS = {
    "iso_date": rf"^{_ISO_DATE}$",
    "vn_date": rf"^{_VN_DATE}$",
    "iso_timestamp": rf"^{_ISO_DATE}T{_TIME}([.][0-9]+)?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])$",
    "vn_timestamp": rf"^{_VN_DATE} {_TIME}$",
    "integer": r"^-?[0-9]+$",
    "number": r"^-?[0-9]+([.][0-9]+)?$",
    "moet_id": r"^[0-9]{10}$",
    "personal_id": r"^[0-9]{12}$",
    "school_code": r"^[0-9]{8}$",
    "commune_code": r"^[0-9]{5}$",
    "school_year": r"^20[0-9]{2}-20[0-9]{2}$",
    # a 12-digit number standing alone (not inside a longer run of letters and digits, such as
    # the hex of a keyed pseudonym): a raw personal ID
    "raw_personal_id": r"(^|[^0-9A-Za-z])[0-9]{12}([^0-9A-Za-z]|$)",
}


class CriticalExpectationFailed(RuntimeError):
    """A critical expectation failed; the message names it and the observed value.

    `rejected` maps each failed suite to the partitions (school or commune codes) its failure
    rejected, and `batch_id` names the batch: for whoever reports it (`eduhub.alerts`)."""

    def __init__(self, message: str, rejected: dict[str, tuple[str, ...]] | None = None,
                 batch_id: str | None = None):
        super().__init__(message)
        self.rejected = dict(rejected or {})
        self.batch_id = batch_id


class SuiteError(ValueError):
    """A suite file that cannot be run as written."""


# --- suites ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Suite:
    name: str
    source: str | None
    entity: str | None
    expectations: list[dict]
    views: dict[str, dict]
    columns: dict[str, dict]
    notes: str = ""

    @property
    def table(self) -> str:
        return raw_table_name(self.source, self.entity)

    def expectations_on(self, view: str) -> list[dict]:
        return [e for e in self.expectations if e.get("view", "records") == view]


def suites_dir() -> Path:
    return Path(settings.EXPECTATIONS_DIR)


def load_suite(name: str) -> Suite:
    path = suites_dir() / f"{name}.json"
    try:
        definition = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SuiteError(f"no suite {name!r}: {path} does not exist") from None
    views = definition.get("views", {})
    for view_name, view in views.items():
        if view_name in ("records", "source_counts") or not (
                set(view) <= {"unnest", "entries", "notes"} and
                len({"unnest", "entries"} & set(view)) == 1):
            raise SuiteError(f"{path}: view {view_name!r} needs exactly one of unnest or entries")
    for i, exp in enumerate(definition["expectations"]):
        if exp.get("severity") not in SEVERITIES:
            raise SuiteError(f"{path}: expectation {i} ({exp.get('type')}) needs severity "
                             "critical or warning")
        view = exp.get("view", "records")
        if name != MARTS_SUITE and view not in ("records", "source_counts", *views):
            raise SuiteError(f"{path}: expectation {i} is on an unknown view {view!r}")
    return Suite(name=definition.get("name", name), source=definition.get("source"),
                 entity=definition.get("entity"), expectations=definition["expectations"],
                 views=views, columns=definition.get("columns", {}),
                 notes=definition.get("notes", ""))


def load_suite_definition(name: str) -> dict:
    """The suite file as written (kept for callers that read it raw)."""
    return json.loads((suites_dir() / f"{name}.json").read_text(encoding="utf-8"))


def landing_suites(sources: Iterable[str] | None = None) -> list[str]:
    """The landing suites in `expectations/`, of the given sources (all when None)."""
    wanted = set(sources) if sources is not None else None
    names = []
    for path in sorted(suites_dir().glob("*.json")):
        if path.stem == MARTS_SUITE:
            continue
        source = json.loads(path.read_text(encoding="utf-8")).get("source")
        if wanted is None or source in wanted:
            names.append(path.stem)
    return names


# --- SQL views of a batch -------------------------------------------------------------------

_SUFFIXES = ("__json", "__number", "__date", "__type")


def _path_sql(base: sql.Composable, path: str, as_json: bool) -> sql.Composable:
    parts = path.split(".")
    op = sql.SQL("#>") if as_json else sql.SQL("#>>")
    return sql.SQL("({base} {op} {path})").format(base=base, op=op, path=sql.Literal(parts))


def projection(name: str, base: sql.Composable, columns: dict[str, dict]) -> sql.Composable:
    """The SQL expression of a column of a view, from its name (or its entry in `columns`)."""
    if name in columns:
        spec = columns[name]
        field_path, kind = spec["field"], spec.get("as", "text")
    else:
        kind = next((s[2:] for s in _SUFFIXES if name.endswith(s)), "text")
        field_path = name[: -len(kind) - 2] if kind != "text" else name
    text = _path_sql(base, field_path, as_json=False)
    if kind == "text":
        return text
    if kind == "json":
        return sql.SQL("{}::text").format(_path_sql(base, field_path, as_json=True))
    if kind == "type":
        return sql.SQL("jsonb_typeof({})").format(_path_sql(base, field_path, as_json=True))
    if kind == "number":
        return sql.SQL("case when {v} ~ {re} then ({v})::numeric end").format(
            v=text, re=sql.Literal(PARAMETERS["number"]))
    if kind == "date":
        # the date of a date or timestamp, ISO or dd/mm/yyyy; null unless a calendar date
        head = sql.SQL("left({}, 10)").format(text)
        return sql.SQL("case when {h} ~ {iso} then ({h})::date "
                       "when {h} ~ {vn} then to_date({h}, 'DD/MM/YYYY') end").format(
            h=head, iso=sql.Literal(f"^{_ISO_DATE}$"), vn=sql.Literal(f"^{_VN_DATE}$"))
    raise SuiteError(f"column {name!r}: unknown kind {kind!r}")


def _columns_of(expectations: list[dict]) -> list[str]:
    names: list[str] = []
    for exp in expectations:
        kw = exp["kwargs"]
        for key in ("column", "column_A", "column_B"):
            if key in kw and kw[key] not in names:
                names.append(kw[key])
        for name in kw.get("column_list", []):
            if name not in names:
                names.append(name)
    return names


def view_query(suite: Suite, view: str, batch_id: str,
               record_ids: tuple[int | None, int | None] = (None, None)) -> sql.Composable:
    """The SQL of one view of a batch; every view carries the partition of its rows.
    `record_ids`: the first and last record id the batch gave (`batch_record_ids`), by which
    its rows are found; none, when it landed nothing."""
    names = [c for c in _columns_of(suite.expectations_on(view)) if c != "partition"]
    if view == "source_counts":
        cols = [sql.Identifier(c) for c in names]
        return sql.SQL("""
            select {cols} from ops.source_counts
            where source = {src} and entity = {ent} and batch_id = {batch}""").format(
            cols=sql.SQL(", ").join([sql.Identifier("partition"), *cols]),
            src=sql.Literal(suite.source), ent=sql.Literal(suite.entity),
            batch=sql.Literal(batch_id))
    table = sql.Identifier("raw", suite.table)
    first, last = record_ids
    where = (sql.SQL("r.record_id between {f} and {l} and r.batch_id = {b} and not r.is_deleted")
             .format(f=sql.Literal(first), l=sql.Literal(last), b=sql.Literal(batch_id))
             if first is not None and last is not None else sql.SQL("false"))
    if view == "records":
        base, source_sql = sql.SQL("r.payload"), sql.SQL("{t} as r").format(t=table)
    else:
        spec = suite.views[view]
        if "unnest" in spec:
            array = _path_sql(sql.SQL("r.payload"), spec["unnest"], as_json=True)
            source_sql = sql.SQL(
                "{t} as r cross join lateral jsonb_array_elements(case when jsonb_typeof({a}) = "
                "'array' then {a} else '[]'::jsonb end) as element").format(t=table, a=array)
            base = sql.SQL("element")
        else:
            obj = _path_sql(sql.SQL("r.payload"), spec["entries"], as_json=True)
            source_sql = sql.SQL(
                "{t} as r cross join lateral jsonb_each(case when jsonb_typeof({o}) = 'object' "
                "then {o} else '{{}}'::jsonb end) as entry").format(t=table, o=obj)
            # an object's entries as {"key": ..., "value": ...}: columns `key`, `value__number`
            base = sql.SQL("jsonb_build_object('key', entry.key, 'value', entry.value)")
    projections = [sql.SQL("r.partition")]
    for name in names:
        if name in META_COLUMNS:
            expr = sql.SQL("r.{}").format(sql.Identifier(name))
        else:
            expr = projection(name, base, suite.columns)
        projections.append(sql.SQL("{e} as {n}").format(e=expr, n=sql.Identifier(name)))
    return sql.SQL("select {cols} from {src} where {where}").format(
        cols=sql.SQL(", ").join(projections), src=source_sql, where=where)


# --- outcomes -------------------------------------------------------------------------------

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


def _values_of(detail: dict) -> tuple:
    """A few distinct failing values (for expectations that show them)."""
    values = detail.get("partial_unexpected_list") or detail.get("unexpected_list") or []
    distinct = []
    for value in values:
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


def _outcome(res, view: str) -> ExpectationOutcome:
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


def _scrub(validation) -> None:
    """Keep counts and observed aggregates, drop failing values (they may be personal data)
    unless the expectation shows them; what is rendered into Data Docs is what is left."""
    for res in validation.results:
        detail = res.result or {}
        keep = {k: v for k, v in detail.items() if k in _SAFE_RESULT_KEYS}
        if (res.expectation_config.meta or {}).get("show_values"):
            keep["partial_unexpected_list"] = list(_values_of(detail))
            if "partial_unexpected_counts" in detail:
                keep["partial_unexpected_counts"] = \
                    detail["partial_unexpected_counts"][:MAX_VALUES_SHOWN]
        partitions = _partitions_of(detail)
        if partitions and not res.success:
            name = detail["unexpected_index_column_names"][0]
            keep["partial_unexpected_index_list"] = [{name: p} for p in partitions[:20]]
            keep["unexpected_index_column_names"] = [name]
        res.result = keep


# --- running GX -----------------------------------------------------------------------------

def _gx_paths() -> tuple[Path, Path]:
    docs = Path(settings.DATA_DOCS_DIR)
    return docs, docs.with_name(docs.name + "_results")


def _gx_context():
    import great_expectations as gx
    from great_expectations.data_context.types.base import DataContextConfig, ProgressBarsConfig

    docs, results = _gx_paths()

    def files(path: Path) -> dict:
        return {"class_name": "TupleFilesystemStoreBackend", "base_directory": str(path)}

    memory = {"class_name": "InMemoryStoreBackend"}
    config = DataContextConfig(
        stores={
            "expectations_store": {"class_name": "ExpectationsStore",
                                   "store_backend": files(results / "expectations")},
            "validation_results_store": {"class_name": "ValidationResultsStore",
                                         "store_backend": files(results / "validations")},
            "checkpoint_store": {"class_name": "CheckpointStore", "store_backend": memory},
            "validation_definition_store": {"class_name": "ValidationDefinitionStore",
                                            "store_backend": memory},
        },
        expectations_store_name="expectations_store",
        validation_results_store_name="validation_results_store",
        checkpoint_store_name="checkpoint_store",
        data_docs_sites={"eduhub": {
            "class_name": "SiteBuilder", "show_how_to_buttons": False,
            "store_backend": files(docs),
            "site_index_builder": {"class_name": "DefaultSiteIndexBuilder",
                                   "validation_results_limit": DATA_DOCS_RESULTS_KEPT}}},
        analytics_enabled=False,
    )
    context = gx.get_context(mode="ephemeral", project_config=config)
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    return context


@contextmanager
def _docs_lock():
    _, results = _gx_paths()
    results.mkdir(parents=True, exist_ok=True)
    with open(results / ".lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


class _Runner:
    """One GX context for a set of validations; their results become Data Docs at the end."""

    def __init__(self, conninfo: str):
        self.context = _gx_context()
        self.source = self.context.data_sources.add_postgres(
            name="warehouse", connection_string=WarehouseUrl.parse(conninfo).url("psycopg2"))
        self.pending: list[tuple[object, object, object]] = []  # (key, validation, suite)
        self._assets = 0

    def run(self, gx_suite_name: str, query: str, expectations: list[dict], run_name: str,
            parameters: dict, view: str, index_columns: tuple[str, ...] = ("partition",)
            ) -> list[ExpectationOutcome]:
        import great_expectations as gx
        from great_expectations.core.run_identifier import RunIdentifier
        from great_expectations.data_context.types.resource_identifiers import (
            ExpectationSuiteIdentifier,
            ValidationResultIdentifier,
        )

        self._assets += 1
        asset = self.source.add_query_asset(name=gx_suite_name, query=query)
        batch = asset.add_batch_definition_whole_table(f"batch{self._assets}").get_batch()
        suite = gx.ExpectationSuite(name=gx_suite_name, expectations=[
            {k: v for k, v in e.items() if k in ("type", "kwargs", "severity", "meta", "notes")}
            for e in expectations])
        # GX fetches the index columns of unexpected rows up to `partial_unexpected_count`:
        # enough to attribute every failing row to its partition (values are dropped after)
        result_format = {"result_format": "COMPLETE", "return_unexpected_index_query": False,
                         "partial_unexpected_count": UNEXPECTED_ROWS_FETCHED}
        if index_columns:
            result_format["unexpected_index_column_names"] = list(index_columns)
        validation = batch.validate(suite, expectation_parameters=parameters,
                                    result_format=result_format)
        outcomes = [_outcome(res, view) for res in validation.results]
        _scrub(validation)
        key = ValidationResultIdentifier(
            expectation_suite_identifier=ExpectationSuiteIdentifier(name=gx_suite_name),
            run_id=RunIdentifier(run_name=run_name, run_time=datetime.now(UTC)),
            batch_identifier=f"warehouse-{gx_suite_name}")
        validation.meta["run_id"] = key.run_id
        self.pending.append((key, validation, suite))
        return outcomes

    @staticmethod
    def _prune(store, suite_names: set[str]) -> None:
        """Keep the newest results of each suite: the trend lives in `quality`, the docs show
        the recent runs (their pages go when the index is rebuilt)."""
        by_suite: dict[str, list] = {}
        for key in store.list_keys():
            by_suite.setdefault(key.expectation_suite_identifier.name, []).append(key)
        for name in suite_names:
            keys = sorted(by_suite.get(name, []), key=lambda k: k.run_id.run_time, reverse=True)
            for old in keys[DATA_DOCS_RESULTS_PER_SUITE:]:
                store.remove_key(old)

    def build_docs(self) -> Path | None:
        """Store the (scrubbed) results and render their pages and the index."""
        if not self.pending:
            return None
        docs, _ = _gx_paths()
        try:
            with _docs_lock():
                store = self.context.validation_results_store
                for key, validation, suite in self.pending:
                    self.context.suites.add_or_update(suite)
                    store.set(key, validation)
                self._prune(store, {key.expectation_suite_identifier.name
                                    for key, _, _ in self.pending})
                self.context.build_data_docs(
                    resource_identifiers=[key for key, _, _ in self.pending])
        except Exception:  # the results are in `quality` already; docs must not fail a run
            log.exception("Data Docs could not be built in %s", docs)
            return None
        self.pending.clear()
        return docs / "index.html"


# --- landed batches -------------------------------------------------------------------------

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


def _parameters(as_of: date) -> dict:
    return {**PARAMETERS, "as_of_date": as_of.isoformat()}


def validate_batch(suite_name: str, conninfo: str, batch_id: str, *, as_of: date | None = None,
                   data_docs: bool = True, _runner: _Runner | None = None) -> SuiteResult:
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

    runner = _runner or _Runner(conninfo)
    outcomes: list[ExpectationOutcome] = []
    for view in views:
        gx_name = suite_name if view == "records" else f"{suite_name}.{view}"
        outcomes += runner.run(gx_name, queries[view], suite.expectations_on(view), batch_id,
                               _parameters(as_of), view)
    rejected = _rejected_partitions(conninfo, suite, batch_id, outcomes)
    result = SuiteResult(suite_name, batch_id, outcomes, rejected, as_of)
    _record(conninfo, result, target="batch")
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
    runner = _Runner(conninfo)
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


def _record(conninfo: str, result: SuiteResult, target: str) -> None:
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
    """What a validate task returns (XCom): counts only."""
    return {r.suite: {"expectations": len(r.outcomes), "warnings": len(r.warnings),
                      "critical_failures": len(r.critical_failures),
                      "rejected_partitions": len(r.rejected_partitions)} for r in results}


# --- marts ----------------------------------------------------------------------------------

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
    runner = _Runner(conninfo)
    outcomes: list[ExpectationOutcome] = []
    for view, query, expectations, index_columns in plan:
        outcomes += runner.run(f"{MARTS_SUITE}.{view}", query, expectations, run_id,
                               _parameters(as_of), view, index_columns)
    result = SuiteResult(MARTS_SUITE, run_id, outcomes, (), as_of)
    _record(conninfo, result, target=",".join(schemas.values()))
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
