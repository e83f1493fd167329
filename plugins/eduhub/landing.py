"""Landing: records go into `raw` unchanged, with load metadata, through COPY. Idempotent.

Each source entity has its own table `raw.<source>__<entity>`, all of one shape:
natural key, JSONB payload, payload hash, batch id, partition, extraction time.
A record is added only when its payload differs from the latest version of its key, so
re-running a batch, or receiving an unchanged record again, adds no row. Records that
cannot be landed (not an object, no natural key) go to `ops.quarantine` with the reason
and the raw text: nothing is dropped silently.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

import psycopg
from psycopg import sql

log = logging.getLogger(__name__)

_IDENTIFIER = re.compile(r"^[a-z][a-z0-9_]*$")

OPS_DDL = """
create schema if not exists raw;
create schema if not exists ops;
create table if not exists ops.batches (
    batch_id text not null,
    source text not null,
    entity text not null,
    partition text not null,
    status text not null,
    received integer not null default 0,
    landed integer not null default 0,
    quarantined integer not null default 0,
    extracted_at timestamptz not null,
    finished_at timestamptz,
    primary key (batch_id, source, entity, partition)
);
create table if not exists ops.quarantine (
    quarantine_id bigint generated always as identity primary key,
    source text not null,
    entity text not null,
    batch_id text not null,
    partition text not null,
    reason text not null,
    raw_text text not null,
    raw_hash text not null,
    received_at timestamptz not null,
    unique (source, entity, batch_id, raw_hash)
);
"""


@dataclass(frozen=True)
class LandingResult:
    received: int
    landed: int
    quarantined: int


def canonical_json(record) -> str:
    return json.dumps(record, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def payload_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def raw_table_name(source: str, entity: str) -> str:
    for part in (source, entity):
        if not _IDENTIFIER.match(part):
            raise ValueError(f"invalid source or entity name {part!r}")
    return f"{source}__{entity}"


def ensure_ops(conn: psycopg.Connection) -> None:
    with conn.transaction():
        conn.execute("select pg_advisory_xact_lock(hashtext('eduhub.ops_ddl'))")
        conn.execute(OPS_DDL)


def _ensure_raw_table(conn: psycopg.Connection, name: str) -> None:
    table = sql.Identifier("raw", name)
    conn.execute(sql.SQL("""
        create table if not exists {t} (
            record_id bigint generated always as identity primary key,
            natural_key text not null,
            payload jsonb not null,
            payload_hash text not null,
            batch_id text not null,
            partition text not null,
            extracted_at timestamptz not null,
            loaded_at timestamptz not null default now()
        )""").format(t=table))
    conn.execute(sql.SQL("create index if not exists {i} on {t} (natural_key, record_id desc)")
                 .format(i=sql.Identifier(f"{name}_key_idx"), t=table))
    conn.execute(sql.SQL("create index if not exists {i} on {t} (batch_id)")
                 .format(i=sql.Identifier(f"{name}_batch_idx"), t=table))


def land_records(
    conn: psycopg.Connection,
    *,
    source: str,
    entity: str,
    key_field: str,
    records: Iterable,
    batch_id: str,
    partition: str,
    extracted_at: datetime,
) -> LandingResult:
    """Land one partition of a batch in a single transaction."""
    name = raw_table_name(source, entity)
    table = sql.Identifier("raw", name)
    ensure_ops(conn)
    good: list[tuple[str, str, str]] = []
    bad: list[tuple[str, str, str]] = []
    for position, record in enumerate(records):
        text = canonical_json(record)
        key = record.get(key_field) if isinstance(record, dict) else None
        if not isinstance(record, dict):
            bad.append((f"record {position} of partition {partition} is not a JSON object",
                        text, payload_hash(text)))
        elif key is None or str(key).strip() == "":
            bad.append((f"record {position} of partition {partition} has no natural key "
                        f"{key_field!r}", text, payload_hash(text)))
        else:
            good.append((str(key).strip(), text, payload_hash(text)))

    with conn.transaction():
        # One writer per table at a time: DDL races and the latest-version check both need it.
        conn.execute("select pg_advisory_xact_lock(hashtext(%s))", (f"raw.{name}",))
        _ensure_raw_table(conn, name)
        conn.execute("""
            create temp table _landing (seq integer, natural_key text, payload jsonb,
                                        payload_hash text) on commit drop""")
        with conn.cursor().copy(
            "copy _landing (seq, natural_key, payload, payload_hash) from stdin"
        ) as copy:
            for seq, row in enumerate(good):
                copy.write_row((seq, *row))
        landed = conn.execute(sql.SQL("""
            insert into {t} (natural_key, payload, payload_hash, batch_id, partition, extracted_at)
            select l.natural_key, l.payload, l.payload_hash, %(batch)s, %(partition)s, %(at)s
            from (
                select distinct on (natural_key, payload_hash) *
                from _landing order by natural_key, payload_hash, seq
            ) as l
            left join lateral (
                select r.payload_hash from {t} as r
                where r.natural_key = l.natural_key
                order by r.record_id desc limit 1
            ) as latest on true
            where latest.payload_hash is distinct from l.payload_hash
            order by l.seq
            """).format(t=table),
            {"batch": batch_id, "partition": partition, "at": extracted_at},
        ).rowcount
        quarantined = 0
        for reason, text, digest in bad:
            quarantined += conn.execute("""
                insert into ops.quarantine (source, entity, batch_id, partition, reason,
                                            raw_text, raw_hash, received_at)
                values (%s, %s, %s, %s, %s, %s, %s, %s)
                on conflict (source, entity, batch_id, raw_hash) do nothing""",
                (source, entity, batch_id, partition, reason, text, digest, extracted_at),
            ).rowcount
        conn.execute("""
            insert into ops.batches (batch_id, source, entity, partition, status, received,
                                     landed, quarantined, extracted_at, finished_at)
            values (%s, %s, %s, %s, 'landed', %s, %s, %s, %s, clock_timestamp())
            on conflict (batch_id, source, entity, partition) do update set
                status = excluded.status, received = excluded.received,
                landed = ops.batches.landed + excluded.landed,
                quarantined = ops.batches.quarantined + excluded.quarantined,
                finished_at = excluded.finished_at""",
            (batch_id, source, entity, partition, len(good) + len(bad), landed, quarantined,
             extracted_at),
        )
    if bad:
        # The reason names the record's position, never its content (it may hold personal IDs).
        log.warning("%s.%s partition %s: %d record(s) quarantined", source, entity, partition,
                    len(bad))
    return LandingResult(received=len(good) + len(bad), landed=landed, quarantined=quarantined)
