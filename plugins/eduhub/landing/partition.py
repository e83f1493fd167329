"""One partition of a batch landed, with its bookkeeping, in one transaction."""

from __future__ import annotations

import contextlib
import gc
import itertools
import logging
import os
import threading
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

import psycopg

from eduhub.landing.binary_copy import copy_new_versions
from eduhub.landing.drift import DriftFinding, detect_drift, record_drift
from eduhub.landing.records import Batch, EntitySpec, high_water_mark, read_batch
from eduhub.landing.statements import (
    NEXT_RECORD_ID,
    QUARANTINE_OPEN,
    RECORD_BATCH,
    SOURCE_COUNTS,
    quarantine,
    resolve_quarantine,
    tombstone,
)
from eduhub.landing.versions import TABLE_STATUS, Versions, ensure_raw_table, read_versions, write_versions

log = logging.getLogger(__name__)

# A full read withdraws at most this share of a partition's live keys (and always a few): a
# short read (a lost page, a source that stops after page 1) would otherwise delete learners.
# Past it, nothing is withdrawn, `ops.source_counts.held_deletions` says how many were held,
# and validation rejects the partition, which tells the operators; a run with the param
# `accept_deletions` withdraws them once checked.
DELETION_SHARE_ENV = "EDUHUB_MAX_DELETION_SHARE"
DEFAULT_DELETION_SHARE = 0.05
ALWAYS_WITHDRAWABLE = 5


def deletion_limit(live_keys: int) -> int:
    share = float(os.environ.get(DELETION_SHARE_ENV, DEFAULT_DELETION_SHARE))
    return max(ALWAYS_WITHDRAWABLE, int(live_keys * share))


@dataclass(frozen=True)
class LandingResult:
    received: int
    landed: int
    quarantined: int
    deleted: int = 0
    drift: tuple[DriftFinding, ...] = ()
    watermark: str | None = None
    held_deletions: int = 0


def get_watermark(conn: psycopg.Connection, spec: EntitySpec, partition: str) -> str | None:
    row = conn.execute("select high_water from ops.watermarks where source = %s and entity = %s"
                       " and partition = %s", (spec.source, spec.entity, partition)).fetchone()
    return row[0] if row else None


OVERLAP_ENV = "EDUHUB_WATERMARK_OVERLAP_MINUTES"
DEFAULT_OVERLAP_MINUTES = 60


def read_since(conn: psycopg.Connection, spec: EntitySpec, partition: str) -> str | None:
    """Where an incremental read of the partition starts: its watermark less an overlap
    (`EDUHUB_WATERMARK_OVERLAP_MINUTES`, 60), so that a record stamped just before the
    watermark but written at the source after the last read (a clock a little behind, a long
    transaction) is read too; landing lands it only if it changed. None: a full read."""
    mark = get_watermark(conn, spec, partition)
    if mark is None:
        return None
    try:
        stamp = datetime.fromisoformat(mark)
    except ValueError:
        return mark
    minutes = int(os.environ.get(OVERLAP_ENV) or DEFAULT_OVERLAP_MINUTES)
    return (stamp - timedelta(minutes=minutes)).isoformat()


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
    accept_deletions: bool = False,
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
            status = conn.execute(TABLE_STATUS, {"t": f"raw.{name}", "n": name})
            found = read_versions(conn, name, partition)
            next_id = conn.execute(NEXT_RECORD_ID, {"t": f"raw.{name}"})
            waiting = conn.execute(QUARANTINE_OPEN, params) if full else None
            batch = read_batch(spec, records, partition)
        table_status = status.fetchone()
        if all(table_status):
            versions = Versions.parse(found.fetchone())
        elif ensure_raw_table(conn, name, table_status):
            versions = Versions.parse(read_versions(conn, name, partition).fetchone())
        else:
            versions = Versions({}, set())
        first_id = next_id.fetchone()[0]
        if first_id is None:  # the table was created just now
            first_id = conn.execute(NEXT_RECORD_ID, {"t": f"raw.{name}"}).fetchone()[0]
        ids = itertools.count(first_id)  # the ids given in the COPY, then to tombstones

        # the bookkeeping is worked out while the server parses the last rows of the COPY
        book = copy_new_versions(conn, spec, batch, versions, ids, batch_id, partition,
                             extracted_at, lambda: _Bookkeeping.of(spec, batch, versions, ids,
                                                                   full, extracted_at,
                                                                   accept_deletions))
        unused = next(ids)
        received, distinct_keys = batch.received, len(batch.keys)
        counts = {
            **params, "total": reported_total, "received": received,
            "distinct": distinct_keys, "current": book.current,
            # a full read must account for every record the source reports
            "difference": (reported_total - (book.current + len(batch.bad)) if full else
                           reported_total - (distinct_keys + len(batch.bad)))
            if reported_total is not None else None,
            "held": book.held}
        last_id = unused - 1 if unused > first_id else None  # first_id .. last_id were given
        batch_row = {**params, "received": received, "landed": batch.landed,
                     "quarantined": 0, "deleted": len(book.withdrawn),
                     "first_id": None if last_id is None else first_id, "last_id": last_id,
                     "mark": book.watermark}
        with conn.pipeline():
            if last_id is not None and last_id > first_id:  # the sequence stands at first_id
                conn.execute("select setval(pg_get_serial_sequence(%s, 'record_id'), %s)",
                             (f"raw.{name}", last_id))
            tombstone(conn, name, book.tombstones, params)
            if book.document is not None:
                write_versions(conn, name, partition, book.document, len(versions.heads))
            quarantine_rows = quarantine(conn, batch.bad, params)
            if waiting is not None and waiting.fetchone()[0]:
                resolve_quarantine(conn, batch.bad, params)
            record_drift(conn, book.drift, params)
            conn.execute(SOURCE_COUNTS, counts)
            if not batch.bad:
                conn.execute(RECORD_BATCH, batch_row)
        # the batch row counts the records quarantined for the first time
        quarantined = sum(bool(c.fetchone()[0]) for c in quarantine_rows)
        if batch.bad:
            conn.execute(RECORD_BATCH, {**batch_row, "quarantined": quarantined})
    # Log lines name positions and field names, never values (they may hold personal IDs).
    if batch.bad:
        log.warning("%s.%s partition %s: %d record(s) quarantined", spec.source, spec.entity,
                    partition, len(batch.bad))
    for finding in book.drift:
        log.warning("%s.%s partition %s: schema drift: %s %s%s in %d record(s)", spec.source,
                    spec.entity, partition, finding.change, finding.field,
                    f" -> {finding.renamed_to}" if finding.renamed_to else "",
                    finding.records_affected)
    if book.held:
        log.warning("%s.%s partition %s: the full read no longer lists %d of its %d keys, more "
                    "than may be withdrawn at once: none withdrawn (held for the operators)",
                    spec.source, spec.entity, partition, book.held, book.current)
    return LandingResult(received, batch.landed, quarantined, len(book.withdrawn),
                         tuple(book.drift), book.watermark, book.held)


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
class _Bookkeeping:
    """What a landing records besides the new versions, worked out once they are known."""

    drift: list[DriftFinding]
    watermark: str | None
    withdrawn: dict[str, int]  # keys a full read no longer lists: the id of each tombstone
    tombstones: dict[int, int]  # the id of each withdrawn key's last version: its tombstone's
    current: int  # the keys the partition now lists
    document: str | None  # the partition's latest versions, when they changed
    held: int  # keys a full read no longer lists, past the deletion limit: not withdrawn

    @classmethod
    def of(cls, spec: EntitySpec, batch: Batch, versions: Versions, ids: Iterator[int],
           full: bool, extracted_at: datetime, accept_deletions: bool = False
           ) -> _Bookkeeping:
        heads, deleted, newest = versions.heads, versions.deleted, batch.newest
        drift = detect_drift(batch.good, spec.expected_fields)
        # a record set aside for a later one with its key does not move the watermark past it
        watermark = high_water_mark(spec, [r for _, r in batch.keyed] if batch.repeats
                                    else batch.good, extracted_at)
        gone = sorted(key for key in heads if key not in deleted and key not in batch.keys
                      ) if full else []
        held = 0
        if not accept_deletions and len(gone) > deletion_limit(len(heads) - len(deleted)):
            held, gone = len(gone), []
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
        return cls(drift, watermark, withdrawn, tombstones, current, document, held)
