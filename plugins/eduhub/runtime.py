"""The environment Airflow, dbt and the sandbox run in, derived from `warehouse.url()`.

Everything that starts a tool (the CLI, the demo, the tests) builds its environment
here, so the warehouse, the Airflow home and the telemetry switches are set in one place.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from eduhub import settings
from eduhub.warehouse import WarehouseUrl

# A government platform sends nothing to outside hosts.
NO_TELEMETRY = {
    "AIRFLOW__COSMOS__ENABLE_TELEMETRY": "False",
    "AIRFLOW__USAGE_DATA_COLLECTION__ENABLED": "False",
    "SCARF_ANALYTICS": "false",
    "DO_NOT_TRACK": "1",
    "DBT_SEND_ANONYMOUS_USAGE_STATS": "False",
    "GX_ANALYTICS_ENABLED": "False",
    "DBT_USE_COLORS": "False",
    # nor keeps what it should not: dbt's own log file (dbt_project/logs) would hold database
    # errors quoting values, unmasked; dbt's console output goes to the masked task logs
    "DBT_LOG_LEVEL_FILE": "none",
}


LOGGING_CONFIG_CLASS = "eduhub.log_masking.LOGGING_CONFIG"


@dataclass(frozen=True)
class SourceEndpoint:
    """Where a (simulated or real) source answers, and its credentials."""

    host: str
    port: int
    scheme: str
    base_path: str
    login: str
    password: str
    read_timeout: float | None = None

    def airflow_connection(self) -> str:
        extra = {"base_path": self.base_path}
        if self.read_timeout:
            extra["read_timeout"] = self.read_timeout
        return json.dumps({"conn_type": "http", "host": self.host, "port": self.port,
                           "schema": self.scheme, "login": self.login,
                           "password": self.password, "extra": extra})


def warehouse_env(warehouse_url: str) -> dict[str, str]:
    w = WarehouseUrl.parse(warehouse_url)
    return {
        settings.WAREHOUSE_URL_ENV: warehouse_url,
        f"AIRFLOW_CONN_{settings.WAREHOUSE_CONN_ID.upper()}": json.dumps({
            "conn_type": "postgres", "host": w.host, "port": w.port, "login": w.user,
            "password": w.password, "schema": w.dbname}),
        "EDUHUB_PGHOST": w.host, "EDUHUB_PGPORT": str(w.port), "EDUHUB_PGUSER": w.user,
        "EDUHUB_PGPASSWORD": w.password, "EDUHUB_PGDATABASE": w.dbname,
    }


def airflow_env(airflow_home: Path | None = None) -> dict[str, str]:
    home = Path(airflow_home or settings.AIRFLOW_HOME)
    return {
        "AIRFLOW_HOME": str(home),
        "AIRFLOW__CORE__DAGS_FOLDER": str(settings.DAGS_DIR),
        "AIRFLOW__CORE__PLUGINS_FOLDER": str(settings.PLUGINS_DIR),
        "AIRFLOW__CORE__LOAD_EXAMPLES": "False",
        "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": f"sqlite:///{home / 'airflow.db'}",
        "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(home / "logs"),
        "AIRFLOW__CORE__DAGBAG_IMPORT_TIMEOUT": "120",
        "EDUHUB_DROP_DIR": str(settings.DROP_DIR),
        # personal IDs and the platform's secrets masked in every log (eduhub.log_masking)
        "AIRFLOW__LOGGING__LOGGING_CONFIG_CLASS": LOGGING_CONFIG_CLASS,
        **NO_TELEMETRY,
    }


def environment(warehouse_url: str, sources: dict[str, SourceEndpoint] | None = None,
                airflow_home: Path | None = None) -> dict[str, str]:
    """The full environment for Airflow, dbt and the package, on top of os.environ."""
    env = {**os.environ, **NO_TELEMETRY, **warehouse_env(warehouse_url), **airflow_env(airflow_home)}
    for conn_id, endpoint in (sources or {}).items():
        env[f"AIRFLOW_CONN_{conn_id.upper()}"] = endpoint.airflow_connection()
    # Tools of this virtual environment first (airflow, dbt), whoever started us.
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


def tool(name: str) -> str:
    found = Path(sys.executable).parent / name
    return str(found) if found.exists() else (shutil.which(name) or name)


def run(args: list[str], env: dict[str, str], **kwargs) -> subprocess.CompletedProcess:
    """Run a tool of the platform; its output goes to ours (tasks log, never secrets)."""
    return subprocess.run([tool(args[0]), *args[1:]], env=env, check=True, **kwargs)


def ensure_airflow_db(env: dict[str, str]) -> None:
    home = Path(env["AIRFLOW_HOME"])
    home.mkdir(parents=True, exist_ok=True)
    marker = home / ".migrated"
    if not marker.exists():
        from eduhub.airflow_services import INIT_COMMANDS

        print(f"eduhub: preparing Airflow's metadata database in {home}", flush=True)
        for command in INIT_COMMANDS:
            run(["airflow", *command], env, stdout=subprocess.DEVNULL)
        marker.touch()


def dbt_args(command: list[str]) -> list[str]:
    project = str(settings.DBT_PROJECT_DIR)
    return ["dbt", *command, "--project-dir", project, "--profiles-dir", project]


def ensure_dbt_manifest(env: dict[str, str]) -> Path:
    """Parse the dbt project (a broken project fails here, before any DAG runs it)."""
    run(dbt_args(["parse", "--quiet"]), env)
    # dbt's DBT_TARGET_PATH, relative to the project when not absolute
    return settings.DBT_PROJECT_DIR / env.get("DBT_TARGET_PATH", "target") / "manifest.json"
