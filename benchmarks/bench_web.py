"""Benchmark of the dashboard (issue 19): how long each page of `eduhub web` takes to answer,
per role, on a warehouse built at province scale.

    .venv/bin/python benchmarks/bench_models.py --scale province      # builds the warehouse
    .venv/bin/python benchmarks/bench_web.py [--database eduhub_bench_models] [--requests 5]

Uses the database bench_models leaves behind: its last build waits in the staging schemas
(`marts_next`, `audit_next`), so they are published here as the transform's swap does
(marked validated without the marts suite, which bench_models does not run), and the roles
brought in step (`eduhub warehouse grant`). Then `eduhub web` runs as a process, logins of the
Sở, the analyst and a commune (made for the run, dropped afterwards) sign in over HTTP, and
each page is fetched `--requests` times: the first answer (a cold session) and the median and
slowest of the rest, in milliseconds. The aim: every page under a second. Prints figures
only: no record, no credential.
"""

from __future__ import annotations

import argparse
import re
import secrets
import statistics
import subprocess
import sys
import time

import requests
from bench_sandbox import print_machine
from psycopg import sql

from eduhub import access, airflow_services, publish, runtime, warehouse

AIM_MS = 1000


def publish_if_staged(url: str) -> None:
    with warehouse.connect(url) as conn:
        staged = conn.execute("select 1 from pg_namespace where nspname = 'marts_next'"
                              ).fetchone()
    if staged:
        publish.mark_validated(url, "bench-web")
        publish.swap(url, "bench-web", keep_previous=False)
    access.grant(url)


def make_logins(url: str) -> dict[str, tuple[str, str]]:
    with warehouse.connect(url) as conn:
        commune = conn.execute(
            "select managed_by from marts.unit_directory where aggregation_level = 'truong'"
            " and managed_by <> 'SO' group by 1 order by count(*) desc, 1 limit 1").fetchone()[0]
        groups = {"tinh": (access.PROVINCIAL, access.OPERATOR), "phan_tich": (access.ANALYST,),
                  "xa": (access.commune_role(commune),)}
        logins = {}
        for name, members_of in groups.items():
            login, password = f"bench_web_{name}", secrets.token_urlsafe(16)
            conn.execute(sql.SQL("drop role if exists {}").format(sql.Identifier(login)))
            conn.execute(sql.SQL("create role {} login password {}").format(
                sql.Identifier(login), sql.Literal(password)))
            for group in members_of:
                conn.execute(sql.SQL("grant {} to {}").format(sql.Identifier(group),
                                                              sql.Identifier(login)))
            logins[name] = (login, password)
    return logins


def drop_logins(url: str, logins: dict[str, tuple[str, str]]) -> None:
    with warehouse.connect(url) as conn:
        for login, _password in logins.values():
            conn.execute(sql.SQL("drop role if exists {}").format(sql.Identifier(login)))


def pages(url: str) -> list[str]:
    with warehouse.connect(url) as conn:
        commune, school = conn.execute(
            "select managed_by, min(unit_code) from marts.unit_directory"
            " where aggregation_level = 'truong' and managed_by <> 'SO'"
            " group by 1 order by count(*) desc, 1 limit 1").fetchone()
        big = conn.execute("select school_code from audit.quality_failures"
                           " where school_code is not null"
                           " group by 1 order by count(*) desc limit 1").fetchone()[0]
    return ["/", f"/don-vi/{commune}", f"/don-vi/{school}", f"/don-vi/{big}", "/thong-ke",
            f"/thong-ke/{commune}", f"/thong-ke/{commune}/bieu-mau.xlsx", "/kiem-tra",
            "/dinh-danh", "/danh-muc", f"/don-vi/{big}/danh-sach-loi.xlsx", "/van-hanh"]


def sign_in(base: str, login: str, password: str) -> requests.Session:
    http = requests.Session()
    token = re.search(r'name="csrf" value="([^"]+)"', http.get(base + "/dang-nhap").text)[1]
    answer = http.post(base + "/dang-nhap", allow_redirects=False,
                       data={"csrf": token, "login": login, "password": password})
    if answer.status_code != 303:
        raise SystemExit(f"sign-in of {login} refused ({answer.status_code})")
    return http


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--database", default="eduhub_bench_models")
    parser.add_argument("--requests", type=int, default=5)
    args = parser.parse_args(argv)
    url = warehouse.WarehouseUrl.parse(warehouse.url()).with_dbname(args.database).url()
    print(f"bench_web: database {args.database}, {args.requests} requests per page and role")
    print_machine()
    publish_if_staged(url)
    with warehouse.connect(url) as conn:
        print("   learners (int_learners): {:,}; quality failures: {:,}".format(
            conn.execute("select count(*) from intermediate.int_learners").fetchone()[0],
            conn.execute("select count(*) from audit.quality_failures").fetchone()[0]))
    logins = make_logins(url)
    port = airflow_services.free_port()
    base = f"http://127.0.0.1:{port}"
    env = runtime.environment(url)
    server = subprocess.Popen([runtime.tool("eduhub"), "web", "--port", str(port)], env=env,
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    slow = []
    try:
        for _ in range(120):
            try:
                requests.get(base + "/dang-nhap", timeout=2)
                break
            except requests.ConnectionError:
                time.sleep(0.5)
        paths = pages(url)
        print(f"\n{'page':<42}{'role':<11}{'status':>7}{'first':>9}{'median':>9}{'max':>9}"
              "  (ms)")
        for path in paths:
            for role, (login, password) in logins.items():
                http = sign_in(base, login, password)
                times, status = [], None
                for _ in range(args.requests):
                    started = time.perf_counter()
                    answer = http.get(base + path)
                    times.append((time.perf_counter() - started) * 1000)
                    status = answer.status_code
                rest = times[1:] or times
                print(f"{path:<42}{role:<11}{status:>7}{times[0]:>9.0f}"
                      f"{statistics.median(rest):>9.0f}{max(rest):>9.0f}", flush=True)
                if max(times) > AIM_MS:
                    slow.append((path, role, max(times)))
    finally:
        server.terminate()
        server.wait(timeout=30)
        drop_logins(url, logins)
    print(f"\naim: every page under {AIM_MS} ms: "
          + ("met" if not slow else "not met: " + ", ".join(
              f"{p} ({r}) {ms:.0f} ms" for p, r, ms in slow)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
