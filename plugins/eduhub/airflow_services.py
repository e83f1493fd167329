"""Airflow as the Sở runs it: scheduler, DAG processor, triggerer and API server (and Celery
workers for scale-out) as separate processes, over a PostgreSQL metadata database.

`eduhub up`, `make demo` and the live tests start the platform through `AirflowServices`, so
each runs the same commands a deployment runs (`COMPONENT_COMMANDS`; docker/compose.yml runs
them too, and tests/test_deployment.py checks that they agree).
"""

from __future__ import annotations

import contextlib
import os
import re
import secrets
import signal
import subprocess
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

from eduhub import runtime, settings, warehouse
from eduhub.warehouse import free_port  # noqa: F401 - the components' ports too

# The components of a deployment and the command each runs (after `airflow`).
COMPONENT_COMMANDS: dict[str, list[str]] = {
    "scheduler": ["scheduler"],
    "dag-processor": ["dag-processor"],
    "triggerer": ["triggerer"],
    "api-server": ["api-server"],
}
CELERY_WORKER_COMMAND = ["celery", "worker"]
# What prepares the metadata database before the components start (the compose `init`).
INIT_COMMANDS: list[list[str]] = [
    ["db", "migrate"],
    # one request stream at a time to the population service (its rate limit)
    ["pools", "set", settings.POPULATION_POOL, "1",
     "Xác thực CSDLQG về dân cư: giới hạn tốc độ của dịch vụ"],
]
# The platform's DAGs (tag `eduhub`), unpaused when the platform starts.
EDUHUB_TAG = "eduhub"
FINISHED = ("success", "failed")


def _secret_file(path: Path, make) -> str:
    """A secret kept in the git-ignored state folder (0600), made once."""
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.touch(mode=0o600)
        path.write_text(make(), encoding="utf-8")
    return path.read_text(encoding="utf-8").strip()


def metadata_url(server_url: str, dbname: str = "airflow", *, replace: bool = False) -> str:
    """Airflow's metadata database, as Airflow's URL (psycopg2): a database of its own on the
    warehouse's server, created if missing (new with `replace`)."""
    url = warehouse.create_database(dbname, server_url, replace=replace)
    return warehouse.WarehouseUrl.parse(url).url(driver="psycopg2")


@dataclass
class ServicesConfig:
    """How to run the components: the metadata database, the executor, the API server's port."""

    airflow_home: Path
    metadata_url: str
    api_port: int = 8080
    executor: str = "LocalExecutor"
    broker_url: str | None = None
    parallelism: int = 8
    # seconds between the DAG processor's scans of the DAG folder (short in tests)
    dag_scan_interval: int = 30
    # seconds before an unchanged DAG file is parsed again (default: the scan interval). The
    # DAG files are static and a changed one is parsed at once (Airflow queues files by their
    # modification time), so parsing them again only costs CPU: the 9 files take about 3 s of
    # it, every 10 s in the tests' scan interval
    dag_reparse_interval: int | None = None
    extra_env: dict[str, str] = field(default_factory=dict)

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.api_port}"

    def environment(self, base: dict[str, str]) -> dict[str, str]:
        home = self.airflow_home
        state = home / "secrets"
        env = {
            **base,
            "AIRFLOW_HOME": str(home),
            "AIRFLOW__LOGGING__BASE_LOG_FOLDER": str(home / "logs"),
            "AIRFLOW__DATABASE__SQL_ALCHEMY_CONN": self.metadata_url,
            "AIRFLOW__CORE__EXECUTOR": self.executor,
            "AIRFLOW__CORE__PARALLELISM": str(self.parallelism),
            "AIRFLOW__CORE__EXECUTION_API_SERVER_URL": f"{self.api_url}/execution/",
            "AIRFLOW__API__BASE_URL": self.api_url,
            "AIRFLOW__API__HOST": "127.0.0.1",
            "AIRFLOW__API__PORT": str(self.api_port),
            "AIRFLOW__API__WORKERS": "1",
            # every component must sign and accept the same tokens
            "AIRFLOW__API_AUTH__JWT_SECRET": base.get("AIRFLOW__API_AUTH__JWT_SECRET")
            or _secret_file(state / "jwt_secret", lambda: secrets.token_urlsafe(48)),
            "AIRFLOW__CORE__FERNET_KEY": base.get("AIRFLOW__CORE__FERNET_KEY")
            or _secret_file(state / "fernet_key", _fernet_key),
            "AIRFLOW__DAG_PROCESSOR__REFRESH_INTERVAL": str(self.dag_scan_interval),
            "AIRFLOW__DAG_PROCESSOR__MIN_FILE_PROCESS_INTERVAL": str(
                self.dag_reparse_interval or self.dag_scan_interval),
            "AIRFLOW__DAG_PROCESSOR__FILE_PARSING_SORT_MODE": "modified_time",
            "AIRFLOW__SCHEDULER__ENABLE_HEALTH_CHECK": "True",
            # the UI on a local machine: everyone is an admin, nobody logs in (never in a
            # deployment: docs/deployment.md)
            "AIRFLOW__CORE__SIMPLE_AUTH_MANAGER_ALL_ADMINS": "True",
            "AIRFLOW__CORE__DAGS_ARE_PAUSED_AT_CREATION": "True",
            **self.extra_env,
        }
        if self.broker_url:
            env["AIRFLOW__CELERY__BROKER_URL"] = self.broker_url
            sql = self.metadata_url.replace("postgresql+psycopg2://", "db+postgresql://")
            env["AIRFLOW__CELERY__RESULT_BACKEND"] = sql
        return env


def _fernet_key() -> str:
    from cryptography.fernet import Fernet

    return Fernet.generate_key().decode()


class AirflowServices:
    """Starts and stops the components; asks the metadata database what they did."""

    def __init__(self, config: ServicesConfig, env: dict[str, str]):
        self.config = config
        self.env = config.environment(env)
        self.log_dir = config.airflow_home / "logs" / "components"
        self.processes: dict[str, subprocess.Popen] = {}
        self.started_at = None

    # -- lifecycle ---------------------------------------------------------------------------

    def init(self) -> None:
        """Migrate the metadata database and create the pool (idempotent: `init` of compose)."""
        self.config.airflow_home.mkdir(parents=True, exist_ok=True)
        for command in INIT_COMMANDS:
            runtime.run(["airflow", *command], self.env, stdout=subprocess.DEVNULL)

    def start(self, components: Iterable[str] = tuple(COMPONENT_COMMANDS),
              workers: Iterable[str] = ()) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        with self.metadata() as conn:
            self.started_at = conn.execute("select now()").fetchone()[0]
        for name in components:
            self._spawn(name, COMPONENT_COMMANDS[name])
        for worker in workers:
            # two workers on one host need their own names and log-server ports
            env = {"AIRFLOW__LOGGING__WORKER_LOG_SERVER_PORT": str(free_port())}
            self._spawn(f"worker-{worker}", [*CELERY_WORKER_COMMAND, "-H", f"{worker}@%h",
                                               "-c", "2"], extra_env=env)
        self.wait_healthy()

    def _spawn(self, name: str, command: list[str], extra_env: dict | None = None) -> None:
        log = open(self.log_dir / f"{name}.log", "ab")  # noqa: SIM115 - closed with the process
        self.processes[name] = subprocess.Popen(
            [runtime.tool("airflow"), *command], env={**self.env, **(extra_env or {})},
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
            start_new_session=True)
        log.close()

    def wait_healthy(self, timeout: float = 180) -> None:
        """Until the API server answers and reports the scheduler, DAG processor and triggerer
        healthy; a component that exits names itself and the tail of its log."""
        import requests

        deadline = time.monotonic() + timeout
        wanted = {"scheduler", "dag_processor", "triggerer"} & {
            n.replace("-", "_") for n in self.processes}
        while True:
            self.check_alive()
            with contextlib.suppress(requests.RequestException, ValueError):
                health = requests.get(f"{self.config.api_url}/api/v2/monitor/health",
                                      timeout=5).json()
                if all((health.get(n) or {}).get("status") == "healthy" for n in wanted):
                    return
            if time.monotonic() > deadline:
                raise TimeoutError(f"Airflow did not become healthy in {timeout:.0f} s; logs in "
                                   f"{self.log_dir}")
            time.sleep(1)

    def check_alive(self) -> None:
        for name, proc in self.processes.items():
            if proc.poll() is not None:
                raise RuntimeError(f"the Airflow {name} exited with code {proc.returncode}:\n"
                                   f"{self.log_tail(name)}")

    def log_tail(self, name: str, lines: int = 40) -> str:
        path = self.log_dir / f"{name}.log"
        if not path.exists():
            return ""
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])

    def stop(self, timeout: float = 30) -> None:
        """SIGTERM to each component's process group, then SIGKILL what is left, task
        processes included (the executors start them in sessions of their own)."""
        import psutil

        family = []
        for proc in self.processes.values():
            with contextlib.suppress(psutil.Error):
                family += psutil.Process(proc.pid).children(recursive=True)
            with contextlib.suppress(ProcessLookupError):
                os.killpg(proc.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for proc in self.processes.values():
            try:
                proc.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
        for child in family:
            with contextlib.suppress(psutil.Error):
                child.kill()
        self.processes.clear()

    def __enter__(self) -> AirflowServices:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    # -- operating ---------------------------------------------------------------------------

    def airflow(self, *args: str, **kwargs) -> subprocess.CompletedProcess:
        return runtime.run(["airflow", *args], self.env, stdout=subprocess.DEVNULL, **kwargs)

    def metadata(self) -> psycopg.Connection:
        url = warehouse.WarehouseUrl.parse(self.config.metadata_url)
        return psycopg.connect(url.url(), autocommit=True)

    def wait_dags_registered(self, dag_ids: Iterable[str], timeout: float = 240) -> None:
        wanted = set(dag_ids)
        deadline = time.monotonic() + timeout
        while True:
            self.check_alive()
            with self.metadata() as conn:
                found = {r[0] for r in conn.execute(
                    "select dag_id from dag where not is_stale and dag_id = any(%s)",
                    (list(wanted),))}
                # only what this start's DAG processor found (a reused database keeps old rows)
                errors = conn.execute("select filename, stacktrace from import_error"
                                      " where timestamp >= %s", (self.started_at,)).fetchall()
            if errors:
                raise RuntimeError("DAG import errors:\n" + "\n".join(
                    f"{f}: {t[-1500:]}" for f, t in errors))
            if found == wanted:
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"DAGs never registered: {sorted(wanted - found)}")
            time.sleep(2)

    def unpause(self, dag_ids: Iterable[str]) -> None:
        self._set_paused("unpause", dag_ids)

    def pause(self, dag_ids: Iterable[str]) -> None:
        self._set_paused("pause", dag_ids)

    def _set_paused(self, command: str, dag_ids: Iterable[str]) -> None:
        # one CLI process for all of them: each costs seconds of CPU to start
        pattern = "^(" + "|".join(re.escape(d) for d in dag_ids) + ")$"
        self.airflow("dags", command, "--treat-dag-id-as-regex", "--yes", pattern)

    def trigger(self, dag_id: str, logical_date: str | None = None) -> None:
        """A manual run of `dag_id`: now through the REST API, as the UI's trigger button asks
        for it (the CLI is a process that takes 6 s of CPU to start); for a past day (a run
        standing for `logical_date`) through the CLI, whose run the live day is built on."""
        if logical_date:
            self.airflow("dags", "trigger", dag_id, "--logical-date", logical_date)
            return
        import requests

        api = self.config.api_url
        # the local components' API gives everyone an admin's token (SIMPLE_AUTH_MANAGER_ALL_ADMINS)
        token = requests.get(f"{api}/auth/token", timeout=30).json()["access_token"]
        answer = requests.post(f"{api}/api/v2/dags/{dag_id}/dagRuns", json={"logical_date": None},
                               headers={"Authorization": f"Bearer {token}"}, timeout=30)
        if answer.status_code not in (200, 201):
            raise RuntimeError(f"Airflow refused to trigger {dag_id}: HTTP {answer.status_code} "
                               f"{answer.text[:300]}")

    def dag_runs(self, dag_ids: Iterable[str] | None = None) -> list[dict]:
        """Every DAG run, oldest first: id, run id, type, state, logical date, run_after."""
        with self.metadata() as conn:
            cur = conn.execute(
                "select dag_id, run_id, run_type, state, logical_date, run_after, start_date,"
                " end_date from dag_run where %s::text[] is null or dag_id = any(%s)"
                " order by coalesce(start_date, run_after), id",
                (list(dag_ids) if dag_ids else None, list(dag_ids) if dag_ids else None))
            names = [d.name for d in cur.description]
            return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]

    def task_instances(self, dag_id: str, run_id: str) -> list[dict]:
        with self.metadata() as conn:
            cur = conn.execute(
                "select task_id, map_index, state, start_date, end_date, hostname, try_number"
                " from task_instance where dag_id = %s and run_id = %s order by start_date",
                (dag_id, run_id))
            names = [d.name for d in cur.description]
            return [dict(zip(names, row, strict=True)) for row in cur.fetchall()]

    def wait_finished(self, dag_ids: Iterable[str], count: int = 1,
                      timeout: float = 900) -> list[dict]:
        """Until each DAG has `count` finished runs; returns them."""
        dag_ids = list(dag_ids)
        deadline = time.monotonic() + timeout
        while True:
            self.check_alive()
            runs = [r for r in self.dag_runs(dag_ids) if r["state"] in FINISHED]
            if all(sum(r["dag_id"] == d for r in runs) >= count for d in dag_ids):
                return runs
            if time.monotonic() > deadline:
                raise TimeoutError(f"runs of {dag_ids} did not finish")
            time.sleep(1)

    def wait_quiet(self, dag_ids: Iterable[str], expected: dict[str, int] | None = None,
                   timeout: float = 1800, settle: float = 20, progress=None) -> list[dict]:
        """Until every run of these DAGs has finished, at least `expected` runs of each have,
        and nothing new has started for `settle` seconds; returns the runs."""
        dag_ids = list(dag_ids)
        expected = expected or {}
        deadline = time.monotonic() + timeout
        quiet_since = None
        seen = None
        while True:
            self.check_alive()
            runs = self.dag_runs(dag_ids)
            state = [(r["dag_id"], r["run_id"], r["state"]) for r in runs]
            if progress and state != seen:
                progress(runs)
            finished = all(r["state"] in FINISHED for r in runs)
            # a failed run may stop the chain short of the expected runs: that ends the day too
            done = finished and (any(r["state"] == "failed" for r in runs) or all(
                sum(r["dag_id"] == d and r["state"] in FINISHED for r in runs) >= n
                for d, n in expected.items()))
            if state != seen or not done:
                quiet_since = time.monotonic() if done else None
                seen = state
            elif quiet_since is not None and time.monotonic() - quiet_since >= settle:
                return runs
            if time.monotonic() > deadline:
                raise TimeoutError("the day did not finish: " + ", ".join(
                    f"{d}:{s}" for d, _r, s in state))
            time.sleep(2)
