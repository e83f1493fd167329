"""The main job end to end: sandbox → Airflow sync DAG → GX → dbt via cosmos → summary."""

from __future__ import annotations

import secrets
import shutil
from datetime import date
from pathlib import Path

from eduhub import access, runtime, settings, warehouse
from eduhub.identity import person
from eduhub.sandbox import exports, generator
from eduhub.sandbox.process import running_simulators

DEMO_DATABASE = "eduhub_demo"
SUMMARY_TABLES = [
    ("raw", "sms_vendor_a__learners"),
    ("raw", "sms_vendor_b__learners"),
    ("raw", "file_exports__learners"),
    ("raw", "pcgd__households"),
    ("raw", "population__verifications"),
    ("ops", "quarantine"),
    ("ops", "schema_drift"),
    ("quality", "validation_results"),
    ("intermediate", "int_school_persons"),
    ("marts", "school_learner_id_coverage"),
    ("pii", "persons"),
    ("pii", "match_review_queue"),
]
# The daily order: landings, the models, the verification of new persons, the matching of
# those without a verified ID, the models again.
DAG_SEQUENCE = ("sync_school_management", "sync_universal_education", "transform_warehouse",
                "sync_population_verification", "match_identities", "transform_warehouse")


def step(message: str) -> None:
    print(f"\n==> {message}", flush=True)


def prepare_sandbox(data_dir: Path, drop_dir: Path, scale: int, seed: int) -> dict:
    """A fresh province, and the class exports its file-drop schools leave in the drop folder."""
    province = generator.generate(scale=scale, seed=seed)
    for folder in (data_dir, drop_dir):
        if folder.exists():
            shutil.rmtree(folder)
    manifest = generator.write(province, data_dir)
    exports.write_class_exports(province.rows, drop_dir, seed=seed)
    return manifest


def demo_pseudonym_key() -> str:
    """The demo's pseudonym key: made once, kept in the git-ignored state folder (0600). A
    deployment sets EDUHUB_PSEUDONYM_KEY or the Airflow variable eduhub_pseudonym_key."""
    path = settings.STATE_DIR / "pseudonym_key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text(secrets.token_urlsafe(32), encoding="utf-8")
    return path.read_text(encoding="utf-8").strip()


def run_dags(env: dict[str, str], logical_date: str) -> None:
    for dag_id in DAG_SEQUENCE:
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


def main(scale: int = 2000, seed: int = 1, logical_date: str | None = None,
         faults: str = "none") -> int:
    logical_date = logical_date or date.today().isoformat()
    step("Warehouse")
    # A database of its own, new each time: the demo never touches the `eduhub` database.
    url = warehouse.create_database(DEMO_DATABASE, warehouse.url(), replace=True)
    warehouse.ensure_schemas(url)
    print(f"    {warehouse.WarehouseUrl.parse(url).masked()}")

    step(f"Sandbox: synthetic province, {scale} learners, seed {seed}")
    manifest = prepare_sandbox(settings.SANDBOX_DIR, settings.DROP_DIR, scale, seed)
    print(f"    {manifest['counts']} in {settings.SANDBOX_DIR}")

    env = runtime.environment(url)
    step("Airflow metadata database and dbt manifest")
    runtime.ensure_airflow_db(env)
    runtime.ensure_dbt_manifest(env)

    with running_simulators(settings.SANDBOX_DIR, faults=faults, seed=seed) as sources:
        print(f"    simulators on 127.0.0.1:{next(iter(sources.values())).port}")
        run_env = runtime.environment(url, sources)
        run_env.setdefault(person.PSEUDONYM_KEY_ENV, demo_pseudonym_key())
        run_dags(run_env, logical_date)

    step("Roles (eduhub warehouse grant)")
    granted = access.grant(url)
    print(f"    {granted.commune_roles} commune roles; the analyst reads "
          f"{granted.analyst_tables} tables of marts, audit and quality")

    step("Done. Results")
    print(f"    warehouse: {warehouse.WarehouseUrl.parse(url).masked()}")
    print(f"    (for psql or a BI tool: the URL of `eduhub warehouse url`, database {DEMO_DATABASE})")
    for name, n in table_counts(url):
        print(f"    {name:<40} {'-' if n is None else n:>8} rows")
    print(f"    Airflow home: {settings.AIRFLOW_HOME}")
    return 0
