"""How cosmos runs the dbt project: one definition for every DAG that transforms."""

from __future__ import annotations

from cosmos import ExecutionConfig, ProfileConfig, ProjectConfig, RenderConfig
from cosmos.constants import InvocationMode, LoadMode
from cosmos.profiles import PostgresUserPasswordProfileMapping

from eduhub import settings

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
        # The run's logical date is the models' "today": a backfill gives that day's figures.
        "operator_args": {"install_deps": False, "emit_datasets": False,
                          "vars": {"as_of_date": "{{ ds }}"}},
    }
