"""Client of PCGD-XMC (phổ cập giáo dục, xóa mù chữ): households per commune, residents
nested, page/page_size paging. Contract: docs/sources/pcgd.md."""

from __future__ import annotations

from eduhub.landing import EntitySpec
from eduhub.sources.base import Listing, SourceClient

SOURCE = "pcgd"
PAGE_SIZE = 200

HOUSEHOLDS = EntitySpec(SOURCE, "households", ("household_id",), frozenset({
    "household_id", "commune_code", "head_name", "address", "updated_at", "residents"}))


class PcgdClient(SourceClient):
    source = SOURCE

    def __init__(self, base_url: str, api_key: str, page_size: int = PAGE_SIZE, **retry_options):
        super().__init__(base_url, **retry_options)
        self.session.headers["X-API-Key"] = api_key
        self.page_size = page_size

    def communes(self) -> list[dict]:
        return self.paged_listing("/communes", self.page_size).records

    def households_listing(self, commune_code: str, updated_since: str | None = None) -> Listing:
        params = {"updated_since": updated_since} if updated_since else None
        return self.paged_listing(f"/communes/{commune_code}/households", self.page_size, params)
