"""Sync of the school management systems into `raw`: what the DAG's tasks call."""

from __future__ import annotations

from datetime import UTC, datetime

from eduhub import warehouse
from eduhub.landing import LandingResult, get_watermark, land_partition
from eduhub.sources import vendor_a
from eduhub.sources.vendor_a import VendorAClient


def land_vendor_a_schools(client: VendorAClient, conninfo: str, batch_id: str) -> list[str]:
    """Land vendor A's school list (always a full read); returns the school codes."""
    extracted_at = datetime.now(UTC)
    listing = client.schools_listing()
    with warehouse.connect(conninfo) as conn:
        land_partition(conn, vendor_a.SCHOOLS, listing.records, batch_id=batch_id,
                       partition="all", extracted_at=extracted_at, full=True,
                       reported_total=listing.total)
    return sorted({str(s["school_code"]) for s in listing.records if isinstance(s, dict) and
                   s.get("school_code")})


def land_vendor_a_learners(client: VendorAClient, conninfo: str, batch_id: str,
                           school_code: str, full_refresh: bool = False) -> LandingResult:
    with warehouse.connect(conninfo) as conn:
        since = None if full_refresh else get_watermark(conn, vendor_a.LEARNERS, school_code)
    extracted_at = datetime.now(UTC)
    listing = client.learners_listing(school_code, updated_since=since)
    with warehouse.connect(conninfo) as conn:
        return land_partition(conn, vendor_a.LEARNERS, listing.records, batch_id=batch_id,
                              partition=school_code, extracted_at=extracted_at,
                              full=since is None, reported_total=listing.total)
