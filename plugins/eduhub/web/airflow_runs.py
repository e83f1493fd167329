"""The last runs of each DAG, read from Airflow's REST API for the operations page.

Where Airflow answers: `EDUHUB_AIRFLOW_API_URL` (`eduhub up` sets it to its API server). Who
the dashboard is to Airflow: `EDUHUB_AIRFLOW_API_USERNAME` and `EDUHUB_AIRFLOW_API_PASSWORD`,
from the service's environment, never from a file of the repository (a deployment's Airflow
account that may read DAGs and runs, nothing more). Without a username the dashboard asks for
the token a local Airflow gives everyone (`simple_auth_manager_all_admins`, `eduhub up` only).
The links go to `EDUHUB_AIRFLOW_UI_URL` (default: the API's address), where the operator signs
in to Airflow as themselves.
"""

from __future__ import annotations

import datetime as dt
import os
import threading
from dataclasses import dataclass
from urllib.parse import quote

import requests

API_URL_ENV = "EDUHUB_AIRFLOW_API_URL"
UI_URL_ENV = "EDUHUB_AIRFLOW_UI_URL"
USERNAME_ENV = "EDUHUB_AIRFLOW_API_USERNAME"
PASSWORD_ENV = "EDUHUB_AIRFLOW_API_PASSWORD"  # noqa: S105 (the variable's name, not a secret)
RECENT_RUNS = 5  # per DAG: the last one in full, the states of the ones before


class AirflowUnavailable(Exception):
    """Airflow did not answer, or refused the dashboard's account: said on the page."""


@dataclass(frozen=True)
class DagRun:
    run_id: str
    state: str | None
    run_type: str
    run_after: dt.datetime | None
    start_date: dt.datetime | None
    end_date: dt.datetime | None

    @property
    def seconds(self) -> float | None:
        if self.start_date and self.end_date:
            return (self.end_date - self.start_date).total_seconds()
        return None


@dataclass(frozen=True)
class DagRuns:
    dag_id: str
    display_name: str
    paused: bool
    runs: tuple[DagRun, ...]  # the newest first
    ui_url: str

    def run_url(self, run: DagRun) -> str:
        return f"{self.ui_url}/runs/{quote(run.run_id, safe='')}"


def _when(value: str | None) -> dt.datetime | None:
    return dt.datetime.fromisoformat(value) if value else None


class AirflowApi:
    """A client of the public API (v2) with its own token, fetched again when it expires."""

    def __init__(self, base_url: str, ui_url: str | None = None, username: str | None = None,
                 password: str | None = None, timeout: float = 5):
        self.base_url = base_url.rstrip("/")
        self.ui_url = (ui_url or base_url).rstrip("/")
        self.username, self.password, self.timeout = username, password, timeout
        self._token: str | None = None
        self._lock = threading.Lock()
        self._http = requests.Session()

    @classmethod
    def from_environment(cls) -> AirflowApi | None:
        base = os.environ.get(API_URL_ENV)
        if not base:
            return None
        return cls(base, os.environ.get(UI_URL_ENV), os.environ.get(USERNAME_ENV),
                   os.environ.get(PASSWORD_ENV))

    def _new_token(self) -> str:
        url = f"{self.base_url}/auth/token"
        if self.username:
            answer = self._http.post(url, json={"username": self.username,
                                                "password": self.password or ""},
                                     timeout=self.timeout)
        else:
            answer = self._http.get(url, timeout=self.timeout)
        if answer.status_code not in (200, 201):
            raise AirflowUnavailable(f"Airflow từ chối tài khoản của trang tổng hợp "
                                     f"(HTTP {answer.status_code})")
        return answer.json()["access_token"]

    def get(self, path: str, **params) -> dict:
        try:
            with self._lock:
                for attempt in (1, 2):
                    if self._token is None:
                        self._token = self._new_token()
                    answer = self._http.get(f"{self.base_url}{path}", params=params,
                                            headers={"Authorization": f"Bearer {self._token}"},
                                            timeout=self.timeout)
                    if answer.status_code == 401 and attempt == 1:
                        self._token = None  # expired: one new token, then give up
                        continue
                    break
        except requests.RequestException as exc:
            raise AirflowUnavailable(f"không kết nối được Airflow ({type(exc).__name__})") from None
        if answer.status_code != 200:
            raise AirflowUnavailable(f"Airflow trả lời HTTP {answer.status_code} cho {path}")
        return answer.json()

    def last_runs(self, per_dag: int = RECENT_RUNS) -> list[DagRuns]:
        """Every DAG Airflow knows, by id, with its last runs, the newest first."""
        found = []
        for dag in self.get("/api/v2/dags", limit=100, order_by="dag_id")["dags"]:
            dag_id = dag["dag_id"]
            runs = self.get(f"/api/v2/dags/{quote(dag_id, safe='')}/dagRuns", limit=per_dag,
                            order_by="-id")["dag_runs"]
            found.append(DagRuns(
                dag_id, dag.get("dag_display_name") or dag_id, bool(dag.get("is_paused")),
                tuple(DagRun(r["dag_run_id"], r.get("state"), r.get("run_type", ""),
                             _when(r.get("run_after")), _when(r.get("start_date")),
                             _when(r.get("end_date"))) for r in runs),
                f"{self.ui_url}/dags/{quote(dag_id, safe='')}"))
        return found
