"""`eduhub`: the platform's command line."""

from __future__ import annotations

import argparse
import importlib.util
import logging
import os
import subprocess
import sys
from pathlib import Path

from eduhub import settings


def _scale(value: str) -> int:
    if value != "province":
        return int(value)
    from eduhub_sandbox.generator import PROVINCE_SCALE

    return PROVINCE_SCALE


def _without_sandbox() -> bool:
    """The sandbox (sandbox/) is a development package, not in the platform's image: say so
    rather than fail on an import."""
    if importlib.util.find_spec("eduhub_sandbox") is not None:
        return False
    print("this command needs the sandbox, a development package: "
          "pip install -r requirements-dev.txt (or make install)", file=sys.stderr)
    return True


def _warehouse(args) -> int:
    from eduhub import warehouse

    if args.action == "stop":
        warehouse.EmbeddedPostgres(settings.STATE_DIR / "warehouse").stop()
        return 0
    url = warehouse.url()
    if args.action == "grant":
        from eduhub import access

        summary = access.grant(url, communes=args.commune or None)
        print(f"roles in step: {summary.commune_roles} commune roles, "
              f"{summary.commune_units} commune units, analyst reads {summary.analyst_tables} "
              f"tables ({len(summary.analyst_column_tables)} without personal columns); "
              f"refused (no row security): {', '.join(summary.refused_tables) or 'none'}")
        return 0
    if args.action == "url":
        # the password only when asked: a terminal's scrollback or a pasted line keeps it
        print(url if args.show_password else warehouse.WarehouseUrl.parse(url).masked())
    elif args.action in ("start", "migrate"):
        from eduhub import migrations

        before, after = migrations.upgrade(url)
        print(f"{warehouse.WarehouseUrl.parse(url).masked()}: "
              + (f"migrated from {before or 'a warehouse without migrations'} to {after}"
                 if before != after
                 else f"at {after}, the newest revision"))
    return 0


def _sandbox(args) -> int:
    if _without_sandbox():
        return 2
    from eduhub_sandbox import generator, store

    if args.action == "generate":
        manifest = generator.write(
            generator.generate(scale=args.scale, seed=args.seed, day=args.day), Path(args.out))
        store.build_for_folder(Path(args.out))  # what the simulators serve from: they start at once
        print(f"{manifest['counts']} written to {args.out} "
              f"({len(manifest['defects'])} injected defects in manifest.json)")
        return 0
    if args.action == "export":
        from eduhub_sandbox.simulators import file_exports as exports

        written = exports.write_class_exports(generator.load(Path(args.data)), Path(args.out),
                                              seed=exports.manifest_seed(Path(args.data)),
                                              day=exports.manifest_day(Path(args.data)))
        print(f"{len(written)} class exports written to {args.out}")
        return 0
    from eduhub_sandbox import faults, server
    from eduhub_sandbox.process import CLIENT_ID_ENV, CLIENT_SECRET_ENV

    try:
        faults.profile(args.faults)
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 2

    client_id = os.environ.get(CLIENT_ID_ENV)
    secret = os.environ.get(CLIENT_SECRET_ENV)
    if not (client_id and secret):
        print(f"set {CLIENT_ID_ENV} and {CLIENT_SECRET_ENV}: the credentials clients must present",
              file=sys.stderr)
        return 2
    server.serve(Path(args.data), server.Credentials(client_id, secret), port=args.port,
                 faults=args.faults, seed=args.seed)
    return 0


def _tool(args, extra: list[str]) -> int:
    """Run airflow or dbt with the platform's environment (warehouse, Airflow home, no telemetry)."""
    from eduhub import runtime, warehouse

    env = runtime.environment(warehouse.url())
    if args.command == "airflow":
        from eduhub import demo

        # the metadata database and warehouse of `eduhub up` and the demo
        demo_url = warehouse.create_database(demo.DEMO_DATABASE, warehouse.url())
        services = demo.platform(demo_url, None, 8080, fresh=False)
        services.init()
        env = services.env
        cmd = ["airflow", *extra]
    else:
        cmd = runtime.dbt_args(extra) if extra else ["dbt", "--help"]
        return _masked_run(cmd, env)
    return subprocess.run([runtime.tool(cmd[0]), *cmd[1:]], env=env).returncode


def _masked_run(cmd: list[str], env: dict[str, str]) -> int:
    """Run a tool with its output masked line by line (a database error quotes the value it
    refused, which may be a personal ID)."""
    from eduhub import log_masking, runtime

    secrets = log_masking.configured_secrets(env)
    with subprocess.Popen([runtime.tool(cmd[0]), *cmd[1:]], env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, errors="replace") as proc:
        for line in proc.stdout:
            sys.stdout.write(log_masking.mask(line, secrets))
            sys.stdout.flush()
    return proc.returncode


def _demo(args) -> int:
    if _without_sandbox():
        return 2
    from eduhub import demo

    return demo.main(scale=args.scale, seed=args.seed, faults=args.faults)


def _up(args) -> int:
    if _without_sandbox():
        return 2
    from eduhub import demo

    return demo.up(port=args.port, faults=args.faults, seed=args.seed, web_port=args.web_port)


def _id(args) -> int:
    """Check a personal ID: JSON findings on stdout; 0 valid, 1 invalid, 2 unusable input."""
    import json
    from datetime import date

    from eduhub.identity import personal_id

    try:
        dob = date.fromisoformat(args.dob) if args.dob else None
    except ValueError:
        print(json.dumps({"valid": None, "error": "--dob phải có dạng YYYY-MM-DD"},
                         ensure_ascii=False))
        return 2
    result = personal_id.check(args.personal_id, dob, args.sex)
    print(json.dumps(result.as_dict(), ensure_ascii=False, indent=1))
    if {"missing", "not_digits"} & set(result.codes):
        return 2  # not an ID at all: nothing to judge
    return 0 if result.valid else 1


def _batch(args) -> int:
    """Rejected and pending batch partitions; an operator's acceptance of rejected ones."""
    import getpass

    from eduhub import validation, warehouse

    url = warehouse.url()
    if args.action == "list":
        rows = validation.batch_statuses(url, args.status or ("rejected", "landed"))
        for row in rows:
            print(f"{row['batch_id']}  {row['source']}.{row['entity']}  {row['partition']}  "
                  f"{row['status']}  {row['extracted_at']:%Y-%m-%d %H:%M}"
                  + (f"  {row['reasons']}" if row["reasons"] else "")
                  + (f"  (chấp nhận: {row['accepted_by']}: {row['accepted_reason']})"
                     if row["accepted_by"] else ""))
        print(f"{len(rows)} phần lô", file=sys.stderr)
        return 0
    source, _, entity = args.entity.partition(".")
    try:
        accepted = validation.accept_partitions(
            url, args.batch_id, source, entity, reason=args.reason,
            accepted_by=args.by or getpass.getuser(), partitions=args.partition or None)
    except ValueError as exc:
        print(exc, file=sys.stderr)
        return 2
    print(f"accepted {len(accepted)} partition(s) of batch {args.batch_id} "
          f"({source}.{entity}): {', '.join(accepted)}; the next transform reads them")
    return 0


def _reveal(args) -> int:
    """The personal ID behind a pseudonym, on stdout only; the request is recorded."""
    from eduhub import access

    try:
        personal_id = access.reveal(args.pseudonym, args.reason)
    except access.ReidentificationRefused as exc:
        print(exc, file=sys.stderr)
        return 2
    if personal_id is None:
        print("không tìm thấy người có bút danh này", file=sys.stderr)
        return 1
    print(personal_id)
    return 0


def _reference(args) -> int:
    from eduhub import crosswalk

    rows = crosswalk.write_seed()
    print(f"{crosswalk.SEED}: {rows} pre-2025 communes")
    return 0


def _report(args) -> int:
    """One report in .docx and .pdf, listed in the output folder's manifest."""
    from eduhub import reports, warehouse

    out = Path(args.out or settings.REPORTS_DIR)
    try:
        if args.kind == "danh-sach-loi":
            if args.year or args.term:
                raise reports.ReportError("danh sách lỗi lấy năm học và học kỳ của số liệu đã "
                                          "công bố: bỏ --year/--term")
            for done in reports.generate_worklists(warehouse.url(), args.unit, out):
                print(f"{done.xlsx}\n{done.pdf}")
            return 0
        done = reports.generate(warehouse.url(), args.kind, args.unit, out,
                                school_year=args.year, term=args.term)
    except reports.ReportError as exc:
        print(f"eduhub report: {exc}", file=sys.stderr)
        return 2
    print(f"{done.docx}\n{done.pdf}")
    return 0


def _web(args) -> int:
    """Serve the dashboard until stopped (the warehouse: EDUHUB_WAREHOUSE_URL or the embedded
    one; only its address is used, each person signs in with their own login)."""
    from eduhub import warehouse, web

    url = warehouse.url()
    if args.database:
        url = warehouse.WarehouseUrl.parse(url).with_dbname(args.database).url()
    print(f"eduhub web: http://{args.host}:{args.port}/ (Ctrl-C dừng)", flush=True)
    web.serve(url, host=args.host, port=args.port, idle_minutes=args.idle_minutes,
              secure_cookies=args.secure_cookies)
    return 0


def main(argv: list[str] | None = None) -> int:
    from eduhub import log_masking

    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    # the command's own log lines: no personal ID, no secret (Airflow's masker is not needed
    # here, and importing it costs seconds)
    log_masking.install(airflow=False)
    parser = argparse.ArgumentParser(prog="eduhub", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    w = sub.add_parser("warehouse", help="the PostgreSQL warehouse (embedded unless "
                       f"{settings.WAREHOUSE_URL_ENV} is set)")
    w.add_argument("action", choices=["url", "start", "stop", "migrate", "grant"],
                   help="migrate: bring the warehouse's own tables to this release (keeps "
                   "their rows); grant: create the roles and bring their privileges in line")
    w.add_argument("--show-password", action="store_true",
                   help="url: print the password too (hidden by default)")
    w.add_argument("--commune", action="append", help="grant: a commune code to give a role "
                   "(repeatable; default every commune of reference.communes)")

    s = sub.add_parser("sandbox", help="synthetic province and source simulators")
    ssub = s.add_subparsers(dest="action", required=True)
    g = ssub.add_parser("generate", help="write a synthetic province")
    g.add_argument("--scale", type=_scale, default=2000,
                   help="number of learners, or 'province' (about 600,000)")
    g.add_argument("--day", type=int, default=0,
                   help="day of the term (0 = 5 September 2026) whose state to write")
    g.add_argument("--seed", type=int, default=1)
    g.add_argument("--out", default=str(settings.SANDBOX_DIR))
    sv = ssub.add_parser("serve", help="serve a generated province over HTTP on 127.0.0.1")
    sv.add_argument("--data", default=str(settings.SANDBOX_DIR))
    sv.add_argument("--port", type=int, default=8800, help="0 picks a free port")
    sv.add_argument("--faults", default="none",
                    help="fault profile: none, flaky, hostile (docs/sources/faults.md)")
    sv.add_argument("--seed", type=int, default=0, help="seed of the injected faults")
    ex = ssub.add_parser("export", help="write the file-export schools' class lists as xlsx")
    ex.add_argument("--data", default=str(settings.SANDBOX_DIR))
    ex.add_argument("--out", required=True, help="the drop folder")

    i = sub.add_parser("id", help="personal ID (số định danh cá nhân) tools")
    isub = i.add_subparsers(dest="action", required=True)
    ic = isub.add_parser("check", help="check a 12-digit personal ID; JSON findings, exit 0 valid, "
                         "1 invalid, 2 unusable input")
    ic.add_argument("personal_id")
    ic.add_argument("--dob", help="date of birth, YYYY-MM-DD")
    ic.add_argument("--sex", choices=["nam", "nu"])
    ir = isub.add_parser("reveal", help="the personal ID behind a pseudonym (members of "
                         "eduhub_reidentifier only; your login, the time and the reason are "
                         "recorded in vault.reidentifications)")
    ir.add_argument("pseudonym")
    ir.add_argument("--reason", required=True, help="why (e.g. the school's request number)")

    b = sub.add_parser("batch", help="landed batches: those rejected or waiting for "
                       "validation, and an operator's acceptance of a rejected one")
    bsub = b.add_subparsers(dest="action", required=True)
    bl = bsub.add_parser("list", help="batch partitions rejected (with the reasons) or waiting "
                         "for their validation")
    bl.add_argument("--status", action="append",
                    choices=["landed", "rejected", "accepted", "validated"],
                    help="repeatable; default rejected and landed")
    ba = bsub.add_parser("accept", help="count a rejected batch's partitions after all "
                         "(recorded in ops.batch_acceptances with who, when and why)")
    ba.add_argument("batch_id")
    ba.add_argument("entity", help="<source>.<entity>, e.g. sms_vendor_a.learners")
    ba.add_argument("--partition", action="append",
                    help="a school or commune code (repeatable; default every rejected one)")
    ba.add_argument("--reason", required=True, help="why (e.g. the school confirmed the "
                    "withdrawals by dispatch no. …)")
    ba.add_argument("--by", help="who accepts (default: the OS user)")

    sub.add_parser("airflow", help="run the airflow CLI in the platform's environment",
                   add_help=False)
    sub.add_parser("dbt", help="run dbt on dbt_project/ against the warehouse", add_help=False)

    d = sub.add_parser("demo", help="run the main job end to end on the sandbox")
    d.add_argument("--scale", type=int, default=2000)
    d.add_argument("--seed", type=int, default=1)
    d.add_argument("--faults", default="none", help="fault profile of the simulators: "
                   "none, flaky or hostile")

    u = sub.add_parser("up", help="keep the platform running (simulators, scheduler, DAG "
                       "processor, triggerer, the UI on 127.0.0.1) on the demo's warehouse; Ctrl-C "
                       "stops it")
    u.add_argument("--port", type=int, default=8080, help="port of the Airflow UI and API")
    u.add_argument("--web-port", type=int, default=8090, help="port of the dashboard")
    u.add_argument("--seed", type=int, default=1)
    u.add_argument("--faults", default="none", help="fault profile of the simulators")

    r = sub.add_parser("reference", help="reference data the dbt seeds hold")
    rsub = r.add_subparsers(dest="action", required=True)
    rsub.add_parser("crosswalk", help="write dbt_project/seeds/commune_crosswalk.csv again from "
                    "the package vietnamadminunits (pre-2025 communes of Tây Ninh and Long An)")

    rp = sub.add_parser("report", help="a report of the Sở as .docx and .pdf, from the marts")
    rp.add_argument("kind", choices=["thong-ke", "chat-luong", "ke-hoach-kiem-tra",
                                     "tong-hop-kiem-tra", "bien-ban-kiem-tra", "danh-sach-loi"],
                    help="thong-ke: statistics; chat-luong: data-quality review; "
                    "ke-hoach-kiem-tra: the year's inspection plan (30%% sample); "
                    "tong-hop-kiem-tra: the inspection summary (visits, findings, follow-ups); "
                    "bien-ban-kiem-tra: a sampled school's visit record, pre-filled; "
                    "danh-sach-loi: a school's worklist of failing records (.xlsx and .pdf; "
                    "personal data: the provincial role only, each one recorded in ops)")
    rp.add_argument("--unit", default="province",
                    help="province (default), a commune's code or a school's code; for "
                    "danh-sach-loi a school's code, or all (every school with a failing record)")
    rp.add_argument("--year", help="school year, e.g. 2026-2027 (default: the published one)")
    rp.add_argument("--term", help="hk1, hk2 or ca_nam (default: the published one); for "
                    "thong-ke the data point, dau_nam (30 September) or cuoi_nam (31 May) "
                    "(default: the latest frozen)")
    rp.add_argument("--out", help="output folder (default: EDUHUB_REPORTS_DIR)")

    wb = sub.add_parser("web", help="the dashboard (Vietnamese pages over the published "
                        "warehouse; each person signs in with their own warehouse login)")
    wb.add_argument("--host", default="127.0.0.1", help="address to listen on (default "
                    "127.0.0.1; behind the Sở's proxy in a deployment)")
    wb.add_argument("--port", type=int, default=8090)
    wb.add_argument("--database", help="the warehouse's database (default: the warehouse URL's; "
                    "the demo's is eduhub_demo)")
    wb.add_argument("--idle-minutes", type=float, default=30,
                    help="a session ends after this long without a request (default 30)")
    wb.add_argument("--secure-cookies", action="store_true",
                    help="cookies only over HTTPS (set behind the proxy that serves HTTPS)")

    argv = sys.argv[1:] if argv is None else argv
    if argv and argv[0] in ("airflow", "dbt"):
        return _tool(argparse.Namespace(command=argv[0]), argv[1:])
    args = parser.parse_args(argv)
    handlers = {"warehouse": _warehouse, "sandbox": _sandbox, "demo": _demo, "id": _id, "up": _up,
                "batch": _batch, "reference": _reference, "report": _report, "web": _web}
    if args.command == "id" and args.action == "reveal":
        return _reveal(args)
    return handlers[args.command](args)


if __name__ == "__main__":
    sys.exit(main())
