"""How the transformation DAG runs the dbt project: one definition for every DAG that transforms.

dbt runs as one `dbt build` per layer (seeds, staging, intermediate with the snapshots, marts
with audit), each a cosmos task that the operators see in the UI with the models it built and
tested in its log. One task per model (cosmos's rendering) started 96 task processes a run:
under the real scheduler on the Sở's 2-core machine a transform of the sandbox took over 6
minutes against 39 s for one `dbt build` (issue 14). A layer runs the tests whose parents it
built or that were built before it (`--indirect-selection buildable`), so every test runs
once, after the models it checks.
"""

from __future__ import annotations

from cosmos import ProfileConfig
from cosmos.constants import InvocationMode
from cosmos.operators.local import DbtBuildLocalOperator
from cosmos.profiles import PostgresUserPasswordProfileMapping

from eduhub import publish, settings

# dbt's default is one model at a time: with more, the database's cores work while dbt waits
DBT_THREADS = 4

# (task id, dbt selection), in build order.
LAYERS = (
    ("dbt_seeds", "resource_type:seed"),
    ("dbt_staging", "path:models/staging"),
    ("dbt_intermediate", "path:models/intermediate path:snapshots"),
    ("dbt_marts", "path:models/marts path:models/audit"),
)


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


def layer_tasks() -> list[DbtBuildLocalOperator]:
    """The layers' tasks, chained in build order (call inside a DAG)."""
    tasks = [
        DbtBuildLocalOperator(
            task_id=task_id, project_dir=str(settings.DBT_PROJECT_DIR),
            profile_config=profile_config(), select=selection.split(),
            indirect_selection="buildable", env=dbt_env(),
            # the published schemas build into their staging twins (marts_next, audit_next),
            # which the DAG swaps in once the marts suite passed (eduhub.publish)
            vars=publish.dbt_vars(),
            invocation_mode=InvocationMode.DBT_RUNNER, install_deps=False,
            # model-level assets would carry the host and port in their URI; the DAG-level
            # assets in eduhub.dag_support are the contract instead
            emit_datasets=False)
        for task_id, selection in LAYERS]
    for upstream, downstream in zip(tasks, tasks[1:], strict=False):
        upstream >> downstream
    return tasks


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
