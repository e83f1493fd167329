"""Freezing the year's 30% inspection sample: once frozen, it never changes."""

from __future__ import annotations

from eduhub import warehouse


def freeze_sample(conninfo: str, school_year: str) -> int:
    """Copy the draft into ops.inspection_samples unless the year is frozen already; returns
    the number of schools frozen now (0 when it was frozen before)."""
    with warehouse.connect(conninfo) as conn, conn.transaction():
        conn.execute("select pg_advisory_xact_lock(hashtext('eduhub.inspection_freeze'))")
        if conn.execute("select 1 from ops.inspection_samples where school_year = %s limit 1",
                        (school_year,)).fetchone():
            return 0
        return conn.execute("""
            insert into ops.inspection_samples (school_year, school_code, inspecting_authority,
                school_level, stratum_size, stratum_quota, selection, reason_vi, seed, frozen_at)
            select school_year, school_code, inspecting_authority, school_level, stratum_size,
                   stratum_quota, selection, reason_vi, seed, clock_timestamp()
            from marts.inspection_sample_draft where school_year = %s""",
            (school_year,)).rowcount
