"""Source clients over real HTTP: vendor A's simulator, and the shared retry policy."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from eduhub.sources.sms_vendor_a import VendorAClient
from eduhub.sources.transport import SourceRequestError, request_json
from eduhub_sandbox.simulators.sms_vendor_a import VendorA


def test_vendor_a_pagination_gives_every_record_once(vendor_a_server, ground_truth):
    srv, cred = vendor_a_server
    client = VendorAClient(srv.base_url + "/vendor-a/api/v1", cred.client_id, cred.client_secret,
                           page_size=37)
    schools = list(client.schools())
    expected_schools = [s for s in ground_truth["schools"] if s["vendor"] == "sms_vendor_a"]
    assert sorted(s["school_code"] for s in schools) == sorted(
        s["school_code"] for s in expected_schools)
    got = [x for s in schools for x in client.learners(s["school_code"])]
    expected = [VendorA.learner_view(x) for x in ground_truth["learners"]
                if x["school_code"] in {s["school_code"] for s in expected_schools}]
    assert len(got) == len(expected)
    assert sorted(got, key=lambda x: x["learner_id"]) == sorted(
        expected, key=lambda x: x["learner_id"])


def test_vendor_a_rejects_wrong_secret_with_clear_error(vendor_a_server):
    srv, cred = vendor_a_server
    client = VendorAClient(srv.base_url + "/vendor-a/api/v1", cred.client_id, "wrong")
    with pytest.raises(SourceRequestError) as err:
        list(client.schools())
    assert "sms_vendor_a /auth/token" in str(err.value) and "401" in str(err.value)
    assert "wrong" not in str(err.value)


class _Flaky(BaseHTTPRequestHandler):
    """Answers from a script: a list of (status, headers) then 200."""

    script: list = []
    calls = 0

    def log_message(self, *args):
        pass

    def do_GET(self):  # noqa: N802
        type(self).calls += 1
        status, headers = self.script.pop(0) if self.script else (200, {})
        body = json.dumps({"ok": status == 200}).encode()
        self.send_response(status)
        for k, v in headers.items():
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@pytest.fixture
def flaky_server():
    srv = ThreadingHTTPServer(("127.0.0.1", 0), _Flaky)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    _Flaky.calls = 0
    yield srv, f"http://127.0.0.1:{srv.server_address[1]}/x"
    srv.shutdown()
    srv.server_close()


def test_retries_5xx_and_honours_retry_after(flaky_server):
    _, url = flaky_server
    _Flaky.script = [(503, {}), (429, {"Retry-After": "2"}), (502, {})]
    waits = []
    body = request_json(requests.Session(), "GET", url, source="s", endpoint="/x",
                        backoff_seconds=0.1, sleep=waits.append)
    assert body == {"ok": True}
    assert _Flaky.calls == 4
    assert waits == [0.1, 2.0, 0.4]  # exponential backoff, except where Retry-After says


def test_gives_up_naming_source_endpoint_and_page(flaky_server):
    _, url = flaky_server
    _Flaky.script = [(500, {})] * 10
    with pytest.raises(SourceRequestError, match=r"^s /x page 3: gave up after 3 attempts \(HTTP 500\)"):
        request_json(requests.Session(), "GET", url, source="s", endpoint="/x", page="3",
                     max_attempts=3, sleep=lambda _: None)
