"""How the transformation DAG runs the dbt project: one definition for every DAG that transforms.

dbt runs as one `dbt build` of the whole project in one cosmos task, with dbt's threads
building independent models side by side. The operators see each model and test in the
task's log, and in its XCom `nodes` (status, seconds, failures, one row per node; also
printed as a table at the end of the log). One task per model (cosmos's default rendering)
started 96 task processes a run: on the Sở's 2-core machine a transform of the sandbox took
over 6 minutes against 39 s for one `dbt build` (issue 14). One task per layer still paid
about 8 s of start, parse and connection per layer (issue 20: 47 s of dbt tasks against
13 to 16 s for one build). Cosmos's watcher mode (one build, one sensor task per model)
would start those 96 task processes again.
"""

from __future__ import annotations

import json
import logging
import os
from pathlib import Path

from cosmos import ProfileConfig
from cosmos.constants import InvocationMode
from cosmos.operators.local import DbtBuildLocalOperator
from cosmos.profiles import PostgresUserPasswordProfileMapping

from eduhub import publish, settings

log = logging.getLogger(__name__)

# dbt's default is one model at a time: with more, the database's cores work while dbt waits
DBT_THREADS = 4

BUILD_TASK_ID = "dbt_build"

# The scheduled build leaves out dbt's unit tests: their inputs are fixed rows, so a daily run
# proves nothing new with them (dbt's own advice: unit tests in development and CI). They were
# a tenth of the build's node time. The test suite runs them (tests/test_end_to_end.py).
SCHEDULED_BUILD_FLAGS = ("--exclude-resource-type", "unit_test")


def parse_cache_dir() -> Path:
    """Where the dbt task keeps dbt's partial parse from run to run. cosmos runs dbt in a fresh
    copy of the project each time: without it, dbt parses the whole project every run (about
    7 s of the sandbox's 23 s build). Beside Airflow's home, one per deployment."""
    home = os.environ.get("AIRFLOW_HOME")
    return (Path(home) if home else settings.STATE_DIR) / "dbt_partial_parse"


def profile_config() -> ProfileConfig:
    return ProfileConfig(
        profile_name="eduhub", target_name="airflow",
        profile_mapping=PostgresUserPasswordProfileMapping(
            conn_id=settings.WAREHOUSE_CONN_ID, profile_args={"schema": "staging", "threads": DBT_THREADS}))


# The run's day is the models' "today" (`dag_support.run_day`: a backfill gives that day's
# figures; asset-triggered runs have no logical date). It goes to dbt in the environment, not
# as a var: the vars stay the same from run to run, so dbt re-parses only the models that
# read the day (dbt_project/macros/run_day.sql).
AS_OF_DATE_ENV = "EDUHUB_AS_OF_DATE"


def dbt_env() -> dict:
    return {AS_OF_DATE_ENV: "{{ run_day(dag_run) }}"}


def build_task() -> DbtBuildLocalOperator:
    """The transformation's dbt task (call inside a DAG)."""
    return DbtBuildLocalOperator(
        task_id=BUILD_TASK_ID, task_display_name="Chạy dbt build (mọi model và kiểm thử)",
        project_dir=str(settings.DBT_PROJECT_DIR), profile_config=profile_config(), env=dbt_env(),
        cache_dir=parse_cache_dir(),
        # the published schemas build into their staging twins (marts_next, audit_next),
        # which the DAG swaps in once the marts suite passed (eduhub.publish)
        vars=publish.dbt_vars(), dbt_cmd_flags=list(SCHEDULED_BUILD_FLAGS),
        invocation_mode=InvocationMode.DBT_RUNNER, install_deps=False,
        # model-level assets would carry the host and port in their URI; the DAG-level
        # assets in eduhub.dag_support are the contract instead
        emit_datasets=False,
        callback=push_node_results)


def node_label(unique_id: str) -> str:
    """dbt's unique id as an operator reads it: "model int_learners", "test not_null_…"."""
    kind, _package, *name = unique_id.split(".")
    if kind == "test":
        name = name[:1]  # a generic test's hash suffix
    return f"{kind} {'.'.join(name)}"


def node_results(run_results: dict) -> list[dict]:
    """One row per model, snapshot, seed and test of a dbt run, in the order dbt finished them."""
    return [{"node": node_label(r["unique_id"]), "status": r["status"],
             "seconds": round(r.get("execution_time") or 0, 2), "failures": r.get("failures")}
            for r in run_results.get("results", [])]


def push_node_results(project_dir: str, context=None, **_) -> None:
    """cosmos callback, after dbt and before cosmos fails the task on dbt's error: each node's
    result to the log (a table) and to the XCom `nodes`, where the UI shows it."""
    # dbt writes to DBT_TARGET_PATH when set (absolute, or relative to the project)
    path = Path(project_dir) / os.environ.get("DBT_TARGET_PATH", "target") / "run_results.json"
    if not path.is_file():
        log.warning("dbt wrote no run_results.json (%s): no per-node results", path)
        return
    rows = node_results(json.loads(path.read_text(encoding="utf-8")))
    width = min(max((len(r["node"]) for r in rows), default=0), 60)
    log.info("dbt: %d nút\n%s", len(rows), "\n".join(
        f"{r['node']:<{width}}  {r['status']:<8} {r['seconds']:>7.2f} s"
        + (f"  {r['failures']} lỗi" if r["failures"] else "") for r in rows))
    if context is not None:
        context["ti"].xcom_push(key="nodes", value=rows)


def landed_specs():
    """Every raw table the staging models read."""
    from eduhub.pipelines.population import VERIFICATIONS
    from eduhub.pipelines.school_management import SOURCES
    from eduhub.sources import file_exports, pcgd, school_registry

    specs = [file_exports.LEARNERS, pcgd.HOUSEHOLDS, VERIFICATIONS, school_registry.UNITS]
    for schools, per_school in SOURCES.values():
        specs += [schools, *per_school.values()]
    return specs


def ensure_raw_tables(conninfo: str) -> None:
    """Create (empty) the raw tables of sources that have not landed yet, so the models
    build on the first day too: the population answers, for one, land after the models."""
    from eduhub import warehouse
    from eduhub.landing import ensure_raw_table

    with warehouse.connect(conninfo) as conn:
        for spec in landed_specs():
            with conn.transaction():
                conn.execute("select pg_advisory_xact_lock(hashtext(%s))", (f"raw.{spec.table}",))
                ensure_raw_table(conn, spec.table)
