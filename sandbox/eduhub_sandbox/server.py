"""HTTP simulators of the source systems, serving a generated province on loopback.

One server, one port; each simulated system lives under its own path prefix, with its
contract in docs/sources/:

- `/vendor-a/api/v1/...`: school management vendor A (token login, offset pagination,
  English field names, ISO dates). sms_vendor_a.md
- `/vendor-b/api/...`: school management vendor B (API key, cursor pagination, Vietnamese
  field names and labels, dd/mm/yyyy dates). sms_vendor_b.md
- `/population/api/v1/...`: the population database's verification service (API key,
  batches of at most 100, rate limit with 429 + Retry-After). population.md
- `/pcgd/api/v1/...`: PCGD-XMC, households with their residents per commune. pcgd.md
- `/school-registry/api/v1/...`: the Sở's registry of education units. school_registry.md

The province is read from its store (store.py: an SQLite file beside the JSON Lines files,
built once), a page's records per request: the server stays small at province scale.

Faults (5xx, 429, slow answers, timeouts, malformed pages, schema drift, shifting pages)
are injected by profile and seed (faults.py, docs/sources/faults.md). Each simulator is a
module of `simulators/`, named as the source it stands for in `eduhub.sources`.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from eduhub_sandbox import faults as faultlib
from eduhub_sandbox.simulators.common import Credentials, HttpError, Reply
from eduhub_sandbox.simulators.pcgd import Pcgd
from eduhub_sandbox.simulators.population import Population
from eduhub_sandbox.simulators.school_registry import SchoolRegistry
from eduhub_sandbox.simulators.sms_vendor_a import VendorA
from eduhub_sandbox.simulators.sms_vendor_b import VendorB
from eduhub_sandbox.store import ProvinceStore

log = logging.getLogger(__name__)


class SandboxServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, data_dir: Path | None, credentials: Credentials, port: int = 0, *,
                 faults: str | faultlib.FaultProfile = "none", seed: int = 0,
                 data: dict[str, list[dict]] | None = None,
                 population_rate: float = 20.0, population_burst: float | None = None):
        # The records stay on disk (store.py); the simulators read a page's worth per request.
        # Data given in memory (tests that change records) go into a temporary store.
        self.store = (ProvinceStore.from_rows(data) if data is not None
                      else ProvinceStore.for_folder(Path(data_dir)))
        self.fault_profile = faultlib.profile(faults)
        self.seed = seed
        self.injector = faultlib.FaultInjector(self.fault_profile, seed)
        self.hostile = faultlib.persistent_faults(self.store, seed, self.fault_profile)
        self.apps = [
            VendorA(self.store, credentials, self.hostile, seed),
            VendorB(self.store, credentials, self.hostile, seed),
            Population(self.store, credentials, population_rate, population_burst),
            Pcgd(self.store, credentials, self.hostile),
            SchoolRegistry(self.store, credentials),
        ]
        super().__init__(("127.0.0.1", port), _Handler)

    def server_close(self) -> None:
        super().server_close()
        self.store.close()

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    @property
    def transient_faults(self) -> bool:
        p = self.fault_profile
        return any((p.share_5xx, p.share_429, p.share_timeout, p.share_malformed_page, p.share_slow))


class _Handler(BaseHTTPRequestHandler):
    server: SandboxServer
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes: with Nagle on, keep-alive clients wait ~40 ms each.
    disable_nagle_algorithm = True

    def log_message(self, format, *args):  # noqa: A002 - signature fixed by the base class
        log.debug("%s %s", self.address_string(), format % args)

    def _dispatch(self, method: str) -> None:
        url = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        app = next((a for a in self.server.apps if url.path.startswith(a.prefix + "/")), None)
        if app is None:
            self._send(HTTPStatus.NOT_FOUND, {"error": f"no simulator at {url.path}"})
            return
        fault = faultlib.Fault(faultlib.NONE, 0)
        if self.server.transient_faults:
            fault = self.server.injector.decide(faultlib.request_key(method, url.path, url.query, body))
        if fault.delay:
            time.sleep(fault.delay)
        if fault.kind in (faultlib.ERROR_5XX, faultlib.TIMEOUT):
            self._send(fault.status, {"error": "simulated server error"})
            return
        if fault.kind == faultlib.RATE_LIMITED:
            self._send(HTTPStatus.TOO_MANY_REQUESTS, {"error": "too many requests (simulated)"},
                       {"Retry-After": str(self.server.fault_profile.retry_after_seconds)})
            return
        try:
            reply = app.handle(method, url.path[len(app.prefix):], parse_qs(url.query), self.headers, body)
        except HttpError as exc:
            self._send(exc.status, {"error": exc.message}, exc.headers)
            return
        except Exception:
            log.exception("simulator error on %s %s", method, url.path)
            self._send(HTTPStatus.INTERNAL_SERVER_ERROR, {"error": "internal error"})
            return
        if not isinstance(reply, Reply):
            reply = Reply(reply)
        data = json.dumps(reply.payload, ensure_ascii=False).encode("utf-8")
        if fault.kind == faultlib.MALFORMED_PAGE and method == "GET":
            # A page cut off mid-way: 200, JSON content type, invalid JSON. Not delivered.
            self._send_bytes(HTTPStatus.OK, data[:max(1, len(data) // 2)])
            return
        if self._send_bytes(HTTPStatus.OK, data) and reply.commit:
            reply.commit()

    def _send(self, status, payload: dict, headers: dict | None = None) -> bool:
        return self._send_bytes(status, json.dumps(payload, ensure_ascii=False).encode("utf-8"), headers)

    def _send_bytes(self, status, data: bytes, headers: dict | None = None) -> bool:
        try:
            self.send_response(status)
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            self.wfile.flush()
            return True
        except (BrokenPipeError, ConnectionResetError):
            # The client gave up (its read timeout): nothing was delivered.
            self.close_connection = True
            return False

    def do_GET(self):  # noqa: N802 - http.server naming
        self._dispatch("GET")

    def do_POST(self):  # noqa: N802
        self._dispatch("POST")

    def do_PUT(self):  # noqa: N802
        self._dispatch("PUT")

    def do_DELETE(self):  # noqa: N802
        self._dispatch("DELETE")


def serve(data_dir: Path, credentials: Credentials, port: int = 0, faults: str = "none",
          seed: int = 0) -> None:
    server = SandboxServer(data_dir, credentials, port, faults=faults, seed=seed)
    # The first line of output tells a parent process where to connect.
    print(f"eduhub sandbox listening on {server.base_url} (faults: {server.fault_profile.name}, "
          f"seed {seed})", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        sys.stdout.flush()
