"""Every DAG imports cleanly, without touching a database or the network, and is well formed."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from eduhub import runtime, settings

DAG_FILES = sorted(p for p in settings.DAGS_DIR.glob("*.py") if not p.name.startswith("_"))


@pytest.fixture(scope="module")
def dagbag_report(tmp_path_factory) -> dict:
    # A warehouse URL nobody listens on: any import-time connection would fail loudly.
    env = runtime.environment("postgresql://nobody:secret@127.0.0.1:9/none",
                              airflow_home=tmp_path_factory.mktemp("airflow"))
    runtime.ensure_dbt_manifest(env)
    out = subprocess.run(
        [sys.executable, str(Path(__file__).parent / "dag_import_probe.py"), str(settings.DAGS_DIR)],
        env=env, capture_output=True, text=True, check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_no_import_errors(dagbag_report):
    assert dagbag_report["import_errors"] == {}


def test_every_dag_file_defines_a_dag(dagbag_report):
    files = {Path(d["fileloc"]).name for d in dagbag_report["dags"].values()}
    assert files == {p.name for p in DAG_FILES}


@pytest.mark.parametrize("dag_file", [p.name for p in DAG_FILES])
def test_dag_is_well_formed(dagbag_report, dag_file):
    dags = [d for d in dagbag_report["dags"].values() if Path(d["fileloc"]).name == dag_file]
    assert dags, f"{dag_file} defines no DAG"
    for dag in dags:
        assert "eduhub" in dag["tags"]
        assert dag["catchup"] is False
        assert dag["doc_md"]
        assert dag["tasks"]
        for task_id, task in dag["tasks"].items():
            assert task["owner"] == "so-gddt-data-engineering", task_id
            assert task["retries"] >= 2, task_id
            # a hung source or query ends the task: no run holds its DAG for ever
            assert 0 < (task["execution_timeout"] or 0) <= 2 * 3600, task_id
