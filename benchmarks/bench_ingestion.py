"""Benchmark of ingestion (issue 4): full and day-to-day incremental sync of every source,
and the landing throughput set against plain COPY (of the records' fields, and of the rows
landing writes) and pandas `to_sql` on the same records.

    .venv/bin/python benchmarks/bench_ingestion.py --scale province
    .venv/bin/python benchmarks/bench_ingestion.py --scale 20000      # a quick run

The pipeline functions the DAG tasks call are called directly, on a thread pool of 4
workers (what mapped tasks with max_active_tis_per_dagrun=4 run at once): Airflow's own
overhead (scheduling, task start-up) is not measured. Works in its own database
`eduhub_bench` on the warehouse of `eduhub.warehouse.url()`, re-created on every run.
Prints figures only: no record, no credential.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
from bench_sandbox import (
    base_url,
    common_args,
    generate_in_child,
    print_machine,
    retry_options,
    vendor_client,
)
from psycopg import sql

from eduhub import landing, migrations, settings, validation, warehouse
from eduhub.landing import EntitySpec
from eduhub.pipelines import file_exports as file_exports_pipeline
from eduhub.pipelines import pcgd as pcgd_pipeline
from eduhub.pipelines import school_management
from eduhub.pipelines import school_registry as school_registry_pipeline
from eduhub.sources import sms_vendor_a
from eduhub.sources.pcgd import PcgdClient
from eduhub.sources.school_registry import SchoolRegistryClient
from eduhub_sandbox import generator
from eduhub_sandbox.process import running_simulators
from eduhub_sandbox.simulators import file_exports as exports
from eduhub_sandbox.simulators.sms_vendor_a import VendorA

DATABASE = "eduhub_bench"
PCGD_CONN = getattr(settings, "PCGD_CONN_ID", "pcgd")
SOURCES = ("sms_vendor_a", "sms_vendor_b", "pcgd", "file_exports")
# the columns a vendor A learner is served with, in the contract's order
LEARNER_COLUMNS = ("learner_id", "national_id", "full_name", "birth_date", "gender", "ethnicity",
                   "school_code", "class_name", "grade", "enrollment_status", "updated_at")
BENCH_LEARNERS = EntitySpec("bench", "vendor_a_learners", sms_vendor_a.LEARNERS.key_fields,
                            sms_vendor_a.LEARNERS.expected_fields)


def load(data_dir: Path, entities: tuple[str, ...]) -> dict[str, list[dict]]:
    """Only the files needed (the whole province would hold the registry in memory too)."""
    data = {}
    for name in entities:
        with (data_dir / f"{name}.jsonl").open(encoding="utf-8") as f:
            data[name] = [json.loads(line) for line in f]
    return data


def changed_on(data_dir: Path, day: int) -> int:
    """Records of the generated files stamped on `day`: what a day's sync should pick up."""
    stamp = (generator.TERM_START + timedelta(days=day)).isoformat()
    n = 0
    for name in ("schools", "classes", "learners", "staff", "facilities", "results", "health",
                 "transcripts", "pcgd_households", "pcgd_residents"):
        with (data_dir / f"{name}.jsonl").open(encoding="utf-8") as f:
            n += sum(1 for line in f if f'"updated_at": "{stamp}' in line)
    return n


# --- 1 and 2: full and incremental sync -------------------------------------------------------

def pcgd_client(sources: dict) -> PcgdClient:
    e = sources[PCGD_CONN]
    return PcgdClient(base_url(e), e.password, **retry_options(e))


def registry_client(sources: dict) -> SchoolRegistryClient:
    e = sources[settings.SCHOOL_REGISTRY_CONN_ID]
    return SchoolRegistryClient(base_url(e), e.password, **retry_options(e))


def run_mapped(fn: Callable, items: list, workers: int) -> None:
    with ThreadPoolExecutor(workers) as pool:
        for _ in pool.map(fn, items):
            pass  # re-raises the first failure


def sync_all(sources: dict, url: str, batch_id: str, drop_dir: Path, workers: int) -> dict:
    """Every source one after the other, each as its DAG would run it; seconds per source."""
    seconds = {}
    for source in school_management.SOURCES:
        vendor = source
        started = time.perf_counter()
        codes = school_management.land_schools(vendor, vendor_client(vendor, sources), url,
                                               batch_id)
        # one client per mapped task, as each task builds its own from the connection
        run_mapped(lambda code, v=vendor: school_management.land_school(
            v, vendor_client(v, sources), url, batch_id, code), codes, workers)
        seconds[source] = time.perf_counter() - started

    started = time.perf_counter()
    communes = pcgd_pipeline.commune_codes(pcgd_client(sources))
    run_mapped(lambda code: pcgd_pipeline.land_commune(
        pcgd_client(sources), url, batch_id, code), communes, workers)
    seconds["pcgd"] = time.perf_counter() - started

    # the registry the file drops are checked against (they wait for a validated one)
    started = time.perf_counter()
    school_registry_pipeline.land_units(registry_client(sources), url, batch_id)
    mark_validated(url, batch_id)
    seconds["school_registry"] = time.perf_counter() - started

    started = time.perf_counter()
    summary = file_exports_pipeline.land_file_drops(drop_dir, url, batch_id)  # one task in the DAG
    seconds["file_exports"] = time.perf_counter() - started
    files = (len(summary.landed), len(summary.skipped), len(summary.rejected))
    mark_validated(url, batch_id)
    return {"seconds": seconds, "files": files, "rows": batch_rows(url, batch_id)}


def mark_validated(url: str, batch_id: str) -> None:
    """What a passing `validate_batch` leaves (the partitions validated, their watermarks
    moved), untimed: this benchmark times the landing, not Great Expectations, and the next
    day's sync starts from those watermarks."""
    with warehouse.connect(url) as conn:
        landed = conn.execute("select distinct source, entity from ops.batches "
                              "where batch_id = %s", (batch_id,)).fetchall()
    for source, entity in landed:
        validation.mark_partitions(url, batch_id, source, entity, {}, suite="benchmark")


def batch_rows(url: str, batch_id: str) -> dict[str, tuple[int, int, int, int]]:
    with warehouse.connect(url) as conn:
        rows = conn.execute("""
            select source, sum(received), sum(landed), sum(quarantined), sum(deleted)
            from ops.batches where batch_id = %s group by source""", (batch_id,)).fetchall()
    return {r[0]: tuple(int(v) for v in r[1:]) for r in rows}


def print_sync(title: str, result: dict) -> None:
    print(f"   {title}")
    total_s = 0.0
    for source in SOURCES:
        received, landed, quarantined, deleted = result["rows"].get(source, (0, 0, 0, 0))
        s = result["seconds"][source]
        total_s += s
        print(f"     {source:<14} {s:7.1f} s  received {received:>9}  landed {landed:>9}  "
              f"quarantined {quarantined}  deleted {deleted}")
    landed, skipped, rejected = result["files"]
    print(f"     {'total':<14} {total_s:7.1f} s  (files: {landed} landed, {skipped} skipped, "
          f"{rejected} rejected)", flush=True)


# --- 2b: what staging reads --------------------------------------------------------------------

# The rule before 2026-12-03, for comparison: one latest version per key, whatever partition
# landed it (the staging macro then; the macro now takes the latest of each partition's latest
# versions that are not deletions); validated batches only, as now.
SINGLE_LATEST_VERSION = """
    select * from (
        select landed.*, row_number() over (partition by landed.natural_key
                                            order by landed.record_id desc) as version_rank
        from {t} as landed where exists (
            select 1 from ops.batches as checked
            where checked.batch_id = landed.batch_id and checked.source = {source}
              and checked.entity = {entity} and checked.partition = landed.partition
              and checked.status in ('validated', 'accepted'))) as versions
    where version_rank = 1 and not is_deleted"""


def current_version_reads(url: str, repeat: int = 2) -> tuple[float, float, int]:
    """Seconds to read the current version of every record of the school management tables
    (as the staging views do, payload included), by the platform's rule and by the single
    latest version per key; and the records read (the same by both, on the sandbox)."""
    totals = [0.0, 0.0]
    records = 0
    with warehouse.connect(url) as conn:
        tables = [r[0] for r in conn.execute(
            "select relname from pg_class where relnamespace = 'raw'::regnamespace "
            "and relkind = 'r' and relname like 'sms\\_%' order by 1")]
        for table in tables:
            source, entity = table.split("__", 1)
            rules = (landing.current_versions_query(table),
                     sql.SQL(SINGLE_LATEST_VERSION).format(t=sql.Identifier("raw", table),
                                                           source=sql.Literal(source),
                                                           entity=sql.Literal(entity)))
            counts = []
            for i, rule in enumerate(rules):
                query = sql.SQL("select count(*), sum(length(payload::text)) from ({}) as c"
                                ).format(rule)
                best = None
                for _ in range(repeat):
                    started = time.perf_counter()
                    counts.append(conn.execute(query).fetchone())
                    seconds = time.perf_counter() - started
                    best = seconds if best is None else min(best, seconds)
                totals[i] += best
            if len(set(counts)) != 1:
                raise SystemExit(f"{table}: the two rules read different records")
            records += counts[0][0]
    print(f"   current version of every school management record ({records} in "
          f"{len(tables)} tables): {totals[0]:.2f} s; by a single latest version per key "
          f"{totals[1]:.2f} s", flush=True)
    return totals[0], totals[1], records


# --- 3: landing throughput against COPY and to_sql --------------------------------------------

def as_parsed(rows: list[dict]) -> dict[str, list[dict]]:
    """The records of each school as a sync task holds them: parsed from that school's own
    pages, so each school's records lie together in memory. (Walking the generated province
    school by school instead jumps across 344,578 scattered records: every way of loading
    them, plain COPY included, then runs two to three times slower on cache misses.)"""
    by_school: dict[str, list[dict]] = {}
    for r in rows:
        by_school.setdefault(r["school_code"], []).append(r)
    return {code: orjson.loads(orjson.dumps(part)) for code, part in by_school.items()}


def backend_cpu(pid: int) -> float | None:
    """CPU seconds the server process `pid` has used (Linux, server on this machine)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def timed(fn: Callable[[], object], repeat: int, before: Callable[[], None],
          server_pid: int | None = None) -> list[tuple[float, float, float | None]]:
    """(wall, this process's CPU, the server backend's CPU) seconds of each run."""
    runs = []
    for _ in range(repeat):
        before()
        server = backend_cpu(server_pid) if server_pid else None
        cpu, started = time.process_time(), time.perf_counter()
        fn()
        wall, cpu = time.perf_counter() - started, time.process_time() - cpu
        if server is not None:
            server = backend_cpu(server_pid) - server
        runs.append((wall, cpu, server))
    return runs


def throughput(url: str, rows: list[dict], to_sql_rows: int, repeat: int) -> list[tuple]:  # noqa: C901 - one measured step after another
    """(layout, method, rows, runs in seconds) for each way of loading the same learners, in
    two layouts: all rows at once, and one call per school (as the sync lands them)."""
    import pandas as pd
    from sqlalchemy import create_engine

    at = datetime.now(UTC)
    migrations.upgrade(url)
    conn = warehouse.connect(url)  # autocommit: each COPY, each landing, commits
    pid = conn.execute("select pg_backend_pid()").fetchone()[0]
    conn.execute("create schema if not exists bench")
    flat_ddl = ("create table bench.copy_flat (" + ", ".join(
        f"{c} {'bigint' if c == 'grade' else 'text'}" for c in LEARNER_COLUMNS) + ")")
    by_school = as_parsed(rows)
    rows = [r for part in by_school.values() for r in part]
    layouts = {"all rows at once": {"all": rows},
               f"one call per school ({len(by_school)})": by_school}
    sample = rows[:to_sql_rows] if to_sql_rows else rows
    engine = create_engine(warehouse.WarehouseUrl.parse(url).url("psycopg"))
    with engine.begin() as c:
        c.exec_driver_sql("select 1")  # connect once before timing
    results = []

    def measure(layout: str, method: str, n: int, fn: Callable[[], object],
                before: Callable[[], None], on_conn: bool = True) -> None:
        runs = timed(fn, repeat, before, pid if on_conn else None)
        results.append((layout, method, n, runs))
        print(f"   {layout}, {method}: {_fmt(n, runs)}", flush=True)

    def recreate(ddl: str, table: str) -> Callable[[], None]:
        def before() -> None:
            conn.execute(f"drop table if exists {table}")
            conn.execute(ddl)
        return before

    def drop_landed() -> None:
        conn.execute(f"drop table if exists raw.{BENCH_LEARNERS.table}")
        for table in ("batches", "source_counts", "watermarks", "schema_drift"):
            conn.execute(f"delete from ops.{table} where source = 'bench'")
        conn.execute("delete from ops.partition_versions where table_name = %s",
                     (BENCH_LEARNERS.table,))
        conn.execute("vacuum ops.partition_versions")  # as on a fresh day

    def server_share(table: str, payload: str | None):
        data = bytearray()
        with conn.cursor().copy(f"copy bench.{table} to stdout") as out:
            for chunk in out:
                data += chunk
        ddl = (flat_ddl.replace("copy_flat", "copy_server") if payload is None else
               f"create table bench.copy_server (natural_key text, payload {payload}, "
               "payload_hash text, batch_id text, partition text, extracted_at timestamptz)")

        def copy_prepared() -> None:
            with conn.cursor().copy("copy bench.copy_server from stdin") as copy:
                for start in range(0, len(data), 1 << 20):
                    copy.write(data[start:start + (1 << 20)])
        return copy_prepared, recreate(ddl, "bench.copy_server")

    for layout, parts in layouts.items():
        def copy_flat(parts=parts) -> None:
            for part in parts.values():
                with conn.cursor().copy(f"copy bench.copy_flat ({', '.join(LEARNER_COLUMNS)}) "
                                        "from stdin") as copy:
                    for r in part:
                        copy.write_row(tuple(r.get(c) for c in LEARNER_COLUMNS))

        measure(layout, METHOD_COPY, len(rows), copy_flat,
                recreate(flat_ddl, "bench.copy_flat"))

        # The rows landing writes, in the raw table's columns (payload JSONB), serialised and
        # hashed as landing does, COPYed into a bare table: what is left between this and
        # land_partition is the comparison with the latest versions, their upkeep, the raw
        # table's two indexes and the bookkeeping.
        landing_ddl = ("create table bench.copy_payload (natural_key text, payload jsonb, "
                       "payload_hash text, batch_id text, partition text, "
                       "extracted_at timestamptz)")

        def copy_payload(parts=parts) -> None:
            for code, part in parts.items():
                with conn.cursor().copy("copy bench.copy_payload from stdin") as copy:
                    for r in part:
                        text = landing.canonical_json(r)
                        copy.write_row((BENCH_LEARNERS.natural_key(r), text,
                                        landing.payload_hash(text), "bench", code, at))

        measure(layout, METHOD_COPY_PAYLOAD, len(rows), copy_payload,
                recreate(landing_ddl, "bench.copy_payload"))

        def serialise_only(parts=parts) -> None:
            # what landing computes per record before the database sees it: key, canonical
            # JSON, hash (no database: a floor under any landing that hashes payloads)
            for part in parts.values():
                for r in part:
                    BENCH_LEARNERS.natural_key(r)
                    landing.payload_hash(landing.canonical_json_bytes(r))

        if len(parts) == 1:
            measure(layout, METHOD_SERIALISE, len(rows), serialise_only, lambda: None)
            # the server's share of the two COPYs: their data prepared beforehand (what the
            # plain COPYs above sent), the landed rows with the payload as JSONB, json or text
            for table, kind, method in (
                    ("copy_flat", None, METHOD_SERVER_FLAT),
                    ("copy_payload", "jsonb", METHOD_SERVER_JSONB),
                    ("copy_payload", "json", METHOD_SERVER_JSON),
                    ("copy_payload", "text", METHOD_SERVER_TEXT)):
                measure(layout, method, len(rows), *server_share(table, kind))

        def land(batch: str, parts=parts) -> Callable[[], None]:
            def run() -> None:
                for code, part in parts.items():
                    landing.land_partition(conn, BENCH_LEARNERS, part, batch_id=batch,
                                           partition=code, extracted_at=at, full=True,
                                           reported_total=len(part))
            return run

        measure(layout, METHOD_LAND_FIRST, len(rows), land("bench-1"), drop_landed)
        # the table now holds every row: a daily full read of unchanged data lands nothing
        measure(layout, METHOD_LAND_AGAIN, len(rows), land("bench-2"), lambda: None)

        sample_parts: dict[str, list[dict]] = {}
        for r in sample:
            sample_parts.setdefault(r["school_code"] if len(parts) > 1 else "all", []).append(r)

        def to_sql(sample_parts=sample_parts) -> None:
            # the naive way: records -> DataFrame -> to_sql with pandas' defaults
            for part in sample_parts.values():
                frame = pd.DataFrame.from_records(part, columns=list(LEARNER_COLUMNS))
                frame.to_sql("to_sql_flat", engine, schema="bench", if_exists="append",
                             index=False)

        def drop_to_sql() -> None:
            conn.execute("drop table if exists bench.to_sql_flat")

        measure(layout, METHOD_TO_SQL, len(sample), to_sql, drop_to_sql, on_conn=False)
    engine.dispose()
    conn.close()
    return results


METHOD_COPY = "plain COPY of the records, one column per field"
METHOD_COPY_PAYLOAD = "plain COPY of the landed rows (raw's columns, JSONB payload)"
METHOD_SERIALISE = "Python alone: natural key, canonical JSON and hash of each record"
METHOD_SERVER_FLAT = "the server's share: COPY data of the records' fields, prepared beforehand"
METHOD_SERVER_JSONB = "the server's share: COPY data of the landed rows, payload JSONB"
METHOD_SERVER_JSON = "the server's share: the same, payload json"
METHOD_SERVER_TEXT = "the server's share: the same, payload text"
METHOD_LAND_FIRST = "land_partition, first landing"
METHOD_LAND_AGAIN = "land_partition again, unchanged rows (adds nothing)"
METHOD_TO_SQL = "pandas DataFrame.to_sql, defaults (the naive way)"


def _best(runs: list[tuple[float, float, float | None]]) -> tuple[float, float, float | None]:
    return min(runs, key=lambda run: run[0])


def _cpu(run: tuple[float, float, float | None]) -> str:
    _wall, cpu, server = run
    return f"{cpu:.2f} s" + (f" + {server:.2f} s" if server is not None else "")


def _fmt(n: int, runs: list[tuple[float, float, float | None]]) -> str:
    best = _best(runs)
    return (f"{n} rows, best {best[0]:.2f} s of {', '.join(f'{r[0]:.2f}' for r in runs)} = "
            f"{n / best[0]:,.0f} rows/s; CPU of the best (this process + server) {_cpu(best)}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    common_args(parser)
    parser.add_argument("--workers", type=int, default=4,
                        help="parallel tasks (max_active_tis_per_dagrun), default 4")
    parser.add_argument("--repeat", type=int, default=3,
                        help="runs of each throughput measurement; the best counts (default 3)")
    parser.add_argument("--to-sql-rows", type=int, default=0,
                        help="measure to_sql on the first N rows only (default 0: all rows)")
    parser.add_argument("--skip-sync", action="store_true", help="only the throughput part")
    parser.add_argument("--reuse", action="store_true",
                        help="reuse the generated days of an earlier run in --work if present")
    args = parser.parse_args(argv)
    day, next_day = args.day, args.day + 1
    print(f"bench_ingestion: scale {args.scale}, seed {args.seed}, days {day} and {next_day}, "
          f"{args.workers} workers")
    print_machine()

    work = args.work / f"ingestion-{args.scale}-{args.seed}"
    drop_dir = work / "drops"
    dirs = {d: work / f"day{d}" for d in (day, next_day)}
    print("\n0. preparation (not measured as sync)", flush=True)
    for d, out in dirs.items():
        manifest = out / "manifest.json"
        if args.reuse and manifest.exists():
            # the generator is deterministic: the same scale, seed and day give the same files
            counts = json.loads(manifest.read_text(encoding="utf-8"))["counts"]
            print(f"   day {d}: reused {out}")
        else:
            seconds, _rss, counts = generate_in_child(args.scale, args.seed, d, out)
            print(f"   day {d}: generated in {seconds:.1f} s: learners {counts['learners']}, "
                  f"results {counts['results']}, pcgd_households {counts['pcgd_households']}")
    exports_needed = ("communes", "schools", "classes", "learners", "pcgd_households",
                      "pcgd_residents")
    if not args.skip_sync:
        if drop_dir.exists():
            shutil.rmtree(drop_dir)
        started = time.perf_counter()
        written = exports.write_class_exports(load(dirs[day], exports_needed), drop_dir,
                                              seed=args.seed)
        print(f"   day {day}: {len(written)} xlsx class exports written in "
              f"{time.perf_counter() - started:.1f} s", flush=True)

    url = warehouse.create_database(DATABASE, warehouse.url(), replace=True)
    migrations.upgrade(url)
    print(f"   warehouse: {warehouse.WarehouseUrl.parse(url).masked()}")
    with warehouse.connect(url) as conn:
        server = conn.execute("select version()").fetchone()[0].split(" on ")[0]
        buffers = conn.execute("show shared_buffers").fetchone()[0]
    print(f"   {server}, shared_buffers {buffers}")

    full = incremental = reads = None
    if not args.skip_sync:
        print(f"\n1. full sync of every source, day {day}", flush=True)
        with running_simulators(dirs[day], faults="none") as sources:
            full = sync_all(sources, url, f"bench-full-day{day}", drop_dir, args.workers)
        print_sync("full sync", full)

        print(f"\n2. incremental sync, day {next_day}", flush=True)
        written = exports.write_class_exports(load(dirs[next_day], exports_needed), drop_dir,
                                              seed=args.seed)
        print(f"   records stamped on day {next_day} in the generated files: "
              f"{changed_on(dirs[next_day], next_day)}")
        with running_simulators(dirs[next_day], faults="none") as sources:
            incremental = sync_all(sources, url, f"bench-incr-day{next_day}", drop_dir,
                                   args.workers)
        print_sync("incremental sync", incremental)
        reads = current_version_reads(url)

    print("\n3. landing throughput on the same rows: vendor A learners as served", flush=True)
    data = load(dirs[day], ("schools", "learners"))
    vendor_a_schools = {s["school_code"] for s in data["schools"] if s["vendor"] == "sms_vendor_a"}
    rows = [VendorA.learner_view(x) for x in data["learners"] if x["school_code"] in vendor_a_schools]
    del data
    loads = throughput(url, rows, args.to_sql_rows, args.repeat)

    print("\nFigures (load average at the end: " + " ".join(f"{x:.2f}" for x in os.getloadavg()) + ")")
    if full and incremental:
        print(f"| source | full sync (day {day}) | rows landed | incremental (day {next_day}) "
              "| rows landed |")
        print("|---|---|---|---|---|")
        for source in (*SOURCES, "total"):
            cells = []
            for result in (full, incremental):
                if source == "total":
                    s = sum(result["seconds"].values())
                    n = sum(v[1] for v in result["rows"].values())
                else:
                    s = result["seconds"][source]
                    n = result["rows"].get(source, (0, 0, 0, 0))[1]
                cells += [f"{s:.1f} s", str(n)]
            print(f"| {source} | " + " | ".join(cells) + " |")
        print(f"\nWhat staging reads: the current version of {reads[2]} school management "
              f"records in {reads[0]:.2f} s; by a single latest version per key "
              f"{reads[1]:.2f} s\n")
    print("| layout | load of vendor A learners | rows | best time | CPU: this process + server "
          "| rows/s | against COPY of the landed rows | against COPY of the fields "
          "| against to_sql |")
    print("|---|---|---|---|---|---|---|---|---|")
    for layout in dict.fromkeys(r[0] for r in loads):
        rates = {method: n / _best(runs)[0] for lay, method, n, runs in loads if lay == layout}
        for lay, method, n, runs in loads:
            if lay == layout:
                best = _best(runs)
                print(f"| {layout} | {method} | {n} | {best[0]:.2f} s | {_cpu(best)} "
                      f"| {rates[method]:,.0f} "
                      f"| {rates[method] / rates[METHOD_COPY_PAYLOAD]:.2f} "
                      f"| {rates[method] / rates[METHOD_COPY]:.2f} "
                      f"| {rates[method] / rates[METHOD_TO_SQL]:.1f}x |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
