"""Benchmark of the sandbox (issue 3): generating the province, and paging through every
learner of both school management simulators with the platform's own clients.

The simulators serve the province from its store (`simulators.sqlite`, written by
`eduhub sandbox generate` after the files; issue 20): their start and peak memory are those
of a server reading a page's records per request. The store is also rebuilt once on its own,
as a server does when the files changed, to time that.

    .venv/bin/python benchmarks/bench_sandbox.py --scale province
    .venv/bin/python benchmarks/bench_sandbox.py --scale 20000      # a quick run

Prints figures only (counts, seconds, MiB, records per second): no record, no credential.
Not a test: nothing is asserted but that every learner was served once.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

from eduhub import settings
from eduhub.sources.sms_vendor_a import VendorAClient
from eduhub.sources.sms_vendor_b import VendorBClient
from eduhub_sandbox import generator, store
from eduhub_sandbox.process import running_simulators

VENDOR_A_CONN = settings.SMS_VENDOR_A_CONN_ID
VENDOR_B_CONN = getattr(settings, "SMS_VENDOR_B_CONN_ID", "sms_vendor_b")
DEFAULT_WORK = settings.STATE_DIR / "bench"


def scale_arg(value: str) -> int:
    return generator.PROVINCE_SCALE if value == "province" else int(value)


def common_args(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--scale", type=scale_arg, default=20_000,
                        help="learners, or 'province' (about 600,000); default 20000")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--day", type=int, default=100,
                        help="day of the term to generate (default 100: term-1 results are "
                             "being entered, so every entity has rows)")
    parser.add_argument("--work", type=Path, default=DEFAULT_WORK,
                        help=f"scratch folder for the generated data (default {DEFAULT_WORK})")


def machine() -> dict[str, str]:
    cpu = "?"
    with open("/proc/cpuinfo", encoding="utf-8") as f:
        for line in f:
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    with open("/proc/meminfo", encoding="utf-8") as f:
        mem_kib = int(next(line for line in f if line.startswith("MemTotal")).split()[1])
    return {"date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
            "cpu": f"{cpu}, {os.cpu_count()} cores", "memory": f"{mem_kib / 2**20:.1f} GiB",
            "python": platform.python_version(), "load": " ".join(f"{x:.2f}" for x in os.getloadavg())}


def print_machine() -> None:
    for name, value in machine().items():
        print(f"  {name:<8} {value}")


def run_child(command: list[str], what: str) -> tuple[float, float]:
    """Run a child process to its end: wall seconds and its peak RSS in MiB."""
    started = time.perf_counter()
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL)
    # wait4 gives the rusage of this very child (ru_maxrss in KiB on Linux)
    _pid, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - started
    code = os.waitstatus_to_exitcode(status)
    if code:
        raise SystemExit(f"{what} failed (exit code {code})")
    return seconds, usage.ru_maxrss / 1024


def generate_in_child(scale: int, seed: int, day: int, out: Path) -> tuple[float, float, dict]:
    """Run `eduhub sandbox generate` (files and store) as a child process: wall seconds, its
    peak RSS in MiB, and the record counts it wrote (from the manifest)."""
    if out.exists():
        shutil.rmtree(out)
    seconds, rss = run_child(
        [sys.executable, "-m", "eduhub.cli", "sandbox", "generate", "--scale", str(scale),
         "--seed", str(seed), "--day", str(day), "--out", str(out)], "eduhub sandbox generate")
    counts = json.loads((out / "manifest.json").read_text(encoding="utf-8"))["counts"]
    return seconds, rss, counts


def rebuild_store_in_child(out: Path) -> tuple[float, float]:
    """Build the store of `out` again from its files, in a child process, into a scratch file
    (the one the simulators use stays): wall seconds and peak RSS in MiB."""
    scratch = out.parent / f"{out.name}-rebuilt.sqlite"
    try:
        return run_child([sys.executable, "-c",
                          "import sys; from pathlib import Path; from eduhub_sandbox import store; "
                          "store.build_for_folder(Path(sys.argv[1]), Path(sys.argv[2]))",
                          str(out), str(scratch)], "building the store")
    finally:
        scratch.unlink(missing_ok=True)


def base_url(endpoint) -> str:
    return f"{endpoint.scheme}://{endpoint.host}:{endpoint.port}{endpoint.base_path}"


def retry_options(endpoint) -> dict:
    # as the hooks build them: the connection's read timeout, else 30 s
    return {"timeout": (5.0, float(getattr(endpoint, "read_timeout", None) or 30))}


def vendor_client(vendor: str, sources: dict):
    """A client as an Airflow task gets it from its connection (hooks.Sms*Hook.get_client)."""
    if vendor == "sms_vendor_a":
        e = sources[VENDOR_A_CONN]
        return VendorAClient(base_url(e), e.login, e.password, **retry_options(e))
    e = sources[VENDOR_B_CONN]
    return VendorBClient(base_url(e), e.password, **retry_options(e))


def school_codes(vendor: str, client) -> list[str]:
    key = "school_code" if vendor == "sms_vendor_a" else "ma_truong"
    return sorted(str(s[key]) for s in client.schools_listing().records)


def child_pids() -> list[int]:
    me = str(os.getpid())
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if stat.rsplit(")", 1)[1].split()[1] == me:
                found.append(int(entry.name))
    return found


def peak_rss_mib(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return None


def page_all_learners(vendor: str, sources: dict) -> tuple[int, float, int, int]:
    """One client, one school after the other: (records, seconds, schools, pages)."""
    client = vendor_client(vendor, sources)
    calls = Counter()
    request = client.request

    def counting(method, endpoint, page="-", **kwargs):
        calls[method] += 1
        return request(method, endpoint, page, **kwargs)

    client.request = counting
    started = time.perf_counter()
    codes = school_codes(vendor, client)
    records = 0
    for code in codes:
        listing = client.school_listing("learners", code)
        records += len(listing.records)
    return records, time.perf_counter() - started, len(codes), calls["GET"]


def expected_learners(data_dir: Path) -> Counter:
    """Learners per vendor in the generated files (the ground truth for the paging check)."""
    def rows(name):
        with (data_dir / f"{name}.jsonl").open(encoding="utf-8") as f:
            for line in f:
                yield json.loads(line)

    vendor_of = {s["school_code"]: s["vendor"] for s in rows("schools")}
    return Counter(vendor_of.get(x["school_code"]) for x in rows("learners"))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    common_args(parser)
    args = parser.parse_args(argv)
    out = args.work / f"sandbox-{args.scale}-{args.seed}-day{args.day}"
    print(f"bench_sandbox: scale {args.scale}, seed {args.seed}, day {args.day}")
    print_machine()

    print("\n1. eduhub sandbox generate (child process; the files, then the store)", flush=True)
    gen_seconds, gen_rss, counts = generate_in_child(args.scale, args.seed, args.day, out)
    size = sum(p.stat().st_size for p in out.glob("*.jsonl")) / 2**20
    store_size = (out / store.STORE_NAME).stat().st_size / 2**20
    print(f"   {gen_seconds:.1f} s, peak RSS {gen_rss:.0f} MiB, {size:.0f} MiB of JSON Lines, "
          f"store {store_size:.0f} MiB")
    print("   " + ", ".join(f"{k} {v}" for k, v in counts.items()))
    build_seconds, build_rss = rebuild_store_in_child(out)
    print(f"   the store alone, built again from the files: {build_seconds:.1f} s, "
          f"peak RSS {build_rss:.0f} MiB", flush=True)
    expected = expected_learners(out)

    print("\n2. simulators (faults none) and paging through every learner", flush=True)
    started = time.perf_counter()
    rows = []
    with running_simulators(out, faults="none") as sources:
        startup = time.perf_counter() - started
        servers = child_pids()
        start_rss = max((peak_rss_mib(p) or 0 for p in servers), default=0)
        print(f"   simulators ready in {startup:.1f} s (open of the store), peak RSS "
              f"{start_rss:.0f} MiB")
        for vendor in ("sms_vendor_a", "sms_vendor_b"):
            records, seconds, schools, pages = page_all_learners(vendor, sources)
            rows.append((vendor, schools, records, pages, seconds))
            check = "ok" if records == expected[vendor] else f"EXPECTED {expected[vendor]}"
            print(f"   {vendor}: {records} learners of {schools} schools, {pages} GET requests, "
                  f"{seconds:.1f} s, {records / seconds:,.0f} records/s ({check})", flush=True)
        server_rss = max((peak_rss_mib(p) or 0 for p in servers), default=0)

    print("\n3. simulators (faults hostile: the persistent faults are drawn at the start)", flush=True)
    started = time.perf_counter()
    with running_simulators(out, faults="hostile", seed=args.seed):
        hostile_startup = time.perf_counter() - started
        hostile_rss = max((peak_rss_mib(p) or 0 for p in child_pids()), default=0)
    print(f"   ready in {hostile_startup:.1f} s, peak RSS {hostile_rss:.0f} MiB")

    print("\nFigures (load average at the end: " + " ".join(f"{x:.2f}" for x in os.getloadavg()) + ")")
    print("| step | figure |\n|---|---|")
    print(f"| generate {args.scale} learners (day {args.day}), files and store | {gen_seconds:.1f} s, "
          f"peak RSS {gen_rss:.0f} MiB, {size:.0f} MiB of JSON Lines, store {store_size:.0f} MiB |")
    print(f"| build the store alone from the files | {build_seconds:.1f} s, peak RSS {build_rss:.0f} MiB |")
    print(f"| start the simulators (faults none) | {startup:.1f} s; peak RSS {start_rss:.0f} MiB "
          f"when ready, {server_rss:.0f} MiB after paging every learner |")
    print(f"| start the simulators (faults hostile) | {hostile_startup:.1f} s, peak RSS "
          f"{hostile_rss:.0f} MiB |")
    for vendor, schools, records, pages, seconds in rows:
        print(f"| page all learners, {vendor} ({schools} schools, {pages} pages) | "
              f"{records} records in {seconds:.1f} s = {records / seconds:,.0f} records/s |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
