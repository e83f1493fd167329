"""HTTP with the retry policy every source shares: backoff on 5xx and timeouts, 429 honoured.

A hostile or broken source cannot hold a task: redirects are refused (a redirect would carry
the credentials to wherever it points), a response is read streamed up to a size cap and a
deadline. A value nested past `MAX_NESTING` levels (no real record comes near; a hostile one
would exhaust the parser) is cut out and replaced by `landing.records.TOO_DEEP`, so that its
record is quarantined with that reason and the rest of the page lands.

Log lines name the source, endpoint and page, never a body, a secret or a query value
that could carry a personal ID.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable
from urllib.parse import urlsplit

import requests

from eduhub.landing.records import TOO_DEEP

log = logging.getLogger(__name__)

RETRYABLE_STATUS = {500, 502, 503, 504}
MAX_RETRY_AFTER_SECONDS = 60.0
# one page of a listing: far above any real page (500 records of a few KB)
MAX_RESPONSE_BYTES = 64 * 1024 * 1024
# the whole of one response, connection to last byte (the socket timeout is per read)
MAX_RESPONSE_SECONDS = 120.0


# levels of arrays and objects a body may hold, counted from its root (a page at 1, a record
# at 2): past them, a value is cut out. Well below what the JSON parser's recursion survives.
MAX_NESTING = 200
# a JSON string or a bracket (strings skipped whole: brackets inside them do not count)
_TOKENS = re.compile(rb'"(?:[^"\\]|\\.)*"|[\[\]{}]')


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
    max_bytes: int = MAX_RESPONSE_BYTES,
    max_seconds: float = MAX_RESPONSE_SECONDS,
    sleep: Callable[[float], None] = time.sleep,
    **kwargs,
) -> dict:
    where = f"{source} {endpoint} page {page}"
    last_problem = "no attempt made"
    for attempt in range(1, max_attempts + 1):
        try:
            response = session.request(method, url, timeout=timeout, allow_redirects=False,
                                       stream=True, **kwargs)
            body = _read(response, where, max_bytes, max_seconds)
        except (requests.Timeout, requests.ConnectionError, requests.exceptions.ChunkedEncodingError,
                _TooSlow) as exc:
            last_problem = str(exc) if isinstance(exc, _TooSlow) else type(exc).__name__
            wait = backoff_seconds * 2 ** (attempt - 1)
        else:
            if response.is_redirect:
                target = urlsplit(response.headers.get("Location", "")).hostname or "?"
                raise SourceRequestError(
                    f"{where}: HTTP {response.status_code} redirect to {target} refused "
                    "(redirects are not followed: they would carry the credentials)")
            if response.status_code == 429:
                last_problem = "HTTP 429 (rate limited)"
                wait = _retry_after(response, default=backoff_seconds * 2 ** (attempt - 1))
            elif response.status_code in RETRYABLE_STATUS:
                last_problem = f"HTTP {response.status_code}"
                wait = backoff_seconds * 2 ** (attempt - 1)
            elif response.status_code >= 400:
                raise SourceRequestError(
                    f"{where}: HTTP {response.status_code} {_error_text(body)}"
                )
            else:
                try:
                    return _parse(body, where)
                except ValueError:
                    last_problem = "response is not JSON"
                    wait = backoff_seconds * 2 ** (attempt - 1)
        if attempt < max_attempts:
            log.warning("%s: %s, attempt %d/%d, retrying in %.1fs",
                        where, last_problem, attempt, max_attempts, wait)
            sleep(wait)
    raise SourceRequestError(f"{where}: gave up after {max_attempts} attempts ({last_problem})")


def _parse(body: bytes, where: str):
    try:
        return json.loads(body)
    except RecursionError:
        pass
    cut, values = cut_deep_values(body, MAX_NESTING)
    log.warning("%s: %d value(s) nested deeper than %d levels cut out (their records are "
                "quarantined)", where, values, MAX_NESTING)
    try:
        return json.loads(cut)
    except RecursionError:  # a deep value that never closes: the body came back uncut
        raise SourceRequestError(f"{where}: the response is nested too deeply to be read"
                                 ) from None


def cut_deep_values(body: bytes, limit: int) -> tuple[bytes, int]:
    """The body with every array or object that opens at level `limit` + 1 replaced by the
    JSON string TOO_DEEP; and how many were. Brackets inside strings do not count."""
    marker = json.dumps(TOO_DEEP).encode()
    parts, kept_from, depth, start, cuts = [], 0, 0, None, 0
    for token in _TOKENS.finditer(body):
        char = token.group()[:1]
        if char == b'"':
            continue
        if char in b"[{":
            depth += 1
            if depth == limit + 1 and start is None:
                start = token.start()
        else:
            if depth == limit + 1 and start is not None:
                parts += [body[kept_from:start], marker]
                kept_from, start = token.end(), None
                cuts += 1
            depth -= 1
    if start is not None:  # never closed: the parser names the body malformed
        return body, cuts
    parts.append(body[kept_from:])
    return b"".join(parts), cuts


class _TooSlow(Exception):
    """A response still arriving at its deadline (a trickle keeps a per-read timeout happy)."""


def _read(response: requests.Response, where: str, max_bytes: int, max_seconds: float
          ) -> bytes:
    """The body, streamed: at most `max_bytes`, within `max_seconds` of the request."""
    started = time.monotonic()
    chunks, size = [], 0
    try:
        declared = int(response.headers.get("Content-Length") or 0)
        if declared > max_bytes:
            raise SourceRequestError(f"{where}: the response would be {declared} bytes, more "
                                     f"than the {max_bytes} a page may hold")
        for chunk in response.iter_content(chunk_size=256 * 1024):
            size += len(chunk)
            if size > max_bytes:
                raise SourceRequestError(f"{where}: the response passed the {max_bytes} bytes "
                                         "a page may hold")
            if time.monotonic() - started > max_seconds:
                raise _TooSlow(f"response not complete after {max_seconds:.0f} s")
            chunks.append(chunk)
    finally:
        response.close()
    return b"".join(chunks)


def _retry_after(response: requests.Response, default: float) -> float:
    try:
        return min(float(response.headers.get("Retry-After", default)), MAX_RETRY_AFTER_SECONDS)
    except ValueError:
        return default


def _error_text(body: bytes) -> str:
    try:
        return str(json.loads(body).get("error", ""))[:200]
    except (ValueError, AttributeError, RecursionError):
        return ""
