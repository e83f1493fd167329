"""Benchmark of the warehouse models (issue 6): `dbt build` after a full landing of the
province (day D), then the day-to-day build after the incremental landing of day D+1.

    .venv/bin/python benchmarks/bench_models.py --scale province
    .venv/bin/python benchmarks/bench_models.py --scale 20000      # a quick run

Landing reuses bench_ingestion's sync (the pipeline functions the DAG tasks call, 4 workers);
it is printed but is not what is measured. `dbt build` runs as the transformation DAG runs it
(publish gate: `eduhub.publish.prepare`, then dbt with the DAG's vars: marts and audit into
their `_next` schemas), as one `dbt build` command with the project's 2 threads, not through
Airflow (cosmos's one task per model adds Airflow's own overhead). The simulators are stopped
before dbt runs, so the build has the machine's memory. Works in its own database
`eduhub_bench_models`, re-created on every run. Prints figures only: no record, no credential.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from collections import defaultdict
from datetime import timedelta
from pathlib import Path

from bench_ingestion import changed_on, load, print_sync, sync_all
from bench_sandbox import common_args, generate_in_child, print_machine

from eduhub import migrations, publish, runtime, settings, transform, warehouse
from eduhub_sandbox import generator
from eduhub_sandbox.process import running_simulators
from eduhub_sandbox.simulators import file_exports as exports

DATABASE = "eduhub_bench_models"
EXPORTS_NEEDED = ("communes", "schools", "classes", "learners", "pcgd_households",
                  "pcgd_residents")
RUN_RESULTS = settings.DBT_PROJECT_DIR / "target" / "run_results.json"


def day_date(day: int) -> str:
    return (generator.TERM_START + timedelta(days=day)).isoformat()


def dbt_build(env: dict[str, str], url: str, as_of: str, target_path: Path) -> dict:
    """`dbt build` as the DAG runs it; wall seconds, and the nodes' own times by kind."""
    transform.ensure_raw_tables(url)  # the DAG's prepare_build (population answers)
    publish.prepare(url)
    dbt_vars = {"as_of_date": as_of, **publish.dbt_vars()}
    started = time.perf_counter()
    proc = subprocess.run(
        [runtime.tool("dbt"), *runtime.dbt_args(["build", "--vars", json.dumps(dbt_vars),
                                                 "--target-path", str(target_path)])[1:]],
        env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - started
    if proc.returncode != 0:
        tail = [line for line in proc.stdout.splitlines() if "ERROR" in line or "FAIL" in line]
        raise SystemExit("dbt build failed:\n" + "\n".join(tail[-20:]))
    results = json.loads((target_path / "run_results.json").read_text(encoding="utf-8"))
    by_kind: dict[str, list[float]] = defaultdict(list)
    nodes = []
    for r in results["results"]:
        kind = r["unique_id"].split(".")[0]
        by_kind[kind].append(r["execution_time"])
        nodes.append((r["execution_time"], r["unique_id"]))
    return {"seconds": seconds, "by_kind": dict(by_kind), "slowest": sorted(nodes)[-8:][::-1]}


def sizes(url: str) -> dict[str, int]:
    with warehouse.connect(url) as conn:
        return dict(conn.execute("""
            select 'learners (int_learners)', count(*) from intermediate.int_learners
            union all select 'status history versions', count(*)
            from snapshots.learner_status_history
            union all select 'quality failures', count(*) from audit_next.quality_failures
            """).fetchall())


def print_build(title: str, build: dict) -> None:
    print(f"   {title}: {build['seconds']:.1f} s wall")
    for kind, times in sorted(build["by_kind"].items()):
        print(f"     {kind:<10} {len(times):>4} nodes, {sum(times):7.1f} s summed")
    print("     slowest nodes:")
    for seconds, node in build["slowest"]:
        print(f"       {seconds:7.1f} s  {node}")
    print(flush=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    common_args(parser)
    parser.add_argument("--workers", type=int, default=4,
                        help="parallel landing tasks (max_active_tis_per_dagrun), default 4")
    parser.add_argument("--reuse", action="store_true",
                        help="reuse the generated days of an earlier run if present")
    parser.add_argument("--full-only", action="store_true",
                        help="stop after the full build (the warehouse bench_web reads)")
    args = parser.parse_args(argv)
    day, next_day = args.day, args.day + 1
    print(f"bench_models: scale {args.scale}, seed {args.seed}, days {day} and {next_day}")
    print_machine()

    work = args.work / f"models-{args.scale}-{args.seed}"
    drop_dir = work / "drops"
    dirs = {d: work / f"day{d}" for d in (day, next_day)}
    print("\n0. preparation (not measured)", flush=True)
    for d, out in dirs.items():
        if args.reuse and (out / "manifest.json").exists():
            print(f"   day {d}: reused {out}")
            continue
        seconds, _rss, counts = generate_in_child(args.scale, args.seed, d, out)
        print(f"   day {d}: generated in {seconds:.1f} s: learners {counts['learners']}, "
              f"schools {counts['schools']}, results {counts['results']}")

    url = warehouse.create_database(DATABASE, warehouse.url(), replace=True)
    migrations.upgrade(url)
    env = runtime.environment(url)
    print(f"   warehouse: {warehouse.WarehouseUrl.parse(url).masked()}")
    with warehouse.connect(url) as conn:
        server = conn.execute("select version()").fetchone()[0].split(" on ")[0]
        buffers = conn.execute("show shared_buffers").fetchone()[0]
        work_mem = conn.execute("show work_mem").fetchone()[0]
    print(f"   {server}, shared_buffers {buffers}, work_mem {work_mem}")
    # dbt's manifest once, so both builds parse the same way (partial parsing after this)
    runtime.run(runtime.dbt_args(["parse", "--quiet", "--target-path", str(work / "target")]),
                env)

    builds = {}
    runs = (("full", day),) if args.full_only else (("full", day), ("incremental", next_day))
    for label, d in runs:
        if drop_dir.exists():
            shutil.rmtree(drop_dir)
        exports.write_class_exports(load(dirs[d], EXPORTS_NEEDED), drop_dir, seed=args.seed)
        print(f"\n{'1' if label == 'full' else '2'}. {label}: landing of day {d} "
              f"(not measured here; see bench_ingestion)", flush=True)
        if label == "incremental":
            print(f"   records stamped on day {d} in the generated files: "
                  f"{changed_on(dirs[d], d)}")
        with running_simulators(dirs[d], faults="none") as sources:
            landed = sync_all(sources, url, f"bench-{label}-day{d}", drop_dir, args.workers)
        print_sync(f"{label} sync", landed)
        print(f"   dbt build, as_of_date {day_date(d)}", flush=True)
        builds[label] = dbt_build(env, url, day_date(d), work / "target")
        print_build(f"dbt build ({label}, day {d})", builds[label])
        for name, n in sizes(url).items():
            print(f"   {name}: {n}")

    print("\nFigures (load average at the end: "
          + " ".join(f"{x:.2f}" for x in os.getloadavg()) + ")")
    print("| dbt build | wall | models | tests | unit tests | seeds | snapshots |")
    print("|---|---|---|---|---|---|---|")
    for label, d in runs:
        b = builds[label]
        cells = [f"{len(b['by_kind'].get(k, []))} / {sum(b['by_kind'].get(k, [])):.1f} s"
                 for k in ("model", "test", "unit_test", "seed", "snapshot")]
        print(f"| {label}, day {d} | {b['seconds']:.1f} s | " + " | ".join(cells) + " |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
