"""The source simulators over real HTTP: every contract in docs/sources/, and every fault."""

from __future__ import annotations

import contextlib
import json
import threading
import time
import unicodedata
from collections import Counter
from datetime import datetime
from pathlib import Path

import openpyxl
import pytest
import requests

from eduhub import cli
from eduhub.sources import file_exports
from eduhub_sandbox import faults, generator
from eduhub_sandbox.process import running_simulators
from eduhub_sandbox.server import SandboxServer
from eduhub_sandbox.simulators import file_exports as exports
from eduhub_sandbox.simulators.common import SEX_LABELS, Credentials, vn_date
from eduhub_sandbox.simulators.sms_vendor_a import VendorA
from eduhub_sandbox.simulators.sms_vendor_b import VendorB

SEED = 7
DAY = 140  # mid-term: transfers, drop-outs, health checks and term-1 results exist
CRED = Credentials("sim-client", "sim-secret-value")
# Only the fault under test: the other transient shares of the base profile off.
QUIET = "share_5xx=0,share_429=0,share_timeout=0,share_slow=0,share_malformed_page=0"


@pytest.fixture(scope="module")
def province(tmp_path_factory) -> tuple[Path, dict[str, list[dict]], dict]:
    out = tmp_path_factory.mktemp("province")
    manifest = generator.write(generator.generate(scale=1500, seed=SEED, day=DAY), out)
    return out, generator.load(out), manifest


@pytest.fixture(scope="module")
def data(province) -> dict[str, list[dict]]:
    return province[1]


@contextlib.contextmanager
def serving(data, faults_spec="none", seed=0, **options):
    srv = SandboxServer(None, CRED, data=data, faults=faults_spec, seed=seed, **options)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    try:
        yield srv
    finally:
        srv.shutdown()
        srv.server_close()


@pytest.fixture(scope="module")
def server(data):
    with serving(data) as srv:
        yield srv


def _codes(data, vendor):
    return sorted(s["school_code"] for s in data["schools"] if s["vendor"] == vendor)


def _canon(rows) -> list[str]:
    return sorted(json.dumps(r, sort_keys=True, ensure_ascii=False) for r in rows)


def _vendor_a_session(base) -> requests.Session:
    s = requests.Session()
    token = s.post(f"{base}/vendor-a/api/v1/auth/token",
                   json={"client_id": CRED.client_id, "client_secret": CRED.client_secret}).json()
    s.headers["Authorization"] = f"Bearer {token['access_token']}"
    return s


def _page_a(session, base, path, limit=37, **params) -> list[dict]:
    rows, offset = [], 0
    while True:
        body = session.get(f"{base}/vendor-a/api/v1{path}",
                           params={**params, "offset": offset, "limit": limit}).json()
        rows += body["data"]
        offset += len(body["data"])
        if not body["data"] or offset >= body["total"]:
            return rows


def _page_b(base, path, limit=29, **params) -> list[dict]:
    headers = {"X-API-Key": CRED.api_key("sms_vendor_b")}
    rows, cursor = [], None
    while True:
        query = {**params, "limit": limit, **({"cursor": cursor} if cursor else {})}
        response = requests.get(f"{base}/vendor-b/api{path}", params=query, headers=headers)
        assert response.status_code == 200, response.text
        body = response.json()
        rows += body["items"]
        cursor = body["next_cursor"]
        if cursor is None:
            return rows


def _page_pcgd(base, commune, size=40, **params) -> list[dict]:
    headers = {"X-API-Key": CRED.api_key("pcgd")}
    rows, page = [], 1
    while True:
        body = requests.get(f"{base}/pcgd/api/v1/communes/{commune}/households",
                            params={**params, "page": page, "page_size": size}, headers=headers).json()
        rows += body["data"]
        if page >= body["total_pages"]:
            return rows
        page += 1


def _after(stamp: str, since: str) -> bool:
    return datetime.fromisoformat(stamp) > datetime.fromisoformat(since)


VENDOR_A_VIEWS = {"learners": VendorA.learner_view, "classes": VendorA.class_view,
                  "staff": VendorA.staff_view, "facilities": VendorA.facility_view,
                  "results": VendorA.result_view, "health": VendorA.health_view,
                  "transcripts": VendorA.transcript_view}


# --- faults off: every record exactly once, updated_since exact -----------------------------

def test_vendor_a_every_entity_pages_to_the_end_exactly_once(server, data):
    session = _vendor_a_session(server.base_url)
    for entity, view in VENDOR_A_VIEWS.items():
        got, expected = [], []
        for code in _codes(data, "sms_vendor_a"):
            got += _page_a(session, server.base_url, f"/schools/{code}/{entity}")
            expected += [view(r) for r in data[entity] if r["school_code"] == code]
        assert expected, entity
        assert _canon(got) == _canon(expected), entity


def test_vendor_a_updated_since_is_strictly_after(server, data):
    session = _vendor_a_session(server.base_url)
    codes = set(_codes(data, "sms_vendor_a"))
    changed = sorted(x["updated_at"] for x in data["learners"]
                     if x["school_code"] in codes and x["updated_at"] > "2026-09-06")
    assert changed, "the province should have changes during the term"
    since = changed[len(changed) // 2]  # a record stamped exactly then is not "after" it
    for entity, view in VENDOR_A_VIEWS.items():
        got, expected = [], []
        for code in sorted(codes):
            got += _page_a(session, server.base_url, f"/schools/{code}/{entity}", updated_since=since)
            expected += [view(r) for r in data[entity]
                         if r["school_code"] == code and _after(r["updated_at"], since)]
        assert _canon(got) == _canon(expected), entity
    assert any(x["updated_at"] == since for x in data["learners"])
    bad = session.get(f"{server.base_url}/vendor-a/api/v1/schools/{min(codes)}/learners",
                      params={"updated_since": "yesterday"})
    assert bad.status_code == 400


def test_vendor_b_every_entity_pages_to_the_end_exactly_once(server, data):
    codes = _codes(data, "sms_vendor_b")
    schools = _page_b(server.base_url, "/truong", limit=2)
    assert sorted(s["ma_truong"] for s in schools) == codes
    for path, (stem, view, _key) in VendorB.ENTITIES.items():
        if path == "truong":
            continue
        got, expected = [], []
        for code in codes:
            got += _page_b(server.base_url, f"/{path}", ma_truong=code)
            expected += [view(r) for r in data[stem] if r["school_code"] == code]
        assert expected, stem
        assert _canon(got) == _canon(expected), stem
    # Vietnamese shapes: dd/mm/yyyy dates, Vietnamese labels
    learner = next(x for x in data["learners"] if x["school_code"] in codes and x["date_of_birth"]
                   and x["sex"])
    served = next(r for r in _page_b(server.base_url, "/hoc-sinh", limit=500,
                                     ma_truong=learner["school_code"])
                  if r["ma_dinh_danh_bo"] == learner["moet_id"])
    assert served["ngay_sinh"] == vn_date(learner["date_of_birth"])
    assert served["gioi_tinh"] == SEX_LABELS[learner["sex"]] and served["ho_ten"] == learner["full_name"]
    assert served["ngay_sinh"][2] == "/" and served["ngay_cap_nhat"][2] == "/"


def test_vendor_b_updated_since_both_date_forms(server, data):
    codes = _codes(data, "sms_vendor_b")
    for since, iso in (("2026-10-15T12:00:00+07:00", "2026-10-15T12:00:00+07:00"),
                       ("15/10/2026 12:00:00", "2026-10-15T12:00:00+07:00"),
                       ("15/10/2026", "2026-10-15T00:00:00+07:00")):
        for path, stem in (("hoc-sinh", "learners"), ("ket-qua-hoc-tap", "results"),
                           ("suc-khoe", "health")):
            got = [r for code in codes for r in _page_b(server.base_url, f"/{path}", ma_truong=code,
                                                        updated_since=since)]
            view = VendorB.ENTITIES[path][1]
            expected = [view(r) for r in data[stem]
                        if r["school_code"] in codes and _after(r["updated_at"], iso)]
            assert _canon(got) == _canon(expected), (since, path)


def test_vendor_b_cursor_is_opaque_and_bound_to_its_query(server, data):
    code = _codes(data, "sms_vendor_b")[0]
    headers = {"X-API-Key": CRED.api_key("sms_vendor_b")}
    url = f"{server.base_url}/vendor-b/api/hoc-sinh"
    first = requests.get(url, params={"ma_truong": code, "limit": 3}, headers=headers).json()
    assert first["next_cursor"]
    other = requests.get(url, params={"ma_truong": code, "limit": 3, "cursor": first["next_cursor"],
                                      "updated_since": "2026-01-01"}, headers=headers)
    assert other.status_code == 400 and "another query" in other.json()["error"]
    garbage = requests.get(url, params={"ma_truong": code, "cursor": "%%%"}, headers=headers)
    assert garbage.status_code == 400
    missing = requests.get(url, headers=headers)
    assert missing.status_code == 400 and "ma_truong" in missing.json()["error"]


def test_school_year_filters_apply_where_there_is_a_school_year(server, data):
    session = _vendor_a_session(server.base_url)
    with_results = Counter(r["school_code"] for r in data["results"] if r["school_year"] == "2025-2026")
    code_a = max(_codes(data, "sms_vendor_a"), key=lambda c: with_results[c])
    got = _page_a(session, server.base_url, f"/schools/{code_a}/results", school_year="2025-2026")
    expected = [VendorA.result_view(r) for r in data["results"]
                if r["school_code"] == code_a and r["school_year"] == "2025-2026"]
    assert expected and _canon(got) == _canon(expected)
    staff = _page_a(session, server.base_url, f"/schools/{code_a}/staff", school_year="2025-2026")
    assert len(staff) == sum(s["school_code"] == code_a for s in data["staff"])  # no year: ignored
    code_b = _codes(data, "sms_vendor_b")[0]
    facilities = _page_b(server.base_url, "/co-so-vat-chat", ma_truong=code_b, nam_hoc="2024-2025")
    assert [f["nam_hoc"] for f in facilities] == ["2024-2025"]


def test_pcgd_pages_every_household_once_with_its_residents(server, data):
    residents = Counter(r["household_id"] for r in data["pcgd_residents"])
    got = [h for c in data["communes"] for h in _page_pcgd(server.base_url, c["commune_code"])]
    assert sorted(h["household_id"] for h in got) == sorted(h["household_id"]
                                                            for h in data["pcgd_households"])
    assert all(len(h["residents"]) == residents[h["household_id"]] for h in got)
    assert sum(len(h["residents"]) for h in got) == len(data["pcgd_residents"])
    headers = {"X-API-Key": CRED.api_key("pcgd")}
    communes = requests.get(f"{server.base_url}/pcgd/api/v1/communes", headers=headers).json()
    assert {c["commune_code"] for c in communes["data"]} == {c["commune_code"] for c in data["communes"]}


def test_pcgd_updated_since_includes_households_whose_residents_changed(data):
    changed = {**data, "pcgd_residents": [dict(r) for r in data["pcgd_residents"]],
               "pcgd_households": [dict(h) for h in data["pcgd_households"]]}
    changed["pcgd_residents"][5]["updated_at"] = "2026-11-02T09:00:00+07:00"
    changed["pcgd_households"][7]["updated_at"] = "2026-11-03T09:00:00+07:00"
    expected = {changed["pcgd_residents"][5]["household_id"], changed["pcgd_households"][7]["household_id"]}
    with serving(changed) as srv:
        got = {h["household_id"] for c in data["communes"]
               for h in _page_pcgd(srv.base_url, c["commune_code"], updated_since="2026-11-01")}
        assert got == expected
        latest = {h["household_id"] for c in data["communes"]
                  for h in _page_pcgd(srv.base_url, c["commune_code"],
                                      updated_since="2026-11-02T09:00:00+07:00")}
        assert latest == {changed["pcgd_households"][7]["household_id"]}


def test_the_school_registry_lists_every_school_and_the_silent_and_closed_units(server, data):
    """Every school once, paged; plus the units no system serves (open: silent schools of the
    ground truth; and one closed), each school's commune the current one."""
    headers = {"X-API-Key": CRED.api_key("school_registry")}
    got, page = [], 1
    while True:
        body = requests.get(f"{server.base_url}/school-registry/api/v1/units", headers=headers,
                            params={"page": page, "page_size": 3}).json()
        got += body["data"]
        if page >= body["total_pages"]:
            break
        page += 1
    assert body["total"] == len(got) == len(data["units"])
    by_code = {u["unit_code"]: u for u in got}
    assert len(by_code) == len(got)
    official = {c.commune_code for c in generator.official_communes()}
    for s in data["schools"]:
        unit = by_code.pop(s["school_code"])
        assert (unit["unit_name"], unit["level"], unit["managing_unit"], unit["channel"]) == (
            s["name"], s["level"], s["managing_unit"], s["vendor"])
        assert unit["commune_code"] in official and unit["closed_on"] is None
    assert len(by_code) >= 2  # the units no system serves
    assert sum(u["closed_on"] is not None for u in by_code.values()) == 1


def test_every_service_refuses_missing_or_wrong_credentials(server, data):
    base = server.base_url
    code = _codes(data, "sms_vendor_a")[0]
    commune = data["communes"][0]["commune_code"]
    assert requests.get(f"{base}/vendor-a/api/v1/schools").status_code == 401
    assert requests.get(f"{base}/vendor-a/api/v1/schools/{code}/staff",
                        headers={"Authorization": "Bearer forged"}).status_code == 401
    assert requests.post(f"{base}/vendor-a/api/v1/auth/token",
                         json={"client_id": CRED.client_id, "client_secret": "wrong"}).status_code == 401
    checks = [("GET", f"{base}/vendor-b/api/truong", "sms_vendor_b"),
              ("GET", f"{base}/pcgd/api/v1/communes/{commune}/households", "pcgd"),
              ("POST", f"{base}/population/api/v1/verify", "population"),
              ("GET", f"{base}/school-registry/api/v1/units", "school_registry")]
    for method, url, service in checks:
        assert requests.request(method, url, json={"records": []}).status_code == 401
        assert requests.request(method, url, headers={"X-API-Key": "wrong"}).status_code == 401
        # each service has its own key
        other = "pcgd" if service != "pcgd" else "sms_vendor_b"
        assert requests.request(method, url, headers={"X-API-Key": CRED.api_key(other)}).status_code == 401


# --- population verification -----------------------------------------------------------------

def _verify(base, records, **kw):
    return requests.post(f"{base}/population/api/v1/verify", json={"records": records},
                         headers={"X-API-Key": CRED.api_key("population")}, **kw)


def test_population_answers_match_mismatch_and_not_found(server, data, province):
    registry = {p["personal_id"]: p for p in data["registry"]}
    truth = next(p for p in data["registry"] if generator.strip_accents(p["full_name"]) != p["full_name"])
    ask = {k: truth[k] for k in ("personal_id", "full_name", "date_of_birth", "sex")}
    other_sex = "nu" if truth["sex"] == "nam" else "nam"
    name = truth["full_name"]
    records = [
        ask,
        {**ask, "full_name": unicodedata.normalize("NFD", name)},  # same name after NFC
        {**ask, "full_name": generator.strip_accents(name), "sex": other_sex},  # accents matter
        {**ask, "date_of_birth": "1900-01-01"},
        {**ask, "personal_id": "999999999999"},
    ]
    # learners whose school record disagrees with the registry, from the manifest
    defects = {d["record"]: d["defect"] for d in province[2]["defects"]}
    learners = {x["learner_key"]: x for x in data["learners"]}
    typo = next(learners[k] for k, d in defects.items() if d == "name_typo" and k in learners)
    wrong_dob = next(learners[k] for k, d in defects.items() if d == "wrong_birth_date" and k in learners)
    for x in (typo, wrong_dob):
        assert x["personal_id"] in registry
        records.append({k: x[k] for k in ("personal_id", "full_name", "date_of_birth", "sex")})
    response = _verify(server.base_url, records)
    assert response.status_code == 200
    got = [(r["status"], r["mismatched_fields"]) for r in response.json()["results"]]
    assert got == [("match", []), ("match", []), ("mismatch", ["full_name", "sex"]),
                   ("mismatch", ["date_of_birth"]), ("not_found", []),
                   ("mismatch", ["full_name"]), ("mismatch", ["date_of_birth"])]
    assert [r["personal_id"] for r in response.json()["results"]] == [r["personal_id"] for r in records]


def test_population_enforces_batch_size_and_body_shape(server, data):
    record = {k: data["registry"][0][k] for k in ("personal_id", "full_name", "date_of_birth", "sex")}
    assert _verify(server.base_url, [record] * 100).status_code == 200
    too_many = _verify(server.base_url, [record] * 101)
    assert too_many.status_code == 413 and "at most 100" in too_many.json()["error"]
    assert _verify(server.base_url, []).status_code == 400
    assert _verify(server.base_url, [{"full_name": "x"}]).status_code == 400
    get = requests.get(f"{server.base_url}/population/api/v1/verify",
                       headers={"X-API-Key": CRED.api_key("population")})
    assert get.status_code == 405


def test_population_rate_limit_answers_429_with_retry_after(data):
    record = {k: data["registry"][0][k] for k in ("personal_id", "full_name", "date_of_birth", "sex")}
    with serving(data, population_rate=2.0, population_burst=2) as srv:
        statuses = [_verify(srv.base_url, [record]) for _ in range(4)]
        assert [r.status_code for r in statuses[:2]] == [200, 200]
        limited = statuses[2]
        assert limited.status_code == 429 and int(limited.headers["Retry-After"]) >= 1
        time.sleep(float(limited.headers["Retry-After"]))
        assert _verify(srv.base_url, [record]).status_code == 200


# --- file exports ----------------------------------------------------------------------------

def test_class_exports_have_the_real_headers_one_row_per_learner_and_fixed_bytes(province, tmp_path):
    data_dir, data, _ = province
    first = exports.write_class_exports(data, tmp_path / "a", seed=SEED)
    assert cli.main(["sandbox", "export", "--data", str(data_dir), "--out", str(tmp_path / "b")]) == 0
    second = sorted((tmp_path / "b").rglob("*.xlsx"))
    assert [p.relative_to(tmp_path / "a") for p in first] == [p.relative_to(tmp_path / "b") for p in second]
    assert all(a.read_bytes() == b.read_bytes() for a, b in zip(first, second, strict=True))

    schools = {s["school_code"] for s in data["schools"] if s["vendor"] == "file_exports"}
    by_class = Counter((x["school_code"], x["class_name"]) for x in data["learners"]
                       if x["school_code"] in schools)
    plain = exports.write_class_exports(data, tmp_path / "plain", seed=SEED, plain=True)
    assert [p.relative_to(tmp_path / "plain") for p in plain] == \
        [p.relative_to(tmp_path / "a") for p in first]
    files = {(p.parts[-3], p.stem): p for p in plain}
    assert set(by_class) <= set(files)
    assert {p.parts[-2] for p in plain} == {generator.SCHOOL_YEAR}
    moet_of = {x["moet_id"]: x for x in data["learners"]}
    for (school, class_name), path in files.items():
        ws = openpyxl.load_workbook(path, read_only=True).worksheets[0]
        rows = list(ws.iter_rows(values_only=True))
        assert list(rows[0]) == exports.HEADERS
        assert len(rows) - 1 == by_class[(school, class_name)]
        assert [r[0] for r in rows[1:]] == list(range(1, len(rows)))
        for row in rows[1:]:
            x = moet_of[row[1]]
            assert (x["school_code"], row[2], row[22]) == (school, x["full_name"], class_name)
            assert (row[24] or None) == x["personal_id"]


def test_class_exports_come_in_the_layouts_real_ones_do_and_say_the_same(province, tmp_path):
    """Title blocks, recased, reordered and extra columns, numbers and dates typed as such: the
    platform's reader finds every learner with the plain file's values, IDs and phones whole
    again; dates and grades as typed (staging reads every form)."""
    _, data, _ = province
    varied = exports.write_class_exports(data, tmp_path / "varied", seed=SEED)
    exports.write_class_exports(data, tmp_path / "plain", seed=SEED, plain=True)

    def read(root, path):
        drop = file_exports.DropFile(path, path.relative_to(root).as_posix(), path.parts[-3],
                                     path.parts[-2])
        return file_exports.read_rows(drop)

    seen: set[str] = set()
    restored = 0
    typed_as_is = {"Ngày sinh", "Ngày cấp", "Khối học", "_leading_zero_restored", "Ghi chú"}
    for path in varied:
        seen |= exports.layout_of(SEED, path.parts[-3], path.parts[-2], path.stem)
        got = read(tmp_path / "varied", path)
        want = read(tmp_path / "plain", tmp_path / "plain" / path.relative_to(tmp_path / "varied"))
        assert len(got) == len(want)
        for g, w in zip(got, want, strict=True):
            restored += "_leading_zero_restored" in g
            # an extra column lands under its own header, as the file writes it
            assert {k: v for k, v in g.items()
                    if k not in typed_as_is | {"_row"} and k.casefold() != "ghi chú"} == \
                {k: v for k, v in w.items() if k not in typed_as_is | {"_row"}}
    assert seen == set(exports.LAYOUT_SHARES)  # every departure is exercised
    assert restored > 0


# --- faults ----------------------------------------------------------------------------------

def _get_schools(base, session=None, timeout=5.0):
    s = session or _vendor_a_session(base)
    return s.get(f"{base}/vendor-a/api/v1/schools", params={"limit": 5}, timeout=timeout)


def _token_with_retries(base) -> requests.Session:
    for _ in range(3):
        try:
            return _vendor_a_session(base)
        except (requests.RequestException, ValueError, KeyError):
            continue
    raise AssertionError("no token after 3 attempts")


def test_5xx_and_429_are_capped_so_the_third_attempt_succeeds(data):
    with serving(data, f"flaky:{QUIET},share_5xx=1", seed=1) as srv:
        session = _token_with_retries(srv.base_url)  # the token call fails twice too
        statuses = [_get_schools(srv.base_url, session).status_code for _ in range(3)]
        assert statuses[0] in (500, 502, 503, 504) and statuses[1] >= 500 and statuses[2] == 200
    with serving(data, f"flaky:{QUIET},share_429=1,retry_after_seconds=3", seed=1) as srv:
        session = _token_with_retries(srv.base_url)
        first = _get_schools(srv.base_url, session)
        assert first.status_code == 429 and first.headers["Retry-After"] == "3"


def test_timeouts_and_slow_responses(data):
    with serving(data, f"flaky:{QUIET},share_timeout=1,timeout_seconds=0.6", seed=1) as srv:
        session = _token_with_retries(srv.base_url)
        for _ in range(2):
            with pytest.raises(requests.ReadTimeout):
                _get_schools(srv.base_url, session, timeout=0.2)
        assert _get_schools(srv.base_url, session, timeout=0.2).status_code == 200
        # a client that waits long enough sees the gateway give up
        slow_504 = requests.get(f"{srv.base_url}/vendor-a/api/v1/schools?limit=1", timeout=3)
        assert slow_504.status_code == 504
    with serving(data, f"flaky:{QUIET},share_slow=1,slow_seconds=0.3", seed=1) as srv:
        session = _vendor_a_session(srv.base_url)
        started = time.monotonic()
        assert _get_schools(srv.base_url, session).status_code == 200
        assert time.monotonic() - started >= 0.3


def test_hostile_malformed_pages_are_truncated_json_and_transient(data):
    with serving(data, f"hostile:{QUIET},share_malformed_page=1", seed=1) as srv:
        session = _token_with_retries(srv.base_url)
        for _ in range(2):
            response = _get_schools(srv.base_url, session)
            assert response.status_code == 200
            with pytest.raises(ValueError):
                response.json()
        assert _get_schools(srv.base_url, session).json()["data"]


def _outcomes(base, requests_to_make) -> list[str]:
    out = []
    for path, params in requests_to_make:
        try:
            r = requests.get(f"{base}{path}", params=params, timeout=0.25,
                             headers={"X-API-Key": CRED.api_key("sms_vendor_b")})
            try:
                r.json()
                out.append(str(r.status_code))
            except ValueError:
                out.append(f"{r.status_code}-malformed")
        except requests.ReadTimeout:
            out.append("timeout")
    return out


def test_same_seed_gives_the_same_faults(data):
    codes = _codes(data, "sms_vendor_b")
    sequence = [("/vendor-b/api/hoc-sinh", {"ma_truong": c, "limit": 5})
                for c in codes for _ in range(6)]
    sequence += [("/vendor-b/api/truong", {"limit": n}) for n in range(1, 25)]
    spec = "hostile:timeout_seconds=0.5,slow_seconds=0.01,share_5xx=0.15,share_429=0.1"
    runs = []
    for seed in (21, 21, 22):
        with serving(data, spec, seed=seed) as srv:
            runs.append(_outcomes(srv.base_url, sequence))
    assert runs[0] == runs[1]
    assert runs[0] != runs[2]
    assert len(set(runs[0])) >= 3  # several kinds of fault, and successes
    # the server follows the documented draw: hash of (seed, request key, attempt); each school
    # list request is asked once (attempt 0), so its outcome is the draw's
    prof = faults.profile(spec)
    first = len(sequence) - 24
    for n in range(1, 25):
        kind = faults.draw(prof, 21, faults.request_key("GET", "/vendor-b/api/truong",
                                                        f"limit={n}"), 0)
        outcome = runs[0][first + n - 1]
        assert (kind == faults.TIMEOUT) == (outcome == "timeout"), (n, kind, outcome)
        assert (kind == faults.ERROR_5XX) == outcome.startswith("5"), (n, kind, outcome)
        assert (kind == faults.RATE_LIMITED) == (outcome == "429"), (n, kind, outcome)


def _retrying(session, method, url, waits, **kw) -> dict:
    """A minimal client retry policy: 5xx, timeouts and bad JSON again, 429 after Retry-After."""
    for _ in range(6):
        try:
            r = session.request(method, url, timeout=(2.0, 0.5), **kw)
        except requests.ReadTimeout:
            waits.append("timeout")
            continue
        if r.status_code == 429:
            waits.append("429")
            time.sleep(float(r.headers["Retry-After"]))
            continue
        if r.status_code >= 500:
            waits.append(str(r.status_code))
            continue
        try:
            return r.json()
        except ValueError:
            waits.append("malformed")
    raise AssertionError(f"no answer from {url} after 6 attempts")


def test_a_retrying_client_gets_everything_under_flaky(data):
    spec = "flaky:timeout_seconds=1,slow_seconds=0.05,retry_after_seconds=1"
    faults_seen: list[str] = []
    got = []
    with serving(data, spec, seed=5) as srv:
        base = f"{srv.base_url}/vendor-a/api/v1"
        session = requests.Session()
        token = _retrying(session, "POST", f"{base}/auth/token", faults_seen,
                          json={"client_id": CRED.client_id, "client_secret": CRED.client_secret})
        session.headers["Authorization"] = f"Bearer {token['access_token']}"
        for code in _codes(data, "sms_vendor_a"):
            for entity in ("learners", "results"):
                offset, total = 0, 1
                while offset < total:
                    body = _retrying(session, "GET", f"{base}/schools/{code}/{entity}", faults_seen,
                                     params={"offset": offset, "limit": 100})
                    got += body["data"]
                    offset, total = offset + len(body["data"]), body["total"]
    codes = set(_codes(data, "sms_vendor_a"))
    expected = [VendorA.learner_view(x) for x in data["learners"] if x["school_code"] in codes]
    expected += [VendorA.result_view(x) for x in data["results"] if x["school_code"] in codes]
    assert _canon(got) == _canon(expected)
    assert faults_seen  # the profile did get in the way


def test_hostile_persistent_faults_are_served_exactly_as_listed(data):
    listed = faults.persistent_faults(data, 3, "hostile")
    assert listed.renamed_fields and listed.added_fields and listed.malformed_records
    assert listed.shifting_listings
    assert faults.persistent_faults(data, 3, "hostile").as_dict() == listed.as_dict()
    assert faults.persistent_faults(data, 4, "hostile").as_dict() != listed.as_dict()
    assert faults.persistent_faults(data, 3, "flaky").as_dict() == faults.PersistentFaults().as_dict()
    renamed = {(f["source"], f["school_code"]): f for f in listed.renamed_fields}
    added = {(f["source"], f["school_code"]): f["field"] for f in listed.added_fields}
    malformed = {(m["source"], m["record"]) for m in listed.malformed_records}
    key_of_moet = {x["moet_id"]: x["learner_key"] for x in data["learners"]}
    with serving(data, f"hostile:{QUIET}", seed=3) as srv:
        session = _vendor_a_session(srv.base_url)
        seen_malformed = set()
        for source in ("sms_vendor_a", "sms_vendor_b"):
            codes = _codes(data, source)
            for code in codes:
                if source == "sms_vendor_a":
                    rows = _page_a(session, srv.base_url, f"/schools/{code}/learners", limit=500)
                    key_field, date_field = "learner_id", "birth_date"
                else:
                    rows = _page_b(srv.base_url, "/hoc-sinh", limit=500, ma_truong=code)
                    key_field, date_field = "ma_dinh_danh_bo", "so_dinh_danh"
                fields = set().union(*(r.keys() for r in rows))
                if (source, code) in renamed:
                    f = renamed[(source, code)]
                    assert f["served_as"] in fields and f["field"] not in fields
                else:
                    assert date_field in fields
                assert (added.get((source, code)) in fields) == ((source, code) in added)
                for r in rows:
                    if not r.get(key_field):
                        seen_malformed.add((source, code))
        expected_malformed = {(m["source"], m["school_code"]) for m in listed.malformed_records
                              if m["source"] != "pcgd"}
        assert seen_malformed == expected_malformed
        # exactly the listed learners lack their key: count them per source
        served_keys = {key_of_moet[r["learner_id"]] for code in _codes(data, "sms_vendor_a")
                       for r in _page_a(session, srv.base_url, f"/schools/{code}/learners", limit=500)
                       if "learner_id" in r}
        codes_a = set(_codes(data, "sms_vendor_a"))
        all_a = {x["learner_key"] for x in data["learners"] if x["school_code"] in codes_a}
        assert all_a - served_keys == {k for s, k in malformed if s == "sms_vendor_a"}
        households = [h for c in data["communes"] for h in _page_pcgd(srv.base_url, c["commune_code"])]
        assert sum(h["household_id"] is None for h in households) == \
            sum(m["source"] == "pcgd" for m in listed.malformed_records)


def test_hostile_offset_paging_first_pass_duplicates_one_and_skips_one(data):
    listed = faults.persistent_faults(data, 3, "hostile")
    shift = listed.shifting_listings[0]
    code = shift["school_code"]
    truth = [VendorA.learner_view(x)["learner_id"] for x in data["learners"] if x["school_code"] == code]
    limit = 7
    assert len(truth) > limit
    with serving(data, f"hostile:{QUIET}", seed=3) as srv:
        session = _vendor_a_session(srv.base_url)
        passes = [[r.get("learner_id") for r in _page_a(session, srv.base_url, f"/schools/{code}/learners",
                                                        limit=limit)] for _ in range(2)]
    served_truth = [t for t in truth if t not in {m["natural_key"] for m in listed.malformed_records}]
    first = Counter(passes[0])
    assert first[shift["moved_natural_key"]] == 2
    assert truth[limit] not in first  # the record that slid into the page already read
    assert len(passes[0]) == len(truth)
    assert sorted(filter(None, passes[1])) == sorted(served_truth)  # a later pass is stable


def test_fault_profiles_parse_and_reject_unknown_names():
    assert faults.profile("none") == faults.FaultProfile()
    custom = faults.profile("flaky:share_5xx=0.5,retry_after_seconds=2")
    assert custom.share_5xx == 0.5 and custom.retry_after_seconds == 2 and custom.share_429 > 0
    with pytest.raises(ValueError, match="unknown fault profile"):
        faults.profile("chaos")
    with pytest.raises(ValueError, match="bad fault override"):
        faults.profile("flaky:nonsense=1")


def test_running_simulators_serves_every_source_with_its_connection(province):
    data_dir, data, _ = province
    with running_simulators(data_dir, faults="none", seed=1) as endpoints:
        assert set(endpoints) == {"sms_vendor_a", "sms_vendor_b", "population", "pcgd",
                                  "school_registry"}
        b = endpoints["sms_vendor_b"]
        r = requests.get(f"http://{b.host}:{b.port}{b.base_path}/truong", headers={"X-API-Key": b.password})
        assert r.status_code == 200 and r.json()["items"]
        p = endpoints["population"]
        record = {k: data["registry"][0][k] for k in ("personal_id", "full_name", "date_of_birth", "sex")}
        r = requests.post(f"http://{p.host}:{p.port}{p.base_path}/verify", json={"records": [record]},
                          headers={"X-API-Key": p.password})
        assert r.json()["results"][0]["status"] == "match"
        assert p.password != b.password  # one key per service
