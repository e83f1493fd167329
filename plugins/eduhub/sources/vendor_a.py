"""Client of school management vendor A: token login, offset pagination, English field names.

Contract: docs/sources/vendor_a.md.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import requests

from eduhub.landing import EntitySpec, canonical_json
from eduhub.sources.transport import request_json

SOURCE = "sms_vendor_a"
PAGE_SIZE = 500
MAX_PASSES = 3

SCHOOLS = EntitySpec(SOURCE, "schools", ("school_code",), frozenset({
    "school_code", "school_name", "level", "commune_code", "managing_unit"}),
    watermark_field=None)
LEARNERS = EntitySpec(SOURCE, "learners", ("school_code", "learner_id"), frozenset({
    "learner_id", "national_id", "full_name", "birth_date", "gender", "ethnicity", "school_code",
    "class_name", "grade", "enrollment_status", "updated_at"}))


@dataclass(frozen=True)
class Listing:
    """Everything one listing returned, and the total the source said it holds."""

    records: list
    total: int | None
    passes: int


class VendorAClient:
    def __init__(self, base_url: str, client_id: str, client_secret: str,
                 page_size: int = PAGE_SIZE, **retry_options):
        self.base_url = base_url.rstrip("/")
        self._credentials = {"client_id": client_id, "client_secret": client_secret}
        self.page_size = page_size
        self.retry_options = retry_options
        self.session = requests.Session()
        self.session.headers["Accept"] = "application/json"

    def _login(self) -> None:
        body = request_json(self.session, "POST", f"{self.base_url}/auth/token", source=SOURCE,
                            endpoint="/auth/token", json=self._credentials, **self.retry_options)
        self.session.headers["Authorization"] = f"Bearer {body['access_token']}"

    def _pages(self, endpoint: str, params: dict | None = None) -> Iterator[dict]:
        if "Authorization" not in self.session.headers:
            self._login()
        offset = 0
        while True:
            body = request_json(
                self.session, "GET", f"{self.base_url}{endpoint}", source=SOURCE,
                endpoint=endpoint, page=str(offset // self.page_size + 1),
                params={**(params or {}), "offset": offset, "limit": self.page_size},
                **self.retry_options,
            )
            yield body
            offset += len(body["data"])
            if not body["data"] or offset >= body["total"]:
                return

    def listing(self, endpoint: str, spec: EntitySpec, params: dict | None = None) -> Listing:
        """Page to the end. Offset paging over data that changes meanwhile can repeat or skip
        a record; when fewer distinct records than the reported total arrive, page again and
        merge (the later pass wins)."""
        by_key: dict[str, object] = {}
        keyless: dict[str, object] = {}
        total = None
        passes = 0
        while passes < MAX_PASSES:
            passes += 1
            for page in self._pages(endpoint, params):
                total = page.get("total", total)
                for record in page["data"]:
                    key = spec.natural_key(record) if isinstance(record, dict) else None
                    if key is None:
                        keyless[canonical_json(record)] = record
                    else:
                        by_key[key] = record
            if total is None or len(by_key) + len(keyless) >= total:
                break
        return Listing([*by_key.values(), *keyless.values()], total, passes)

    def schools_listing(self) -> Listing:
        return self.listing("/schools", SCHOOLS)

    def learners_listing(self, school_code: str, updated_since: str | None = None) -> Listing:
        params = {"updated_since": updated_since} if updated_since else None
        return self.listing(f"/schools/{school_code}/learners", LEARNERS, params)

    def schools(self) -> list:
        return self.schools_listing().records

    def learners(self, school_code: str, updated_since: str | None = None) -> list:
        return self.learners_listing(school_code, updated_since).records
