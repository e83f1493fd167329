"""How cosmos runs the dbt project: one definition for every DAG that transforms."""

from __future__ import annotations

from cosmos import ExecutionConfig, ProfileConfig, ProjectConfig, RenderConfig
from cosmos.constants import InvocationMode, LoadMode
from cosmos.profiles import PostgresUserPasswordProfileMapping

from eduhub import publish, settings

MANIFEST = settings.DBT_PROJECT_DIR / "target" / "manifest.json"


def cosmos_arguments() -> dict:
    if not MANIFEST.exists():
        raise FileNotFoundError(
            f"{MANIFEST} is missing: run `eduhub dbt parse` (the deployment does it at build time)")
    return {
        "project_config": ProjectConfig(
            dbt_project_path=settings.DBT_PROJECT_DIR, manifest_path=MANIFEST,
            project_name="eduhub"),
        "profile_config": ProfileConfig(
            profile_name="eduhub", target_name="airflow",
            profile_mapping=PostgresUserPasswordProfileMapping(
                conn_id=settings.WAREHOUSE_CONN_ID, profile_args={"schema": "staging"})),
        "render_config": RenderConfig(load_method=LoadMode.DBT_MANIFEST),
        "execution_config": ExecutionConfig(invocation_mode=InvocationMode.DBT_RUNNER),
        # Model-level assets would carry the host and port in their URI; the DAG-level
        # assets in eduhub.dag_support are the contract instead.
        # The run's day is the models' "today" (`dag_support.run_day`: a backfill gives that
        # day's figures; asset-triggered runs have no logical date).
        # The published schemas build into their staging twins (marts_next, audit_next), which
        # the DAG swaps in once the marts suite passed (eduhub.publish).
        "operator_args": {"install_deps": False, "emit_datasets": False,
                          "vars": {"as_of_date": "{{ run_day(dag_run) }}", **publish.dbt_vars()}},
    }


def landed_specs():
    """Every raw table the staging models read."""
    from eduhub.pipelines.population_verification import VERIFICATIONS
    from eduhub.pipelines.school_management import VENDORS
    from eduhub.sources import file_exports, pcgd

    specs = [file_exports.LEARNERS, pcgd.HOUSEHOLDS, VERIFICATIONS]
    for schools, per_school in VENDORS.values():
        specs += [schools, *per_school.values()]
    return specs


def ensure_raw_tables(conninfo: str) -> None:
    """Create (empty) the raw tables of sources that have not landed yet, so the models
    build on the first day too: the population answers, for one, land after the models."""
    from eduhub import warehouse
    from eduhub.landing import ensure_ops, ensure_raw_table

    with warehouse.connect(conninfo) as conn:
        ensure_ops(conn)  # staging reads ops.batches (rejected batches stay out)
        for spec in landed_specs():
            with conn.transaction():
                conn.execute("select pg_advisory_xact_lock(hashtext(%s))", (f"raw.{spec.table}",))
                conn.execute("create schema if not exists raw")
                ensure_raw_table(conn, spec.table)
