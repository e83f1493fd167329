"""HTTP with the retry policy every source shares: backoff on 5xx and timeouts, 429 honoured.

Log lines name the source, endpoint and page, never a body, a secret or a query value
that could carry a personal ID.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable

import requests

log = logging.getLogger(__name__)

RETRYABLE_STATUS = {500, 502, 503, 504}
MAX_RETRY_AFTER_SECONDS = 60.0


class SourceRequestError(RuntimeError):
    """A request to a source failed for good; the message says which source, endpoint and page."""


def request_json(
    session: requests.Session,
    method: str,
    url: str,
    *,
    source: str,
    endpoint: str,
    page: str = "-",
    max_attempts: int = 6,
    backoff_seconds: float = 0.5,
    timeout: tuple[float, float] = (5.0, 30.0),
    sleep: Callable[[float], None] = time.sleep,
    **kwargs,
) -> dict:
    where = f"{source} {endpoint} page {page}"
    last_problem = "no attempt made"
    for attempt in range(1, max_attempts + 1):
        try:
            response = session.request(method, url, timeout=timeout, **kwargs)
        except (requests.Timeout, requests.ConnectionError) as exc:
            last_problem = type(exc).__name__
            wait = backoff_seconds * 2 ** (attempt - 1)
        else:
            if response.status_code == 429:
                last_problem = "HTTP 429 (rate limited)"
                wait = _retry_after(response, default=backoff_seconds * 2 ** (attempt - 1))
            elif response.status_code in RETRYABLE_STATUS:
                last_problem = f"HTTP {response.status_code}"
                wait = backoff_seconds * 2 ** (attempt - 1)
            elif response.status_code >= 400:
                raise SourceRequestError(
                    f"{where}: HTTP {response.status_code} {_error_text(response)}"
                )
            else:
                try:
                    return response.json()
                except ValueError:
                    last_problem = "response is not JSON"
                    wait = backoff_seconds * 2 ** (attempt - 1)
        if attempt < max_attempts:
            log.warning("%s: %s, attempt %d/%d, retrying in %.1fs",
                        where, last_problem, attempt, max_attempts, wait)
            sleep(wait)
    raise SourceRequestError(f"{where}: gave up after {max_attempts} attempts ({last_problem})")


def _retry_after(response: requests.Response, default: float) -> float:
    try:
        return min(float(response.headers.get("Retry-After", default)), MAX_RETRY_AFTER_SECONDS)
    except ValueError:
        return default


def _error_text(response: requests.Response) -> str:
    try:
        return str(response.json().get("error", ""))[:200]
    except ValueError:
        return ""
