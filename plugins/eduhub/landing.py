"""Landing: records go into `raw` unchanged, with load metadata, through COPY. Idempotent.

Each source entity has its own table `raw.<source>__<entity>`, all of one shape: natural
key, JSONB payload, payload hash, batch id, partition, extraction time, deletion flag.
A partition (a school, a commune, a file) is a stream of versions of its own: a record is
added only when its payload differs from the latest version its partition landed of its key,
so re-running a batch, or receiving an unchanged record again, adds no row. The latest version
each partition landed of each key (its record, hash and deletion flag) is kept in
`ops.partition_versions`, one document per partition (the view `ops.latest_versions` shows a
row per key): a landing reads one row and writes one, rather than looking up the growing raw
table or keeping a per-key index up to date.

A key listed by two partitions (a learner two schools list, one that moved between schools)
therefore has a version in each; what the key currently is, is the latest version of those
whose partition still lists it (the staging macro `latest_version`, `current_versions_query`):
a partition that stops listing a key withdraws only its own version. Each partition then
compares with what it served itself, so two partitions serving one key differently do not
land it anew, in turn, on every run.

One partition lands in one transaction, together with its bookkeeping in `ops`: the batch row,
quarantined records, schema drift, the source's reported total against what landed, tombstones
of keys the source no longer lists (full refresh only) and the watermark. A killed task
therefore leaves nothing half-done, and its retry starts from the same watermark.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import hashlib
import itertools
import json
import logging
import re
import struct
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from difflib import SequenceMatcher
from typing import TypeVar

import orjson
import psycopg
from psycopg import sql

from eduhub.migrations import WarehouseNotMigrated

log = logging.getLogger(__name__)

_T = TypeVar("_T")
_IDENTIFIER = re.compile(r"^[a-z][a-z0-9_]*$")
KEY_SEPARATOR = "|"
# rows per COPY write: small enough for the server to parse one while the next is prepared
_COPY_CHUNK = 250


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
        """The key fields' values, trimmed, joined; None when one is missing or blank."""
        fields = self.key_fields
        if len(fields) == 1:  # most entities: no list, no join (this runs once per record)
            value = record.get(fields[0])
            if value is None:
                return None
            return (value if type(value) is str else str(value)).strip() or None
        get = record.get
        parts = []
        for name in fields:
            value = get(name)
            if value is None:
                return None
            text = (value if type(value) is str else str(value)).strip()
            if not text:
                return None
            parts.append(text)
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


_ORJSON_OPTIONS = orjson.OPT_SORT_KEYS


def canonical_json_bytes(record) -> bytes:
    """The record as compact JSON with sorted keys, UTF-8: what is stored and hashed."""
    try:
        return orjson.dumps(record, option=_ORJSON_OPTIONS)
    except (orjson.JSONEncodeError, TypeError):
        # what orjson refuses (integers beyond 64 bits, keys that are not text): the standard
        # library gives the same layout
        return json.dumps(record, ensure_ascii=False, sort_keys=True,
                          separators=(",", ":")).encode("utf-8")


def _has_nul(value) -> bool:
    """Whether a NUL character is in a text of the record (keys too): JSONB refuses it."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


def canonical_json(record) -> str:
    return canonical_json_bytes(record).decode("utf-8")


def payload_hash(text: str | bytes) -> str:
    return hashlib.sha256(text.encode("utf-8") if isinstance(text, str) else text).hexdigest()


# whether the raw table exists, and has latest versions
_TABLE_STATUS = """
    select to_regclass(%(t)s) is not null,
           exists (select 1 from ops.partition_versions where table_name = %(n)s)"""

# whether records of the partition wait in quarantine
_QUARANTINE_OPEN = """
    select exists (select 1 from ops.quarantine where source = %(source)s
                   and entity = %(entity)s and partition = %(partition)s
                   and resolved_at is null)"""

# the latest version of each (partition, key) of a raw table {t}
_LATEST_PER_PARTITION = """
    select distinct on (partition, natural_key) partition, natural_key, record_id,
           payload_hash, is_deleted
    from {t} {where} order by partition, natural_key, record_id desc"""


class _RawRelation:
    """What the macro `latest_version` reads of a dbt relation, for a raw table."""

    def __init__(self, name: str):
        source, entity = name.split("__", 1)
        self.identifier = raw_table_name(source, entity)  # checked: safe to quote as is

    def __str__(self) -> str:
        return f'"raw"."{self.identifier}"'


@functools.cache
def _latest_version_macro():
    import jinja2

    from eduhub import settings

    text = (settings.DBT_PROJECT_DIR / "macros" / "landing.sql").read_text(encoding="utf-8")
    return jinja2.Environment().from_string(text).module.latest_version


def current_versions_query(name: str, *, skip_rejected: bool = True) -> sql.SQL:
    """What each key of the raw table `name` (`<source>__<entity>`) currently is: as staging
    reads them, or, with `skip_rejected` false, as they landed. The rule is the staging macro
    `latest_version` (dbt_project/macros/landing.sql), rendered here, so it is written once."""
    return sql.SQL(str(_latest_version_macro()(_RawRelation(name), skip_rejected)))


def ensure_raw_table(conn: psycopg.Connection, name: str,
                     status: tuple[bool, bool] | None = None) -> bool:
    """The raw table, made from the layout the migrations keep (`ops.raw_table_layout`) when
    the entity has none yet, and the latest versions of its partitions in
    `ops.partition_versions`. Returns whether any version has landed. `status` is what
    `_TABLE_STATUS` returned, when the caller has just read it."""
    exists, has_heads = status or conn.execute(
        _TABLE_STATUS, {"t": f"raw.{name}", "n": name}).fetchone()
    if exists and has_heads:
        return True
    if not exists:
        if conn.execute("select to_regclass('ops.raw_table_layout')").fetchone()[0] is None:
            raise WarehouseNotMigrated("ops.raw_table_layout")
        conn.execute(sql.SQL("create table if not exists {t} "
                             "(like ops.raw_table_layout including all)").format(
            t=sql.Identifier("raw", name)))
        # versions kept for a table of that name that was dropped are not this table's
        conn.execute("delete from ops.partition_versions where table_name = %s", (name,))
        return False
    # a table landed before the latest versions were kept: take them from the table once
    return rebuild_latest_versions(conn, name) > 0


def rebuild_latest_versions(conn: psycopg.Connection, name: str,
                            partitions: Iterable[str] | None = None) -> int:
    """The documents of the raw table's partitions (all, or those given) made anew from what
    the table holds: after rows were deleted from it (retention), or for a table landed before
    the latest versions were kept. A partition left without rows loses its document. Returns
    how many documents were written. Run under the table's landing lock."""
    table = sql.Identifier("raw", name)
    chosen = None if partitions is None else sorted(set(partitions))
    where = sql.SQL("") if chosen is None else sql.SQL("where partition = any(%s)")
    versions: dict[str, _Versions] = {}
    for partition, key, record_id, digest, is_deleted in conn.execute(
            sql.SQL(_LATEST_PER_PARTITION).format(t=table, where=where),
            () if chosen is None else (chosen,)):
        if (part := versions.get(partition)) is None:
            part = versions[partition] = _Versions({}, set())
        part.heads[key] = (record_id, digest)
        if is_deleted:
            part.deleted.add(key)
    if chosen is None:
        conn.execute("delete from ops.partition_versions where table_name = %s", (name,))
    else:
        conn.execute("delete from ops.partition_versions where table_name = %s "
                     "and partition = any(%s)", (name, chosen))
    with conn.pipeline():
        for partition, part in versions.items():
            _write_versions(conn, name, partition, part.document(), len(part.heads))
    return len(versions)


def detect_drift(records: list[dict], expected: frozenset[str]) -> list[DriftFinding]:
    """Fields that appeared, disappeared or were renamed, against the entity's contract."""
    if not expected or not records:
        return []
    # Records of a batch share a handful of shapes (sets of field names): the comparisons run
    # on the shapes, once each, not on every record. (Field names in the order served are
    # cheaper to count than sets; each distinct order becomes a set once.)
    shapes: Counter[frozenset[str]] = Counter()
    for order, n in Counter(map(tuple, records)).items():
        shapes[frozenset(order)] += n
    present = Counter()
    for shape, n in shapes.items():
        for name in shape:
            present[name] += n
    new_fields = sorted(set(present) - expected)
    findings: list[DriftFinding] = []
    renamed_new: set[str] = set()
    for old in sorted(expected):
        lacking = {shape for shape in shapes if old not in shape}
        if not lacking:
            continue
        # A renamed field: the records that lack the old name are exactly those with a new
        # one. Among several, prefer values of the same JSON type, then the closer name.
        candidates = [new for new in new_fields if new not in renamed_new and
                      {shape for shape in shapes if new in shape} == lacking]
        if len(candidates) > 1:
            old_types = {type(r[old]) for r in records if r.get(old) is not None}

            def likeness(new: str, old=old, old_types=old_types) -> tuple[bool, float]:
                new_types = {type(r[new]) for r in records if r.get(new) is not None}
                return (bool(new_types & old_types), SequenceMatcher(None, old, new).ratio())

            candidates = [max(candidates, key=likeness)]
        affected = sum(shapes[shape] for shape in lacking)
        if candidates:
            renamed_new.add(candidates[0])
            findings.append(DriftFinding("renamed_field", old, affected,
                                         renamed_to=candidates[0]))
        else:
            findings.append(DriftFinding("missing_field", old, affected))
    for new in new_fields:
        if new not in renamed_new:
            findings.append(DriftFinding("new_field", new, present[new]))
    return findings


def get_watermark(conn: psycopg.Connection, spec: EntitySpec, partition: str) -> str | None:
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
    refresh): keys the partition listed before but not now are then marked deleted in it, and
    quarantined records no longer served are resolved.
    """
    name = spec.table
    params = {"batch": batch_id, "partition": partition, "at": extracted_at,
              "source": spec.source, "entity": spec.entity, "table": name,
              "mode": "full" if full else "incremental"}

    with _gc_paused(), conn.transaction():
        # One writer per table at a time: DDL races, the comparison with the latest versions
        # and the block of record ids drawn from the table's sequence all need it. The
        # statements that only read (and draw the first record id this landing may use) go
        # in one round trip, which the server answers while the records are read.
        with conn.pipeline():
            conn.execute("select pg_advisory_xact_lock(hashtext(%s))", (f"raw.{name}",))
            status = conn.execute(_TABLE_STATUS, {"t": f"raw.{name}", "n": name})
            found = _read_versions(conn, name, partition)
            next_id = conn.execute(_NEXT_RECORD_ID, {"t": f"raw.{name}"})
            waiting = conn.execute(_QUARANTINE_OPEN, params) if full else None
            batch = _read_batch(spec, records, partition)
        table_status = status.fetchone()
        if all(table_status):
            versions = _Versions.parse(found.fetchone())
        elif ensure_raw_table(conn, name, table_status):
            versions = _Versions.parse(_read_versions(conn, name, partition).fetchone())
        else:
            versions = _Versions({}, set())
        first_id = next_id.fetchone()[0]
        if first_id is None:  # the table was created just now
            first_id = conn.execute(_NEXT_RECORD_ID, {"t": f"raw.{name}"}).fetchone()[0]
        ids = itertools.count(first_id)  # the ids given in the COPY, then to tombstones

        # the bookkeeping is worked out while the server parses the last rows of the COPY
        book = _land_records(conn, spec, batch, versions, ids, batch_id, partition,
                             extracted_at, lambda: _Bookkeeping.of(spec, batch, versions, ids,
                                                                   full))
        unused = next(ids)
        received, distinct_keys = batch.received, len(batch.keys)
        counts = {
            **params, "total": reported_total, "received": received,
            "distinct": distinct_keys, "current": book.current,
            # a full read must account for every record the source reports
            "difference": (reported_total - (book.current + len(batch.bad)) if full else
                           reported_total - (distinct_keys + len(batch.bad)))
            if reported_total is not None else None}
        last_id = unused - 1 if unused > first_id else None  # first_id .. last_id were given
        batch_row = {**params, "received": received, "landed": batch.landed,
                     "quarantined": 0, "deleted": len(book.withdrawn),
                     "first_id": None if last_id is None else first_id, "last_id": last_id}
        with conn.pipeline():
            if last_id is not None and last_id > first_id:  # the sequence stands at first_id
                conn.execute("select setval(pg_get_serial_sequence(%s, 'record_id'), %s)",
                             (f"raw.{name}", last_id))
            _tombstone(conn, name, book.tombstones, params)
            if book.document is not None:
                _write_versions(conn, name, partition, book.document, len(versions.heads))
            quarantine_rows = _quarantine(conn, batch.bad, params)
            if waiting is not None and waiting.fetchone()[0]:
                _resolve_quarantine(conn, batch.bad, params)
            _record_drift(conn, book.drift, params)
            if book.watermark:
                conn.execute(_ADVANCE_WATERMARK, {**params, "mark": book.watermark})
            conn.execute(_SOURCE_COUNTS, counts)
            if not batch.bad:
                conn.execute(_RECORD_BATCH, batch_row)
        # the batch row counts the records quarantined for the first time
        quarantined = sum(bool(c.fetchone()[0]) for c in quarantine_rows)
        if batch.bad:
            conn.execute(_RECORD_BATCH, {**batch_row, "quarantined": quarantined})
    # Log lines name positions and field names, never values (they may hold personal IDs).
    if batch.bad:
        log.warning("%s.%s partition %s: %d record(s) quarantined", spec.source, spec.entity,
                    partition, len(batch.bad))
    for finding in book.drift:
        log.warning("%s.%s partition %s: schema drift: %s %s%s in %d record(s)", spec.source,
                    spec.entity, partition, finding.change, finding.field,
                    f" -> {finding.renamed_to}" if finding.renamed_to else "",
                    finding.records_affected)
    return LandingResult(received, batch.landed, quarantined, len(book.withdrawn),
                         tuple(book.drift), book.watermark)


_gc_pause_lock = threading.Lock()
_gc_pauses = [0, False]  # landings under way in this process; whether the collector was on


@contextlib.contextmanager
def _gc_paused():
    """The cyclic garbage collector off while a partition lands: a landing allocates a tuple or
    two per record, none in a cycle, and each full collection would walk every object of the
    process (the task's pages of records included) for nothing. Counted, for landings run on
    threads: the last one to finish turns it back on, if it was on."""
    with _gc_pause_lock:
        if _gc_pauses[0] == 0:
            _gc_pauses[1] = gc.isenabled()
            gc.disable()
        _gc_pauses[0] += 1
    try:
        yield
    finally:
        with _gc_pause_lock:
            _gc_pauses[0] -= 1
            if _gc_pauses[0] == 0 and _gc_pauses[1]:
                gc.enable()


@dataclass
class _Batch:
    """A partition's records as landing sees them."""

    keyed: list[tuple[str, dict]] = field(default_factory=list)  # (key, record): can land
    positions: list[int] = field(default_factory=list)  # of the keyed records, as received
    keys: set[str] = field(default_factory=set)
    good: list[dict] = field(default_factory=list)  # every record with a key, repeats too
    # the records that cannot land: (reason, raw text, hash)
    bad: list[tuple[str, str, str]] = field(default_factory=list)
    received: int = 0
    repeats: bool = False  # a key was served more than once (the earlier records set aside)
    newest: dict[str, tuple[int, str]] = field(default_factory=dict)  # key: record id, hash
    landed: int = 0


@dataclass
class _Bookkeeping:
    """What a landing records besides the new versions, worked out once they are known."""

    drift: list[DriftFinding]
    watermark: str | None
    withdrawn: dict[str, int]  # keys a full read no longer lists: the id of each tombstone
    tombstones: dict[int, int]  # the id of each withdrawn key's last version: its tombstone's
    current: int  # the keys the partition now lists
    document: str | None  # the partition's latest versions, when they changed

    @classmethod
    def of(cls, spec: EntitySpec, batch: _Batch, versions: _Versions, ids: Iterator[int],
           full: bool) -> _Bookkeeping:
        heads, deleted, newest = versions.heads, versions.deleted, batch.newest
        drift = detect_drift(batch.good, spec.expected_fields)
        # a record set aside for a later one with its key does not move the watermark past it
        watermark = _watermark(spec, [r for _, r in batch.keyed] if batch.repeats
                               else batch.good)
        gone = sorted(key for key in heads if key not in deleted and key not in batch.keys
                      ) if full else []
        withdrawn = {key: next(ids) for key in gone}
        tombstones = {heads[key][0]: record_id for key, record_id in withdrawn.items()}
        # those live before, less the withdrawn, plus the keys whose version landed here and
        # were not live here before
        current = (len(heads) - len(deleted) - len(gone)
                   + sum(1 for key in newest if key not in heads or key in deleted))
        document = None
        if newest or withdrawn:
            versions.land(newest, withdrawn)
            document = versions.document()
        return cls(drift, watermark, withdrawn, tombstones, current, document)


def _read_batch(spec: EntitySpec, records: Iterable, partition: str) -> _Batch:
    """The records' natural keys; those that cannot land, with the reason."""
    batch = _Batch()
    natural_key, keyed, good, positions = (spec.natural_key, batch.keyed, batch.good,
                                           batch.positions)
    position = -1
    for position, record in enumerate(records):
        key = natural_key(record) if isinstance(record, dict) else None
        if key is None or "\x00" in key:
            batch.bad.append(_bad_record(spec, record, position, partition))
            continue
        keyed.append((key, record))
        good.append(record)
        positions.append(position)
    batch.received = position + 1
    batch.keys.update(key for key, _ in keyed)
    if len(batch.keys) < len(keyed):
        _set_aside_repeated_keys(batch, partition)
    return batch


def _set_aside_repeated_keys(batch: _Batch, partition: str) -> None:
    """A key served twice in one read: the later record is the source's latest word and lands;
    an earlier one with the same payload is the same version, one with another payload is
    quarantined (landing both would make a re-run land the earlier one again)."""
    last: dict[str, int] = {}
    for index, (key, _record) in enumerate(batch.keyed):
        last[key] = index
    kept, kept_positions = [], []
    for index, (key, record) in enumerate(batch.keyed):
        later = last[key]
        if later == index:
            kept.append((key, record))
            kept_positions.append(batch.positions[index])
            continue
        text = canonical_json(record)
        if text != canonical_json(batch.keyed[later][1]):
            batch.bad.append((f"record {batch.positions[index]} of partition {partition} "
                              f"has the natural key of record {batch.positions[later]} and "
                              "another payload: the later one landed", text, payload_hash(text)))
    batch.keyed[:] = kept
    batch.positions[:] = kept_positions
    batch.repeats = True


def _bad_record(spec: EntitySpec, record, position: int, partition: str
                ) -> tuple[str, str, str]:
    text = canonical_json(record)
    if not isinstance(record, dict):
        reason = f"record {position} of partition {partition} is not a JSON object"
    elif "\x00" in (spec.natural_key(record) or ""):
        reason = (f"record {position} of partition {partition} has a NUL character in its "
                  "natural key, which PostgreSQL cannot store")
    elif spec.natural_key(record) is not None:  # a key, so what JSONB refused is a value
        reason = (f"record {position} of partition {partition} has a NUL character in a value, "
                  "which PostgreSQL's JSONB cannot store")
    else:
        missing = [f for f in spec.key_fields if not str(record.get(f) or "").strip()]
        reason = (f"record {position} of partition {partition} has no natural key "
                  f"(missing {', '.join(missing)})")
    return reason, text, payload_hash(text)


@dataclass
class _Versions:
    """The latest version a partition landed of each key (record id, payload hash), and the
    keys whose latest version there is a deletion: its document in ops.partition_versions."""

    heads: dict[str, tuple[int, str]]
    deleted: set[str]

    @classmethod
    def parse(cls, row: tuple[str] | None) -> _Versions:
        if row is None:
            return cls({}, set())
        doc = orjson.loads(row[0])
        return cls(dict(zip(doc["keys"], zip(doc["record_ids"], doc["hashes"], strict=True),
                            strict=True)), set(doc["deleted"]))

    def land(self, newest: dict[str, tuple[int, str]], withdrawn: dict[str, int]) -> None:
        """The versions just landed (live), and the tombstones (record id) of keys withdrawn."""
        self.heads.update(newest)
        self.deleted.difference_update(newest)
        for key, record_id in withdrawn.items():
            self.heads[key] = (record_id, self.heads[key][1])
        self.deleted.update(withdrawn)

    def document(self) -> str:
        keys = sorted(self.heads)
        heads = self.heads
        return orjson.dumps({"keys": keys, "record_ids": [heads[k][0] for k in keys],
                             "hashes": [heads[k][1] for k in keys],
                             "deleted": sorted(self.deleted)}).decode("utf-8")


def _read_versions(conn, name: str, partition: str):
    # never a prepared statement: psycopg prepares a statement run five times on a connection,
    # and a generic plan made while ops was small could scan every partition's document
    return conn.execute("select versions from ops.partition_versions "
                        "where table_name = %s and partition = %s", (name, partition),
                        prepare=False)


def _write_versions(conn, name: str, partition: str, document: str, keys: int) -> None:
    conn.execute("""
        insert into ops.partition_versions (table_name, partition, versions, keys, updated_at)
        values (%s, %s, %s, %s, clock_timestamp())
        on conflict (table_name, partition) do update set
            versions = excluded.versions, keys = excluded.keys,
            updated_at = excluded.updated_at""", (name, partition, document, keys))


# the table's next record id, or null when the table does not exist yet
_NEXT_RECORD_ID = """
    select case when to_regclass(%(t)s) is not null
                then nextval(pg_get_serial_sequence(%(t)s, 'record_id')) end"""

_ADVANCE_WATERMARK = """
    insert into ops.watermarks (source, entity, partition, high_water, batch_id, updated_at)
    values (%(source)s, %(entity)s, %(partition)s, %(mark)s, %(batch)s, clock_timestamp())
    on conflict (source, entity, partition) do update set
        high_water = greatest(ops.watermarks.high_water, excluded.high_water),
        batch_id = excluded.batch_id, updated_at = excluded.updated_at"""

_SOURCE_COUNTS = """
    insert into ops.source_counts (source, entity, batch_id, partition, mode, reported_total,
                                   received, distinct_keys, current_keys, difference, checked_at)
    values (%(source)s, %(entity)s, %(batch)s, %(partition)s, %(mode)s, %(total)s,
            %(received)s, %(distinct)s, %(current)s, %(difference)s, clock_timestamp())
    on conflict (source, entity, batch_id, partition) do update set
        mode = excluded.mode, reported_total = excluded.reported_total,
        received = excluded.received, distinct_keys = excluded.distinct_keys,
        current_keys = excluded.current_keys, difference = excluded.difference,
        checked_at = excluded.checked_at"""

_RECORD_BATCH = """
    insert into ops.batches (batch_id, source, entity, partition, mode, status, received,
                             landed, quarantined, deleted, extracted_at, finished_at,
                             first_record_id, last_record_id)
    values (%(batch)s, %(source)s, %(entity)s, %(partition)s, %(mode)s, 'landed', %(received)s,
            %(landed)s, %(quarantined)s, %(deleted)s, %(at)s, clock_timestamp(), %(first_id)s,
            %(last_id)s)
    on conflict (batch_id, source, entity, partition) do update set
        status = excluded.status, mode = excluded.mode, received = excluded.received,
        landed = ops.batches.landed + excluded.landed,
        quarantined = ops.batches.quarantined + excluded.quarantined,
        deleted = ops.batches.deleted + excluded.deleted,
        finished_at = excluded.finished_at,
        first_record_id = least(ops.batches.first_record_id, excluded.first_record_id),
        last_record_id = greatest(ops.batches.last_record_id, excluded.last_record_id)"""


def _quarantine(conn, bad, params) -> list:
    """Quarantined records, each once per partition: cursors telling whether each is new."""
    return [conn.execute("""
        insert into ops.quarantine (source, entity, partition, reason, raw_text, raw_hash,
            first_batch_id, last_batch_id, first_seen, last_seen)
        values (%(source)s, %(entity)s, %(partition)s, %(reason)s, %(text)s, %(hash)s,
                %(batch)s, %(batch)s, %(at)s, %(at)s)
        on conflict (source, entity, partition, raw_hash) do update set
            last_batch_id = excluded.last_batch_id, last_seen = excluded.last_seen,
            times_seen = ops.quarantine.times_seen
                + (ops.quarantine.last_batch_id <> excluded.last_batch_id)::int,
            resolved_at = null, resolved_by_batch = null, resolution = null
        returning (xmax = 0) as inserted""",
        {**params, "reason": reason, "text": text, "hash": digest})
        for reason, text, digest in bad]


# COPY's binary format: no escaping to do on either side, numbers and times sent as they are
# stored (the server's share of a text COPY was 15% more, its escaping and parsing)
_COPY_HEADER = b"PGCOPY\n\xff\r\n\x00" + struct.pack(">ii", 0, 0)
_COPY_TRAILER = struct.pack(">h", -1)
_PG_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
_HASH_FIELD = struct.pack(">i", 64)  # a hex SHA-256
_ROW_START = struct.Struct(">hiqi")  # 7 fields, the record id (8 bytes), the key's length
_PAYLOAD_START = struct.Struct(">ib")  # the payload's length, the JSONB format version (1)


def _binary_field(data: bytes) -> bytes:
    return struct.pack(">i", len(data)) + data


def _copy_rows(conn, target: sql.Composable, rows: Iterable[bytes],
               meanwhile: Callable[[], _T]) -> _T:
    """COPY rows already in COPY's binary format, a chunk per write; `meanwhile` runs after
    the last write, before the COPY's end is awaited. Returns what it returns."""
    with conn.cursor().copy(sql.SQL("copy {} from stdin (format binary)").format(target)
                            ) as copy:
        chunk: list[bytes] = [_COPY_HEADER]
        for row in rows:
            chunk.append(row)
            if len(chunk) >= _COPY_CHUNK:
                copy.write(b"".join(chunk))
                chunk.clear()
        chunk.append(_COPY_TRAILER)
        copy.write(b"".join(chunk))
        return meanwhile()


def _land_records(conn, spec: EntitySpec, batch: _Batch, versions: _Versions,
                  ids: Iterator[int], batch_id: str, partition: str, extracted_at: datetime,
                  meanwhile: Callable[[], _T]) -> _T:
    """COPY the batch's new versions into the raw table, in the order received, and note in
    the batch the record id and hash of each. Returns what `meanwhile` returns: it runs once
    every row is sent, while the server parses the last of them.

    A version is new unless the same payload is the live latest version the partition landed
    of its key. Each record is serialised, hashed and, when new, written to the COPY at once,
    so that the server parses one chunk while the next is prepared. Record ids are given in
    the COPY (it writes identity values as given), from the table's sequence, which the
    table's landing lock keeps to this writer: the latest versions are then known without
    reading the rows back. The COPY is opened at the first new version only, so an unchanged
    partition costs no statement.
    """
    if extracted_at.tzinfo is None:
        raise ValueError("extracted_at must carry its time zone")
    target = sql.SQL("{} (record_id, natural_key, payload_hash, payload, batch_id, partition, "
                     "extracted_at)").format(sql.Identifier("raw", spec.table))
    microseconds = (extracted_at - _PG_EPOCH) // timedelta(microseconds=1)
    constants = (_binary_field(batch_id.encode("utf-8")) + _binary_field(
        partition.encode("utf-8")) + struct.pack(">iq", 8, microseconds))
    rows = _new_version_rows(spec, batch, versions, partition, ids, constants)
    first = next(rows, None)
    if first is None:
        return meanwhile()
    result = _copy_rows(conn, target, itertools.chain((first,), rows), meanwhile)
    batch.landed = len(batch.newest)
    return result


def _new_version_rows(spec: EntitySpec, batch: _Batch, versions: _Versions, partition: str,
                      ids: Iterator[int], constants: bytes) -> Iterator[bytes]:
    """The COPY row of each new version, noted in `batch.newest`."""
    newest, sha256, dumps = batch.newest, hashlib.sha256, orjson.dumps
    head_of, deleted = versions.heads.get, versions.deleted
    row_start, payload_start, hash_field = _ROW_START.pack, _PAYLOAD_START.pack, _HASH_FIELD
    for (key, record), position in zip(batch.keyed, batch.positions, strict=True):
        try:  # canonical_json_bytes, inlined: this loop runs once per record
            data = dumps(record, option=_ORJSON_OPTIONS)
        except (orjson.JSONEncodeError, TypeError):
            data = canonical_json_bytes(record)
        digest = sha256(data).hexdigest()
        head = head_of(key)
        if head is not None and head[1] == digest and key not in deleted:
            continue  # the same payload is the key's live latest version here
        if b"\\u0000" in data and _has_nul(record):
            batch.bad.append(_bad_record(spec, record, position, partition))
            continue
        record_id = next(ids)
        newest[key] = (record_id, digest)  # each key once (_read_batch)
        key_bytes = key.encode("utf-8")
        yield b"".join((row_start(7, 8, record_id, len(key_bytes)), key_bytes, hash_field,
                        digest.encode("ascii"), payload_start(len(data) + 1, 1), data,
                        constants))


def _tombstone(conn, name: str, tombstones: dict[int, int], params: dict) -> None:
    """Keys whose latest version in this partition is live but which a full read of it no
    longer lists: a tombstone (the last payload again, flagged) records that the partition
    withdrew the key. `tombstones`: the record id of each key's last version, and of its
    tombstone."""
    if not tombstones:
        return
    conn.execute(sql.SQL("""
        insert into {t} (record_id, natural_key, payload, payload_hash, batch_id, partition,
                         extracted_at, is_deleted)
        overriding system value
        select v.record_id, r.natural_key, r.payload, r.payload_hash, %(batch)s,
               %(partition)s, %(at)s, true
        from unnest(%(last)s::bigint[], %(ids)s::bigint[]) as v (last_id, record_id)
        join {t} as r on r.record_id = v.last_id
        order by v.record_id""").format(t=sql.Identifier("raw", name)),
        {**params, "last": list(tombstones), "ids": list(tombstones.values())}, prepare=False)


def _resolve_quarantine(conn, bad, params) -> None:
    """A quarantined record is resolved when a full read of its partition no longer serves it
    (a record that cannot land has no key to be superseded by)."""
    conn.execute("""
        update ops.quarantine set resolved_at = clock_timestamp(),
            resolved_by_batch = %(batch)s, resolution = 'no longer served by the source'
        where source = %(source)s and entity = %(entity)s and partition = %(partition)s
          and resolved_at is null and not (raw_hash = any(%(hashes)s))""",
        {**params, "hashes": [digest for _reason, _text, digest in bad]})


def _watermark(spec: EntitySpec, records: list[dict]) -> str | None:
    """The highest stamp of the records; the parser runs once per distinct stamp."""
    if not spec.watermark_field:
        return None
    marks = []
    field_name = spec.watermark_field
    try:  # distinct values first (a handful per page): the conversions run on those only
        values = {r.get(field_name) for r in records}
    except TypeError:  # a list or object where a stamp belongs
        values = {str(v) for r in records if (v := r.get(field_name))}
    for stamp in {str(v) for v in values if v}:
        try:
            marks.append(spec.watermark_parser(stamp))
        except ValueError:
            pass  # a malformed stamp does not move the watermark; GX reports it
    return max(marks) if marks else None


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
