"""HTTP simulators of the source systems, serving a generated province on loopback.

One server, one port; each simulated system lives under its own path prefix:

- `/vendor-a/api/v1/...`: school management vendor A (token login, offset pagination,
  English field names). Contract: docs/sources/vendor_a.md.
"""

from __future__ import annotations

import json
import logging
import secrets
import sys
from dataclasses import dataclass
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from eduhub.sandbox import generator

log = logging.getLogger(__name__)

MAX_PAGE_SIZE = 500
GENDER_CODES = {"nam": "M", "nu": "F"}


@dataclass(frozen=True)
class Credentials:
    client_id: str
    client_secret: str


class HttpError(Exception):
    def __init__(self, status: HTTPStatus, message: str):
        super().__init__(message)
        self.status = status
        self.message = message


def _page_params(query: dict[str, list[str]]) -> tuple[int, int]:
    try:
        offset = int(query.get("offset", ["0"])[0])
        limit = int(query.get("limit", ["100"])[0])
    except ValueError as exc:
        raise HttpError(HTTPStatus.BAD_REQUEST, "offset and limit must be integers") from exc
    if offset < 0 or not 1 <= limit <= MAX_PAGE_SIZE:
        raise HttpError(HTTPStatus.BAD_REQUEST, f"need offset >= 0 and 1 <= limit <= {MAX_PAGE_SIZE}")
    return offset, limit


class VendorA:
    """Vendor A's API over the generated province (only the schools that use vendor A)."""

    prefix = "/vendor-a/api/v1"

    def __init__(self, data: dict[str, list[dict]], credentials: Credentials):
        self.credentials = credentials
        self.tokens: set[str] = set()
        self.schools = [s for s in data["schools"] if s["vendor"] == "vendor_a"]
        codes = {s["school_code"] for s in self.schools}
        self.learners_by_school: dict[str, list[dict]] = {c: [] for c in codes}
        for learner in data["learners"]:
            if learner["school_code"] in codes:
                self.learners_by_school[learner["school_code"]].append(learner)

    @staticmethod
    def school_view(s: dict) -> dict:
        return {"school_code": s["school_code"], "school_name": s["name"], "level": s["level"],
                "commune_code": s["commune_code"], "managing_unit": s["managing_unit"]}

    @staticmethod
    def learner_view(x: dict) -> dict:
        return {
            "learner_id": x["moet_id"], "national_id": x["personal_id"],
            "full_name": x["full_name"], "birth_date": x["date_of_birth"],
            "gender": GENDER_CODES[x["sex"]], "ethnicity": x["ethnicity"],
            "school_code": x["school_code"], "class_name": x["class_name"], "grade": x["grade"],
            "enrollment_status": x["status"], "updated_at": x["updated_at"],
        }

    def handle(self, method: str, path: str, query: dict, headers, body: bytes) -> dict:
        if method == "POST" and path == "/auth/token":
            try:
                payload = json.loads(body or b"{}")
            except json.JSONDecodeError as exc:
                raise HttpError(HTTPStatus.BAD_REQUEST, "body must be JSON") from exc
            given = Credentials(str(payload.get("client_id", "")), str(payload.get("client_secret", "")))
            if not (secrets.compare_digest(given.client_id, self.credentials.client_id)
                    and secrets.compare_digest(given.client_secret, self.credentials.client_secret)):
                raise HttpError(HTTPStatus.UNAUTHORIZED, "invalid client credentials")
            token = secrets.token_urlsafe(24)
            self.tokens.add(token)
            return {"access_token": token, "token_type": "bearer", "expires_in": 3600}

        auth = headers.get("Authorization", "")
        if not auth.startswith("Bearer ") or auth[7:] not in self.tokens:
            raise HttpError(HTTPStatus.UNAUTHORIZED, "missing or unknown bearer token")
        if method != "GET":
            raise HttpError(HTTPStatus.METHOD_NOT_ALLOWED, "only GET")

        parts = path.strip("/").split("/")
        if parts == ["schools"]:
            return self._page([self.school_view(s) for s in self.schools], query)
        if len(parts) == 3 and parts[0] == "schools" and parts[2] == "learners":
            rows = self.learners_by_school.get(parts[1])
            if rows is None:
                raise HttpError(HTTPStatus.NOT_FOUND, f"unknown school {parts[1]}")
            since = query.get("updated_since", [None])[0]
            if since:
                rows = [r for r in rows if r["updated_at"] > since]
            return self._page([self.learner_view(r) for r in rows], query)
        raise HttpError(HTTPStatus.NOT_FOUND, f"no such endpoint {path}")

    @staticmethod
    def _page(rows: list[dict], query: dict) -> dict:
        offset, limit = _page_params(query)
        return {"data": rows[offset:offset + limit], "total": len(rows), "offset": offset,
                "limit": limit}


class SandboxServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, data_dir: Path, credentials: Credentials, port: int = 0):
        data = generator.load(Path(data_dir))
        self.apps = [VendorA(data, credentials)]
        super().__init__(("127.0.0.1", port), _Handler)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


class _Handler(BaseHTTPRequestHandler):
    server: SandboxServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):  # noqa: A002 - signature fixed by the base class
        log.debug("%s %s", self.address_string(), format % args)

    def _dispatch(self, method: str) -> None:
        url = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        try:
            for app in self.server.apps:
                if url.path.startswith(app.prefix + "/"):
                    result = app.handle(method, url.path[len(app.prefix):], parse_qs(url.query),
                                        self.headers, body)
                    self._send(HTTPStatus.OK, result)
                    return
            raise HttpError(HTTPStatus.NOT_FOUND, f"no simulator at {url.path}")
        except HttpError as exc:
            self._send(exc.status, {"error": exc.message})

    def _send(self, status: HTTPStatus, payload: dict) -> None:
        data = json.dumps(payload, ensure_ascii=False).encode("utf-8")
        self.send_response(status)
        self.send_header("Content-Type", "application/json; charset=utf-8")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):  # noqa: N802 - http.server naming
        self._dispatch("GET")

    def do_POST(self):  # noqa: N802
        self._dispatch("POST")


def serve(data_dir: Path, credentials: Credentials, port: int = 0) -> None:
    server = SandboxServer(data_dir, credentials, port)
    # The first line of output tells a parent process where to connect.
    print(f"eduhub sandbox listening on {server.base_url}", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        sys.stdout.flush()
