"""Great Expectations itself: its ephemeral context on the warehouse, the runs of a suite's
views, the Data Docs."""

from __future__ import annotations

import fcntl
import logging
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

from eduhub import settings
from eduhub.validation import offline_docs
from eduhub.validation.results import ExpectationOutcome, outcome_of, scrub
from eduhub.warehouse import WarehouseUrl

log = logging.getLogger(__name__)

DATA_DOCS_RESULTS_KEPT = 400  # newest validation results listed on the Data Docs index


UNEXPECTED_ROWS_FETCHED = 500_000  # per failed expectation, to find the partitions to reject


DATA_DOCS_RESULTS_PER_SUITE = 30  # validation results kept per suite (and view) for the docs


def gx_paths() -> tuple[Path, Path]:
    docs = Path(settings.DATA_DOCS_DIR)
    return docs, docs.with_name(docs.name + "_results")


def gx_context():
    import great_expectations as gx
    from great_expectations.data_context.types.base import DataContextConfig, ProgressBarsConfig

    docs, results = gx_paths()

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
def docs_lock():
    _, results = gx_paths()
    results.mkdir(parents=True, exist_ok=True)
    with open(results / ".lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


class Runner:
    """One GX context for a set of validations; their results become Data Docs at the end."""

    def __init__(self, conninfo: str):
        self.context = gx_context()
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
        if any(a.name == gx_suite_name for a in self.source.assets):
            # the suite again, on another batch (one left pending before this run's)
            self.source.delete_asset(gx_suite_name)
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
        outcomes = [outcome_of(res, view) for res in validation.results]
        scrub(validation)
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
        docs, _ = gx_paths()
        try:
            with docs_lock():
                store = self.context.validation_results_store
                for key, validation, suite in self.pending:
                    self.context.suites.add_or_update(suite)
                    store.set(key, validation)
                self._prune(store, {key.expectation_suite_identifier.name
                                    for key, _, _ in self.pending})
                self.context.build_data_docs(
                    resource_identifiers=[key for key, _, _ in self.pending])
                offline_docs.make_offline(docs)
        except Exception:  # the results are in `quality` already; docs must not fail a run
            log.exception("Data Docs could not be built in %s", docs)
            return None
        self.pending.clear()
        return docs / "index.html"
