"""The main job end to end under the real Airflow components: sandbox → the day's DAGs on
their schedules and assets (landing, GX, dbt via cosmos, verification, matching) → summary."""

from __future__ import annotations

import os
import secrets
import shutil
from pathlib import Path

from eduhub import access, live_day, migrations, reports, runtime, settings, warehouse
from eduhub.airflow_services import AirflowServices, ServicesConfig, free_port, metadata_url
from eduhub.identity import person
from eduhub_sandbox import generator
from eduhub_sandbox.process import running_simulators
from eduhub_sandbox.simulators import file_exports as exports

DEMO_DATABASE = "eduhub_demo"
AIRFLOW_DATABASE = "airflow_demo"
# Airflow's metadata database elsewhere (never re-created by the demo)
AIRFLOW_DB_URL_ENV = "EDUHUB_AIRFLOW_DB_URL"
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


def step(message: str) -> None:
    print(f"\n==> {message}", flush=True)


def prepare_sandbox(data_dir: Path, drop_dir: Path, scale: int, seed: int) -> dict:
    """A fresh province, and the class exports its file-drop schools leave in the drop folder."""
    province = generator.generate(scale=scale, seed=seed)
    for folder in (data_dir, drop_dir):
        if folder.exists():
            shutil.rmtree(folder)
    manifest = generator.write(province, data_dir)
    exports.write_class_exports(province.rows, drop_dir, seed=seed, day=province.day)
    return manifest


def demo_pseudonym_key() -> str:
    """The demo's pseudonym key: made once, kept in the git-ignored state folder (0600). A
    deployment sets EDUHUB_PSEUDONYM_KEY or the Airflow variable eduhub_pseudonym_secret."""
    path = settings.STATE_DIR / "pseudonym_key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text(secrets.token_urlsafe(32), encoding="utf-8")
    return path.read_text(encoding="utf-8").strip()


def table_counts(conninfo: str) -> list[tuple[str, int | None]]:
    counts = []
    with warehouse.connect(conninfo) as conn:
        for schema, table in SUMMARY_TABLES:
            exists = conn.execute("select to_regclass(%s)", (f"{schema}.{table}",)).fetchone()[0]
            n = (conn.execute(f'select count(*) from "{schema}"."{table}"').fetchone()[0]
                 if exists else None)
            counts.append((f"{schema}.{table}", n))
    return counts


# the Sở's login also decides the identity review queue and the rejected batches
DEMO_LOGINS = {"demo_so": (access.PROVINCIAL, access.REVIEWER, access.OPERATOR),
               "demo_phan_tich": (access.ANALYST,)}


def demo_logins(url: str) -> Path:
    """A login of the demo per reader group (the Sở, the analyst, one commune with schools),
    each with a new random password, written to a file only its owner reads. A deployment's
    logins are made by its database administrator, one per person (docs/dashboard.md)."""
    from psycopg import sql

    with warehouse.connect(url) as conn:
        commune = conn.execute(
            "select managed_by from marts.unit_directory where aggregation_level = 'truong'"
            " and managed_by <> 'SO' group by 1 order by count(*) desc, 1 limit 1").fetchone()
        groups = dict(DEMO_LOGINS)
        if commune:
            groups[f"demo_xa_{commune[0]}"] = (access.commune_role(commune[0]),)
        lines = []
        for login, members_of in groups.items():
            password = secrets.token_urlsafe(12)
            exists = conn.execute("select 1 from pg_roles where rolname = %s", (login,)).fetchone()
            conn.execute(sql.SQL("{} role {} login password {}").format(
                sql.SQL("alter" if exists else "create"), sql.Identifier(login),
                sql.Literal(password)))
            for group in members_of:
                conn.execute(sql.SQL("grant {} to {}").format(sql.Identifier(group),
                                                              sql.Identifier(login)))
            lines.append(f"{login}\t{password}\t{', '.join(members_of)}")
    path = settings.STATE_DIR / "demo-logins.txt"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch(mode=0o600)
    os.chmod(path, 0o600)
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def platform(url: str, sources, api_port: int, fresh: bool) -> AirflowServices:
    """The demo's Airflow: its own metadata database (`airflow_demo`, new for each demo so that
    the day's slots run again; kept by `eduhub up`), in the local state folder."""
    meta = (os.environ.get(AIRFLOW_DB_URL_ENV)
            or metadata_url(url, AIRFLOW_DATABASE, replace=fresh))
    env = runtime.environment(url, sources)
    env.setdefault(person.PSEUDONYM_KEY_ENV, demo_pseudonym_key())
    config = ServicesConfig(airflow_home=settings.AIRFLOW_HOME, api_port=api_port,
                            metadata_url=meta, dag_scan_interval=15)
    return AirflowServices(config, env)


def main(scale: int = 2000, seed: int = 1, faults: str = "none") -> int:
    step("Warehouse")
    # A database of its own (the demo never touches the `eduhub` database), kept between runs
    # and brought to the newest layout as a Sở's warehouse is: each run is one more day on it.
    url = warehouse.create_database(DEMO_DATABASE, warehouse.url())
    before, after = migrations.upgrade(url)
    print(f"    {warehouse.WarehouseUrl.parse(url).masked()} (migrations: "
          f"{before or 'none'} → {after})")

    step(f"Sandbox: synthetic province, {scale} learners, seed {seed}")
    manifest = prepare_sandbox(settings.SANDBOX_DIR, settings.DROP_DIR, scale, seed)
    print(f"    {manifest['counts']} in {settings.SANDBOX_DIR}")

    with running_simulators(settings.SANDBOX_DIR, faults=faults, seed=seed) as sources:
        print(f"    simulators on 127.0.0.1:{next(iter(sources.values())).port}")
        services = platform(url, sources, free_port(), fresh=True)
        step("Airflow: metadata database, then scheduler, DAG processor, triggerer, API server")
        services.init()
        with services:
            services.start()
            print(f"    running; logs of each component in {services.log_dir}")
            step("The day, left to the schedules and assets (one line per DAG run)")
            # the demo's warehouse is kept: on a day after the first, nobody new may wait for
            # verification, and the chain ends after it (a minute of quiet says it has)
            runs = live_day.run_day(services, expected=live_day.ANY_DAY, settle=60)
        failed = [r for r in runs if r["state"] != "success"]
        if failed:
            print("\n    failed runs: " + ", ".join(f"{r['dag_id']} {r['run_id']}" for r in failed)
                  + f"\n    task logs in {settings.AIRFLOW_HOME / 'logs'}")
            return 1

    step("Roles (eduhub warehouse grant)")
    granted = access.grant(url)
    print(f"    {granted.commune_roles} commune roles; the analyst reads "
          f"{granted.analyst_tables} tables of marts, audit and quality")

    step(f"Reports the day's publish_reports wrote (.docx and .pdf) in {settings.REPORTS_DIR}")
    listed = reports.manifest(settings.REPORTS_DIR)
    latest = max((e["issued_on"] for e in listed), default=None)
    listed = [e for e in listed if e["issued_on"] == latest]
    for entry in listed:
        print(f"    {entry['docx']} (+ .pdf)")
    if not listed:
        print("    none: see the task log of publish_reports")
        return 1

    step("The dashboard (eduhub web): sign-in logins of the demo")
    logins = demo_logins(url)
    print(f"    `eduhub web --database {DEMO_DATABASE}`, then http://127.0.0.1:8090; a login per "
          f"role (passwords in {logins}, new on each run)")

    step("Done. Results")
    print(f"    warehouse: {warehouse.WarehouseUrl.parse(url).masked()}")
    print(f"    (for psql or a BI tool: `eduhub warehouse url --show-password`, database {DEMO_DATABASE})")
    for name, n in table_counts(url):
        print(f"    {name:<40} {'-' if n is None else n:>8} rows")
    print(f"    Airflow home and logs: {settings.AIRFLOW_HOME}")
    print("    The Airflow UI with this day's runs: `eduhub up` (then http://127.0.0.1:8080)")
    return 0


def up(port: int = 8080, faults: str = "none", seed: int = 1, web_port: int = 8090) -> int:
    """Keep the platform running on the demo's warehouse: simulators, every component, the UI
    on 127.0.0.1, the dashboard (`eduhub web`) beside it; every DAG unpaused. Stops cleanly on
    Ctrl-C."""
    import signal
    import subprocess
    import time

    from eduhub.web import airflow_runs

    if not (settings.SANDBOX_DIR / "manifest.json").exists():
        prepare_sandbox(settings.SANDBOX_DIR, settings.DROP_DIR, 2000, seed)
    url = warehouse.create_database(DEMO_DATABASE, warehouse.url())
    migrations.upgrade(url)
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(True))
    with running_simulators(settings.SANDBOX_DIR, faults=faults, seed=seed) as sources:
        services = platform(url, sources, port, fresh=False)
        services.init()
        with services:
            services.start()
            services.wait_dags_registered(live_day.ALL_DAGS)
            services.unpause(live_day.ALL_DAGS)
            with open(services.log_dir / "web.log", "ab") as web_log:
                dashboard = subprocess.Popen(
                    [runtime.tool("eduhub"), "web", "--database", DEMO_DATABASE, "--port",
                     str(web_port)], stdout=web_log, stderr=subprocess.STDOUT,
                    # the operations page reads the runs from this Airflow
                    env={**runtime.environment(url),
                         airflow_runs.API_URL_ENV: services.config.api_url})
            print(f"EduHub is running: Airflow UI on {services.config.api_url} "
                  f"(logs in {services.log_dir}), the dashboard on http://127.0.0.1:{web_port} "
                  f"(logins of the demo in {settings.STATE_DIR / 'demo-logins.txt'}); Ctrl-C "
                  "stops it", flush=True)
            try:
                while not stop and dashboard.poll() is None:
                    services.check_alive()
                    time.sleep(2)
            except KeyboardInterrupt:
                pass
            print("stopping…", flush=True)
            dashboard.terminate()
            dashboard.wait(timeout=30)
    return 0
