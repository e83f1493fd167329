"""The simulators, served from the province's store (store.py), answer byte for byte as the
in-memory simulators of commit 082d696 did.

`tests/fixtures/sandbox_responses.json` holds, per fault profile and per group of requests, a
sha256 over every answer (status, content type, Retry-After, body) the simulators gave to a
fixed walk of requests over a small province: every page of every listing of every simulator,
with its filters, the population service's verifications and the error answers. The walk is
driven by the answers themselves (cursors, totals), so a different answer changes the digest.

Record again (only when an answer is meant to change):

    PYTHONPATH=plugins:sandbox .venv/bin/python tests/test_sandbox_store.py --record
"""

from __future__ import annotations

import argparse
import hashlib
import json
import sys
import tempfile
import threading
import unicodedata
from collections import defaultdict
from pathlib import Path

import pytest
import requests

from eduhub_sandbox import faults, generator, store
from eduhub_sandbox.server import SandboxServer
from eduhub_sandbox.simulators.common import Credentials
from eduhub_sandbox.store import ProvinceStore

FIXTURE = Path(__file__).parent / "fixtures" / "sandbox_responses.json"
SCALE, SEED, DAY = 1500, 7, 140
CRED = Credentials("store-client", "store-secret-value")
# Transient faults without their delays: the same answers, sooner.
NO_DELAYS = "timeout_seconds=0,slow_seconds=0"
QUIET = "share_5xx=0,share_429=0,share_timeout=0,share_slow=0,share_malformed_page=0"
# (profile, fault seed): none; the persistent hostile faults alone (renamed, added and keyless
# records, shifting pages, as test_simulators serves them); and every hostile fault at once.
PROFILES = (("none", 0), (f"hostile:{QUIET}", 3), (f"hostile:{NO_DELAYS}", 21))
# The rate limit depends on the clock: far above what one client asks, so it never answers.
UNLIMITED = 1e9
ATTEMPTS = 4  # transient faults fail at most twice in a row
MAX_PAGES = 1000  # a cursor that leads back would walk for ever


class Walk:
    """Requests against one server; every answer goes into the digest of its group."""

    def __init__(self, base: str):
        self.base = base
        self.session = requests.Session()
        self.hashes: dict = defaultdict(hashlib.sha256)
        self.counts: dict[str, int] = defaultdict(int)

    def record(self, group: str, response: requests.Response, body: bytes | None = None) -> None:
        h = self.hashes[group]
        for part in (str(response.status_code), response.headers.get("Content-Type", ""),
                     response.headers.get("Retry-After", "")):
            h.update(part.encode() + b"\x1f")
        h.update(response.content if body is None else body)
        h.update(b"\x1e")
        self.counts[group] += 1

    def ask(self, group: str, method: str, path: str, retry: bool = True, **kwargs) -> dict | None:
        """One request, again while a transient fault answers; the JSON of the last answer."""
        for _ in range(ATTEMPTS if retry else 1):
            response = self.session.request(method, self.base + path, timeout=30, **kwargs)
            self.record(group, response)
            try:
                payload = response.json()
            except ValueError:
                continue  # a page cut off mid-way
            if response.status_code < 500 and response.status_code != 429:
                return payload
        return None

    def digests(self) -> dict[str, dict]:
        return {g: {"requests": self.counts[g], "sha256": self.hashes[g].hexdigest()}
                for g in sorted(self.hashes)}


def _codes(data: dict, vendor: str) -> list[str]:
    return sorted(s["school_code"] for s in data["schools"] if s["vendor"] == vendor)


def _middle_stamp(rows: list[dict]) -> str:
    stamps = sorted(r["updated_at"] for r in rows)
    return stamps[len(stamps) // 2]


def _vendor_a(walk: Walk, data: dict) -> None:
    a = "/vendor-a/api/v1"
    token = None
    for _ in range(ATTEMPTS):
        response = walk.session.post(walk.base + a + "/auth/token", timeout=30,
                                     json={"client_id": CRED.client_id, "client_secret": CRED.client_secret})
        try:
            token = response.json().get("access_token")
        except ValueError:
            token = None
        # the token itself is random: only the status and the answer's fields count
        walk.record("a token", response, b"" if token is None else
                    json.dumps(sorted(response.json())).encode())
        if token:
            break
    auth = {"Authorization": f"Bearer {token}"}

    def listing(group, path, limit, **params):
        offset, total = 0, 1
        while offset < total:
            body = walk.ask(group, "GET", a + path, headers=auth,
                            params={**params, "offset": offset, "limit": limit})
            if not body or "data" not in body:
                return
            offset, total = offset + limit, body["total"]

    listing("a schools", "/schools", 7)
    listing("a schools", "/schools", 500, updated_since="2026-09-06T00:00:00+07:00")
    since = _middle_stamp(data["learners"])
    for code in _codes(data, "sms_vendor_a"):
        for entity in ("learners", "classes", "staff", "facilities", "results", "health",
                       "transcripts"):
            group = f"a {entity}"
            listing(group, f"/schools/{code}/{entity}", 37)
            listing(group, f"/schools/{code}/{entity}", 500, updated_since=since)
            listing(group, f"/schools/{code}/{entity}", 100, school_year="2025-2026")
            listing(group, f"/schools/{code}/{entity}", 100, school_year=generator.SCHOOL_YEAR,
                    updated_since="2026-10-15 12:00:00")
        # a second pass over the learners (the shifting listings are stable by then), at the end
        listing("a learners", f"/schools/{code}/learners", 7)
        walk.ask("a learners", "GET", f"{a}/schools/{code}/learners", headers=auth,
                 params={"offset": 10**6, "limit": 5})
    code = _codes(data, "sms_vendor_a")[0]
    for path, params, headers in (
            ("/schools/NOPE/learners", {}, auth), (f"/schools/{code}/teachers", {}, auth),
            (f"/schools/{code}/learners", {"updated_since": "yesterday"}, auth),
            (f"/schools/{code}/learners", {"limit": 0}, auth),
            (f"/schools/{code}/learners", {"offset": -1}, auth),
            (f"/schools/{code}/learners", {"limit": "x"}, auth),
            ("/schools", {}, {}), ("/schools", {}, {"Authorization": "Bearer forged"})):
        walk.ask("a errors", "GET", a + path, retry=False, params=params, headers=headers)
    walk.ask("a errors", "DELETE", a + "/schools", retry=False, headers=auth)
    walk.ask("a errors", "POST", a + "/auth/token", retry=False, data=b"not json")


def _vendor_b(walk: Walk, data: dict) -> None:
    b = "/vendor-b/api"
    key = {"X-API-Key": CRED.api_key("sms_vendor_b")}

    def listing(group, path, limit, **params):
        cursor, first = None, True
        for _ in range(MAX_PAGES):
            if not (first or cursor):
                return
            query = {**params, "limit": limit, **({"cursor": cursor} if cursor else {})}
            body = walk.ask(group, "GET", b + path, headers=key, params=query)
            if not body or "items" not in body:
                return
            cursor, first = body["next_cursor"], False
        raise AssertionError(f"{path} {params}: the cursors never reach the end")

    listing("b truong", "/truong", 2)
    listing("b truong", "/truong", 500, updated_since="01/09/2026")
    for code in _codes(data, "sms_vendor_b"):
        for path in ("hoc-sinh", "lop-hoc", "can-bo", "co-so-vat-chat", "ket-qua-hoc-tap",
                     "suc-khoe", "hoc-ba-so"):
            group = f"b {path}"
            listing(group, f"/{path}", 29, ma_truong=code)
            listing(group, f"/{path}", 500, ma_truong=code, nam_hoc="2024-2025")
            for since in ("2026-10-15T12:00:00+07:00", "15/10/2026 12:00:00", "15/10/2026"):
                listing(group, f"/{path}", 100, ma_truong=code, updated_since=since)
    code = _codes(data, "sms_vendor_b")[0]
    first = walk.ask("b errors", "GET", b + "/hoc-sinh", retry=False, headers=key,
                     params={"ma_truong": code, "limit": 3}) or {}
    for params in ({"ma_truong": code, "limit": 3, "cursor": first.get("next_cursor"),
                    "updated_since": "2026-01-01"},
                   {"ma_truong": code, "cursor": "%%%"}, {"ma_truong": code, "cursor": "e30"},
                   {}, {"ma_truong": "NOPE"}, {"ma_truong": code, "limit": 501},
                   {"ma_truong": code, "updated_since": "mai"}):
        walk.ask("b errors", "GET", b + "/hoc-sinh", retry=False, headers=key, params=params)
    walk.ask("b errors", "GET", b + "/giao-vien", retry=False, headers=key)
    walk.ask("b errors", "GET", b + "/truong", retry=False, headers={"X-API-Key": "wrong"})
    walk.ask("b errors", "POST", b + "/truong", retry=False, headers=key)


def _population(walk: Walk, data: dict) -> None:
    path = "/population/api/v1/verify"
    key = {"X-API-Key": CRED.api_key("population")}
    fields = ("personal_id", "full_name", "date_of_birth", "sex")
    asked = [{f: p[f] for f in fields} for p in data["registry"]]
    # school records: typos, wrong birth dates, shared and missing IDs among them
    asked += [{f: x[f] for f in fields} for x in data["learners"] + data["staff"]
              if isinstance(x["personal_id"], str)]
    asked += [{**r, "full_name": unicodedata.normalize("NFD", r["full_name"])} for r in asked[:50]]
    asked += [{**r, "full_name": generator.strip_accents(r["full_name"]), "sex": None}
              for r in asked[50:100]]
    asked += [{"personal_id": "999999999999"}, {"personal_id": asked[0]["personal_id"]}]
    for i in range(0, len(asked), 100):
        walk.ask("population verify", "POST", path, headers=key, json={"records": asked[i:i + 100]})
    for body in ({"records": asked[:101]}, {"records": []}, {"records": [{"full_name": "x"}]},
                 [1, 2], {"records": ["x"]}):
        walk.ask("population errors", "POST", path, retry=False, headers=key, json=body)
    walk.ask("population errors", "POST", path, retry=False, headers=key, data=b"\xff{")
    walk.ask("population errors", "GET", path, retry=False, headers=key)
    walk.ask("population errors", "POST", "/population/api/v1/lookup", retry=False, headers=key)
    walk.ask("population errors", "POST", path, retry=False, json={"records": asked[:1]})


def _paged(walk: Walk, group: str, path: str, headers: dict, size: int, **params) -> None:
    page, pages = 1, 1
    while page <= pages:
        body = walk.ask(group, "GET", path, headers=headers,
                        params={**params, "page": page, "page_size": size})
        if not body or "data" not in body:
            return
        page, pages = page + 1, body["total_pages"]


def _pcgd(walk: Walk, data: dict) -> None:
    p = "/pcgd/api/v1"
    key = {"X-API-Key": CRED.api_key("pcgd")}
    _paged(walk, "pcgd communes", p + "/communes", key, 7)
    _paged(walk, "pcgd communes", p + "/communes", key, 100)
    since = _middle_stamp(data["pcgd_residents"])
    codes = sorted({c["commune_code"] for c in data["communes"]}
                   | {h["commune_code"] for h in data["pcgd_households"]})
    for code in codes:
        _paged(walk, "pcgd households", f"{p}/communes/{code}/households", key, 40)
        _paged(walk, "pcgd households", f"{p}/communes/{code}/households", key, 500,
               updated_since=since)
        _paged(walk, "pcgd households", f"{p}/communes/{code}/households", key, 100,
               updated_since="2026-11-01")
    for path, params in ((f"{p}/communes/{codes[0]}/households", {"page": 0}),
                         (f"{p}/communes/{codes[0]}/households", {"page_size": 501}),
                         (f"{p}/communes/{codes[0]}/households", {"page": 10**6}),
                         (f"{p}/communes/{codes[0]}/households", {"updated_since": "x"}),
                         (f"{p}/communes/00000/households", {}), (f"{p}/households", {})):
        walk.ask("pcgd errors", "GET", path, retry=False, headers=key, params=params)


def _school_registry(walk: Walk) -> None:
    path = "/school-registry/api/v1/units"
    key = {"X-API-Key": CRED.api_key("school_registry")}
    _paged(walk, "registry units", path, key, 3)
    _paged(walk, "registry units", path, key, 500)
    for params in ({"page": 0}, {"page_size": 0}, {"page": "x"}, {"page": 99}):
        walk.ask("registry errors", "GET", path, retry=False, headers=key, params=params)
    walk.ask("registry errors", "GET", "/school-registry/api/v1/schools", retry=False, headers=key)
    walk.ask("registry errors", "GET", "/nowhere", retry=False)


def walk_all(base: str, data: dict) -> dict[str, dict]:
    walk = Walk(base)
    _vendor_a(walk, data)
    _vendor_b(walk, data)
    _population(walk, data)
    _pcgd(walk, data)
    _school_registry(walk)
    return walk.digests()


def serve_and_walk(ground_truth: dict, profile: str, seed: int, *, data_dir: Path | None = None,
                   data: dict | None = None) -> dict[str, dict]:
    """Serve the province (from `data_dir`, or `data` in memory) in a thread and walk it; the
    walk's choices (schools, communes, people to verify) come from `ground_truth`."""
    srv = SandboxServer(data_dir, CRED, faults=profile, seed=seed, data=data,
                        population_rate=UNLIMITED)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        return walk_all(srv.base_url, ground_truth)
    finally:
        srv.shutdown()
        srv.server_close()


def province(out: Path) -> dict:
    generator.write(generator.generate(scale=SCALE, seed=SEED, day=DAY), out)
    return generator.load(out)


def record() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        data = province(Path(tmp))
        runs = {f"{profile} seed {seed}": serve_and_walk(data, profile, seed, data_dir=Path(tmp))
                for profile, seed in PROFILES}
        fixture = {"province": {"scale": SCALE, "seed": SEED, "day": DAY,
                                "digest": generator.digest(Path(tmp))},
                   "runs": runs}
    FIXTURE.write_text(json.dumps(fixture, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    total = sum(g["requests"] for run in runs.values() for g in run.values())
    print(f"{total} answers recorded in {FIXTURE}")


@pytest.fixture(scope="module")
def recorded() -> dict:
    return json.loads(FIXTURE.read_text(encoding="utf-8"))


@pytest.fixture(scope="module")
def small_province(tmp_path_factory, recorded) -> tuple[Path, dict]:
    out = tmp_path_factory.mktemp("store-province")
    data = province(out)
    # the same files as when the answers were recorded, or the comparison means nothing
    assert generator.digest(out) == recorded["province"]["digest"]
    return out, data


@pytest.mark.parametrize(("profile", "seed"), PROFILES)
def test_served_from_the_data_folder_the_answers_are_the_recorded_ones(small_province, recorded,
                                                                       profile, seed):
    out, data = small_province
    expected = recorded["runs"][f"{profile} seed {seed}"]
    got = serve_and_walk(data, profile, seed, data_dir=out)
    assert sum(g["requests"] for g in got.values()) > 700  # the walk did walk
    differing = sorted(g for g in expected.keys() | got.keys() if expected.get(g) != got.get(g))
    assert not differing, differing


def test_served_from_data_in_memory_the_answers_are_the_recorded_ones(small_province, recorded):
    out, data = small_province
    got = serve_and_walk(data, "none", 0, data=generator.load(out))
    expected = recorded["runs"]["none seed 0"]
    assert got == expected


def test_clients_at_the_same_time_get_the_recorded_answers(small_province, recorded):
    """Four walks at once on one server: each request thread reads the store on a connection
    of its own."""
    out, data = small_province
    srv = SandboxServer(out, CRED, population_rate=UNLIMITED)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    results: list = [None] * 4

    def walk(i: int) -> None:
        try:
            results[i] = walk_all(srv.base_url, data)
        except Exception as exc:  # reported below, with the others
            results[i] = exc

    try:
        walkers = [threading.Thread(target=walk, args=(i,)) for i in range(len(results))]
        for w in walkers:
            w.start()
        for w in walkers:
            w.join(timeout=300)
    finally:
        srv.shutdown()
        srv.server_close()
    assert results == [recorded["runs"]["none seed 0"]] * len(results)


def test_the_store_lists_the_same_persistent_faults_as_the_data_in_memory(small_province):
    out, data = small_province
    province_store = ProvinceStore.for_folder(out)
    for seed in (3, 21):
        in_memory = faults.persistent_faults(data, seed, "hostile").as_dict()
        assert in_memory["malformed_records"] and in_memory["shifting_listings"]
        assert faults.persistent_faults(province_store, seed, "hostile").as_dict() == in_memory


def _served_names(data_dir: Path, code: str) -> dict[str, str]:
    srv = SandboxServer(data_dir, CRED)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        body = requests.get(f"{srv.base_url}/vendor-b/api/hoc-sinh", timeout=30,
                            params={"ma_truong": code, "limit": 500},
                            headers={"X-API-Key": CRED.api_key("sms_vendor_b")}).json()
        return {x["ma_dinh_danh_bo"]: x["ho_ten"] for x in body["items"]}
    finally:
        srv.shutdown()
        srv.server_close()


def test_the_store_is_built_when_first_served_and_rebuilt_when_the_files_change(tmp_path):
    assert store.ENTITIES == generator.ENTITIES
    generator.write(generator.generate(scale=300, seed=2, day=10), tmp_path)
    built = tmp_path / store.STORE_NAME
    assert not built.exists()  # a province only read (the suite's ground truth) costs nothing
    learners = generator.load(tmp_path)["learners"]
    learner = next(x for x in learners if x["school_code"] in
                   {s["school_code"] for s in generator.load(tmp_path)["schools"]
                    if s["vendor"] == "sms_vendor_b"})
    assert _served_names(tmp_path, learner["school_code"])[learner["moet_id"]] == learner["full_name"]
    first_build = built.stat().st_mtime_ns
    assert _served_names(tmp_path, learner["school_code"])[learner["moet_id"]] == learner["full_name"]
    assert built.stat().st_mtime_ns == first_build  # up to date: not built again

    # the school renames the learner: the files change, and so does what is served
    renamed = unicodedata.normalize("NFC", "Nguyễn Thị Ánh Tuyết")
    with (tmp_path / "learners.jsonl").open("w", encoding="utf-8") as f:
        for x in learners:
            row = {**x, "full_name": renamed} if x is learner else x
            f.write(json.dumps(row, ensure_ascii=False, sort_keys=True) + "\n")
    assert _served_names(tmp_path, learner["school_code"])[learner["moet_id"]] == renamed
    assert built.stat().st_mtime_ns != first_build


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--record", action="store_true", required=True)
    parser.parse_args()
    record()
    sys.exit(0)
