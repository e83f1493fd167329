"""Freezing the year's 30% inspection sample: once frozen, it never changes.

Which year, and from which day, comes from the school calendar (`eduhub.school_calendar`): the
school year of the run's day, frozen once that day has reached the year's
`inspection_freeze_date` (15 September by default). A freeze that finds nothing to copy fails
loudly: the draft (`marts.inspection_sample_draft`, built by the transformation as of its run's
day) still holds another school year, or no school at all.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date

from eduhub import school_calendar, warehouse

log = logging.getLogger(__name__)


class NothingToFreeze(RuntimeError):
    """The draft holds no school of the year to freeze."""


@dataclass(frozen=True)
class Freeze:
    school_year: str
    freeze_date: date
    frozen: int  # schools frozen by this run (0: frozen before, or not due yet)
    due: bool


def freeze_sample(conninfo: str, school_year: str) -> int:
    """Copy the year's draft into ops.inspection_samples unless the year is frozen already;
    returns the number of schools frozen now (0 when it was frozen before). Raises
    NothingToFreeze when the draft holds no school of that year."""
    with warehouse.connect(conninfo) as conn, conn.transaction():
        conn.execute("select pg_advisory_xact_lock(hashtext('eduhub.inspection_freeze'))")
        if conn.execute("select 1 from ops.inspection_samples where school_year = %s limit 1",
                        (school_year,)).fetchone():
            return 0
        frozen = conn.execute("""
            insert into ops.inspection_samples (school_year, school_code, inspecting_authority,
                school_level, stratum_size, stratum_quota, selection, reason_vi, seed, frozen_at)
            select school_year, school_code, inspecting_authority, school_level, stratum_size,
                   stratum_quota, selection, reason_vi, seed, clock_timestamp()
            from marts.inspection_sample_draft where school_year = %s""",
            (school_year,)).rowcount
        if not frozen:
            drafted = [r[0] for r in conn.execute(
                "select distinct school_year from marts.inspection_sample_draft order by 1")]
            raise NothingToFreeze(
                f"no inspection sample of {school_year} to freeze: marts.inspection_sample_draft "
                f"holds {', '.join(drafted) if drafted else 'no school'}; run "
                f"transform_warehouse for a day of {school_year}, then freeze again")
        return frozen


def freeze_due(conninfo: str, day: date) -> Freeze:
    """What the DAG runs each day: freeze the sample of the day's school year once its freeze
    date has come (a later day catches up on a missed one; a frozen year stays as it is)."""
    year = school_calendar.calendar().year_of(day)
    due = day >= year.inspection_freeze_date
    frozen = freeze_sample(conninfo, year.name) if due else 0
    log.info("inspection sample %s (freeze date %s): %s", year.name, year.inspection_freeze_date,
             f"{frozen} schools frozen" if frozen else
             "frozen before" if due else "not due yet")
    return Freeze(year.name, year.inspection_freeze_date, frozen, due)
