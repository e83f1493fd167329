"""The main job end to end: sandbox → Airflow sync DAG → GX → dbt via cosmos → summary."""

from __future__ import annotations

import shutil
from datetime import date
from pathlib import Path

from eduhub import runtime, settings, warehouse
from eduhub.sandbox import generator
from eduhub.sandbox.process import running_simulators

SUMMARY_TABLES = [
    ("raw", "sms_vendor_a__schools"),
    ("raw", "sms_vendor_a__learners"),
    ("ops", "quarantine"),
    ("quality", "validation_results"),
    ("staging", "stg_sms_vendor_a__learners"),
    ("marts", "school_learner_id_coverage"),
]


def step(message: str) -> None:
    print(f"\n==> {message}", flush=True)


def prepare_sandbox(data_dir: Path, scale: int, seed: int) -> dict:
    province = generator.generate(scale=scale, seed=seed)
    if data_dir.exists():
        shutil.rmtree(data_dir)
    return generator.write(province, data_dir)


def run_dags(env: dict[str, str], logical_date: str) -> None:
    for dag_id in ("sync_school_management", "transform_warehouse"):
        step(f"Airflow: dags test {dag_id} {logical_date}")
        runtime.run(["airflow", "dags", "test", dag_id, logical_date], env)


def table_counts(conninfo: str) -> list[tuple[str, int | None]]:
    counts = []
    with warehouse.connect(conninfo) as conn:
        for schema, table in SUMMARY_TABLES:
            exists = conn.execute("select to_regclass(%s)", (f"{schema}.{table}",)).fetchone()[0]
            n = (conn.execute(f'select count(*) from "{schema}"."{table}"').fetchone()[0]
                 if exists else None)
            counts.append((f"{schema}.{table}", n))
    return counts


def main(scale: int = 2000, seed: int = 1, logical_date: str | None = None) -> int:
    logical_date = logical_date or date.today().isoformat()
    step("Warehouse")
    url = warehouse.url()
    warehouse.ensure_schemas(url)
    print(f"    {warehouse.WarehouseUrl.parse(url).masked()}")

    step(f"Sandbox: synthetic province, {scale} learners, seed {seed}")
    manifest = prepare_sandbox(settings.SANDBOX_DIR, scale, seed)
    print(f"    {manifest['counts']} in {settings.SANDBOX_DIR}")

    env = runtime.environment(url)
    step("Airflow metadata database and dbt manifest")
    runtime.ensure_airflow_db(env)
    runtime.ensure_dbt_manifest(env)

    with running_simulators(settings.SANDBOX_DIR) as sources:
        print(f"    simulators on 127.0.0.1:{next(iter(sources.values())).port}")
        run_dags(runtime.environment(url, sources), logical_date)

    step("Done. Results")
    print(f"    warehouse: {warehouse.WarehouseUrl.parse(url).masked()}")
    print("    (full URL for psql or a BI tool: eduhub warehouse url)")
    for name, n in table_counts(url):
        print(f"    {name:<40} {'-' if n is None else n:>8} rows")
    print(f"    Airflow home: {settings.AIRFLOW_HOME}")
    return 0
