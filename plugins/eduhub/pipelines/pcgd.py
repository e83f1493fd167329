"""Sync of PCGD-XMC (universal education) into `raw`: households with their residents, per commune."""

from __future__ import annotations

from datetime import UTC, datetime

from eduhub import warehouse
from eduhub.landing import LandingResult, land_partition, read_since
from eduhub.sources import pcgd
from eduhub.sources.pcgd import PcgdClient


def commune_codes(client: PcgdClient) -> list[str]:
    return sorted(str(c["commune_code"]) for c in client.communes())


def land_commune(client: PcgdClient, conninfo: str, batch_id: str, commune_code: str,
                 full_refresh: bool = False, accept_deletions: bool = False) -> LandingResult:
    with warehouse.connect(conninfo) as conn:
        since = None if full_refresh else read_since(conn, pcgd.HOUSEHOLDS, commune_code)
        extracted_at = datetime.now(UTC)
        listing = client.households_listing(commune_code, updated_since=since)
        return land_partition(conn, pcgd.HOUSEHOLDS, listing.records, batch_id=batch_id,
                              partition=commune_code, extracted_at=extracted_at,
                              full=since is None, reported_total=listing.total,
                              accept_deletions=accept_deletions)
