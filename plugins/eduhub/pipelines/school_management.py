"""Sync of the school management systems into `raw`: what the DAG's tasks call."""

from __future__ import annotations

from datetime import UTC, datetime

from eduhub import warehouse
from eduhub.landing import LandingResult, land_records
from eduhub.sources.vendor_a import SOURCE as VENDOR_A
from eduhub.sources.vendor_a import VendorAClient


def land_vendor_a_schools(client: VendorAClient, conninfo: str, batch_id: str) -> list[str]:
    """Land vendor A's school list; returns the school codes to extract learners for."""
    extracted_at = datetime.now(UTC)
    schools = list(client.schools())
    with warehouse.connect(conninfo) as conn:
        land_records(conn, source=VENDOR_A, entity="schools", key_field="school_code",
                     records=schools, batch_id=batch_id, partition="all",
                     extracted_at=extracted_at)
    return sorted({str(s["school_code"]) for s in schools if isinstance(s, dict) and
                   s.get("school_code")})


def land_vendor_a_learners(client: VendorAClient, conninfo: str, batch_id: str,
                           school_code: str) -> LandingResult:
    extracted_at = datetime.now(UTC)
    learners = list(client.learners(school_code))
    with warehouse.connect(conninfo) as conn:
        return land_records(conn, source=VENDOR_A, entity="learners", key_field="learner_id",
                            records=learners, batch_id=batch_id, partition=school_code,
                            extracted_at=extracted_at)
