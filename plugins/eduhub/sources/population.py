"""Client of the population database's verification service (CSDLQG về dân cư).

Batches of at most 100 records; the service's rate limit answers 429 with Retry-After,
which the shared retry policy honours. Contract: docs/sources/population.md.
"""

from __future__ import annotations

from collections.abc import Iterator

from eduhub.sources.base import SourceClient

SOURCE = "population"
MAX_BATCH = 100


class PopulationClient(SourceClient):
    source = SOURCE

    def __init__(self, base_url: str, api_key: str, batch_size: int = MAX_BATCH, **retry_options):
        super().__init__(base_url, **{"max_attempts": 10, **retry_options})
        self.session.headers["X-API-Key"] = api_key
        self.batch_size = min(batch_size, MAX_BATCH)

    def verify(self, records: list[dict]) -> Iterator[tuple[list[dict], list[dict]]]:
        """Yields (requests, results) per batch, in order."""
        for start in range(0, len(records), self.batch_size):
            batch = records[start:start + self.batch_size]
            body = self.request("POST", "/verify", page=str(start // self.batch_size + 1),
                                json={"records": batch})
            yield batch, body["results"]
