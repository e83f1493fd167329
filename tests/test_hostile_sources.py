"""Sources that misbehave on purpose, over real HTTP on the loopback (a small server per test
writing exactly the bytes a hostile or broken source would): each ends in a clear error naming
the source and what it did, instead of a task that runs until it is killed or credentials
that leave for another host."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from contextlib import contextmanager
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from psycopg import sql

from eduhub import warehouse
from eduhub.landing import current_versions_query, land_partition
from eduhub.sources import sms_vendor_b
from eduhub.sources.pcgd import PcgdClient
from eduhub.sources.sms_vendor_b import VendorBClient
from eduhub.sources.transport import SourceRequestError

FAST = {"max_attempts": 2, "backoff_seconds": 0.01}


@contextmanager
def serving(respond: Callable[[BaseHTTPRequestHandler], None], host: str = "127.0.0.1"):
    """A server on `host` answering every GET with `respond`; yields (base URL, requests seen)."""
    seen: list[dict] = []

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_GET(self):  # noqa: N802 - http.server naming
            seen.append({"path": self.path, "headers": dict(self.headers)})
            respond(self)

        def log_message(self, *args):
            pass

    server = ThreadingHTTPServer((host, 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://{host}:{server.server_address[1]}", seen
    finally:
        server.shutdown()
        server.server_close()


def send(handler, status: int, body: bytes, headers: dict | None = None, length=True) -> None:
    handler.send_response(status)
    for name, value in (headers or {}).items():
        handler.send_header(name, value)
    handler.send_header("Content-Type", "application/json")
    if length:
        handler.send_header("Content-Length", str(len(body)))
    else:
        handler.send_header("Connection", "close")
    handler.end_headers()
    handler.wfile.write(body)


def test_a_redirect_is_refused_and_the_credentials_stay_home():
    with serving(lambda h: send(h, 200, b'{"items": []}'), host="127.0.0.2") as (elsewhere, got):
        def redirect(h):
            send(h, 302, b"", {"Location": f"{elsewhere}/steal"})

        with serving(redirect) as (base, _):
            client = VendorBClient(base, "the-api-key", **FAST)
            with pytest.raises(SourceRequestError, match=r"redirect to 127\.0\.0\.2 refused"):
                client.schools_listing()
    assert got == []  # the other host never heard from us, nor saw the key


def test_a_response_past_the_size_cap_ends_the_request():
    def huge(h):  # no Content-Length: the size shows only while reading
        send(h, 200, b'{"items": ["' + b"x" * 200_000 + b'"]}', length=False)

    with serving(huge) as (base, _):
        client = VendorBClient(base, "key", max_bytes=100_000, **FAST)
        with pytest.raises(SourceRequestError, match="passed the 100000 bytes a page may hold"):
            client.schools_listing()
    with serving(lambda h: send(h, 200, b"{}", {"Content-Length": "999999999"},
                                length=False)) as (base, _):
        with pytest.raises(SourceRequestError, match="would be 999999999 bytes"):
            VendorBClient(base, "key", **FAST).schools_listing()


def test_a_trickling_response_ends_at_its_deadline():
    def trickle(h):
        h.send_response(200)
        h.send_header("Content-Type", "application/json")
        h.send_header("Connection", "close")
        h.end_headers()
        for _ in range(40):  # a byte every 0.1 s keeps any per-read timeout happy
            h.wfile.write(b" ")
            h.wfile.flush()
            time.sleep(0.1)

    with serving(trickle) as (base, _):
        client = VendorBClient(base, "key", max_seconds=1.0, **FAST)
        started = time.monotonic()
        with pytest.raises(SourceRequestError,
                           match=r"gave up after 2 attempts \(response not complete after 1 s\)"):
            client.schools_listing()
    assert time.monotonic() - started < 10


def test_a_repeating_cursor_ends_the_listing():
    page = json.dumps({"items": [{"ma_truong": "80001001"}], "next_cursor": "again"}).encode()
    with serving(lambda h: send(h, 200, page)) as (base, seen):
        with pytest.raises(SourceRequestError, match="page 3: the cursor repeats"):
            VendorBClient(base, "key", **FAST).schools_listing()
    assert len(seen) == 2


def test_a_listing_that_never_ends_stops_at_the_page_cap():
    page = json.dumps({"data": [{"commune_code": "25459"}], "total": 10**9,
                       "total_pages": 10**9}).encode()
    with serving(lambda h: send(h, 200, page)) as (base, seen):
        with pytest.raises(SourceRequestError, match="more than 5 pages; the listing does not"):
            PcgdClient(base, "key", max_pages=5, **FAST).communes()
    assert len(seen) == 5


def test_a_body_nested_past_what_can_be_parsed_and_never_closed_is_an_error():
    deep = b"[" * 200_000
    with serving(lambda h: send(h, 200, deep)) as (base, _):
        with pytest.raises(SourceRequestError, match="nested too deeply"):
            VendorBClient(base, "key", **FAST).schools_listing()


def test_a_record_nested_past_the_limit_is_quarantined_and_the_rest_of_the_page_lands(
        fresh_db):
    good = {"ma_truong": "80001001", "ten_truong": "Trường Tiểu học A [1]"}
    deep = b'{"ma_truong": "80001002", "ghi_chu": ' + b"[" * 100_000 + b"]" * 100_000 + b"}"
    page = b'{"items": [' + json.dumps(good).encode() + b", " + deep + b'], "next_cursor": null}'
    with serving(lambda h: send(h, 200, page)) as (base, _):
        listing = VendorBClient(base, "key", **FAST).schools_listing()
    assert len(listing.records) == 2
    with warehouse.connect(fresh_db) as conn:
        result = land_partition(conn, sms_vendor_b.SCHOOLS, listing.records, batch_id="b1",
                                partition="all", extracted_at=datetime.now(UTC))
        landed = conn.execute("select payload from raw.sms_vendor_b__schools").fetchall()
        quarantined = conn.execute("select reason from ops.quarantine").fetchall()
    assert (result.landed, result.quarantined) == (1, 1)
    assert landed == [(good,)]
    assert quarantined == [("record 1 of partition all is nested too deeply to be read (a value "
                            "was cut out at the source's response)",)]


@pytest.mark.parametrize("url", ["http://10.0.0.5/api", "http://pcgd.example.vn/api/v1",
                                 "ftp://127.0.0.1/api"])
def test_plain_http_is_refused_off_the_loopback(url):
    with pytest.raises(ValueError, match="must be reached over https"):
        VendorBClient(url, "key")
    assert VendorBClient("https://pcgd.example.vn/api", "key").base_url
    assert VendorBClient("http://[::1]:8800/api", "key").base_url


def test_a_full_read_of_vendor_b_cut_short_withdraws_nobody(fresh_db):
    """Vendor B reports no total: a second pass counts the records. A first pass whose cursor
    ends early then disagrees with the count; validation rejects the partition, and the
    learners the short pass missed stay current."""
    school = "80001001"
    learners = [{"ma_truong": school, "ma_dinh_danh_bo": f"{1000000000 + i}",
                 "so_dinh_danh": None, "ho_ten": f"Học sinh {i}", "ngay_sinh": "05/03/2015",
                 "gioi_tinh": "Nam", "dan_toc": "Kinh", "ma_lop": "6A", "lop": "6A", "khoi": "6",
                 "trang_thai": "Đang học", "ma_xa_thuong_tru": "25459", "so_dien_thoai": None,
                 "ngay_cap_nhat": "01/10/2026 08:00:00"} for i in range(5)]
    reads = {"n": 0}

    def respond(h):
        cursor = "p2" in h.path
        if not cursor:
            reads["n"] += 1
        short = reads["n"] == 3  # the second listing's first pass: its cursor ends early
        items = learners[3:] if cursor else learners[:3]
        send(h, 200, json.dumps({"items": items,
                                 "next_cursor": None if cursor or short else "p2"}).encode())

    spec = sms_vendor_b.PER_SCHOOL["learners"]
    with serving(respond) as (base, _):
        client = VendorBClient(base, "key", **FAST)
        whole = client.school_listing("learners", school)
        short = client.school_listing("learners", school)
    assert (len(whole.records), whole.total) == (5, 5)
    assert (len(short.records), short.total) == (3, 5)
    with warehouse.connect(fresh_db) as conn:
        for batch, listing in (("b1", whole), ("b2", short)):
            land_partition(conn, spec, listing.records, batch_id=batch, partition=school,
                           extracted_at=datetime.now(UTC), full=True,
                           reported_total=listing.total, accept_deletions=True)
            validate_landed_quietly(fresh_db, batch)
        status = dict(conn.execute("select batch_id, status from ops.batches "
                                   "where entity = 'learners'").fetchall())
        current = conn.execute(sql.SQL("select count(*) from ({}) as c").format(
            current_versions_query(spec.table))).fetchone()[0]
    assert status == {"b1": "validated", "b2": "rejected"}
    assert current == 5


def validate_landed_quietly(url: str, batch_id: str) -> None:
    """The vendor B learners suite on a batch, its rejection recorded (not raised)."""
    from eduhub import validation

    validation.validate_sources(url, batch_id, ["sms_vendor_b"])
