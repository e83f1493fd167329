"""Retention of landed raw payloads (what the DAG purge_raw_payloads runs).

Raw tables keep every version of every record as received; they hold personal data, so they
keep it only as long as the platform needs it: the current school year and the previous ones
up to a configured number of school years (default 3: the current year and the two earlier
ones the reports compare against). School years are those of the school calendar
(`eduhub.school_calendar`: a year starts on its opening day, 5 September by default, and the
summer belongs to the year that just ended). With `cutoff` the start of the oldest kept school
year, a landed row is purged when it was extracted before the cutoff
and

- a newer version of its record has landed since in its partition (and was not rejected):
  it is history;
- or its partition withdrew the record (its latest version there is a deletion: deleted at the
  source, or moved to another partition) before the cutoff;
- or it lies in a partition that validation rejected (never current);

and whatever its extraction date, when its payload belongs to a school year before the cutoff
(`school_year` / `nam_hoc`). The current version of a record that is still served stays, however
old: staging reads it (an unchanged school is landed once), and so does a version that another
partition's newer one supersedes while its own partition still lists it (landing compares with
it). Where a purged row was the latest version of its partition and key, the
partition's latest versions are made anew from what the table still holds, so that landing
compares the next version with that. Quarantined raw text last seen before the cutoff goes
too, and so do the population database's answers extracted before it (current or not: a
record still in a source is asked about again), the learners' status history closed before it
(`snapshots`), the records and evidence shown to an identity reviewer whose decision is
older (the decision stays), the matching models trained before it (but the one in use), and
the rows of a class file missing from the drop folder since before it (`ops.vanished_files`).
docs/privacy.md lists every table holding personal data and its period. What was purged
(table, rows, the extraction dates it spanned) is recorded in `ops.retention_purges`; no
payload or key is logged.

The run's day fixes the cutoff (no clock), and a re-run purges nothing more.
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from datetime import date

from psycopg import sql

from eduhub import landing, school_calendar, warehouse

log = logging.getLogger(__name__)

SCHOOL_YEARS_ENV = "EDUHUB_RAW_RETENTION_SCHOOL_YEARS"
DEFAULT_SCHOOL_YEARS = 3
# payload fields naming the school year a record belongs to (vendor A / vendor B / the folder
# of a file drop)
SCHOOL_YEAR_FIELDS = ("school_year", "nam_hoc", "_school_year")

# Raw tables whose current versions also go once older than the period: the population
# database's answers (personal ID, name, date of birth of each person asked about) are kept
# only as long as the period; a record still in a source is asked about again.
AGE_LIMITED_TABLES = ("population__verifications",)

# {t}: the raw table; the rejected partitions as the staging macro latest_version reads them
_PURGE = """
with rejected as (
    select batch_id, partition from ops.batches
    where source = %(source)s and entity = %(entity)s and status = 'rejected'
),
usable as (
    select r.record_id, r.natural_key, r.partition, r.is_deleted, r.extracted_at from {t} as r
    where not exists (select 1 from rejected as x
                      where x.batch_id = r.batch_id and x.partition = r.partition)
),
latest as (
    select distinct on (natural_key, partition) natural_key, partition, record_id, is_deleted,
           extracted_at
    from usable order by natural_key, partition, record_id desc
),
doomed as (
    select r.record_id from {t} as r
    left join latest on latest.natural_key = r.natural_key and latest.partition = r.partition
    where (r.extracted_at < %(cutoff)s and (
            latest.record_id > r.record_id
            or (latest.is_deleted and latest.extracted_at < %(cutoff)s)
            or latest.record_id is null
            or exists (select 1 from rejected as x
                       where x.batch_id = r.batch_id and x.partition = r.partition)))
       or coalesce({year_fields}) < %(cutoff_year)s
       or (%(age_limited)s and r.extracted_at < %(cutoff)s)
       or r.partition in (select v.relative_path from ops.vanished_files as v
                          where v.source = %(source)s and v.missing_since < %(cutoff)s)
)
delete from {t} as r using doomed where r.record_id = doomed.record_id
returning r.partition, r.extracted_at
"""


# Personal data outside raw, past the period (docs/privacy.md): each statement returns the
# time each purged row dates from.
_BEYOND_RAW = (
    # status history closed before the oldest kept school year
    ("snapshots.learner_status_history", """
        delete from snapshots.learner_status_history where dbt_valid_to < %(cutoff)s
        returning dbt_valid_to"""),
    # a reviewer's decision stays (later matches apply it); the two records and the evidence
    # shown to the reviewer go once the decision is older than the period
    ("pii.match_review_queue", """
        update pii.match_review_queue
        set evidence = '{}'::jsonb, left_record = '{}'::jsonb, right_record = '{}'::jsonb
        where status in ('accepted', 'rejected') and decided_at < %(cutoff)s
            and (left_record <> '{}'::jsonb or right_record <> '{}'::jsonb
                 or evidence <> '{}'::jsonb)
        returning decided_at"""),
    # trained models (term frequencies of names) older than the period, but the one in use
    ("pii.match_models", """
        delete from pii.match_models where trained_at < %(cutoff)s and model_id <> (
            select model_id from pii.match_models order by trained_at desc limit 1)
        returning trained_at"""),
)


@dataclass(frozen=True)
class Purged:
    table: str
    rows: int


def oldest_kept_year(as_of: date, school_years: int) -> school_calendar.SchoolYear:
    """The oldest school year kept on `as_of`: `school_years` in all, the current one included."""
    if school_years < 1:
        raise ValueError("at least the current school year is kept (school_years >= 1)")
    calendar = school_calendar.calendar()
    return calendar.previous(calendar.year_of(as_of), school_years - 1)


def cutoff(as_of: date, school_years: int) -> date:
    """The first day of the oldest school year kept."""
    return oldest_kept_year(as_of, school_years).year_start


def school_years_kept(value: int | str | None = None) -> int:
    """The run's param, else EDUHUB_RAW_RETENTION_SCHOOL_YEARS, else 3."""
    chosen = value if value not in (None, "") else os.environ.get(SCHOOL_YEARS_ENV)
    return int(chosen) if chosen not in (None, "") else DEFAULT_SCHOOL_YEARS


def _raw_tables(conn) -> list[str]:
    return [r[0] for r in conn.execute("""
        select c.relname from pg_class as c
        where c.relnamespace = 'raw'::regnamespace and c.relkind = 'r'
          and c.relname like '%%\\_\\_%%'
          and exists (select 1 from pg_attribute as a where a.attrelid = c.oid
                      and a.attname = 'extracted_at')
        order by 1""")] if conn.execute("select to_regnamespace('raw')").fetchone()[0] else []


def _record(conn, run_id: str, table: str, limit: date, years: int, extracted: list) -> None:
    conn.execute("""
        insert into ops.retention_purges (run_id, table_name, cutoff, school_years_kept,
            rows_purged, oldest_extracted_at, newest_extracted_at, purged_at)
        values (%s, %s, %s, %s, %s, %s, %s, clock_timestamp())
        on conflict (run_id, table_name) do update set
            rows_purged = ops.retention_purges.rows_purged + excluded.rows_purged,
            oldest_extracted_at = least(ops.retention_purges.oldest_extracted_at,
                                        excluded.oldest_extracted_at),
            newest_extracted_at = greatest(ops.retention_purges.newest_extracted_at,
                                           excluded.newest_extracted_at),
            purged_at = excluded.purged_at""",
        (run_id, table, limit, years, len(extracted), min(extracted, default=None),
         max(extracted, default=None)))


def purge(conninfo: str, run_id: str, as_of: date, school_years: int | None = None
          ) -> list[Purged]:
    years = school_years_kept(school_years)
    oldest = oldest_kept_year(as_of, years)
    limit, cutoff_year = oldest.year_start, oldest.name
    year_fields = sql.SQL(", ").join(
        sql.SQL("r.payload ->> {}").format(sql.Literal(f)) for f in SCHOOL_YEAR_FIELDS)
    done = []
    with warehouse.connect(conninfo) as conn:
        for table in _raw_tables(conn):
            source, entity = table.split("__", 1)
            with conn.transaction():
                # the same lock as landing: a purge never interleaves with a load
                conn.execute("select pg_advisory_xact_lock(hashtext(%s))", (f"raw.{table}",))
                purged = conn.execute(
                    sql.SQL(_PURGE).format(t=sql.Identifier("raw", table),
                                           year_fields=year_fields),
                    {"source": source, "entity": entity, "cutoff": limit,
                     "cutoff_year": cutoff_year,
                     "age_limited": table in AGE_LIMITED_TABLES}).fetchall()
                extracted = [at for _, at in purged]
                if purged:  # what landing compares with: what the partitions still hold
                    landing.rebuild_latest_versions(conn, table, {p for p, _ in purged})
                    # a purge changes current versions without a new record: the staging
                    # tables reading the table recompute every key next time (migration 0011)
                    conn.execute("delete from ops.staging_watermarks where raw_table = %s",
                                 (f"raw.{table}",))
                _record(conn, run_id, f"raw.{table}", limit, years, extracted)
            done.append(Purged(f"raw.{table}", len(extracted)))
        if conn.execute("select to_regclass('ops.quarantine')").fetchone()[0]:
            with conn.transaction():
                extracted = [r[0] for r in conn.execute(
                    "delete from ops.quarantine where last_seen < %s returning last_seen",
                    (limit,))]
                _record(conn, run_id, "ops.quarantine", limit, years, extracted)
            done.append(Purged("ops.quarantine", len(extracted)))
        for table, statement in _BEYOND_RAW:
            if conn.execute("select to_regclass(%s)", (table,)).fetchone()[0] is None:
                continue
            with conn.transaction():
                extracted = [r[0] for r in conn.execute(statement, {"cutoff": limit})]
                _record(conn, run_id, table, limit, years, extracted)
            done.append(Purged(table, len(extracted)))
    log.info("retention: kept %d school years (from %s); purged %s", years, limit,
             ", ".join(f"{p.table} {p.rows}" for p in done if p.rows) or "nothing")
    return done
