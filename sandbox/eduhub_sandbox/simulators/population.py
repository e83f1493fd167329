"""The population database's verification service under `/population/api/v1`
(docs/sources/population.md): API key, batches of at most 100, a rate limit answered with 429
and Retry-After."""

from __future__ import annotations

import json
import logging
import math
import threading
import time
from http import HTTPStatus

from eduhub_sandbox.simulators.common import MAX_VERIFY_BATCH, Credentials, HttpError, nfc, require_api_key
from eduhub_sandbox.store import ProvinceStore

log = logging.getLogger(__name__)


class TokenBucket:
    """`rate` requests per second on average, bursts of up to `burst`."""

    def __init__(self, rate: float, burst: float | None = None, clock=time.monotonic):
        self.rate = rate
        self.capacity = burst if burst is not None else max(1.0, rate)
        self.tokens = self.capacity
        self.clock = clock
        self.updated = clock()
        self._lock = threading.Lock()

    def take(self) -> float:
        """0 if a request may go now, else the seconds until one may."""
        with self._lock:
            now = self.clock()
            self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
            self.updated = now
            if self.tokens >= 1:
                self.tokens -= 1
                return 0.0
            return (1 - self.tokens) / self.rate


class Population:
    """The population database's verification service, over registry.jsonl (looked up in the
    store, one personal ID at a time)."""

    prefix = "/population/api/v1"
    service = "population"
    COMPARED = ("full_name", "date_of_birth", "sex")

    def __init__(self, data: ProvinceStore | dict[str, list[dict]], credentials: Credentials,
                 rate_per_second: float = 20.0, burst: float | None = None):
        self.store = ProvinceStore.of(data)
        self.api_key = credentials.api_key(self.service)
        self.bucket = TokenBucket(rate_per_second, burst)

    def handle(self, method: str, path: str, query: dict, headers, body: bytes) -> dict:
        require_api_key(headers, self.api_key)
        if path != "/verify":
            raise HttpError(HTTPStatus.NOT_FOUND, f"no such endpoint {path}")
        if method != "POST":
            raise HttpError(HTTPStatus.METHOD_NOT_ALLOWED, "only POST")
        wait = self.bucket.take()
        if wait:
            raise HttpError(HTTPStatus.TOO_MANY_REQUESTS, "rate limit exceeded",
                            {"Retry-After": str(max(1, math.ceil(wait)))})
        try:
            payload = json.loads(body or b"null")
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise HttpError(HTTPStatus.BAD_REQUEST, "body must be JSON") from exc
        records = payload.get("records") if isinstance(payload, dict) else None
        if not isinstance(records, list) or not records:
            raise HttpError(HTTPStatus.BAD_REQUEST, 'body must be {"records": [...]} with 1 or more records')
        if len(records) > MAX_VERIFY_BATCH:
            raise HttpError(HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                            f"batch of {len(records)} records; at most {MAX_VERIFY_BATCH} per request")
        results = []
        for i, record in enumerate(records):
            if not isinstance(record, dict) or not isinstance(record.get("personal_id"), str):
                raise HttpError(HTTPStatus.BAD_REQUEST, f"records[{i}] needs a string personal_id")
            results.append(self.verify(record))
        return {"results": results}

    def verify(self, record: dict) -> dict:
        pid = record["personal_id"]
        truth = self.store.person(pid)
        if truth is None:
            return {"personal_id": pid, "status": "not_found", "mismatched_fields": []}
        # Names compare exactly after NFC: accents tell "Hà" from "Hạ".
        mismatched = [f for f in self.COMPARED if nfc(record.get(f)) != nfc(truth.get(f))]
        return {"personal_id": pid, "status": "mismatch" if mismatched else "match",
                "mismatched_fields": mismatched}
