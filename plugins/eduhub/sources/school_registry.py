"""Client of the school registry: the Sở's list of education units (code, name, level,
ownership, commune, managing unit, the channel it reports through, opened and closed dates),
page/page_size paging. Contract: docs/sources/school_registry.md. In a deployment the
connection points at the sector database's unit list, or at a service over the file the Sở
keeps."""

from __future__ import annotations

from eduhub.landing import EntitySpec
from eduhub.sources.base import Listing, SourceClient

SOURCE = "school_registry"
PAGE_SIZE = 500
# the channels a unit reports through: a school management system's API, or class exports
CHANNELS = ("sms_vendor_a", "sms_vendor_b", "file_exports")

UNITS = EntitySpec(SOURCE, "units", ("unit_code",), frozenset({
    "unit_code", "unit_name", "level", "ownership", "commune_code", "managing_unit", "channel",
    "opened_on", "closed_on", "updated_at"}))


class SchoolRegistryClient(SourceClient):
    source = SOURCE

    def __init__(self, base_url: str, api_key: str, page_size: int = PAGE_SIZE, **retry_options):
        super().__init__(base_url, **retry_options)
        self.session.headers["X-API-Key"] = api_key
        self.page_size = page_size

    def units_listing(self) -> Listing:
        return self.paged_listing("/units", self.page_size)
