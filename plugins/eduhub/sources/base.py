"""What every source client shares: one requests session, the retry policy, listings."""

from __future__ import annotations

from dataclasses import dataclass

import requests

from eduhub.sources.transport import request_json


@dataclass(frozen=True)
class Listing:
    """Everything one listing returned, and the total the source said it holds (if it says)."""

    records: list
    total: int | None
    passes: int = 1


class SourceClient:
    source = "source"

    def __init__(self, base_url: str, **retry_options):
        self.base_url = base_url.rstrip("/")
        self.retry_options = retry_options
        self.session = requests.Session()
        self.session.headers["Accept"] = "application/json"

    def request(self, method: str, endpoint: str, page: str = "-", **kwargs) -> dict:
        return request_json(self.session, method, f"{self.base_url}{endpoint}", source=self.source,
                            endpoint=endpoint, page=page, **{**self.retry_options, **kwargs})
