"""File drops into `raw`: each xlsx class export once, through the common landing path.

`ops.files` remembers every file by path and content hash: a file already landed (or
rejected) is not read again; a changed file is. A rejected file is recorded with its
message and the other files still land. A drop folder named after a school that one of the
school management systems lists is refused: that school's records come from its API, and a
class list dropped for it would count its learners twice. A drop folder stands for a school
only when the Sở's registry (validated) lists it as an open school that reports by class
exports: any other folder's files wait, recorded `held` with the reason, and are read once
the registry lists the school so (a code the registry does not know would otherwise create a
school, and re-home it).

A landed file that is no longer in the folder is recorded in `ops.vanished_files` (since when);
its learners stay current (only a newer file of the class withdraws one) and retention purges
its rows once it has been missing for longer than the period. A folder where no file is found
at all is taken for one not mounted, not for every school withdrawing its lists.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

from psycopg import sql

from eduhub import warehouse
from eduhub.landing import current_versions_query, land_partition
from eduhub.pipelines.school_registry import registered_units
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


def registry_refusal(school_code: str, registry: dict[str, dict] | None, on: date
                     ) -> str | None:
    """Why the registry does not let a drop folder stand for this school (None: it does)."""
    if registry is None:
        return "no validated school registry has landed yet: the file waits for it"
    unit = registry.get(school_code)
    if unit is None:
        return f"school {school_code} is not in the Sở's registry of units"
    if unit.get("closed_on") and str(unit["closed_on"]) <= on.isoformat():
        return f"school {school_code} closed on {unit['closed_on']} (registry)"
    if unit.get("channel") != file_exports.SOURCE:
        return (f"school {school_code} reports through {unit.get('channel')} according to the "
                "registry, not by class exports")
    return None


def land_file_drops(drop_dir: Path, conninfo: str, batch_id: str) -> FileDropSummary:
    landed, skipped, rejected = [], [], {}
    with warehouse.connect(conninfo) as conn:
        elsewhere = api_schools(conn)
        registry = registered_units(conn)
        today = datetime.now(UTC).date()
        drops = file_exports.scan(drop_dir)
        _note_vanished(conn, [d.relative for d in drops])
        for drop in drops:
            try:
                digest = drop.sha256
            except OSError as exc:  # unreadable here (permissions): the others still land
                rejected[drop.relative] = f"{drop.relative}: cannot be read ({type(exc).__name__})"
                log.error("file drop rejected: %s", rejected[drop.relative])
                continue
            seen = conn.execute(
                "select status from ops.files where source = %s and relative_path = %s "
                "and sha256 = %s and status <> 'held'",
                (file_exports.SOURCE, drop.relative, digest)).fetchone()
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
            refusal = registry_refusal(drop.school_code, registry, today)
            if refusal:  # read again at the next run: the registry may list the school then
                rejected[drop.relative] = f"{drop.relative}: {refusal}"
                log.error("file drop held: %s", rejected[drop.relative])
                _record(conn, drop.relative, digest, "held", rejected[drop.relative], None,
                        batch_id)
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


def _note_vanished(conn, present: list[str]) -> None:
    """Landed files missing from the folder since when; a file back again is no longer."""
    if not present:
        log.warning("no class file in the drop folder: taken for a folder not mounted, no file "
                    "is recorded as vanished")
        return
    with conn.transaction():
        conn.execute("delete from ops.vanished_files where source = %s and "
                     "relative_path = any(%s)", (file_exports.SOURCE, present))
        missing = conn.execute("""
            insert into ops.vanished_files (source, relative_path, missing_since)
            select distinct source, relative_path, clock_timestamp() from ops.files
            where source = %s and status = 'landed' and not relative_path = any(%s)
            on conflict do nothing
            returning relative_path""", (file_exports.SOURCE, present)).fetchall()
    if missing:
        log.warning("%d landed class file(s) no longer in the drop folder: their learners stay "
                    "until a newer file of the class, their rows are purged after the retention "
                    "period", len(missing))


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
