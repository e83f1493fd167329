"""Benchmark of identity matching (issue 5): precision, recall, review-queue size and time.

    .venv/bin/python benchmarks/bench_identity.py --scale province
    .venv/bin/python benchmarks/bench_identity.py --scale 20000        # a quick run

Generates the province (seed 1, day 100; re-used from --work when already there), then fills a
database of its own, `eduhub_bench_identity`, with the two relations the matching reads,
as tables built straight from the generated files: `intermediate.int_identity_verifications`
(every learner and staff record, with its ID validity and the answer the population service
gives for it, computed from registry.jsonl as the simulator does) and
`staging.stg_pcgd__residents`. Ingestion and dbt are measured by their own benchmarks; this
one times `person.build` (COPY out, Splink training and prediction on DuckDB, decisions,
persons, COPY back) on a first run, a second run with nothing changed, and a run after 1% of
the records needing a match changed. Prints figures only: no record, no personal ID.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
import time
from pathlib import Path

from bench_sandbox import common_args, generate_in_child, print_machine

from eduhub import migrations, warehouse
from eduhub.identity import person, personal_id

DATABASE = "eduhub_bench_identity"
TYPOS = ("name_typo", "name_accents_dropped", "wrong_birth_date")

DDL = """
create schema if not exists intermediate;
create schema if not exists staging;
drop table if exists intermediate.int_identity_verifications;
create table intermediate.int_identity_verifications (
    person_record_key text primary key, person_role text, school_code text, commune_code text,
    personal_id text, full_name text, date_of_birth date, sex text, id_valid boolean,
    verification_status text, needs_matching boolean);
drop table if exists staging.stg_pcgd__residents;
create table staging.stg_pcgd__residents (
    resident_id text primary key, household_id text, commune_code text, personal_id text,
    full_name text, date_of_birth date, sex text, education_status text);
"""


def read(path: Path):
    with path.open(encoding="utf-8") as f:
        for line in f:
            yield json.loads(line)


def verification(record: dict, registry: dict) -> str:
    """What the population simulator answers (sandbox/server.py Population.verify)."""
    pid = record["personal_id"]
    if not (pid and len(pid) == 12 and pid.isdigit() and record["full_name"]
            and record["date_of_birth"] and record["sex"]):
        return "not_verifiable"
    truth = registry.get(pid)
    if truth is None:
        return "not_found"
    same = all(truth[f] == record[f] for f in ("full_name", "date_of_birth", "sex"))
    return "match" if same else "mismatch"


def fill(url: str, data: Path) -> dict:
    registry = {p["personal_id"]: p for p in read(data / "registry.jsonl")}
    communes = {s["school_code"]: s["commune_code"] for s in read(data / "schools.jsonl")}
    learners = {}
    counts = {"learner": 0, "staff": 0, "needs_matching": 0, "residents": 0}
    with warehouse.connect(url) as conn:
        conn.execute(DDL)
        with conn.cursor().copy("copy intermediate.int_identity_verifications from stdin") as copy:
            for role, name in (("learner", "learners"), ("staff", "staff")):
                for x in read(data / f"{name}.jsonl"):
                    key = f"bench:{role}:{x['school_code']}|{x['moet_id']}"
                    status = verification(x, registry)
                    valid = personal_id.check(x["personal_id"], x["date_of_birth"], x["sex"]).valid
                    needs = not (valid and status == "match")
                    copy.write_row((key, role, x["school_code"], communes.get(x["school_code"]),
                                    x["personal_id"], x["full_name"], x["date_of_birth"],
                                    x["sex"], valid, status, needs))
                    counts[role] += 1
                    counts["needs_matching"] += needs
                    if role == "learner":
                        learners[key] = (x["learner_key"], x["person_key"])
        with conn.cursor().copy("copy staging.stg_pcgd__residents from stdin") as copy:
            for r in read(data / "pcgd_residents.jsonl"):
                copy.write_row((r["resident_id"], r["household_id"], r["commune_code"],
                                r["personal_id"], r["full_name"], r["date_of_birth"], r["sex"],
                                r["education_status"]))
                counts["residents"] += 1
        conn.execute("analyze")
    del registry
    return {"counts": counts, "learners": learners}


def evaluate(url: str, learners: dict, manifest: dict) -> dict:
    with warehouse.connect(url) as conn:
        links = conn.execute("select person_record_key, resident_id, link_method "
                             "from pii.person_records").fetchall()
        queued = {r[0] for r in conn.execute(
            "select distinct person_record_key from pii.match_review_queue "
            "where status = 'pending'")}
        queue_rows = conn.execute("select count(*) from pii.match_review_queue").fetchone()[0]
    accepted = {k: r for k, r, m in links if m in ("probabilistic", "reviewed") and r}
    correct = {k for k, r in accepted.items()
               if k in learners and r == "R" + learners[k][1]}
    typo_keys = {d["record"] for d in manifest["defects"]
                 if d["entity"] == "learner" and d["defect"] in TYPOS}
    typos = {k for k, (lk, _) in learners.items() if lk in typo_keys}
    unmatched = {k for k, _, m in links if m == "unmatched"}
    missed = typos - correct
    return {
        "accepted_links": len(accepted),
        "precision": len(correct) / len(accepted) if accepted else None,
        "typo_records": len(typos),
        "recall_typos": len(typos & correct) / len(typos) if typos else None,
        "typos_missed": len(missed),
        "typos_missed_not_visible": len(missed - queued - unmatched),
        "review_queue_records": len(queued), "review_queue_rows": queue_rows,
        "unmatched_records": len(unmatched),
    }


def touch(url: str, share: float = 0.01) -> int:
    """Change the stored input of a share of the records needing a match (as an edit at the
    source would), so the next run re-scores them."""
    with warehouse.connect(url) as conn:
        return conn.execute("""
            update pii.person_records set input_hash = 'changed' where person_record_key in (
                select person_record_key from intermediate.int_identity_verifications
                where needs_matching order by md5(person_record_key)
                limit greatest(1, (select count(*) * %s
                                   from intermediate.int_identity_verifications
                                   where needs_matching)::integer))""", (share,)).rowcount


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    common_args(parser)
    args = parser.parse_args(argv)
    data = Path(args.work) / f"identity-{args.scale}-{args.seed}-day{args.day}"
    print_machine()
    if not (data / "manifest.json").exists():
        seconds, rss, _ = generate_in_child(args.scale, args.seed, args.day, data)
        print(f"generated scale {args.scale} in {seconds:.1f} s (peak RSS {rss:.0f} MiB)")
    manifest = json.loads((data / "manifest.json").read_text())
    url = warehouse.create_database(DATABASE, replace=True)
    migrations.upgrade(url)
    started = time.perf_counter()
    filled = fill(url, data)
    print(f"filled the two input tables in {time.perf_counter() - started:.1f} s: "
          f"{filled['counts']}", flush=True)
    # a throw-away key: the benchmark's pseudonyms are never kept
    key = os.environ.get(person.PSEUDONYM_KEY_ENV) or secrets.token_urlsafe(32)
    runs = {}
    for name, change in (("first run (train + match)", None), ("second run, nothing changed", None),
                         ("after 1% of the records to match changed", touch)):
        changed = change(url) if change else 0
        summary = person.build(url, f"bench-{len(runs)}", key=key.encode())
        runs[name] = summary
        print(f"{name}: {summary.seconds:.1f} s, records {summary.records}, to match "
              f"{summary.to_match}{f' ({changed} changed)' if changed else ''}, scored pairs "
              f"{summary.scored_pairs}, accepted {summary.accepted}, review {summary.review}, "
              f"unmatched {summary.unmatched}, persons {summary.persons}, "
              f"trained {summary.trained}", flush=True)
    figures = evaluate(url, filled["learners"], manifest)
    print("accuracy against the ground truth:")
    for k, v in figures.items():
        print(f"  {k}: {v:.4f}" if isinstance(v, float) else f"  {k}: {v}")
    print(f"load average at the end: {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).parent))
    sys.exit(main())
