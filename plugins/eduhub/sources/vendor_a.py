"""Client of school management vendor A: token login, offset pagination, English field names."""

from __future__ import annotations

from collections.abc import Iterator

import requests

from eduhub.sources.transport import request_json

SOURCE = "sms_vendor_a"
PAGE_SIZE = 500


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

    def schools(self) -> Iterator[dict]:
        for page in self._pages("/schools"):
            yield from page["data"]

    def learners(self, school_code: str, updated_since: str | None = None) -> Iterator[dict]:
        params = {"updated_since": updated_since} if updated_since else None
        for page in self._pages(f"/schools/{school_code}/learners", params):
            yield from page["data"]
