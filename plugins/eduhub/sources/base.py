"""What every source client shares: one requests session, the retry policy, listings, and the
limits a listing keeps to (pages, cursors), so that a source that never ends is an error."""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from urllib.parse import urlsplit

import requests

from eduhub.sources.transport import SourceRequestError, request_json

# pages of one listing (one school's entity, one commune): 5 million records at 500 a page
MAX_PAGES = 10_000


def _loopback(host: str | None) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host or "").is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class Listing:
    """Everything one listing returned, and the total the source said it holds (if it says)."""

    records: list
    total: int | None
    passes: int = 1


class SourceClient:
    source = "source"

    def __init__(self, base_url: str, max_pages: int = MAX_PAGES, **retry_options):
        parts = urlsplit(base_url)
        if parts.scheme != "https" and not (parts.scheme == "http" and _loopback(parts.hostname)):
            # credentials and personal data never cross a network in clear
            raise ValueError(f"{self.source}: the source must be reached over https "
                             f"(plain http only on the loopback), not {parts.scheme}://"
                             f"{parts.hostname}")
        self.base_url = base_url.rstrip("/")
        self.max_pages = max_pages
        self.retry_options = retry_options
        self.session = requests.Session()
        self.session.headers["Accept"] = "application/json"

    def request(self, method: str, endpoint: str, page: str = "-", **kwargs) -> dict:
        return request_json(self.session, method, f"{self.base_url}{endpoint}", source=self.source,
                            endpoint=endpoint, page=page, **{**self.retry_options, **kwargs})

    def paged_listing(self, endpoint: str, page_size: int, params: dict | None = None) -> Listing:
        """A page/page_size listing read from page 1 to the `total_pages` the source gives."""
        records: list = []
        page, total = 1, None
        while True:
            self.check_page(endpoint, page)
            body = self.request("GET", endpoint, page=str(page),
                                params={**(params or {}), "page": page, "page_size": page_size})
            records.extend(body["data"])
            total = body.get("total", total)
            if page >= body.get("total_pages", 0) or not body["data"]:
                return Listing(records, total)
            page += 1

    def check_page(self, endpoint: str, page: int, cursor: str | None = None,
                   seen: set[str] | None = None) -> None:
        """A listing that goes on past `max_pages`, or whose cursor comes back, is an error
        naming it (the task fails instead of running until it is killed)."""
        if page > self.max_pages:
            raise SourceRequestError(f"{self.source} {endpoint}: more than {self.max_pages} "
                                     "pages; the listing does not end")
        if cursor is not None and seen is not None:
            if cursor in seen:
                raise SourceRequestError(f"{self.source} {endpoint} page {page}: the cursor "
                                         "repeats an earlier one; the listing does not end")
            seen.add(cursor)
