"""The new versions of a partition into its raw table, through COPY's binary format."""

from __future__ import annotations

import hashlib
import itertools
import struct
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime, timedelta
from typing import TypeVar

import orjson
from psycopg import sql

from eduhub.landing import records
from eduhub.landing.records import (
    ORJSON_OPTIONS,
    Batch,
    EntitySpec,
    bad_record,
    canonical_json_bytes,
    has_nul,
    unstorable_record,
)
from eduhub.landing.versions import Versions

_T = TypeVar("_T")


# rows per COPY write: small enough for the server to parse one while the next is prepared
_COPY_CHUNK = 250


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


def copy_new_versions(conn, spec: EntitySpec, batch: Batch, versions: Versions,
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


def _new_version_rows(spec: EntitySpec, batch: Batch, versions: Versions, partition: str,
                      ids: Iterator[int], constants: bytes) -> Iterator[bytes]:
    """The COPY row of each new version, noted in `batch.newest`."""
    newest, sha256, dumps = batch.newest, hashlib.sha256, orjson.dumps
    head_of, deleted = versions.heads.get, versions.deleted
    row_start, payload_start, hash_field = _ROW_START.pack, _PAYLOAD_START.pack, _HASH_FIELD
    for (key, record), position in zip(batch.keyed, batch.positions, strict=True):
        try:  # canonical_json_bytes, inlined: this loop runs once per record
            data = dumps(record, option=ORJSON_OPTIONS)
        except (orjson.JSONEncodeError, TypeError):
            try:
                data = canonical_json_bytes(record)
            except (ValueError, RecursionError) as exc:  # UnicodeError is a ValueError
                batch.bad.append(unstorable_record(record, position, partition, exc))
                continue
        if len(data) > records.MAX_RECORD_BYTES:
            batch.bad.append(unstorable_record(record, position, partition, None, len(data)))
            continue
        digest = sha256(data).hexdigest()
        head = head_of(key)
        if head is not None and head[1] == digest and key not in deleted:
            continue  # the same payload is the key's live latest version here
        if b"\\u0000" in data and has_nul(record):
            batch.bad.append(bad_record(spec, record, position, partition))
            continue
        record_id = next(ids)
        newest[key] = (record_id, digest)  # each key once (read_batch)
        key_bytes = key.encode("utf-8")
        yield b"".join((row_start(7, 8, record_id, len(key_bytes)), key_bytes, hash_field,
                        digest.encode("ascii"), payload_start(len(data) + 1, 1), data,
                        constants))
