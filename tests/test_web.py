"""The dashboard (`eduhub web`) as its users run it: the command serving the day's warehouse,
Debian's chromium driving the pages, each person signed in with their own warehouse login.

Every figure a page shows is compared with the mart it comes from; a commune sees only its
units and is refused another's, even by a URL typed by hand; the analyst sees no record of a
person; a form without its CSRF token changes nothing; a visit recorded in the form reaches
the inspection mart after the next transform; no request leaves the machine.
"""

from __future__ import annotations

import re
import time

import pytest
import requests
from conftest import (
    assert_local,
    credentials,
    dashboard,
    dashboard_page,
    database_logins,
    dbt,
    table,
)
from openpyxl import load_workbook

from eduhub import access, warehouse
from eduhub.identity import person
from eduhub.reports import content
from eduhub.reports.document import SUPPRESSED, integer, nfc, percent, points
from eduhub.reports.labels import CRITERIA, SCHOOL_LEVELS, TERMS

pytestmark = pytest.mark.slow

VISIT_FINDINGS = "Thiếu số định danh của 2 học sinh lớp 6A1; hồ sơ trường đầy đủ"


@pytest.fixture(scope="module")
def site(modelled):
    """The day's warehouse served, and logins of the three reader groups: a commune that
    manages at least two schools, one of its schools (with failing records), a school and a
    commune it does not manage."""
    url = modelled["url"]
    with warehouse.connect(url) as conn:
        commune, school = conn.execute("""
            select f.commune_code, f.school_code from audit.quality_failures as f
            join marts.unit_directory as d
                on d.aggregation_level = 'truong' and d.unit_code = f.school_code
            where d.managed_by = f.commune_code
              and (select count(*) from marts.unit_directory as o
                   where o.managed_by = f.commune_code) > 1
            group by 1, 2 order by count(*) desc, 2 limit 1""").fetchone()
        other_commune = conn.execute(
            "select unit_code from marts.unit_directory where aggregation_level = 'xa'"
            " and unit_code <> %s order by 1 limit 1", (commune,)).fetchone()[0]
        other_school = conn.execute(
            "select unit_code from marts.unit_directory where aggregation_level = 'truong'"
            " and managed_by is distinct from %s order by 1 limit 1", (commune,)).fetchone()[0]
    groups = {"provincial": access.PROVINCIAL, "analyst": access.ANALYST,
              "commune": access.commune_role(commune),
              "reviewer": (access.PROVINCIAL, access.REVIEWER)}
    with database_logins(url, groups, "eduhub_web_") as urls, dashboard(modelled["env"]) as base:
        yield {"base": base, "url": url, "logins": {k: credentials(v) for k, v in urls.items()},
               "commune": commune, "school": school, "other_commune": other_commune,
               "other_school": other_school}


@pytest.fixture
def signed_in(browser, site, tmp_path):
    """A browser page signed in as one of the logins; every request it makes is kept."""
    contexts = []

    def sign_in(who: str):
        page = dashboard_page(browser, site["base"], *site["logins"][who])
        contexts.append(page.context)
        return page

    yield sign_in
    for context in contexts:
        context.close()


def scorecard_rows(url: str, where: str, args: tuple) -> list[list[str]]:
    """The scorecard as the page should show it, straight from the mart."""
    with warehouse.connect(url) as conn:
        year, term = content.latest_term(conn)
        names = dict(conn.execute("select unit_code, unit_name from marts.unit_directory"
                                  " order by aggregation_level = 'truong'").fetchall())
        names["80"] = content.PROVINCE_NAME
        rows = conn.execute(
            "select aggregation_level, unit_code, criterion, applicable, passed, score"
            f" from marts.quality_scorecard where {where} and school_year = %s and term = %s",
            (*args, year, term)).fetchall()
    units: dict[tuple, dict] = {}
    for level, code, criterion, applicable, passed, score in rows:
        units.setdefault((level, code), {})[criterion] = \
            f"{percent(score)} ({integer(passed)}/{integer(applicable)})"
    return sorted([nfc(names.get(code, code)), *(cells.get(c, "-") for c in CRITERIA)]
                  for (_, code), cells in units.items())


def trend_rows(url: str, where: str, args: tuple) -> list[list[str]]:
    """The trend as the page should show it: each unit's term before and, per criterion, the
    score then and now with the change in points, straight from the mart."""
    with warehouse.connect(url) as conn:
        year, term = content.latest_term(conn)
        names = content.unit_names(conn)
        found = conn.execute(
            "select aggregation_level, unit_code, criterion, score, previous_school_year,"
            " previous_term, previous_score, change_from_previous from marts.quality_trend"
            f" where {where} and school_year = %s and term = %s", (*args, year, term)).fetchall()
    units: dict[tuple, dict] = {}
    before: dict[tuple, str] = {}
    for level, code, criterion, score, prev_year, prev_term, previous, change in found:
        units.setdefault((level, code), {})[criterion] = (
            f"{percent(previous)} → {percent(score)} ({points(change)})"
            if previous is not None else f"- → {percent(score)}")
        if prev_term:
            before[(level, code)] = f"{TERMS[prev_term]} {prev_year}"
    return sorted([nfc(names.get(code, code)), before.get(unit, "-"),
                   *(cells.get(c, "-") for c in CRITERIA)]
                  for unit, cells in units.items() for _, code in (unit,))


def test_the_overview_shows_the_marts_figures_and_nothing_leaves_the_machine(signed_in, site,
                                                                            tmp_path):
    page = signed_in("provincial")
    page.screenshot(path=str(tmp_path / "tong-quan.png"), full_page=True)
    shown = table(page, "chat-luong")
    assert sorted(shown) == scorecard_rows(
        site["url"], "aggregation_level in ('tinh', 'don_vi_quan_ly')", ())
    assert len(shown) > 2
    trend = table(page, "xu-huong")
    assert sorted(trend) == trend_rows(
        site["url"], "aggregation_level in ('tinh', 'don_vi_quan_ly')", ()) and len(trend) > 2
    with warehouse.connect(site["url"]) as conn:
        year, term = content.latest_term(conn)
        completeness = conn.execute(
            "select count(*) from marts.completeness where aggregation_level in"
            " ('tinh', 'don_vi_quan_ly') and school_year = %s and term = %s",
            (year, term)).fetchone()[0]
    assert len(table(page, "day-du")) == completeness > 0
    # completeness against the term before, and by level, as many rows as the marts hold
    with warehouse.connect(site["url"]) as conn:
        trend_rows_, levels = (conn.execute(q, (year, term)).fetchone()[0] for q in (
            "select count(*) from marts.completeness_trend where aggregation_level in"
            " ('tinh', 'don_vi_quan_ly') and school_year = %s and term = %s",
            "select count(distinct school_level) from marts.completeness_levels"
            " where aggregation_level = 'tinh' and school_year = %s and term = %s"))
    assert len(table(page, "day-du-xu-huong")) == trend_rows_ == completeness
    assert len(table(page, "day-du-cap-hoc")) == levels > 1
    assert len(table(page, "chat-luong-cap-hoc")) >= levels
    assert page.locator("figure.chart img").get_attribute("src").startswith("data:image/png")
    for path in ("/kiem-tra", "/danh-muc", f"/don-vi/{site['commune']}",
                 f"/don-vi/{site['school']}"):
        page.goto(site["base"] + path)
        assert page.locator("h1").count() == 1
        page.screenshot(path=str(tmp_path / (path.strip("/").replace("/", "_") + ".png")),
                        full_page=True)
    assert_local(page, site["base"])


def test_a_school_page_counts_each_rules_failures_with_the_catalogues_advice(signed_in, site):
    page = signed_in("provincial")
    page.goto(f"{site['base']}/don-vi/{site['school']}")
    with warehouse.connect(site["url"]) as conn:
        expected = conn.execute("""
            select f.rule_id, count(*), r.resolution_vi from audit.quality_failures as f
            join reference.quality_rules as r using (rule_id)
            where f.school_code = %s group by 1, 3""", (site["school"],)).fetchall()
    shown = table(page, "that-bai")
    assert sorted((r[0], r[3], r[7]) for r in shown) == sorted(
        (rule, integer(n), nfc(fix)) for rule, n, fix in expected)
    assert sorted(table(page, "chat-luong")) == scorecard_rows(
        site["url"], "aggregation_level = 'truong' and unit_code = %s", (site["school"],))


def test_a_commune_sees_only_its_units_and_is_refused_the_others(signed_in, site, tmp_path):
    page = signed_in("commune")
    assert sorted(table(page, "chat-luong")) == scorecard_rows(
        site["url"], "aggregation_level in ('tinh', 'don_vi_quan_ly') and unit_code = %s",
        (site["commune"],))
    page.goto(f"{site['base']}/don-vi/{site['commune']}")
    with warehouse.connect(site["url"]) as conn:
        managed = {r[0] for r in conn.execute(
            "select unit_code from marts.unit_directory where managed_by = %s",
            (site["commune"],))}
    links = set(page.eval_on_selector_all("#truong a", "as => as.map(a => a.pathname)"))
    assert {link.rsplit("/", 1)[1] for link in links} == managed
    for path in (f"/don-vi/{site['other_commune']}", f"/don-vi/{site['other_school']}",
                 f"/don-vi/{site['other_school']}/danh-sach-loi.xlsx", "/don-vi/khong-co-ma",
                 "/don-vi/80"):
        response = page.goto(site["base"] + path)
        assert response.status == 403, path
        assert page.get_by_role("heading", name="Không có quyền").is_visible(), path
    page.screenshot(path=str(tmp_path / "khong-co-quyen.png"), full_page=True)
    # its own school: the page, but no worklist (personal data: the provincial role's)
    page.goto(f"{site['base']}/don-vi/{site['school']}")
    assert page.get_by_text("Tải danh sách lỗi").count() == 0
    assert len(table(page, "that-bai")) > 0


def test_the_analyst_sees_no_record_of_a_person(signed_in, site, modelled):
    page = signed_in("analyst")
    page.goto(f"{site['base']}/don-vi/{site['school']}")
    # the counts per rule (the analyst reads the published failures without their record keys)
    assert len(table(page, "that-bai")) > 0
    html = page.content()
    assert not re.search(r"\d{11,12}", html)
    learners = [x for x in modelled["data"]["learners"] if x["school_code"] == site["school"]]
    assert learners
    assert not [x for x in learners if x.get("full_name") and x["full_name"] in html]
    assert page.get_by_text("Tải danh sách lỗi").count() == 0


def _session(site, who: str) -> tuple[requests.Session, str]:
    """A signed-in HTTP session (no browser) and its CSRF token."""
    http = requests.Session()
    form = http.get(site["base"] + "/dang-nhap").text
    token = re.search(r'name="csrf" value="([^"]+)"', form).group(1)
    login, password = site["logins"][who]
    answer = http.post(site["base"] + "/dang-nhap", allow_redirects=False,
                       data={"csrf": token, "login": login, "password": password})
    assert answer.status_code == 303, answer.text
    page = http.get(site["base"] + "/kiem-tra").text
    return http, re.search(r'name="csrf" value="([^"]+)"', page).group(1)


def visits(url: str) -> list[tuple]:
    with warehouse.connect(url) as conn:
        return conn.execute("select school_code, visited_on::text, findings_vi, recorded_by"
                            " from ops.inspection_visits order by 1").fetchall()


def test_forms_without_their_csrf_token_are_refused(site):
    http = requests.Session()
    login, password = site["logins"]["provincial"]
    http.get(site["base"] + "/dang-nhap")
    refused = http.post(site["base"] + "/dang-nhap", allow_redirects=False,
                        data={"login": login, "password": password})
    assert refused.status_code == 403 and "eduhub_session" not in http.cookies
    http, token = _session(site, "provincial")
    before = visits(site["url"])
    with warehouse.connect(site["url"]) as conn:
        year, school = conn.execute("select school_year, min(school_code)"
                                    " from marts.inspection_sample group by 1 order by 1 desc"
                                    " limit 1").fetchone()
    visit = {"school": school, "visited_on": "2026-12-01", "findings": "không có mã"}
    for data in (visit, {**visit, "csrf": "not-the-token"}):
        answer = http.post(site["base"] + "/kiem-tra", data=data, allow_redirects=False)
        assert answer.status_code == 403 and "CSRF" in answer.text
    assert http.post(site["base"] + "/dang-xuat", allow_redirects=False).status_code == 403
    assert visits(site["url"]) == before
    assert http.get(site["base"] + "/", allow_redirects=False).status_code == 200  # still in
    # another site's page cannot post for the person either: the cookie is SameSite=Strict
    assert "samesite=strict" in http.get(site["base"] + "/dang-nhap").headers[
        "set-cookie"].lower()


def test_a_visit_recorded_in_the_form_reaches_the_inspection_mart(signed_in, site, modelled,
                                                                   tmp_path):
    with warehouse.connect(site["url"]) as conn:
        # a school the commune does not inspect, and one it does
        year, school, name = conn.execute("""
            select sample.school_year, sample.school_code, d.unit_name
            from marts.inspection_sample as sample
            join marts.unit_directory as d
                on d.aggregation_level = 'truong' and d.unit_code = sample.school_code
            where sample.visit_status = 'chua_kiem_tra' and sample.inspecting_authority <> %s
            order by sample.school_year desc, sample.school_code limit 1""",
                                             (site["commune"],)).fetchone()
        own = conn.execute("select min(school_code) from marts.inspection_sample"
                           " where school_year = %s and inspecting_authority = %s",
                           (year, site["commune"])).fetchone()[0]
    assert own is not None
    login = site["logins"]["provincial"][0]
    try:
        page = signed_in("provincial")
        page.goto(site["base"] + "/kiem-tra")
        page.get_by_label("Trường").select_option(school)
        page.get_by_label("Ngày kiểm tra").fill("2026-12-02")
        page.get_by_label("Kết quả kiểm tra").fill(VISIT_FINDINGS)
        page.get_by_label("Việc cần khắc phục").fill("Bổ sung số định danh")
        page.get_by_label("Hạn khắc phục").fill("2027-01-15")
        page.get_by_role("button", name="Ghi biên bản").click()
        page.get_by_role("status").wait_for()
        assert school in page.get_by_role("status").inner_text()
        assert [v for v in visits(site["url"]) if v[0] == school] == [
            (school, "2026-12-02", VISIT_FINDINGS, login)]
        # the next transform of the sample
        dbt(["run", "--select", "inspection_sample"], modelled["env"], day="2026-12-03")
        with warehouse.connect(site["url"]) as conn:
            assert conn.execute(
                "select visit_status, visited_on::text, findings_vi, follow_up_due::text"
                " from marts.inspection_sample where school_year = %s and school_code = %s",
                (year, school)).fetchone() == ("da_kiem_tra", "2026-12-02", VISIT_FINDINGS,
                                               "2027-01-15")
        page.goto(site["base"] + "/kiem-tra")
        row = next(r for r in table(page, "mau") if r[0] == school)
        assert row[1] == nfc(name) and row[-1] == "Đã kiểm tra 02/12/2026"
        page.screenshot(path=str(tmp_path / "kiem-tra.png"), full_page=True)
        # a school outside the sample and a follow-up due before the visit: the database's
        # refusal, in Vietnamese, and nothing recorded
        http, token = _session(site, "provincial")
        before = visits(site["url"])
        for data, why in (({"school": site["other_commune"], "visited_on": "2026-12-02"},
                           "không thuộc danh sách kiểm tra"),
                          ({"school": school, "visited_on": "2026-12-02",
                            "follow_up_due": "2026-11-01"}, "trước ngày kiểm tra")):
            answer = http.post(site["base"] + "/kiem-tra", data={**data, "csrf": token})
            assert answer.status_code == 400 and why in answer.text
        assert visits(site["url"]) == before
        # a commune's inspectors record the schools their commune inspects, no other; the
        # analyst none
        http, token = _session(site, "commune")
        page_text = http.get(site["base"] + "/kiem-tra").text
        assert "Ghi biên bản" in page_text and school not in page_text
        answer = http.post(site["base"] + "/kiem-tra", data={
            "csrf": token, "school": school, "visited_on": "2026-12-03"})
        assert answer.status_code == 403 and "Không có quyền ghi biên bản" in answer.text
        analyst, analyst_token = _session(site, "analyst")
        assert "Ghi biên bản" not in analyst.get(site["base"] + "/kiem-tra").text
        answer = analyst.post(site["base"] + "/kiem-tra", data={
            "csrf": analyst_token, "school": school, "visited_on": "2026-12-03"})
        assert answer.status_code == 403
        assert visits(site["url"]) == before
        answer = http.post(site["base"] + "/kiem-tra", allow_redirects=False, data={
            "csrf": token, "school": own, "visited_on": "2026-12-04"})
        assert answer.status_code == 303
        assert [v for v in visits(site["url"]) if v[0] == own] == [
            (own, "2026-12-04", None, site["logins"]["commune"][0])]
    finally:
        with warehouse.connect(site["url"]) as conn:
            conn.execute("delete from ops.inspection_visits where school_year = %s"
                         " and school_code = any(%s)", (year, [school, own]))
        dbt(["run", "--select", "inspection_sample"], modelled["env"], day="2026-12-03")


def test_the_provincial_role_downloads_a_worklist_and_it_is_recorded(site, tmp_path):
    http, _token = _session(site, "provincial")
    page = http.get(f"{site['base']}/don-vi/{site['school']}").text
    assert "Tải danh sách lỗi" in page
    with warehouse.connect(site["url"]) as conn:
        before = conn.execute("select count(*) from ops.worklist_generations").fetchone()[0]
        failures = conn.execute("select count(*) from audit.quality_failures"
                                " where school_code = %s", (site["school"],)).fetchone()[0]
    answer = http.get(f"{site['base']}/don-vi/{site['school']}/danh-sach-loi.xlsx")
    assert answer.status_code == 200 and answer.headers["cache-control"] == "no-store"
    (tmp_path / "w.xlsx").write_bytes(answer.content)
    rows = list(load_workbook(tmp_path / "w.xlsx").active.iter_rows(values_only=True))
    at = next(i for i, r in enumerate(rows) if r and r[0] == "STT")
    assert len([r for r in rows[at + 1:] if r and r[0]]) == failures > 0
    with warehouse.connect(site["url"]) as conn:
        logged = conn.execute("select generated_by, school_code, records"
                              " from ops.worklist_generations order by generation_id"
                              ).fetchall()[before:]
    assert logged == [(site["logins"]["provincial"][0], site["school"], failures)]


def test_sign_in_refusals_and_sessions_that_expire(site, modelled):
    http = requests.Session()
    form = http.get(site["base"] + "/dang-nhap").text
    token = re.search(r'name="csrf" value="([^"]+)"', form).group(1)
    login = site["logins"]["analyst"][0]
    wrong = http.post(site["base"] + "/dang-nhap",
                      data={"csrf": token, "login": login, "password": "not-the-password"})
    assert wrong.status_code == 401 and "Sai tên đăng nhập hoặc mật khẩu" in wrong.text
    with dashboard(modelled["env"], idle_minutes=0.05) as base:  # 3 seconds
        short = {**site, "base": base}
        http, _token = _session(short, "analyst")
        assert http.get(base + "/", allow_redirects=False).status_code == 200
        time.sleep(4)
        answer = http.get(base + "/", allow_redirects=False)
        assert answer.status_code == 303 and "/dang-nhap" in answer.headers["location"]
    for name in ("Content-Security-Policy", "X-Content-Type-Options"):
        assert name in answer.headers


def statistics_rows(url: str, unit_level: str, code: str) -> tuple[list[list[str]], list]:
    """Form 1 as the page should show it, and form 2's mart rows, straight from the marts."""
    with warehouse.connect(url) as conn:
        columns = ", ".join(c for c, _ in content.form_columns(conn))
        year, _term = content.latest_term(conn)
        schools = conn.execute(
            f"select school_level, {columns} from marts.statistics_schools"
            " where aggregation_level = %s and unit_code = %s and school_year = %s",
            (unit_level, code, year)).fetchall()
        learners = conn.execute(
            "select learners, is_suppressed from marts.statistics_learners"
            " where aggregation_level = %s and unit_code = %s and school_year = %s",
            (unit_level, code, year)).fetchall()
    return sorted([SCHOOL_LEVELS[r[0]], *(integer(v) for v in r[1:])] for r in schools), learners


def test_the_statistics_forms_equal_the_marts_and_export_to_xlsx(signed_in, site, tmp_path):
    page = signed_in("provincial")
    page.goto(site["base"] + "/thong-ke")
    form1, learners = statistics_rows(site["url"], "tinh", content.PROVINCE_CODE)
    assert sorted(table(page, "bieu-1")) == form1 and form1
    # a row per level, grade and ethnicity, a column per sex (a sex without a cell: 0)
    shown = table(page, "bieu-2")
    assert len(shown) > 0 and learners
    assert sorted(c for r in shown for c in r[3:] if c != "0") == sorted(
        SUPPRESSED if hidden else integer(n) for n, hidden in learners)
    # no learner has an outcome of the year in January: no Biểu 3 (test_year_end's is in June)
    assert page.locator("#bieu-3").count() == 0
    page.screenshot(path=str(tmp_path / "thong-ke.png"), full_page=True)
    with page.expect_download() as download:
        page.get_by_role("link", name="Tải về (.xlsx)").click()
    download.value.save_as(tmp_path / "thong-ke.xlsx")
    book = load_workbook(tmp_path / "thong-ke.xlsx")
    sheet = book.worksheets[1]
    rows = list(sheet.iter_rows(values_only=True))
    at = next(i for i, r in enumerate(rows) if r[0] == "Cấp học")
    body = rows[at + 1:at + 1 + next(i for i, r in enumerate(rows[at + 1:] + [(None,)])
                                     if not r[0])]
    cells = [c for r in body for c in r[3:] if c != 0]
    # figures as numbers, suppressed cells as the documents show them
    assert sorted(cells, key=str) == sorted((SUPPRESSED if hidden else n for n, hidden in learners),
                                            key=str)
    assert_local(page, site["base"])
    # a commune's login: its commune's forms, never the province's or another commune's
    page = signed_in("commune")
    page.goto(site["base"] + "/thong-ke")
    assert page.eval_on_selector_all("#don-vi a", "as => as.map(a => a.pathname)") == [
        f"/thong-ke/{site['commune']}"]
    page.goto(f"{site['base']}/thong-ke/{site['commune']}")
    form1, _ = statistics_rows(site["url"], "xa", site["commune"])
    assert sorted(table(page, "bieu-1")) == form1
    for path in ("/thong-ke/80", f"/thong-ke/{site['other_commune']}",
                 f"/thong-ke/{site['other_commune']}/bieu-mau.xlsx"):
        assert page.goto(site["base"] + path).status == 403, path


REVIEW_REASON = "Đã đối chiếu giấy khai sinh với cán bộ xã"


def test_a_review_decision_in_the_form_is_applied_by_the_next_matching_run(signed_in, site,
                                                                            tmp_path):
    key = b"web-test-pseudonym-key-0123456789"
    person.build(site["url"], "web-1", key=key)  # the day's matching: fills the review queue
    with warehouse.connect(site["url"]) as conn:
        item, record, candidate = conn.execute("""
            select review_key, person_record_key, candidate_key from pii.match_review_queue
            where status = 'pending' and candidate_kind = 'resident'
            order by match_weight desc, review_key limit 1""").fetchone()
    page = signed_in("reviewer")
    page.goto(site["base"] + "/dinh-danh")
    assert len(table(page, "bao-phu")) > 0
    card = page.locator(f'article.review[data-item="{item}"]')
    assert card.get_by_text("Hồ sơ cần ghép").count() == 1
    card.get_by_label("Cùng một người: ghép").check()
    card.get_by_label("Lý do (ít nhất 10 ký tự)").fill(REVIEW_REASON)
    page.screenshot(path=str(tmp_path / "dinh-danh.png"), full_page=True)
    card.get_by_role("button", name="Ghi quyết định").click()
    page.get_by_role("status").wait_for()
    reviewer = site["logins"]["reviewer"][0]
    with warehouse.connect(site["url"]) as conn:
        assert conn.execute(
            "select status, decided_by, decision_reason, applied_run_id"
            " from pii.match_review_queue where review_key = %s", (item,)
        ).fetchone() == ("accepted", reviewer, REVIEW_REASON, None)
    # the next run applies it, though the record did not change
    person.build(site["url"], "web-2", key=key)
    with warehouse.connect(site["url"]) as conn:
        method, resident, reason = conn.execute(
            "select link_method, resident_id, reason_vi from pii.person_records"
            " where person_record_key = %s", (record,)).fetchone()
        applied = conn.execute("select applied_run_id from pii.match_review_queue"
                               " where review_key = %s", (item,)).fetchone()[0]
    assert (method, resident, applied) == ("reviewed", candidate, "web-2")
    assert REVIEW_REASON in reason
    # decided once: a second decision is refused; no reason, refused; other roles: no queue
    http, token = _session(site, "reviewer")
    for data, why in (({"item": item, "decision": "rejected", "reason": REVIEW_REASON},
                       "đã được quyết định"),
                      ({"item": item, "decision": "unsure", "reason": "ngắn"}, "lý do")):
        answer = http.post(site["base"] + "/dinh-danh", data={**data, "csrf": token})
        assert answer.status_code == 400 and why in answer.text
    for who in ("provincial", "analyst", "commune"):
        http, token = _session(site, who)
        assert "Hàng đợi rà soát" not in http.get(site["base"] + "/dinh-danh").text
        answer = http.post(site["base"] + "/dinh-danh", data={
            "csrf": token, "item": item, "decision": "rejected", "reason": REVIEW_REASON})
        assert answer.status_code == 403, who


def test_the_data_docs_open_with_no_request_leaving_the_machine(signed_in, site, tmp_path):
    page = signed_in("analyst")
    page.goto(site["base"] + "/kiem-dinh/index.html")
    rows = page.locator("table tbody tr")
    rows.first.wait_for()
    assert rows.count() > 0
    page.screenshot(path=str(tmp_path / "kiem-dinh.png"))
    # a validation's page, as a click on its row opens it (bootstrap-table's script ran)
    rows.first.click()
    page.wait_for_url(re.compile(r"/kiem-dinh/validations/.+\.html$"))
    page.get_by_text("Expectation").first.wait_for()
    page.screenshot(path=str(tmp_path / "kiem-dinh-trang.png"))
    assert_local(page, site["base"])
    assert any("/static/vendor/" in u for u in page.requests)
    # signed in only, and only the docs' folder
    anonymous = requests.get(site["base"] + "/kiem-dinh/index.html", allow_redirects=False)
    assert anonymous.status_code == 303
    http, _token = _session(site, "analyst")
    for path in ("/kiem-dinh/../../etc/passwd", "/kiem-dinh/%2e%2e/%2e%2e/etc/passwd",
                 "/kiem-dinh/khong-co.html"):
        assert http.get(site["base"] + path).status_code == 404, path
