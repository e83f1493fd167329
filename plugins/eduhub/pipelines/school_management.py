"""Sync of the school management systems into `raw`: what the DAG's tasks call.

Both vendors land the same way: the school list (always a full read), then per school
every entity, incrementally from each entity's watermark (a full read when there is none
or when a full refresh is asked for).
"""

from __future__ import annotations

from datetime import UTC, datetime

from eduhub import warehouse
from eduhub.landing import EntitySpec, LandingResult, land_partition, read_since
from eduhub.sources import sms_vendor_a, sms_vendor_b

# source -> (schools spec, per-school specs)
SOURCES: dict[str, tuple[EntitySpec, dict[str, EntitySpec]]] = {
    sms_vendor_a.SOURCE: (sms_vendor_a.SCHOOLS, sms_vendor_a.PER_SCHOOL),
    sms_vendor_b.SOURCE: (sms_vendor_b.SCHOOLS, sms_vendor_b.PER_SCHOOL),
}


def land_schools(source: str, client, conninfo: str, batch_id: str,
                 accept_deletions: bool = False) -> list[str]:
    """Land a source's school list; returns the school codes to sync."""
    spec = SOURCES[source][0]
    extracted_at = datetime.now(UTC)
    listing = client.schools_listing()
    with warehouse.connect(conninfo) as conn:
        land_partition(conn, spec, listing.records, batch_id=batch_id, partition="all",
                       extracted_at=extracted_at, full=True, reported_total=listing.total,
                       accept_deletions=accept_deletions)
    key = spec.key_fields[0]
    return sorted({str(s[key]) for s in listing.records if isinstance(s, dict) and s.get(key)})


def land_school(source: str, client, conninfo: str, batch_id: str, school_code: str,
                full_refresh: bool = False, accept_deletions: bool = False
                ) -> dict[str, LandingResult]:
    """Every per-school entity of one school, each in its own transaction."""
    results = {}
    # one connection for the school's entities (a connection costs a SCRAM login)
    with warehouse.connect(conninfo) as conn:
        for entity, spec in SOURCES[source][1].items():
            since = None if full_refresh else read_since(conn, spec, school_code)
            extracted_at = datetime.now(UTC)
            listing = client.school_listing(entity, school_code, updated_since=since)
            results[entity] = land_partition(
                conn, spec, listing.records, batch_id=batch_id, partition=school_code,
                extracted_at=extracted_at, full=since is None, reported_total=listing.total,
                accept_deletions=accept_deletions)
    return results


def summary(results: dict[str, LandingResult]) -> dict[str, dict[str, int]]:
    """What a task returns (XCom): counts only, never records."""
    return {entity: {"received": r.received, "landed": r.landed, "quarantined": r.quarantined,
                     "deleted": r.deleted, "drift": len(r.drift)} for entity, r in results.items()}
