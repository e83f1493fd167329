"""File drops into `raw`: each xlsx class export once, through the common landing path.

`ops.files` remembers every file by path and content hash: a file already landed (or
rejected) is not read again; a changed file is. A rejected file is recorded with its
message and the other files still land. A drop folder named after a school that one of the
school management systems lists is refused: that school's records come from its API, and a
class list dropped for it would count its learners twice.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from psycopg import sql

from eduhub import warehouse
from eduhub.landing import current_versions_query, land_partition
from eduhub.sources import file_exports

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class FileDropSummary:
    landed: list[str]
    skipped: list[str]
    rejected: dict[str, str]


def api_schools(conn) -> dict[str, str]:
    """school code -> the school management system whose school list holds it (as landed)."""
    from eduhub.pipelines.school_management import SOURCES

    schools: dict[str, str] = {}
    for source, (spec, _) in SOURCES.items():
        if conn.execute("select to_regclass(%s)", (f"raw.{spec.table}",)).fetchone()[0]:
            schools |= {r[0]: source for r in conn.execute(sql.SQL(
                "select natural_key from ({}) as c").format(
                current_versions_query(spec.table, validated_only=False)))}
    return schools


def land_file_drops(drop_dir: Path, conninfo: str, batch_id: str) -> FileDropSummary:
    landed, skipped, rejected = [], [], {}
    with warehouse.connect(conninfo) as conn:
        elsewhere = api_schools(conn)
        for drop in file_exports.scan(drop_dir):
            try:
                digest = drop.sha256
            except OSError as exc:  # unreadable here (permissions): the others still land
                rejected[drop.relative] = f"{drop.relative}: cannot be read ({type(exc).__name__})"
                log.error("file drop rejected: %s", rejected[drop.relative])
                continue
            seen = conn.execute(
                "select status from ops.files where source = %s and relative_path = %s "
                "and sha256 = %s", (file_exports.SOURCE, drop.relative, digest)).fetchone()
            if seen:
                # landed already, or rejected already (the rejection stays in ops.files; the
                # school's corrected file has another hash and is read then)
                skipped.append(drop.relative)
                continue
            if drop.school_code in elsewhere:
                message = (f"{drop.relative}: school {drop.school_code} reports through the "
                           f"{elsewhere[drop.school_code]} API; a drop folder may not stand "
                           "for it")
                rejected[drop.relative] = message
                log.error("file drop rejected: %s", message)
                _record(conn, drop.relative, digest, "rejected", message, None, batch_id)
                continue
            try:
                records = file_exports.read_rows(drop)
            except file_exports.RejectedFile as exc:
                rejected[drop.relative] = str(exc)
                log.error("file drop rejected: %s", exc)
                _record(conn, drop.relative, digest, "rejected", str(exc), None, batch_id)
                continue
            # The file is the partition: a learner missing from a new version of the class
            # list is marked deleted there (unless listed in another class meanwhile). The
            # newer file of the class is itself the proof: its deletions are never held.
            land_partition(conn, file_exports.LEARNERS, records, batch_id=batch_id,
                           partition=drop.relative, extracted_at=datetime.now(UTC), full=True,
                           reported_total=len(records), accept_deletions=True)
            _record(conn, drop.relative, digest, "landed", None, len(records), batch_id)
            landed.append(drop.relative)
    return FileDropSummary(landed, skipped, rejected)


def _record(conn, relative, digest, status, message, rows, batch_id) -> None:
    with conn.transaction():
        conn.execute("""
            insert into ops.files (source, relative_path, sha256, status, message, rows,
                                   batch_id, processed_at)
            values (%s, %s, %s, %s, %s, %s, %s, clock_timestamp())
            on conflict (source, relative_path, sha256) do update set
                status = excluded.status, message = excluded.message, rows = excluded.rows,
                batch_id = excluded.batch_id, processed_at = excluded.processed_at""",
            (file_exports.SOURCE, relative, digest, status, message, rows, batch_id))
