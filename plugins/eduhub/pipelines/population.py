"""Verification of personal IDs against the population database, for new and changed persons.

A person's (ID, name, birth date, sex) is verified once: the answer lands in
`raw.population__verifications` keyed by a fingerprint of those four values, so a person
is asked about again only when the school records change one of them. Work is split into
stable shards (by fingerprint), so mapped tasks can run, fail and retry independently.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime

from eduhub import warehouse
from eduhub.landing import EntitySpec, land_partition
from eduhub.sources.population import PopulationClient

VERIFICATIONS = EntitySpec("population", "verifications", ("fingerprint",), frozenset({
    "fingerprint", "request", "result"}), watermark_field=None)
PERSONS_RELATION = "intermediate.int_school_persons"
SHARD_SIZE = 2000
MAX_SHARDS = 64


def fingerprint(person: dict) -> str:
    text = "\x1f".join(str(person[k]) for k in ("personal_id", "full_name", "date_of_birth", "sex"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def pending_persons(conninfo: str) -> list[dict]:
    """Persons of the school records with a verifiable ID whose current data was never verified."""
    with warehouse.connect(conninfo) as conn:
        if conn.execute("select to_regclass(%s)", (PERSONS_RELATION,)).fetchone()[0] is None:
            return []  # the models have not run yet: nothing to verify
        rows = conn.execute(f"""
            select distinct personal_id, full_name, date_of_birth::text, sex
            from {PERSONS_RELATION}
            where personal_id ~ '^[0-9]{{12}}$' and full_name is not null
              and date_of_birth is not null and sex is not null
            order by 1, 2, 3, 4""").fetchall()
        verified = set()
        if conn.execute("select to_regclass('raw.population__verifications')").fetchone()[0]:
            verified = {r[0] for r in conn.execute(
                "select distinct natural_key from raw.population__verifications")}
    persons = [dict(zip(("personal_id", "full_name", "date_of_birth", "sex"), r, strict=True))
               for r in rows]
    return [p for p in persons if fingerprint(p) not in verified]


def shard_count(pending: int) -> int:
    return min(MAX_SHARDS, -(-pending // SHARD_SIZE))


def shard_of(person: dict, shards: int) -> int:
    return int(fingerprint(person)[:8], 16) % shards


def verify_shard(client: PopulationClient, conninfo: str, batch_id: str, shard: int,
                 shards: int) -> dict[str, int]:
    persons = [p for p in pending_persons(conninfo) if shard_of(p, shards) == shard]
    counts = {"verified": 0, "match": 0, "mismatch": 0, "not_found": 0}
    for number, (requests_, results) in enumerate(client.verify(persons), start=1):
        records = [{"fingerprint": fingerprint(req), "request": req, "result": res}
                   for req, res in zip(requests_, results, strict=True)]
        # each answered batch lands at once: a retry after a failure asks only for the rest
        with warehouse.connect(conninfo) as conn:
            land_partition(conn, VERIFICATIONS, records, batch_id=batch_id,
                           partition=f"shard-{shard}-{number}", extracted_at=datetime.now(UTC),
                           full=False)
        counts["verified"] += len(records)
        for res in results:
            counts[res["status"]] = counts.get(res["status"], 0) + 1
    return counts
