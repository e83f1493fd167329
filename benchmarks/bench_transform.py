"""Benchmark of the transformation under the real Airflow components (issue 20, item 3): the
scheduled `transform_warehouse` of the sandbox against one plain `dbt build` of the same
project on the same warehouse, in the same run; aim: at most 1.5 times the plain build.

    .venv/bin/python benchmarks/bench_transform.py                 # the sandbox of `make demo`
    .venv/bin/python benchmarks/bench_transform.py --scale 2000 --repeat 3

The day's DAGs run once on their schedules and assets, as `make demo` runs them (scheduler,
DAG processor, triggerer and API server, LocalExecutor), to land and transform the sandbox.
Then the daily DAGs but the transformation are paused, and `transform_warehouse` is triggered
by hand `--repeat` times, through the REST API as the UI's trigger button does: the wall time
from the trigger to the run's end (what an operator waits), the run's own time in Airflow's
metadata (start to end) and each task's. Then the same build as one `dbt build` command (the
publish gate's staging schemas, the DAG's vars and run day, no unit tests), twice: the first
parses the project, the second finds dbt's partial parse. Works in its own databases
(`eduhub_bench_transform`, `airflow_bench_transform`), re-created on every run.
Prints figures only.
"""

from __future__ import annotations

import argparse
import json
import secrets
import statistics
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

from bench_sandbox import print_machine

from eduhub import demo, live_day, migrations, publish, runtime, transform, warehouse
from eduhub.airflow_services import AirflowServices, ServicesConfig, free_port, metadata_url
from eduhub.identity import person
from eduhub_sandbox.process import running_simulators

DATABASE = "eduhub_bench_transform"
AIRFLOW_DATABASE = "airflow_bench_transform"
AIM = 1.5


def scheduled_transforms(services: AirflowServices, repeat: int) -> list[dict]:
    """Trigger `transform_warehouse` `repeat` times, one after the other; each run's figures."""
    figures = []
    for _ in range(repeat):
        done = len(services.dag_runs(["transform_warehouse"]))
        started = time.perf_counter()
        services.trigger("transform_warehouse")
        runs = services.wait_quiet(["transform_warehouse"],
                                   expected={"transform_warehouse": done + 1}, settle=0)
        waited = time.perf_counter() - started
        run = runs[-1]
        if run["state"] != "success":
            sys.exit(f"transform_warehouse {run['run_id']}: {run['state']}")
        tasks = services.task_instances(run["dag_id"], run["run_id"])
        figures.append({
            "waited": waited,
            "run": (run["end_date"] - run["start_date"]).total_seconds(),
            "tasks": {t["task_id"]: (t["end_date"] - t["start_date"]).total_seconds()
                      for t in tasks},
        })
    return figures


def plain_builds(url: str, env: dict[str, str], day: str, times: int = 2) -> list[float]:
    """The DAG's build as one `dbt build` (marts into the publish gate's staging schemas)."""
    env = {**env, transform.AS_OF_DATE_ENV: day}
    took = []
    for _ in range(times):
        publish.prepare(url)
        started = time.perf_counter()
        runtime.run(runtime.dbt_args(["build", "--quiet", "--threads", str(transform.DBT_THREADS),
                                      *transform.SCHEDULED_BUILD_FLAGS,
                                      "--vars", json.dumps(publish.dbt_vars())]), env)
        took.append(time.perf_counter() - started)
    return took


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=int, default=2000, help="learners (default 2000)")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=2,
                        help="scheduled transforms to time after the day (default 2)")
    args = parser.parse_args()
    print("machine")
    print_machine()

    server = warehouse.url()
    url = warehouse.create_database(DATABASE, server, replace=True)
    migrations.upgrade(url)
    work = Path(tempfile.mkdtemp(prefix="eduhub-bench-transform-"))
    demo.prepare_sandbox(work / "data", work / "drops", args.scale, args.seed)
    (work / "airflow").mkdir()
    with running_simulators(work / "data") as sources:
        env = runtime.environment(url, sources, airflow_home=work / "airflow")
        env[person.PSEUDONYM_KEY_ENV] = secrets.token_urlsafe(32)
        env["EDUHUB_DROP_DIR"] = str(work / "drops")
        env["EDUHUB_REPORTS_DIR"] = str(work / "reports")
        config = ServicesConfig(airflow_home=work / "airflow", api_port=free_port(),
                                metadata_url=metadata_url(server, AIRFLOW_DATABASE, replace=True),
                                dag_scan_interval=10)
        services = AirflowServices(config, env)
        services.init()
        with services:
            services.start()
            started = time.perf_counter()
            runs = live_day.run_day(services, expected=live_day.A_DAY, write=lambda _: None)
            day = time.perf_counter() - started
            if any(r["state"] != "success" for r in runs):
                sys.exit("the day failed: " + ", ".join(
                    f"{r['dag_id']}:{r['state']}" for r in runs if r["state"] != "success"))
            services.pause([d for d in live_day.DAILY_DAGS if d != "transform_warehouse"])
            scheduled = scheduled_transforms(services, args.repeat)
    plain = plain_builds(url, env, date.today().isoformat())

    print(f"\nsandbox: {args.scale} learners, seed {args.seed}")
    print(f"the day under the scheduler ({len(runs)} DAG runs): {day:.0f} s")
    print("\ntransform_warehouse under the scheduler, triggered by hand:")
    for i, f in enumerate(scheduled, start=1):
        print(f"  run {i}: {f['waited']:.1f} s from the trigger to the end, {f['run']:.1f} s "
              f"from the run's start")
    tasks = scheduled[-1]["tasks"]
    print("  its tasks (last run): " + ", ".join(f"{t} {s:.1f} s" for t, s in tasks.items()))
    print(f"\none `dbt build` of the same project: {plain[0]:.1f} s (parsing), "
          f"{plain[1]:.1f} s (partial parse)")
    waited = statistics.median(f["waited"] for f in scheduled)
    ratio = waited / plain[1]
    print(f"\nratio (median scheduled / plain build with partial parse): {ratio:.2f} "
          f"(aim ≤ {AIM}: {'met' if ratio <= AIM else 'not met'})")
    # the same from the run's start: without the scheduler's pick-up of the new run
    from_start = statistics.median(f["run"] for f in scheduled) / plain[1]
    print(f"the same from the run's start: {from_start:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
