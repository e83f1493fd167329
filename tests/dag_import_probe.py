"""Loads every DAG file with database and network access forbidden; prints what it found.

Run as a subprocess by test_dag_integrity.py, so the guard cannot leak into other tests.
"""

import json
import socket
import sys


class ImportTimeAccess(RuntimeError):
    pass


def _forbid(what):
    def guard(*args, **kwargs):
        raise ImportTimeAccess(f"{what} at DAG import time")
    return guard


socket.socket.connect = _forbid("network connection")
socket.socket.connect_ex = _forbid("network connection")
socket.create_connection = _forbid("network connection")
import psycopg  # noqa: E402
import psycopg2  # noqa: E402

psycopg.connect = _forbid("database connection")
psycopg2.connect = _forbid("database connection")

from airflow.dag_processing.dagbag import DagBag  # noqa: E402

bag = DagBag(dag_folder=sys.argv[1])
report = {"import_errors": {k: str(v) for k, v in bag.import_errors.items()}, "dags": {}}
for dag_id, dag in bag.dags.items():
    report["dags"][dag_id] = {
        "fileloc": dag.fileloc,
        "tags": sorted(dag.tags),
        "catchup": dag.catchup,
        "doc_md": bool(dag.doc_md),
        "tasks": {t.task_id: {"owner": t.owner, "retries": t.retries,
                              "execution_timeout": t.execution_timeout.total_seconds()
                              if t.execution_timeout else None} for t in dag.tasks},
    }
print(json.dumps(report))
