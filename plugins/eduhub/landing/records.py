"""Records as landing sees them: natural keys, canonical JSON and its hash, the records
that cannot land (with the reason), a partition's high-water mark."""

from __future__ import annotations

import hashlib
import json
import logging
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime

import orjson

log = logging.getLogger(__name__)

_IDENTIFIER = re.compile(r"^[a-z][a-z0-9_]*$")


KEY_SEPARATOR = "|"


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


def raw_table_name(source: str, entity: str) -> str:
    for part in (source, entity):
        if not _IDENTIFIER.match(part):
            raise ValueError(f"invalid source or entity name {part!r}")
    return f"{source}__{entity}"


ORJSON_OPTIONS = orjson.OPT_SORT_KEYS


def canonical_json_bytes(record) -> bytes:
    """The record as compact JSON with sorted keys, UTF-8: what is stored and hashed."""
    try:
        return orjson.dumps(record, option=ORJSON_OPTIONS)
    except (orjson.JSONEncodeError, TypeError):
        # what orjson refuses (integers beyond 64 bits, keys that are not text): the standard
        # library gives the same layout
        return json.dumps(record, ensure_ascii=False, sort_keys=True,
                          separators=(",", ":")).encode("utf-8")


# A record larger than this is quarantined (JSONB stops at 255 MB; no real record comes near).
MAX_RECORD_BYTES = 64 * 1024 * 1024
# what the sources' transport puts in place of a value nested too deeply to be read: the NUL
# makes JSONB refuse it, so its record is quarantined (bad_record names the reason)
TOO_DEEP = "\x00eduhub: a value nested too deeply to be read was cut out here"
# how deep the text kept of an unstorable record goes
_KEPT_DEPTH = 32


def quarantine_text(record) -> str:
    """The record as text for the quarantine, whatever it holds: canonical JSON when it has
    one; else escaped JSON (a lone surrogate), else its outer levels (nesting too deep)."""
    try:
        return canonical_json(record)
    except (ValueError, RecursionError, TypeError):
        pass
    try:
        return json.dumps(record, ensure_ascii=True, sort_keys=True, separators=(",", ":"),
                          default=str)
    except RecursionError:
        return json.dumps(_outer_levels(record, _KEPT_DEPTH), ensure_ascii=True, default=str)


def _outer_levels(value, depth: int):
    if isinstance(value, dict):
        return ({str(k): _outer_levels(v, depth - 1) for k, v in value.items()} if depth
                else "…(deeper levels not kept)")
    if isinstance(value, list):
        return [_outer_levels(v, depth - 1) for v in value] if depth else "…(deeper levels not kept)"
    return value


def unstorable_record(record, position: int, partition: str, error: Exception | None,
                      size: int | None = None) -> tuple[str, str, str]:
    """A record with a key that cannot be stored as JSONB: the reason, its text, its hash."""
    where = f"record {position} of partition {partition}"
    if size is not None:
        reason = f"{where} is {size} bytes, more than the {MAX_RECORD_BYTES} a record may hold"
    elif isinstance(error, RecursionError):
        reason = f"{where} is nested too deeply to be stored"
    elif isinstance(error, UnicodeError):
        reason = f"{where} has text that is not valid Unicode (a lone surrogate)"
    else:
        reason = f"{where} cannot be written as JSON ({type(error).__name__})"
    text = quarantine_text(record)
    if size is not None:  # past the cap: its first megabyte is kept
        text = text[:1_000_000]
    return reason, text, payload_hash(text)


def has_nul(value) -> bool:
    """Whether a NUL character is in a text of the record (keys too): JSONB refuses it."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(has_nul(k) or has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(has_nul(v) for v in value)
    return False


def canonical_json(record) -> str:
    return canonical_json_bytes(record).decode("utf-8")


def payload_hash(text: str | bytes) -> str:
    return hashlib.sha256(text.encode("utf-8") if isinstance(text, str) else text).hexdigest()


@dataclass
class Batch:
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


def read_batch(spec: EntitySpec, records: Iterable, partition: str) -> Batch:
    """The records' natural keys; those that cannot land, with the reason."""
    batch = Batch()
    natural_key, keyed, good, positions = (spec.natural_key, batch.keyed, batch.good,
                                           batch.positions)
    position = -1
    for position, record in enumerate(records):
        key = natural_key(record) if isinstance(record, dict) else None
        if key is None or "\x00" in key:
            batch.bad.append(bad_record(spec, record, position, partition))
            continue
        keyed.append((key, record))
        good.append(record)
        positions.append(position)
    batch.received = position + 1
    batch.keys.update(key for key, _ in keyed)
    if len(batch.keys) < len(keyed):
        _set_aside_repeated_keys(batch, partition)
    return batch


def _set_aside_repeated_keys(batch: Batch, partition: str) -> None:
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
        text = quarantine_text(record)
        if text != quarantine_text(batch.keyed[later][1]):
            batch.bad.append((f"record {batch.positions[index]} of partition {partition} "
                              f"has the natural key of record {batch.positions[later]} and "
                              "another payload: the later one landed", text, payload_hash(text)))
    batch.keyed[:] = kept
    batch.positions[:] = kept_positions
    batch.repeats = True


def bad_record(spec: EntitySpec, record, position: int, partition: str
                ) -> tuple[str, str, str]:
    text = quarantine_text(record)
    if not isinstance(record, dict):
        reason = f"record {position} of partition {partition} is not a JSON object"
    elif "\x00" in (spec.natural_key(record) or ""):
        reason = (f"record {position} of partition {partition} has a NUL character in its "
                  "natural key, which PostgreSQL cannot store")
    elif spec.natural_key(record) is not None and json.dumps(TOO_DEEP)[1:-1] in text:
        reason = (f"record {position} of partition {partition} is nested too deeply to be read "
                  "(a value was cut out at the source's response)")
    elif spec.natural_key(record) is not None:  # a key, so what JSONB refused is a value
        reason = (f"record {position} of partition {partition} has a NUL character in a value, "
                  "which PostgreSQL's JSONB cannot store")
    else:
        missing = [f for f in spec.key_fields if not str(record.get(f) or "").strip()]
        reason = (f"record {position} of partition {partition} has no natural key "
                  f"(missing {', '.join(missing)})")
    return reason, text, payload_hash(text)


def high_water_mark(spec: EntitySpec, records: list[dict], extracted_at: datetime | None = None
                    ) -> str | None:
    """The highest stamp of the records, never past `extracted_at`: a stamp from the future (a
    wrong clock, a typo: 2099) would otherwise put every later change before the watermark,
    and the incremental sync would stop seeing them. The parser runs once per distinct
    stamp."""
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
    return _not_after(max(marks), extracted_at) if marks else None


def _not_after(mark: str, extracted_at: datetime | None) -> str:
    """The ISO stamp, or the extraction time in its offset when the stamp is later."""
    try:
        stamp = datetime.fromisoformat(mark)
    except ValueError:
        return mark
    if extracted_at is None or stamp.tzinfo is None or stamp <= extracted_at:
        return mark
    log.warning("a record's stamp is after the extraction time: the watermark stays at the "
                "extraction time")
    return extracted_at.astimezone(stamp.tzinfo).isoformat()
