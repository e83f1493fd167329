"""The person table: one row per real person, linking the school records (across schools and
vendors), the registry identity (through the population verification) and the PCGD-XMC
resident, with the way and the reason of every link.

Each run (the DAG match_identities, after each population verification sync):

1. reads every school person record with its verification status
   (intermediate.int_identity_verifications) and what the previous run decided
   (pii.person_records);
2. scores, with the stored Splink model (matching.py; trained first if there is none), only
   the records that need matching (no usable ID, or an answer other than a match) and are new
   or changed since the previous run; unchanged ones keep their decision;
3. accepts links at or above ACCEPT_PROBABILITY, queues those from REVIEW_PROBABILITY up in
   pii.match_review_queue (both records side by side, the evidence), applies the reviewers'
   decisions, and leaves the rest unmatched (with the reason);
4. groups records into persons: same verified (or valid, pending) ID, same linked resident,
   or an accepted link between two school records; never two different IDs in one person;
5. rewrites pii.person_records, pii.persons and the plain IDs of vault.personal_ids in one
   transaction.

The personal ID reaches analysts only as a keyed pseudonym: HMAC-SHA256 with the secret key
of EDUHUB_PSEUDONYM_KEY (or, under Airflow, the variable of that name); never a plain hash,
and there is no default key.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
import time
from dataclasses import asdict, dataclass
from datetime import UTC, datetime

import duckdb

from eduhub import warehouse
from eduhub.identity import matching

log = logging.getLogger(__name__)

PSEUDONYM_KEY_ENV = "EDUHUB_PSEUDONYM_KEY"
# ... or the path of a file holding it (a Docker secret: /run/secrets/...), read under Airflow.
PSEUDONYM_KEY_FILE_ENV = "EDUHUB_PSEUDONYM_KEY_FILE"
# Two residents closer than this (in match weight, bits) cannot be told apart: both to review.
AMBIGUITY_BITS = 5.0

RECORDS_QUERY = """
    select person_record_key, person_role, school_code, personal_id, id_valid,
           verification_status, needs_matching, full_name, date_of_birth::text, sex,
           commune_code,
           md5(concat_ws(chr(31), personal_id, full_name, date_of_birth::text, sex, school_code,
                         commune_code, verification_status)) as input_hash
    from intermediate.int_identity_verifications
"""

REASONS = {
    "verified_id": "Số định danh cá nhân đã được CSDLQG về dân cư xác thực khớp",
    "id": "Số định danh cá nhân hợp lệ, đang chờ xác thực với CSDLQG về dân cư",
    "resident": "Ghép xác suất với nhân khẩu PCGD-XMC (xác suất {p:.4f})",
    "school_record": "Ghép xác suất với hồ sơ ở trường khác (xác suất {p:.4f})",
    "reviewed": "Đã rà soát và chấp nhận ghép nối: {reason}",
    "review": "Đang chờ rà soát: ứng viên có xác suất {p:.4f}, dưới ngưỡng chấp nhận",
    "ambiguous": "Đang chờ rà soát: nhiều ứng viên giống nhau, không phân biệt được",
    "conflict": "Đang chờ rà soát: ghép nối sẽ gộp hai số định danh khác nhau",
    "in_queue": "Chưa ghép: đang chờ rà soát (xem pii.match_review_queue)",
    "unmatched": "Chưa ghép được: không có ứng viên đủ giống (thiếu số định danh dùng được "
                 "hoặc xác thực không khớp)",
}


def pseudonym_key() -> bytes:
    """The secret key of the pseudonyms, from the environment (the DAG sets it from an Airflow
    variable). Refuses to run without one: a default key would be a plain hash in disguise."""
    value = os.environ.get(PSEUDONYM_KEY_ENV, "")
    if len(value) < 16:
        raise RuntimeError(f"set {PSEUDONYM_KEY_ENV} (at least 16 characters): the secret key of "
                           "the personal-ID pseudonyms")
    return value.encode("utf-8")


def pseudonym(personal_id: str | None, key: bytes) -> str | None:
    """Keyed pseudonym (HMAC-SHA256, hex) of a personal ID."""
    if not personal_id:
        return None
    return hmac.new(key, personal_id.encode("utf-8"), hashlib.sha256).hexdigest()


@dataclass
class RunSummary:
    records: int = 0
    to_match: int = 0
    scored_pairs: int = 0
    accepted: int = 0
    review: int = 0
    unmatched: int = 0
    persons: int = 0
    trained: bool = False
    seconds: float = 0.0


class _Groups:
    """Union-find over record keys, each group holding at most one personal ID."""

    def __init__(self):
        self.parent: dict[str, str] = {}
        self.ident: dict[str, str] = {}

    def find(self, x: str) -> str:
        self.parent.setdefault(x, x)
        root = x
        while self.parent[root] != root:
            root = self.parent[root]
        while self.parent[x] != root:
            self.parent[x], x = root, self.parent[x]
        return root

    def anchor(self, x: str, personal_id: str) -> bool:
        root = self.find(x)
        if self.ident.get(root, personal_id) != personal_id:
            return False
        self.ident[root] = personal_id
        return True

    def union(self, a: str, b: str) -> bool:
        ra, rb = self.find(a), self.find(b)
        if ra == rb:
            return True
        ia, ib = self.ident.get(ra), self.ident.get(rb)
        if ia and ib and ia != ib:
            return False  # never merge two people with different IDs
        self.parent[rb] = ra
        if ib:
            self.ident[ra] = ib
        return True


def _load_model(conn) -> dict | None:
    row = conn.execute("select splink_model from pii.match_models "
                       "order by trained_at desc limit 1").fetchone()
    return row[0] if row else None


def _store_model(conn, model: dict, training_records: int, run_id: str) -> None:
    at = datetime.now(UTC)
    conn.execute("""
        insert into pii.match_models (model_id, trained_at, splink_model, accept_probability,
                                      review_probability, training_records, run_id)
        values (%s, %s, %s, %s, %s, %s, %s)""",
        (f"{run_id}:{at.isoformat()}", at, json.dumps(model), matching.ACCEPT_PROBABILITY,
         matching.REVIEW_PROBABILITY, training_records, run_id))


def build(conninfo: str, run_id: str, *, key: bytes | None = None, full: bool = False,
          retrain: bool = False) -> RunSummary:
    """One matching run; see the module's docstring. Returns counts only (no personal data)."""
    started = time.perf_counter()
    key = key or pseudonym_key()
    summary = RunSummary()
    with warehouse.connect(conninfo) as conn:
        cols = ("key", "role", "school", "personal_id", "id_valid", "status", "needs",
                "full_name", "date_of_birth", "sex", "commune", "input_hash")
        records = {r[0]: dict(zip(cols, r, strict=True))
                   for r in conn.execute(RECORDS_QUERY).fetchall()}
        summary.records = len(records)
        previous = {r[0]: r for r in conn.execute("""
            select person_record_key, input_hash, link_method, match_probability, match_weight,
                   resident_id, linked_record_key, reason_vi from pii.person_records""")}
        decisions = conn.execute("""
            select person_record_key, candidate_kind, candidate_key, status, decision_reason,
                   match_probability, match_weight
            from pii.match_review_queue where status in ('accepted', 'rejected')""").fetchall()
        # a reviewer's decision not applied yet re-matches its record, changed or not
        decided = {r[0] for r in conn.execute(
            "select person_record_key from pii.match_review_queue"
            " where status in ('accepted', 'rejected') and applied_run_id is null")}
        to_match = sorted(k for k, r in records.items() if r["needs"] and (
            full or k not in previous or previous[k][1] != r["input_hash"] or k in decided))
        summary.to_match = len(to_match)

        pairs: list[dict] = []
        if to_match:
            duck = duckdb.connect()
            matching.copy_to_duckdb(conn, duck, "schools", matching.school_records_sql())
            matching.copy_to_duckdb(conn, duck, "residents", matching.residents_sql())
            model = None if retrain else _load_model(conn)
            if model is None:
                model = matching.train(duck, "schools", "residents")
                _store_model(conn, model, min(len(records), matching.TRAINING_SAMPLE), run_id)
                summary.trained = True
            duck.register("to_match_keys", _arrow_keys(["S:" + k for k in to_match]))
            matching._exec(duck, "create or replace table to_match as select s.* from schools s "
                                 "join to_match_keys k on s.unique_id = k.unique_id")
            matching._exec(duck, "create or replace table reference as "
                                 "select * from residents union all select * from schools")
            pairs = matching.predict(duck, model, "to_match", "reference").pairs
            duck.close()
        summary.scored_pairs = len(pairs)

        links, queue = _decide(to_match, pairs, decisions, records)
        residents_by_id = dict(conn.execute("""
            select personal_id, min(resident_id) from staging.stg_pcgd__residents
            where personal_id ~ '^[0-9]{12}$' group by personal_id""").fetchall())
        resident_ids = {f"R:{r}": pid for pid, r in residents_by_id.items()}
        if pairs:
            needed = sorted({p["right"][2:] for p in pairs if p["right_kind"] == "resident"})
            resident_ids |= {f"R:{rid}": pid for rid, pid in conn.execute(
                "select resident_id, personal_id from staging.stg_pcgd__residents "
                "where resident_id = any(%s)", (needed,)).fetchall()}
        # records waiting for a reviewer: this run's queue and earlier items still pending
        queued_keys = {q["person_record_key"] for q in queue} | {r[0] for r in conn.execute(
            "select distinct person_record_key from pii.match_review_queue "
            "where status in ('pending', 'unsure') and not person_record_key = any(%s)",
            (to_match,))}
        person_rows, record_rows, extra_queue = _resolve(records, previous, links, to_match,
                                                         residents_by_id, resident_ids, key,
                                                         run_id, queued_keys)
        queue += extra_queue
        _write(conn, records, to_match, person_rows, record_rows, queue, run_id)
        conn.execute("update pii.match_review_queue set applied_run_id = %s"
                     " where status in ('accepted', 'rejected') and applied_run_id is null"
                     " and person_record_key = any(%s)", (run_id, to_match))
    summary.accepted = sum(1 for r in record_rows if r[2] in ("probabilistic", "reviewed"))
    summary.review = len({q["person_record_key"] for q in queue})
    summary.unmatched = sum(1 for r in record_rows if r[2] == "unmatched")
    summary.persons = len(person_rows)
    summary.seconds = round(time.perf_counter() - started, 2)
    log.info("identity matching: %s", asdict(summary))
    return summary


def _arrow_keys(keys: list[str]):
    import pyarrow as pa

    return pa.table({"unique_id": pa.array(keys, pa.string())})


def _decide(to_match, pairs, decisions, records):
    """Per record to match: the accepted link (if any) and the queue items."""
    by_left: dict[str, list[dict]] = {}
    for p in pairs:
        by_left.setdefault(p["left"][2:], []).append(p)
    accepted_by_reviewer = {}
    rejected = set()
    for rec, kind, cand, status, reason, prob, weight in decisions:
        if status == "accepted":
            accepted_by_reviewer[rec] = {"right_kind": kind, "right": _prefixed(kind, cand),
                                         "match_probability": prob, "match_weight": weight,
                                         "reason": reason or ""}
        else:
            rejected.add((rec, _prefixed(kind, cand)))
    links: dict[str, dict] = {}
    queue: list[dict] = []
    for rec in to_match:
        if rec in accepted_by_reviewer:
            links[rec] = {**accepted_by_reviewer[rec], "method": "reviewed"}
            continue
        candidates = [p for p in by_left.get(rec, []) if (rec, p["right"]) not in rejected]
        residents = [p for p in candidates if p["right_kind"] == "resident"]
        schools = [p for p in candidates if p["right_kind"] == "school"]
        if residents:
            best = residents[0]
            close = [p for p in residents[1:]
                     if best["match_weight"] - p["match_weight"] < AMBIGUITY_BITS]
            if best["match_probability"] >= matching.ACCEPT_PROBABILITY and not close:
                links[rec] = {**best, "method": "probabilistic"}
            else:
                reason = "ambiguous" if close else "review"
                queue += [_queue_item(rec, p, reason) for p in [best, *close][:3]]
        for p in schools:
            if p["match_probability"] >= matching.ACCEPT_PROBABILITY:
                links.setdefault(rec + "|school", []).append(p)
            else:
                queue.append(_queue_item(rec, p, "review"))
    return links, queue


def _prefixed(kind: str, candidate: str) -> str:
    return ("R:" if kind == "resident" else "S:") + candidate


def _queue_item(rec: str, pair: dict, reason: str) -> dict:
    return {"person_record_key": rec, "candidate_kind": pair["right_kind"],
            "candidate_key": pair["right"][2:], "match_probability": pair["match_probability"],
            "match_weight": pair["match_weight"], "evidence": pair.get("evidence", {}),
            "reason_vi": REASONS[reason].format(p=pair["match_probability"])}


def _resolve(records, previous, links, to_match, residents_by_id, resident_ids, key, run_id,  # noqa: C901
             queued_keys):
    """Group the records into persons; the rows of pii.persons and pii.person_records."""
    groups = _Groups()
    matched_now = set(to_match)
    method: dict[str, tuple] = {}  # key -> (method, probability, weight, resident, linked, reason)
    school_links: list[tuple[str, dict]] = []
    extra_queue: list[dict] = []
    for k, r in records.items():
        groups.find(k)
        if not r["needs"]:
            groups.anchor(k, r["personal_id"])
            m = "verified_id" if r["status"] == "match" else "id"
            method[k] = (m, None, None, None, None, REASONS[m])
            continue
        if k in matched_now:
            link = links.get(k)
            for p in links.get(k + "|school", []):
                school_links.append((k, p))
        else:
            prev = previous[k]
            link = None
            if prev[2] in ("probabilistic", "reviewed") and prev[5]:
                link = {"method": prev[2], "right_kind": "resident", "right": "R:" + prev[5],
                        "match_probability": prev[3], "match_weight": prev[4],
                        "reason_text": prev[7]}
            elif prev[2] in ("probabilistic", "reviewed") and prev[6]:
                school_links.append((k, {"right": "S:" + prev[6], "match_probability": prev[3],
                                         "match_weight": prev[4], "method": prev[2]}))
        if link and link["right_kind"] == "resident":
            resident = link["right"][2:]
            pid = resident_ids.get(link["right"])
            if pid and not groups.anchor(k, pid):
                extra_queue.append(_queue_item(k, link, "conflict"))
                link = None
            else:
                reason = link.get("reason_text") or (
                    REASONS["reviewed"].format(reason=link.get("reason", ""))
                    if link["method"] == "reviewed"
                    else REASONS["resident"].format(p=link["match_probability"]))
                method[k] = (link["method"], link["match_probability"], link["match_weight"],
                             resident, None, reason)
        elif link and link["right_kind"] == "school":
            school_links.append((k, link))
    # same ID, same person: the groups join on their ID
    by_id: dict[str, str] = {}
    for k in records:
        pid = groups.ident.get(groups.find(k))
        if pid:
            if pid in by_id:
                groups.union(by_id[pid], k)
            else:
                by_id[pid] = k
    for k, p in school_links:
        other = p["right"][2:]
        if other not in records:
            continue
        if groups.union(k, other):
            if k not in method:
                method[k] = (p.get("method", "probabilistic"), p["match_probability"],
                             p["match_weight"], None, other,
                             REASONS["school_record"].format(p=p["match_probability"]))
        else:
            extra_queue.append(_queue_item(k, {**p, "right_kind": "school"}, "conflict"))
    now = datetime.now(UTC)
    members: dict[str, list[str]] = {}
    for k in records:
        members.setdefault(groups.find(k), []).append(k)
    queued = queued_keys | {q["person_record_key"] for q in extra_queue}
    person_rows, record_rows = [], []
    for root, keys in members.items():
        pid = groups.ident.get(root)
        person_id = "P" + hmac.new(key, (f"id:{pid}" if pid else f"record:{min(keys)}").encode(),
                                   hashlib.sha256).hexdigest()[:24]
        linked_resident = next((method[k][3] for k in keys if k in method and method[k][3]),
                               None)
        resident = linked_resident or (residents_by_id.get(pid) if pid else None)
        methods = set()
        for k in sorted(keys):
            r = records[k]
            m, prob, weight, res, linked, reason = method.get(k) or (
                "unmatched", None, None, None, None,
                REASONS["in_queue"] if k in queued else REASONS["unmatched"])
            methods.add(m)
            pid_text = r["personal_id"] or ""
            stated = pid_text if len(pid_text) == 12 and pid_text.isdigit() else None
            record_rows.append((k, person_id, m, prob, weight, res, linked,
                                pseudonym(stated, key), reason, r["input_hash"], run_id, now))
        statuses = {records[k]["status"] for k in keys if not records[k]["needs"]}
        registry = ("verified" if "match" in statuses else
                    "linked_pcgd" if linked_resident else
                    "id_unverified" if pid else "unidentified")
        roles = [records[k]["role"] for k in keys]
        person_rows.append((person_id, pid, pseudonym(pid, key), registry, resident,
                            roles.count("learner"), roles.count("staff"),
                            len({records[k]["school"] for k in keys}), sorted(methods),
                            run_id, now))
    return person_rows, record_rows, extra_queue


def _write(conn, records, to_match, person_rows, record_rows, queue, run_id) -> None:
    now = datetime.now(UTC)
    with conn.transaction():
        conn.execute("select pg_advisory_xact_lock(hashtext('eduhub.identity_matching'))")
        conn.execute("delete from pii.person_records")
        with conn.cursor().copy("""copy pii.person_records (person_record_key, person_id,
                link_method, match_probability, match_weight, resident_id, linked_record_key,
                stated_id_pseudonym, reason_vi, input_hash, run_id, updated_at)
                from stdin""") as copy:
            for row in record_rows:
                copy.write_row(row)
        conn.execute("delete from pii.persons")
        with conn.cursor().copy("""copy pii.persons (person_id, id_pseudonym,
                registry_status, resident_id, learner_records, staff_records, schools,
                link_methods, run_id, updated_at) from stdin""") as copy:
            for row in person_rows:
                copy.write_row(row[:1] + row[2:])
        # the plain IDs go to the vault, which the loader writes but cannot read back
        # (migration 0004): the whole table is rewritten, so a person gone is gone there too
        conn.execute("delete from vault.personal_ids")
        with conn.cursor().copy("copy vault.personal_ids (person_id, personal_id, id_pseudonym) "
                                "from stdin") as copy:
            for person_id, pid, pseudo, *_ in person_rows:
                if pid:
                    copy.write_row((person_id, pid, pseudo))
        # pending items of re-matched records (or records gone, or no longer needing a match)
        # are replaced; reviewers' decisions stay as the trace of every reviewed merge
        needing = sorted(k for k, r in records.items() if r["needs"])
        conn.execute("""delete from pii.match_review_queue where status = 'pending'
                        and (person_record_key = any(%s) or not person_record_key = any(%s))""",
                     (sorted(to_match), needing))
        for q in queue:
            left = _side(records.get(q["person_record_key"]))
            right = _candidate(conn, q)
            conn.execute("""
                insert into pii.match_review_queue (review_key, person_record_key,
                    candidate_kind, candidate_key, match_probability, match_weight, evidence,
                    left_record, right_record, reason_vi, status, run_id, queued_at)
                values (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, 'pending', %s, %s)
                on conflict (review_key) do update set
                    match_probability = excluded.match_probability,
                    match_weight = excluded.match_weight, evidence = excluded.evidence,
                    left_record = excluded.left_record, right_record = excluded.right_record,
                    reason_vi = excluded.reason_vi, run_id = excluded.run_id
                where pii.match_review_queue.status = 'pending'""",
                (f"{q['person_record_key']}>{q['candidate_kind']}:{q['candidate_key']}",
                 q["person_record_key"], q["candidate_kind"], q["candidate_key"],
                 q["match_probability"], q["match_weight"], json.dumps(q["evidence"]),
                 json.dumps(left, ensure_ascii=False), json.dumps(right, ensure_ascii=False),
                 q["reason_vi"], run_id, now))


def _side(r: dict | None) -> dict:
    if not r:
        return {}
    return {"full_name": r["full_name"], "date_of_birth": r["date_of_birth"], "sex": r["sex"],
            "commune_code": r["commune"], "school_code": r["school"],
            "personal_id": r["personal_id"], "verification_status": r["status"]}


def _candidate(conn, q: dict) -> dict:
    if q["candidate_kind"] == "resident":
        row = conn.execute("""
            select full_name, date_of_birth::text, sex, commune_code, household_id, personal_id
            from staging.stg_pcgd__residents where resident_id = %s""",
            (q["candidate_key"],)).fetchone()
        names = ("full_name", "date_of_birth", "sex", "commune_code", "household_id",
                 "personal_id")
    else:
        row = conn.execute("""
            select full_name, date_of_birth::text, sex, commune_code, school_code, personal_id,
                   verification_status
            from intermediate.int_identity_verifications where person_record_key = %s""",
            (q["candidate_key"],)).fetchone()
        names = ("full_name", "date_of_birth", "sex", "commune_code", "school_code",
                 "personal_id", "verification_status")
    return dict(zip(names, row, strict=True)) if row else {}
