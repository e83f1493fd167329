"""The province as the simulators read it: one SQLite file, indexed by what they look up.

The simulators used to hold every record in memory (8.4 GiB and 40 s to start at province
scale). They now read the records of one page per request from this store: each record is
kept as the exact JSON line of its file, beside the columns the simulators filter and sort on
(school, school year, `updated_at` in microseconds, vendor B's sort key, household,
personal ID). Only the small lists (schools, communes, units) are read into memory.

The store of a data folder is `simulators.sqlite` in that folder, written by `eduhub sandbox
generate` or else by the first server of the folder, and rebuilt by a server when the JSON
Lines files changed since (their sizes and modification times are kept in the store), or
when this module's FORMAT did.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import sqlite3
import tempfile
import threading
import weakref
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

log = logging.getLogger(__name__)

STORE_NAME = "simulators.sqlite"
# Raise when the tables or what goes into them change: older stores are then rebuilt.
FORMAT = "2"
# The files of a generated province (generator.ENTITIES; not imported: the generator imports us).
ENTITIES = ("communes", "schools", "classes", "learners", "staff", "facilities", "results",
            "health", "transcripts", "registry", "pcgd_households", "pcgd_residents", "units")
# Read whole into memory: about a thousand rows each at province scale.
SMALL_ENTITIES = ("communes", "schools", "units")
# Entities listed per school by the school management simulators.
SCHOOL_ENTITIES = ("classes", "learners", "staff", "facilities", "results", "health",
                   "transcripts")
# Vendor B's sort key per entity: these fields as text (a missing value as ""), then the
# record's position in its file. Its cursors carry this key.
SORT_KEYS: dict[str, tuple[str, ...]] = {
    "schools": ("school_code",), "classes": ("class_id",), "learners": ("learner_key",),
    "staff": ("staff_key",), "facilities": ("school_year",),
    "results": ("moet_id", "school_year", "term"), "health": ("moet_id", "school_year"),
    "transcripts": ("moet_id", "school_year"),
}
SORT_COLUMNS = ("sort1", "sort2", "sort3")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)
_BATCH = 5_000

SCHEMA = """
CREATE TABLE meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE small_record (entity TEXT NOT NULL, seq INTEGER NOT NULL, body TEXT NOT NULL,
                           PRIMARY KEY (entity, seq));
CREATE TABLE school_record (
    entity TEXT NOT NULL, seq INTEGER NOT NULL, school_code TEXT, school_year TEXT,
    updated_us INTEGER, sort1 TEXT NOT NULL, sort2 TEXT NOT NULL, sort3 TEXT NOT NULL,
    learner_key TEXT, moet_id TEXT, body TEXT NOT NULL, PRIMARY KEY (entity, seq));
CREATE TABLE person (seq INTEGER PRIMARY KEY, personal_id TEXT, body TEXT NOT NULL);
CREATE TABLE household (seq INTEGER PRIMARY KEY, household_id TEXT, commune_code TEXT,
                        updated_us INTEGER, latest_us INTEGER, body TEXT NOT NULL);
CREATE TABLE resident (seq INTEGER PRIMARY KEY, household_id TEXT, resident_id TEXT,
                       updated_us INTEGER, body TEXT NOT NULL);
"""
INDEXES = """
CREATE INDEX school_record_in_file_order ON school_record (entity, school_code, seq);
CREATE INDEX school_record_in_vendor_b_order
    ON school_record (entity, school_code, sort1, sort2, sort3, seq);
-- covering: the persistent faults scan every learner and household, not their bodies
CREATE INDEX school_record_fault_keys ON school_record (entity, seq, school_code, learner_key, moet_id);
CREATE INDEX household_fault_keys ON household (seq, household_id, commune_code);
CREATE INDEX person_by_personal_id ON person (personal_id, seq);
CREATE INDEX household_by_commune ON household (commune_code, household_id, seq);
CREATE INDEX resident_by_household ON resident (household_id, resident_id, seq);
"""


def micros(stamp) -> int | None:
    """An ISO timestamp with its offset as microseconds since 1970 UTC: compared as integers,
    these order exactly as the aware datetimes do. None for anything else."""
    if not isinstance(stamp, str):
        return None
    try:
        moment = datetime.fromisoformat(stamp)
    except ValueError:
        return None
    if moment.tzinfo is None:
        return None
    return (moment - _EPOCH) // _MICROSECOND


def _text(value) -> str | None:
    """Only text goes into a lookup column: a number must not match a code by SQLite's
    conversions when the in-memory simulators' comparisons would not have matched it."""
    return value if isinstance(value, str) else None


def _sort_key(entity: str, row: dict) -> list[str]:
    fields = SORT_KEYS.get(entity, ())
    values = [str(row.get(f) or "") for f in fields]
    return values + [""] * (len(SORT_COLUMNS) - len(values))


def fingerprint(data_dir: Path) -> str:
    """What the store was built from: each file's size and modification time."""
    stats = {}
    for entity in ENTITIES:
        with contextlib.suppress(FileNotFoundError):
            st = (Path(data_dir) / f"{entity}.jsonl").stat()
            stats[entity] = [st.st_size, st.st_mtime_ns]
    return json.dumps({"format": FORMAT, "files": stats}, sort_keys=True)


# --- building ------------------------------------------------------------------------------

Lines = Iterable[tuple[str, dict]]  # (the record's JSON text, the record)


def _file_lines(path: Path) -> Iterator[tuple[str, dict]]:
    with path.open(encoding="utf-8") as f:
        for line in f:
            text = line.rstrip("\n")
            yield text, json.loads(text)


def _row_lines(rows: Iterable[dict]) -> Iterator[tuple[str, dict]]:
    for row in rows:
        # dict order kept (no sort_keys): the record decodes to the same dict, nested values too
        yield json.dumps(row, ensure_ascii=False), row


def _batches(values: Iterable[tuple]) -> Iterator[list[tuple]]:
    batch = []
    for value in values:
        batch.append(value)
        if len(batch) >= _BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


def _insert(db: sqlite3.Connection, entity: str, lines: Lines) -> None:
    if entity in SMALL_ENTITIES:
        statement = "INSERT INTO small_record VALUES (?, ?, ?)"
        values = ((entity, seq, text) for seq, (text, _row) in enumerate(lines))
    elif entity in SCHOOL_ENTITIES:
        statement = "INSERT INTO school_record VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        values = ((entity, seq, _text(r.get("school_code")), _text(r.get("school_year")),
                   micros(r.get("updated_at")), *_sort_key(entity, r),
                   _text(r.get("learner_key")), _text(r.get("moet_id")), text)
                  for seq, (text, r) in enumerate(lines))
    elif entity == "registry":
        statement = "INSERT INTO person VALUES (?, ?, ?)"
        values = ((seq, _text(r.get("personal_id")), text) for seq, (text, r) in enumerate(lines))
    elif entity == "pcgd_households":
        statement = "INSERT INTO household VALUES (?, ?, ?, ?, NULL, ?)"
        values = ((seq, _text(r.get("household_id")), _text(r.get("commune_code")),
                   micros(r.get("updated_at")), text) for seq, (text, r) in enumerate(lines))
    elif entity == "pcgd_residents":
        statement = "INSERT INTO resident VALUES (?, ?, ?, ?, ?)"
        values = ((seq, _text(r.get("household_id")), _text(r.get("resident_id")),
                   micros(r.get("updated_at")), text) for seq, (text, r) in enumerate(lines))
    else:
        return
    for batch in _batches(values):
        db.executemany(statement, batch)


def _build(target: Path, sources: Mapping[str, Lines], built_from: str) -> None:
    """Write the store at `target`, atomically: a reader sees the old store or the new one."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, partial = tempfile.mkstemp(prefix=target.name + ".", suffix=".partial", dir=target.parent)
    os.close(fd)
    try:
        db = sqlite3.connect(partial)
        try:
            # a partial file is thrown away on failure: no journal, no waiting for the disk
            db.execute("PRAGMA journal_mode = OFF")
            db.execute("PRAGMA synchronous = OFF")
            db.executescript(SCHEMA)
            for entity, lines in sources.items():
                _insert(db, entity, lines)
            db.executescript(INDEXES)
            # A household changed when it or one of its residents did (the aggregate max skips
            # residents without a stamp; the in-memory simulators could not start with those).
            db.execute("""
                UPDATE household SET latest_us = (
                    SELECT CASE WHEN m IS NULL OR m < household.updated_us
                                THEN household.updated_us ELSE m END
                    FROM (SELECT max(updated_us) AS m FROM resident
                          WHERE resident.household_id = household.household_id))""")
            db.execute("INSERT INTO meta VALUES ('built_from', ?)", (built_from,))
            db.commit()
            db.execute("ANALYZE")
        finally:
            db.close()
        os.replace(partial, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.remove(partial)
        raise


def build_for_folder(data_dir: Path, target: Path | None = None) -> Path:
    """Build the store of a data folder from its JSON Lines files; returns its path."""
    data_dir = Path(data_dir)
    target = target or data_dir / STORE_NAME
    built_from = fingerprint(data_dir)
    sources = {e: _file_lines(data_dir / f"{e}.jsonl") for e in ENTITIES
               if (data_dir / f"{e}.jsonl").exists()}
    _build(target, sources, built_from)
    return target


def _cache_path(data_dir: Path) -> Path:
    """Where the store of a folder we may not write into goes."""
    name = hashlib.sha256(str(data_dir.resolve()).encode()).hexdigest()[:16]
    return Path(tempfile.gettempdir()) / "eduhub-sandbox-stores" / f"{name}.sqlite"


def _built_from(path: Path) -> str | None:
    try:
        db = sqlite3.connect(f"{path.as_uri()}?mode=ro", uri=True)
        try:
            row = db.execute("SELECT value FROM meta WHERE name = 'built_from'").fetchone()
        finally:
            db.close()
    except sqlite3.Error:
        return None
    return row[0] if row else None


def store_path(data_dir: Path) -> Path:
    """The store of `data_dir`, up to date with its files: built or rebuilt if needed."""
    data_dir = Path(data_dir)
    if not data_dir.is_dir():
        raise FileNotFoundError(f"no generated province at {data_dir}")
    current = fingerprint(data_dir)
    for path in (data_dir / STORE_NAME, _cache_path(data_dir)):
        if path.exists() and _built_from(path) == current:
            return path
    try:
        return build_for_folder(data_dir)
    except OSError as exc:
        log.info("cannot write the store into %s (%s): building it in the temporary folder",
                 data_dir, exc)
        return build_for_folder(data_dir, _cache_path(data_dir))


# --- reading -------------------------------------------------------------------------------

class ProvinceStore:
    """Read access to a store; safe to share between threads (a connection per thread)."""

    def __init__(self, path: Path, temporary_dir: Path | None = None):
        self.path = Path(path)
        self._local = threading.local()
        self._uri = f"{self.path.as_uri()}?mode=ro"
        small: dict[str, list[dict]] = {e: [] for e in SMALL_ENTITIES}
        for entity, body in self._db().execute(
                "SELECT entity, body FROM small_record ORDER BY entity, seq"):
            small[entity].append(json.loads(body))
        self.schools: list[dict] = small["schools"]
        self.communes: list[dict] = small["communes"]
        self.units: list[dict] = small["units"]
        self._cleanup = (weakref.finalize(self, shutil.rmtree, temporary_dir, True)
                         if temporary_dir else None)

    @classmethod
    def for_folder(cls, data_dir: Path) -> ProvinceStore:
        return cls(store_path(data_dir))

    @classmethod
    def from_rows(cls, data: Mapping[str, Sequence[dict]]) -> ProvinceStore:
        """A store of records held in memory (`generator.load`'s shape), in a temporary folder
        removed with the store."""
        folder = Path(tempfile.mkdtemp(prefix="eduhub-sandbox-store-"))
        try:
            path = folder / STORE_NAME
            _build(path, {e: _row_lines(data[e]) for e in ENTITIES if e in data}, "memory")
            return cls(path, temporary_dir=folder)
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise

    @classmethod
    def of(cls, data: ProvinceStore | Mapping[str, Sequence[dict]]) -> ProvinceStore:
        return data if isinstance(data, ProvinceStore) else cls.from_rows(data)

    def close(self) -> None:
        """Remove a temporary store now (the threads' connections close with their threads)."""
        if self._cleanup:
            self._cleanup()

    def _db(self) -> sqlite3.Connection:
        db = getattr(self._local, "db", None)
        if db is None:
            db = sqlite3.connect(self._uri, uri=True)
            self._local.db = db
        return db

    def _bodies(self, sql: str, seqs: Sequence[int], *params) -> list[dict]:
        """The records at `seqs`, in that order."""
        if not seqs:
            return []
        marks = ",".join("?" * len(seqs))
        found = dict(self._db().execute(sql.format(marks=marks), (*params, *seqs)))
        return [json.loads(found[s]) for s in seqs]

    # the school management simulators

    def school_seqs(self, entity: str, school_code: str, since: datetime | None = None,
                    school_year: str | None = None) -> list[int]:
        """Positions of a school's records of `entity` in their file, in file order, changed
        strictly after `since` and of `school_year` when given."""
        sql, params = self._school_filter(entity, school_code, since, school_year)
        return [s for (s,) in self._db().execute(f"SELECT seq FROM school_record WHERE {sql} "
                                                 "ORDER BY seq", params)]

    def vendor_b_keys(self, entity: str, school_code: str, since: datetime | None = None,
                      school_year: str | None = None) -> list[tuple]:
        """Vendor B's sort keys (the key fields, then the position in the file) of a school's
        records, in key order; the position is the last item of each."""
        sql, params = self._school_filter(entity, school_code, since, school_year)
        width = len(SORT_KEYS[entity])
        columns = ", ".join(SORT_COLUMNS[:width])
        return [tuple(row) for row in self._db().execute(
            f"SELECT {columns}, seq FROM school_record WHERE {sql} "
            "ORDER BY sort1, sort2, sort3, seq", params)]

    @staticmethod
    def _school_filter(entity, school_code, since, school_year) -> tuple[str, list]:
        sql, params = "entity = ? AND school_code = ?", [entity, school_code]
        if since is not None:
            sql += " AND updated_us > ?"
            params.append((since - _EPOCH) // _MICROSECOND)
        if school_year is not None:
            sql += " AND school_year = ?"
            params.append(school_year)
        return sql, params

    def school_records(self, entity: str, seqs: Sequence[int]) -> list[dict]:
        return self._bodies("SELECT seq, body FROM school_record WHERE entity = ? "
                            "AND seq IN ({marks})", seqs, entity)

    # the population service

    def person(self, personal_id: str) -> dict | None:
        """The registry's record of a personal ID (the last one, were there two)."""
        row = self._db().execute("SELECT body FROM person WHERE personal_id = ? "
                                 "ORDER BY seq DESC LIMIT 1", (personal_id,)).fetchone()
        return json.loads(row[0]) if row else None

    # PCGD-XMC

    def household_communes(self) -> set[str]:
        return {c for (c,) in self._db().execute("SELECT DISTINCT commune_code FROM household")}

    def household_seqs(self, commune_code: str, since: datetime | None = None) -> list[int]:
        """A commune's households by household ID (then file order), those that changed, or
        one of whose residents did, strictly after `since`."""
        sql, params = "commune_code = ?", [commune_code]
        if since is not None:
            sql += " AND latest_us > ?"
            params.append((since - _EPOCH) // _MICROSECOND)
        return [s for (s,) in self._db().execute(
            f"SELECT seq FROM household WHERE {sql} ORDER BY household_id, seq", params)]

    def households(self, seqs: Sequence[int]) -> list[tuple[dict, list[dict]]]:
        """The households at `seqs` with their residents (by resident ID, then file order)."""
        households = self._bodies("SELECT seq, body FROM household WHERE seq IN ({marks})", seqs)
        ids = sorted({h["household_id"] for h in households if isinstance(h["household_id"], str)})
        members: dict[str, list[dict]] = {i: [] for i in ids}
        if ids:
            marks = ",".join("?" * len(ids))
            for household_id, body in self._db().execute(
                    f"SELECT household_id, body FROM resident WHERE household_id IN ({marks}) "
                    "ORDER BY household_id, resident_id, seq", ids):
                members[household_id].append(json.loads(body))
        return [(h, members.get(h["household_id"], [])) for h in households]

    # what the persistent faults are drawn from

    def records(self, entity: str, fields: Sequence[str]) -> Iterator[dict]:
        """Some fields of every record of `entity`, in file order (lookup columns only)."""
        if entity in SMALL_ENTITIES:
            yield from {"schools": self.schools, "communes": self.communes,
                        "units": self.units}[entity]
            return
        table, where = {"pcgd_households": ("household", "1"),
                        "learners": ("school_record", "entity = 'learners'")}[entity]
        columns = ", ".join(fields)
        for values in self._db().execute(f"SELECT {columns} FROM {table} WHERE {where} "
                                         "ORDER BY seq"):
            yield dict(zip(fields, values, strict=True))
