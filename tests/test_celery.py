"""Scale-out with the CeleryExecutor: Redis as the broker, two named workers on this host, a
day's `sync_school_management` left to its schedule; both workers run mapped tasks and the
landing is exactly what the sources serve."""

from __future__ import annotations

import re
import shutil
import subprocess
import time

import pytest
from test_ingestion import SPECS, expected_views, latest, split

from eduhub import airflow_services, live_day, migrations, runtime, warehouse
from eduhub_sandbox import generator
from eduhub_sandbox.process import running_simulators

pytestmark = pytest.mark.slow
WORKERS = ("w1", "w2")


@pytest.fixture(scope="module")
def redis_url(tmp_path_factory):
    binary = shutil.which("redis-server")
    assert binary, "redis-server is missing: `make test` installs it (Debian's redis-server)"
    port = airflow_services.free_port()
    workdir = tmp_path_factory.mktemp("redis")
    proc = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                             "--appendonly", "no", "--dir", str(workdir)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 20
    while subprocess.run(["redis-cli", "-p", str(port), "ping"], capture_output=True,
                         text=True).stdout.strip() != "PONG":
        assert proc.poll() is None and time.monotonic() < deadline, "redis did not start"
        time.sleep(0.2)
    yield f"redis://127.0.0.1:{port}/0"
    proc.terminate()
    proc.wait(timeout=10)


@pytest.fixture(scope="module")
def celery_day(server_url, live_sandbox_dir, redis_url, tmp_path_factory):
    url = warehouse.create_database("eduhub_celery", server_url, replace=True)
    migrations.upgrade(url)
    home = tmp_path_factory.mktemp("airflow_celery")
    with running_simulators(live_sandbox_dir) as sources:
        env = runtime.environment(url, sources, airflow_home=home)
        env["EDUHUB_DROP_DIR"] = str(tmp_path_factory.mktemp("celery_drops"))
        config = airflow_services.ServicesConfig(
            airflow_home=home, api_port=airflow_services.free_port(), dag_scan_interval=10,
            dag_reparse_interval=120,
            executor="CeleryExecutor", broker_url=redis_url,
            metadata_url=airflow_services.metadata_url(server_url, "airflow_celery",
                                                       replace=True))
        with airflow_services.AirflowServices(config, env) as services:
            services.init()
            services.start(components=("scheduler", "dag-processor", "api-server"),
                           workers=WORKERS)
            services.wait_dags_registered(live_day.ALL_DAGS)
            services.unpause(["sync_school_management"])
            runs = services.wait_finished(["sync_school_management"])
            logs = {w: services.log_tail(f"worker-{w}", lines=100000) for w in WORKERS}
            tasks = services.task_instances(runs[0]["dag_id"], runs[0]["run_id"])
    return {"url": url, "runs": runs, "logs": logs, "tasks": tasks}


def test_the_scheduled_sync_succeeds_on_celery(celery_day):
    assert [(r["run_type"], r["state"]) for r in celery_day["runs"]] == [("scheduled", "success")]
    assert {t["state"] for t in celery_day["tasks"]} == {"success"}


def test_both_workers_ran_tasks_of_the_run(celery_day):
    """The run's tasks are spread over both workers. (Which worker takes the mapped ones is
    Celery's choice: one that started a few seconds later may get only the others.)"""
    ran = {}
    for worker, log in celery_day["logs"].items():
        ran[worker] = [line for line in log.splitlines() if "Executing workload in Celery" in line
                       and "sync_school_management" in line]
        assert ran[worker], f"worker {worker} ran no task of the run"
    assert any(re.search(r"sync_sms_vendor_[ab]_school\b", line)
               for lines in ran.values() for line in lines)


@pytest.mark.parametrize("table", ["sms_vendor_a__learners", "sms_vendor_b__learners",
                                   "sms_vendor_a__staff", "sms_vendor_b__results"])
def test_the_landing_is_exactly_what_the_sources_serve(celery_day, live_sandbox_dir, table):
    keyed, _ = split(table, expected_views(generator.load(live_sandbox_dir), profile="none")[table])
    assert table in SPECS and keyed
    assert latest(celery_day["url"], table) == keyed
