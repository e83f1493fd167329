"""Sync of the school registry into `raw.school_registry__units`: the whole list at every read
(it is small), one partition. A unit the registry no longer lists is withdrawn, under the
same proof as every full read: the source's total, and the held-deletion share."""

from __future__ import annotations

from datetime import UTC, datetime

from psycopg import sql

from eduhub import warehouse
from eduhub.landing import LandingResult, current_versions_query, land_partition
from eduhub.sources import school_registry
from eduhub.sources.school_registry import SchoolRegistryClient

PARTITION = "all"


def land_units(client: SchoolRegistryClient, conninfo: str, batch_id: str,
               accept_deletions: bool = False) -> LandingResult:
    with warehouse.connect(conninfo) as conn:
        extracted_at = datetime.now(UTC)
        listing = client.units_listing()
        return land_partition(conn, school_registry.UNITS, listing.records, batch_id=batch_id,
                              partition=PARTITION, extracted_at=extracted_at, full=True,
                              reported_total=listing.total, accept_deletions=accept_deletions)


def registered_units(conn) -> dict[str, dict] | None:
    """unit code -> the registry's record, as validated (or accepted); None when no validated
    registry has landed yet."""
    table = school_registry.UNITS.table
    if not conn.execute("select to_regclass(%s)", (f"raw.{table}",)).fetchone()[0]:
        return None
    rows = conn.execute(sql.SQL("select natural_key, payload from ({}) as c").format(
        current_versions_query(table))).fetchall()
    return {key: payload for key, payload in rows} or None
