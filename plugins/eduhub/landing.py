"""Landing: records go into `raw` unchanged, with load metadata, through COPY. Idempotent.

Each source entity has its own table `raw.<source>__<entity>`, all of one shape: natural
key, JSONB payload, payload hash, batch id, partition, extraction time, deletion flag.
A record is added only when its payload differs from the latest version of its key, so
re-running a batch, or receiving an unchanged record again, adds no row.

One partition (a school, a commune, a file) lands in one transaction, together with its
bookkeeping in `ops`: the batch row, quarantined records, schema drift, the source's
reported total against what landed, tombstones of keys the source no longer lists (full
refresh only) and the watermark. A killed task therefore leaves nothing half-done, and
its retry starts from the same watermark.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from difflib import SequenceMatcher

import psycopg
from psycopg import sql

log = logging.getLogger(__name__)

_IDENTIFIER = re.compile(r"^[a-z][a-z0-9_]*$")
KEY_SEPARATOR = "|"

OPS_DDL = """
create schema if not exists raw;
create schema if not exists ops;
create table if not exists ops.batches (
    batch_id text not null,
    source text not null,
    entity text not null,
    partition text not null,
    mode text not null,
    status text not null,
    received integer not null default 0,
    landed integer not null default 0,
    quarantined integer not null default 0,
    deleted integer not null default 0,
    extracted_at timestamptz not null,
    finished_at timestamptz,
    primary key (batch_id, source, entity, partition)
);
create table if not exists ops.quarantine (
    quarantine_id bigint generated always as identity primary key,
    source text not null,
    entity text not null,
    partition text not null,
    natural_key text,
    reason text not null,
    raw_text text not null,
    raw_hash text not null,
    first_batch_id text not null,
    last_batch_id text not null,
    first_seen timestamptz not null,
    last_seen timestamptz not null,
    times_seen integer not null default 1,
    resolved_at timestamptz,
    resolved_by_batch text,
    resolution text,
    unique (source, entity, partition, raw_hash)
);
create table if not exists ops.schema_drift (
    source text not null,
    entity text not null,
    batch_id text not null,
    partition text not null,
    change text not null,
    field text not null,
    renamed_to text,
    records_affected integer not null,
    detected_at timestamptz not null,
    primary key (source, entity, batch_id, partition, change, field)
);
create table if not exists ops.source_counts (
    source text not null,
    entity text not null,
    batch_id text not null,
    partition text not null,
    mode text not null,
    reported_total integer,
    received integer not null,
    distinct_keys integer not null,
    current_keys integer not null,
    difference integer,
    checked_at timestamptz not null,
    primary key (source, entity, batch_id, partition)
);
create table if not exists ops.watermarks (
    source text not null,
    entity text not null,
    partition text not null,
    high_water text not null,
    batch_id text not null,
    updated_at timestamptz not null,
    primary key (source, entity, partition)
);
"""


@dataclass(frozen=True)
class EntitySpec:
    """What landing needs to know about a source entity."""

    source: str
    entity: str
    key_fields: tuple[str, ...]
    expected_fields: frozenset[str] = field(default_factory=frozenset)
    watermark_field: str | None = "updated_at"
    # turns the source's timestamp into ISO 8601, so that watermarks compare as text
    watermark_parser: Callable[[str], str] = str

    @property
    def table(self) -> str:
        return raw_table_name(self.source, self.entity)

    def natural_key(self, record: dict) -> str | None:
        parts = []
        for name in self.key_fields:
            value = record.get(name)
            if value is None or str(value).strip() == "":
                return None
            parts.append(str(value).strip())
        return KEY_SEPARATOR.join(parts)


@dataclass(frozen=True)
class DriftFinding:
    change: str  # new_field | missing_field | renamed_field
    field: str
    records_affected: int
    renamed_to: str | None = None


@dataclass(frozen=True)
class LandingResult:
    received: int
    landed: int
    quarantined: int
    deleted: int = 0
    drift: tuple[DriftFinding, ...] = ()
    watermark: str | None = None


def raw_table_name(source: str, entity: str) -> str:
    for part in (source, entity):
        if not _IDENTIFIER.match(part):
            raise ValueError(f"invalid source or entity name {part!r}")
    return f"{source}__{entity}"


# The latest version of every key that has ever been seen in one partition. Keys move
# between partitions (a learner changes school), so "latest" is looked up over the table.
_LATEST_IN_PARTITION = """
    select c.natural_key, latest.*
    from (select distinct natural_key from {t} where partition = %(partition)s) as c
    cross join lateral (
        select r.partition as latest_partition, r.is_deleted, r.payload, r.payload_hash
        from {t} as r where r.natural_key = c.natural_key
        order by r.record_id desc limit 1
    ) as latest
"""


def canonical_json(record) -> str:
    return json.dumps(record, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def payload_hash(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def ensure_ops(conn: psycopg.Connection) -> None:
    with conn.transaction():
        conn.execute("select pg_advisory_xact_lock(hashtext('eduhub.ops_ddl'))")
        conn.execute(OPS_DDL)


def ensure_raw_table(conn: psycopg.Connection, name: str) -> None:
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
            is_deleted boolean not null default false,
            loaded_at timestamptz not null default now()
        )""").format(t=table))
    # Tables landed before deletions were tracked. Checked first: ALTER TABLE takes an
    # exclusive lock even when the column exists, which would block every reader.
    has_flag = conn.execute(
        "select 1 from information_schema.columns where table_schema = 'raw' "
        "and table_name = %s and column_name = 'is_deleted'", (name,)).fetchone()
    if not has_flag:
        conn.execute(sql.SQL("alter table {t} add column is_deleted boolean not null "
                             "default false").format(t=table))
    conn.execute(sql.SQL("create index if not exists {i} on {t} (natural_key, record_id desc)")
                 .format(i=sql.Identifier(f"{name}_key_idx"), t=table))
    conn.execute(sql.SQL("create index if not exists {i} on {t} (batch_id)")
                 .format(i=sql.Identifier(f"{name}_batch_idx"), t=table))
    conn.execute(sql.SQL("create index if not exists {i} on {t} (partition)")
                 .format(i=sql.Identifier(f"{name}_partition_idx"), t=table))


def detect_drift(records: list[dict], expected: frozenset[str]) -> list[DriftFinding]:
    """Fields that appeared, disappeared or were renamed, against the entity's contract."""
    if not expected or not records:
        return []
    present = Counter(name for r in records for name in r)
    missing_in = {f: {i for i, r in enumerate(records) if f not in r} for f in expected}
    new_fields = sorted(set(present) - expected)
    findings: list[DriftFinding] = []
    renamed_new: set[str] = set()
    for old in sorted(expected):
        lacking = missing_in[old]
        if not lacking:
            continue
        # A renamed field: the records that lack the old name are exactly those with a new
        # one. Among several, prefer values of the same JSON type, then the closer name.
        candidates = [new for new in new_fields if new not in renamed_new and
                      {i for i, r in enumerate(records) if new in r} == lacking]
        old_types = {type(r[old]) for r in records if old in r and r[old] is not None}

        def likeness(new: str, old=old, old_types=old_types) -> tuple[bool, float]:
            new_types = {type(r[new]) for r in records if new in r and r[new] is not None}
            return (bool(new_types & old_types), SequenceMatcher(None, old, new).ratio())

        twin = max(candidates, key=likeness) if candidates else None
        if twin:
            renamed_new.add(twin)
            findings.append(DriftFinding("renamed_field", old, len(lacking), renamed_to=twin))
        else:
            findings.append(DriftFinding("missing_field", old, len(lacking)))
    for new in new_fields:
        if new not in renamed_new:
            findings.append(DriftFinding("new_field", new, present[new]))
    return findings


def get_watermark(conn: psycopg.Connection, spec: EntitySpec, partition: str) -> str | None:
    ensure_ops(conn)
    row = conn.execute("select high_water from ops.watermarks where source = %s and entity = %s"
                       " and partition = %s", (spec.source, spec.entity, partition)).fetchone()
    return row[0] if row else None


def land_partition(
    conn: psycopg.Connection,
    spec: EntitySpec,
    records: Iterable,
    *,
    batch_id: str,
    partition: str,
    extracted_at: datetime,
    full: bool = True,
    reported_total: int | None = None,
) -> LandingResult:
    """Land one partition of a batch, with its bookkeeping, in a single transaction.

    `full` says the records are everything the source holds for the partition (a full
    refresh): keys landed before but absent now are then marked deleted, and quarantined
    records no longer served are resolved.
    """
    name = spec.table
    table = sql.Identifier("raw", name)
    ensure_ops(conn)
    good: list[tuple[str, str, str]] = []
    good_records: list[dict] = []
    bad: list[tuple[str | None, str, str, str]] = []
    for position, record in enumerate(records):
        text = canonical_json(record)
        if not isinstance(record, dict):
            bad.append((None, f"record {position} of partition {partition} is not a JSON object",
                        text, payload_hash(text)))
            continue
        key = spec.natural_key(record)
        if key is None:
            missing = [f for f in spec.key_fields if not str(record.get(f) or "").strip()]
            bad.append((None, f"record {position} of partition {partition} has no natural key "
                        f"(missing {', '.join(missing)})", text, payload_hash(text)))
            continue
        good.append((key, text, payload_hash(text)))
        good_records.append(record)
    drift = detect_drift(good_records, spec.expected_fields)
    watermark = None
    if spec.watermark_field:
        marks = []
        for r in good_records:
            if r.get(spec.watermark_field):
                try:
                    marks.append(spec.watermark_parser(str(r[spec.watermark_field])))
                except ValueError:
                    pass  # a malformed stamp does not move the watermark; GX reports it
        watermark = max(marks) if marks else None
    params = {"batch": batch_id, "partition": partition, "at": extracted_at,
              "source": spec.source, "entity": spec.entity}

    with conn.transaction():
        # One writer per table at a time: DDL races and the latest-version check both need it.
        conn.execute("select pg_advisory_xact_lock(hashtext(%s))", (f"raw.{name}",))
        ensure_raw_table(conn, name)
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
                select r.payload_hash, r.is_deleted from {t} as r
                where r.natural_key = l.natural_key
                order by r.record_id desc limit 1
            ) as latest on true
            where latest.payload_hash is distinct from l.payload_hash or latest.is_deleted
            order by l.seq
            """).format(t=table), params).rowcount

        deleted = 0
        if full:
            # Keys of this partition whose latest version is live but which the source no
            # longer lists: a tombstone (the last payload again, flagged) records the deletion.
            deleted = conn.execute(sql.SQL("""
                insert into {t} (natural_key, payload, payload_hash, batch_id, partition,
                                 extracted_at, is_deleted)
                select latest.natural_key, latest.payload, latest.payload_hash, %(batch)s,
                       %(partition)s, %(at)s, true
                from ({latest}) as latest
                where latest.latest_partition = %(partition)s and not latest.is_deleted
                  and not exists (select 1 from _landing as l
                                  where l.natural_key = latest.natural_key)
                """).format(t=table, latest=sql.SQL(_LATEST_IN_PARTITION).format(t=table)),
                params).rowcount

        quarantined = _quarantine(conn, bad, params)
        _resolve_quarantine(conn, good, bad, full, params)
        _record_drift(conn, drift, params)
        current = conn.execute(sql.SQL("""
            select count(*) from ({latest}) as latest
            where latest.latest_partition = %(partition)s and not latest.is_deleted
            """).format(latest=sql.SQL(_LATEST_IN_PARTITION).format(t=table)),
            params).fetchone()[0]
        distinct_keys = len({k for k, _, _ in good})
        conn.execute("""
            insert into ops.source_counts (source, entity, batch_id, partition, mode,
                reported_total, received, distinct_keys, current_keys, difference, checked_at)
            values (%(source)s, %(entity)s, %(batch)s, %(partition)s, %(mode)s, %(total)s,
                    %(received)s, %(distinct)s, %(current)s, %(difference)s, clock_timestamp())
            on conflict (source, entity, batch_id, partition) do update set
                mode = excluded.mode, reported_total = excluded.reported_total,
                received = excluded.received, distinct_keys = excluded.distinct_keys,
                current_keys = excluded.current_keys, difference = excluded.difference,
                checked_at = excluded.checked_at""",
            {**params, "mode": "full" if full else "incremental", "total": reported_total,
             "received": len(good) + len(bad), "distinct": distinct_keys, "current": current,
             # a full read must account for every record the source reports
             "difference": (reported_total - (current + len(bad)) if full else
                            reported_total - (distinct_keys + len(bad)))
             if reported_total is not None else None})
        if watermark:
            conn.execute("""
                insert into ops.watermarks (source, entity, partition, high_water, batch_id,
                                            updated_at)
                values (%(source)s, %(entity)s, %(partition)s, %(mark)s, %(batch)s,
                        clock_timestamp())
                on conflict (source, entity, partition) do update set
                    high_water = greatest(ops.watermarks.high_water, excluded.high_water),
                    batch_id = excluded.batch_id, updated_at = excluded.updated_at""",
                {**params, "mark": watermark})
        conn.execute("""
            insert into ops.batches (batch_id, source, entity, partition, mode, status, received,
                                     landed, quarantined, deleted, extracted_at, finished_at)
            values (%(batch)s, %(source)s, %(entity)s, %(partition)s, %(mode)s, 'landed',
                    %(received)s, %(landed)s, %(quarantined)s, %(deleted)s, %(at)s,
                    clock_timestamp())
            on conflict (batch_id, source, entity, partition) do update set
                status = excluded.status, mode = excluded.mode, received = excluded.received,
                landed = ops.batches.landed + excluded.landed,
                quarantined = ops.batches.quarantined + excluded.quarantined,
                deleted = ops.batches.deleted + excluded.deleted,
                finished_at = excluded.finished_at""",
            {**params, "mode": "full" if full else "incremental",
             "received": len(good) + len(bad), "landed": landed, "quarantined": quarantined,
             "deleted": deleted})
    # Log lines name positions and field names, never values (they may hold personal IDs).
    if bad:
        log.warning("%s.%s partition %s: %d record(s) quarantined", spec.source, spec.entity,
                    partition, len(bad))
    for finding in drift:
        log.warning("%s.%s partition %s: schema drift: %s %s%s in %d record(s)", spec.source,
                    spec.entity, partition, finding.change, finding.field,
                    f" -> {finding.renamed_to}" if finding.renamed_to else "",
                    finding.records_affected)
    return LandingResult(len(good) + len(bad), landed, quarantined, deleted, tuple(drift),
                         watermark)


def _quarantine(conn, bad, params) -> int:
    new = 0
    for key, reason, text, digest in bad:
        row = conn.execute("""
            insert into ops.quarantine (source, entity, partition, natural_key, reason, raw_text,
                raw_hash, first_batch_id, last_batch_id, first_seen, last_seen)
            values (%(source)s, %(entity)s, %(partition)s, %(key)s, %(reason)s, %(text)s,
                    %(hash)s, %(batch)s, %(batch)s, %(at)s, %(at)s)
            on conflict (source, entity, partition, raw_hash) do update set
                last_batch_id = excluded.last_batch_id, last_seen = excluded.last_seen,
                times_seen = ops.quarantine.times_seen
                    + (ops.quarantine.last_batch_id <> excluded.last_batch_id)::int,
                resolved_at = null, resolved_by_batch = null, resolution = null
            returning (xmax = 0) as inserted""",
            {**params, "key": key, "reason": reason, "text": text, "hash": digest}).fetchone()
        new += bool(row[0])
    return new


def _resolve_quarantine(conn, good, bad, full, params) -> None:
    """A quarantined record is superseded when its key lands in good shape, or when a full read
    of its partition no longer serves it."""
    keys = sorted({k for k, _, _ in good})
    if keys:
        conn.execute("""
            update ops.quarantine set resolved_at = clock_timestamp(),
                resolved_by_batch = %(batch)s, resolution = 'superseded by a good version'
            where source = %(source)s and entity = %(entity)s and resolved_at is null
              and natural_key = any(%(keys)s)""", {**params, "keys": keys})
    if full:
        conn.execute("""
            update ops.quarantine set resolved_at = clock_timestamp(),
                resolved_by_batch = %(batch)s, resolution = 'no longer served by the source'
            where source = %(source)s and entity = %(entity)s and partition = %(partition)s
              and resolved_at is null and not (raw_hash = any(%(hashes)s))""",
            {**params, "hashes": [d for _, _, _, d in bad]})


def _record_drift(conn, drift, params) -> None:
    for finding in drift:
        conn.execute("""
            insert into ops.schema_drift (source, entity, batch_id, partition, change, field,
                renamed_to, records_affected, detected_at)
            values (%(source)s, %(entity)s, %(batch)s, %(partition)s, %(change)s, %(field)s,
                    %(renamed_to)s, %(n)s, clock_timestamp())
            on conflict (source, entity, batch_id, partition, change, field) do update set
                renamed_to = excluded.renamed_to, records_affected = excluded.records_affected""",
            {**params, "change": finding.change, "field": finding.field,
             "renamed_to": finding.renamed_to, "n": finding.records_affected})
