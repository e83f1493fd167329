"""The end of a school year: the learners' outcomes (statistics_year_end) and their frozen
end-of-year figures (Thông tư 25/2024: data as of 31 May), against the sandbox's ground truth.

A province of its own, landed by the real school sync on 1 June (day 269: the whole year's
results entered in May, a few late) and again on Sunday 20 June (day 288: the late results in,
the end-of-year deadline of 7 June passed, so results completeness counts the whole year's; the
weekly full read, which sees the records schools deleted in between). Its transformation builds
what the statistics, their report and completeness need. The sandbox makes no duplicate
enrolment here and the day runs no matching, so each learner record is one person (the counting
of persons is test_models').
"""

from __future__ import annotations

from collections import Counter
from datetime import date

import pytest
from conftest import (
    credentials,
    dags_test,
    dashboard,
    dashboard_page,
    database_logins,
    database_name,
    dbt,
    suppressed_as_the_rule_says,
    table,
)
from test_models import completeness_of, result_items
from test_reports import assert_in_order, docx_tables, pdf_text

from eduhub import access, migrations, reports, runtime, transform, warehouse
from eduhub.reports.document import SUPPRESSED, integer, percent
from eduhub_sandbox import generator
from eduhub_sandbox.process import running_simulators
from eduhub_sandbox.simulators import file_exports as exports

pytestmark = pytest.mark.slow

SCALE, SEED = 700, 43
DATA_DATE = date(2027, 5, 31)
DAYS = {"first": date(2027, 6, 1), "later": date(2027, 6, 20)}  # a Tuesday, a Sunday
THRESHOLD = 5
OUTCOMES = ("len_lop", "hoan_thanh_cap_hoc", "kiem_tra_lai", "o_lai_lop", "chua_danh_gia",
            "bo_hoc")  # the form's order
RATES = ("promotion_rate", "retest_rate", "repetition_rate", "not_evaluated_share",
         "dropout_rate", "completion_rate")
LEVELS = {"mam_non": "Mầm non", "tieu_hoc": "Tiểu học", "thcs": "Trung học cơ sở",
          "thpt": "Trung học phổ thông", "gdtx": "Giáo dục thường xuyên"}


def land_and_build(root, url, airflow_home, day: date) -> tuple[dict, dict]:
    """The sandbox on `day`, landed by sync_school_management and transformed up to the frozen
    statistics and what their report reads; returns its data and its manifest."""
    out = root / day.isoformat()
    offset = (day - generator.TERM_START).days
    manifest = generator.write(generator.generate(
        scale=SCALE, seed=SEED, day=offset, defect_rates={"duplicate_enrolment": 0}),
        out / "data")
    data = generator.load(out / "data")
    exports.write_class_exports(data, out / "drops", seed=SEED, day=offset)
    with running_simulators(out / "data") as sources:
        env = runtime.environment(url, sources, airflow_home=airflow_home)
        env["EDUHUB_DROP_DIR"] = str(out / "drops")
        dags_test(env, [("sync_school_management", day.isoformat())])
    transform.ensure_raw_tables(url)
    # what the statistics and their report read (the report finds the year's latest term
    # and the units' names in the published marts)
    dbt(["build", "--select", "+statistics_snapshots", "+unit_directory", "+quality_scorecard",
         "+completeness", "statistics_form_columns", *transform.SCHEDULED_BUILD_FLAGS],
        env, day=day.isoformat())
    return data, manifest


@pytest.fixture(scope="module")
def year_end(tmp_path_factory, airflow_home, server_url):
    root = tmp_path_factory.mktemp("year_end")
    url = warehouse.create_database(database_name("eduhub_year_end"), server_url, replace=True)
    migrations.upgrade(url)
    days = {}
    for name, day in DAYS.items():
        data, manifest = land_and_build(root, url, airflow_home, day)
        days[name] = {"data": data, "manifest": manifest, "published": published(url),
                      "rates": published_rates(url),
                      "frozen": frozen(url), "persons": counted_persons(url),
                      "results": completeness_of(url, "results"),
                      "learners": completeness_of(url, "learners")}
    return {"url": url, **days}


def counted_persons(url: str) -> dict[tuple, int]:
    """(school, grade, outcome) -> persons of int_counted_learners, before any suppression."""
    with warehouse.connect(url) as conn:
        return {(school, grade, outcome): n for school, grade, outcome, n in conn.execute("""
            select school_code, grade,
                   case when enrolment_status = 'bo_hoc' then 'bo_hoc'
                        else coalesce(year_end_outcome, 'chua_danh_gia') end,
                   count(*)
            from intermediate.int_counted_learners where grade >= 1 group by 1, 2, 3""")}


def published(url: str) -> dict[tuple, tuple]:
    with warehouse.connect(url) as conn:
        return {(level, unit, school_level, grade, outcome): (n, hidden)
                for level, unit, school_level, grade, outcome, n, hidden in conn.execute("""
                    select aggregation_level, unit_code, school_level, grade, outcome,
                           learners, is_suppressed
                    from marts.statistics_year_end""")}


def published_rates(url: str) -> dict[tuple, tuple]:
    """(unit level, unit, school level, grade, indicator) -> (rate, hidden)."""
    with warehouse.connect(url) as conn:
        return {(*group, measure): (rate, hidden)
                for *group, hidden, rates in conn.execute(f"""
                    select aggregation_level, unit_code, school_level, grade, is_suppressed,
                           array[{", ".join(RATES)}]
                    from marts.statistics_year_end_rates""")
                for measure, rate in zip(RATES, rates, strict=True)}


def frozen(url: str) -> dict[tuple, tuple]:
    with warehouse.connect(url) as conn:
        return {(level, unit, school_level, grade, outcome): (n, hidden, data_date)
                for level, unit, school_level, grade, outcome, n, hidden, data_date
                in conn.execute("""
                    select aggregation_level, unit_code, school_level, grade, measure, figure,
                           is_suppressed, data_date
                    from marts.statistics_snapshots
                    where form = 'ket_qua_cuoi_nam' and data_point = 'cuoi_nam'""")}


def outcome_counts(data: dict) -> Counter:
    """(unit level, unit, school level, grade or None, outcome) -> persons, as the sandbox made
    them: learners of grades 1 to 12 studying or dropped out, each by the outcome of the whole
    year's result their school's system serves (class exports carry no results: their learners
    are not evaluated), at the school's registered commune and level."""
    units = {u["unit_code"]: u for u in data["units"]}
    outcomes = served_outcomes(data)
    counts: Counter = Counter()
    for x in data["learners"]:
        if x["grade"] < 1 or x["status"] not in ("dang_hoc", "bo_hoc"):
            continue
        school = units[x["school_code"]]
        outcome = learner_outcome(outcomes, x)
        counts[("xa", school["commune_code"], school["level"], x["grade"], outcome)] += 1
        counts[("tinh", "80", school["level"], x["grade"], outcome)] += 1
        counts[("truong", x["school_code"], school["level"], None, outcome)] += 1
    return counts


def served_outcomes(data: dict) -> dict[tuple, str]:
    """(school, MOET ID) -> the outcome of the year's whole-year result a school's system
    serves (class exports carry no results)."""
    api = {s["school_code"] for s in data["schools"] if s["vendor"] != "file_exports"}
    return {(r["school_code"], r["moet_id"]): r["outcome"] for r in data["results"]
            if r["term"] == "ca_nam" and r["school_year"] == generator.SCHOOL_YEAR
            and r["school_code"] in api}


def learner_outcome(outcomes: dict[tuple, str], x: dict) -> str:
    if x["status"] == "bo_hoc":
        return "bo_hoc"
    return outcomes.get((x["school_code"], x["moet_id"]), "chua_danh_gia")


def expected_publication(counts: Counter) -> dict[tuple, tuple]:
    """The cells as the small-cell rule publishes them: communes (a grade is the known total)
    and schools (a level is) with their complements, the province's cells hidden when a
    commune's of the same level, grade and outcome is."""
    communes = {k[1:]: n for k, n in counts.items() if k[0] == "xa"}
    schools = {k[1:3] + k[4:]: n for k, n in counts.items() if k[0] == "truong"}
    commune_cells, _ = suppressed_as_the_rule_says(communes, THRESHOLD)
    school_cells, _ = suppressed_as_the_rule_says(schools, THRESHOLD, margin=2)
    expected = {("xa", *k): v for k, v in commune_cells.items()}
    expected |= {("truong", code, level, None, outcome): v
                 for (code, level, outcome), v in school_cells.items()}
    # (a cell of a commune group withheld whole is hidden too)
    hidden_in_a_commune = {k[1:] for k in communes
                           if commune_cells.get(k, (None, True))[1]}
    province = {k: (None, True) if n < THRESHOLD or k[2:] in hidden_in_a_commune else (n, False)
                for k, n in counts.items() if k[0] == "tinh"}
    by_grade: dict[tuple, list] = {}
    for k, v in province.items():
        by_grade.setdefault(k[2:4], []).append((k, v))
    for cells in by_grade.values():
        if not all(hidden for _, (_, hidden) in cells):
            expected |= dict(cells)
    return expected


def test_the_year_s_outcomes_equal_the_ground_truth_cell_for_cell(year_end):
    """Every published cell of 1 June: promoted, completed the level, summer re-test, kept
    back, not evaluated yet (the late schools' and the class exports' learners), dropped out;
    per commune and the province by level and grade, per school by level; small cells and
    their complements hidden."""
    counts = outcome_counts(year_end["first"]["data"])
    got = year_end["first"]["published"]
    assert got == expected_publication(counts)
    assert {k[4] for k, (_, hidden) in got.items() if not hidden} >= {
        "len_lop", "hoan_thanh_cap_hoc", "chua_danh_gia"}
    assert any(hidden for _, hidden in got.values())
    # ... and the counts behind them, hidden or not, per school and grade: every outcome
    persons = year_end["first"]["persons"]
    data = year_end["first"]["data"]
    outcomes = served_outcomes(data)
    truth = Counter((x["school_code"], x["grade"], learner_outcome(outcomes, x))
                    for x in data["learners"]
                    if x["grade"] >= 1 and x["status"] in ("dang_hoc", "bo_hoc"))
    assert persons == truth
    assert {outcome for _, _, outcome in persons} == set(OUTCOMES)


def test_the_end_of_year_indicators_are_the_shares_of_the_published_outcomes(year_end):
    """Thông tư 03/2024's end-of-year indicators per unit, level and grade, as the sandbox's
    outcomes give them: promoted (or level completed), re-tested, kept back and not evaluated
    over the learners studying at the end of the year; drop-outs over the learners of the
    year; in grades 5, 9 and 12 the level completed (graduation from lower secondary) over
    those at the end. A group with a hidden cell has no rate."""
    for day in ("first", "later"):
        groups: dict[tuple, Counter] = {}
        hidden = set()
        for key, (n, suppressed) in expected_publication(
                outcome_counts(year_end[day]["data"])).items():
            groups.setdefault(key[:4], Counter())[key[4]] += n or 0
            if suppressed:
                hidden.add(key[:4])
        expected = {}
        for group, c in groups.items():
            at_end = sum(c.values()) - c["bo_hoc"]
            shares = {"promotion_rate": (c["len_lop"] + c["hoan_thanh_cap_hoc"]) / at_end,
                      "retest_rate": c["kiem_tra_lai"] / at_end,
                      "repetition_rate": c["o_lai_lop"] / at_end,
                      "not_evaluated_share": c["chua_danh_gia"] / at_end,
                      "dropout_rate": c["bo_hoc"] / sum(c.values()),
                      # a level's last grade only (a school's by-level row has none)
                      "completion_rate": c["hoan_thanh_cap_hoc"] / at_end
                      if group[3] in generator.LAST_GRADES else None}
            expected |= {(*group, m): (None, True) if group in hidden else
                         (None if shares[m] is None else round(shares[m], 9), False)
                         for m in RATES}
        got = {k: (None if rate is None else round(float(rate), 9), suppressed)
               for k, (rate, suppressed) in year_end[day]["rates"].items()}
        assert got == expected, day
        assert {suppressed for _, suppressed in got.values()} == {True, False}, day
        assert any(m == "completion_rate" and rate for (*_, m), (rate, _) in got.items()), day


def test_the_end_of_year_figures_are_frozen_at_31_may_and_kept_when_later_days_land(year_end):
    """The run of 1 June froze the figures of the data date; the run of 20 June, with the late
    results landed, publishes its own outcomes (fewer not evaluated) and leaves the frozen ones
    as they were. The start-of-year figures carry no outcomes."""
    first, later = year_end["first"], year_end["later"]
    assert first["frozen"] == {k: (*v, DATA_DATE)
                               for k, v in (first["published"] | first["rates"]).items()}
    assert later["published"] == expected_publication(outcome_counts(later["data"]))
    not_evaluated = [sum(n for k, n in outcome_counts(day["data"]).items()
                         if k[0] == "tinh" and k[4] == "chua_danh_gia") for day in (first, later)]
    assert not_evaluated[0] > not_evaluated[1]  # the late results landed in between
    assert later["frozen"] == first["frozen"]
    with warehouse.connect(year_end["url"]) as conn:
        assert conn.execute("""select count(*) from marts.statistics_snapshots
                               where form = 'ket_qua_cuoi_nam' and data_point <> 'cuoi_nam'"""
                            ).fetchone()[0] == 0


@pytest.mark.parametrize("unit", ["province", "school"])
def test_the_end_of_year_report_prints_the_frozen_outcomes(year_end, unit, tmp_path):
    """`eduhub report thong-ke --term cuoi_nam`: Biểu 3, every frozen outcome and indicator
    of the province (by level and grade) or of a school (by level), read back from the DOCX
    and the PDF; a group's outcome without a row is a 0, a hidden cell is "(ẩn)"."""
    frozen_cells = year_end["later"]["frozen"]
    if unit == "province":
        level, code = "tinh", "80"
    else:  # the school with the most published outcomes
        level, code = "truong", Counter(k[1] for k, (_, hidden, _) in frozen_cells.items()
                                        if k[0] == "truong" and not hidden).most_common(1)[0][0]
    generated = reports.generate(year_end["url"], "thong-ke", code if unit == "school"
                                 else "province", tmp_path / "out", term="cuoi_nam",
                                 issued_on=DAYS["later"])
    rows: dict[tuple, dict] = {}
    for (agg, unit_code, school_level, grade, measure), (n, hidden, _) in frozen_cells.items():
        if (agg, unit_code) == (level, code):
            rows.setdefault((school_level, grade), {})[measure] = SUPPRESSED if hidden \
                else percent(n) if measure in RATES else integer(n)
    assert rows
    columns = (*OUTCOMES, "promotion_rate", "repetition_rate", "dropout_rate")
    expected = [(LEVELS[lvl], str(grade) if grade is not None else "-",
                 *(cells.get(measure, "0") for measure in columns))
                for (lvl, grade), cells in sorted(rows.items(), key=lambda i: (
                    list(LEVELS).index(i[0][0]), i[0][1] or 0))]
    table = docx_tables(generated.docx)[2]
    assert table[0] == ("Cấp học", "Khối", "Lên lớp", "Hoàn thành chương trình cấp học",
                        "Kiểm tra lại, rèn luyện trong hè", "Ở lại lớp",
                        "Chưa có kết quả cả năm", "Bỏ học trong năm", "Tỷ lệ lên lớp",
                        "Tỷ lệ ở lại lớp", "Tỷ lệ bỏ học")
    assert table[1:] == expected
    assert_in_order(pdf_text(generated.pdf), [c for row in expected for c in row])
    assert generated.term == "cuoi_nam"


def test_results_completeness_counts_the_whole_year_once_its_deadline_has_passed(year_end):
    """Term 1's results are what completeness counts until the end-of-year report's deadline
    (7 June); after it, the whole year's: every compulsory subject (or the primary assessment)
    of every learner studying, so the learners whose school never entered their result count
    missing."""
    for day, term in (("first", "hk1"), ("later", "ca_nam")):
        expected, present, _ = result_items(year_end[day]["data"], term)
        assert year_end[day]["results"] == {
            code: (expected[code], present[code]) for code in expected}, day
    assert year_end["first"]["results"] != year_end["later"]["results"]
    assert any(p < e for e, p in year_end["later"]["results"].values())


def test_learners_completeness_expects_the_learners_a_school_deleted_without_a_departure(
        year_end):
    """Learners are expected from the roster plus recorded arrivals minus recorded departures:
    a record a school deleted instead of recording the learner's departure (the sandbox's
    `silently_removed`; the full read of Sunday 20 June sees it gone) is still expected there,
    and missing, in the term it was deleted in. On 1 June, the first landing, every school holds
    the learners it is expected to."""
    def studying(data):
        return Counter(x["school_code"] for x in data["learners"] if x["status"] == "dang_hoc")

    first, later = year_end["first"], year_end["later"]
    assert first["learners"] == {code: (n, n) for code, n in studying(first["data"]).items()}
    held = {x["learner_key"] for x in first["data"]["learners"]}
    deleted = Counter(d["school_code"] for d in later["manifest"]["defects"]
                      if d["defect"] == "silently_removed" and d["record"] in held)
    assert len(deleted) >= 2  # an API school's and a class export's, here
    present = studying(later["data"])
    assert later["learners"] == {code: (present[code] + deleted[code], present[code])
                                 for code in present | deleted}


def test_the_dashboard_shows_the_year_s_outcomes_once_they_are_given(year_end, browser,
                                                                      tmp_path):
    """The dashboard's statistics page (the figures as published now) has Biểu 3 once the
    year's outcomes are being given: the province's of 20 June, every outcome and indicator of
    the form, hidden cells as "(ẩn)" (before May it shows Biểu 1 and 2 only: test_web)."""
    later = year_end["later"]
    rows: dict[tuple, dict] = {}
    for (agg, unit, school_level, grade, measure), (n, hidden) in (
            later["published"] | later["rates"]).items():
        if (agg, unit) == ("tinh", "80"):
            rows.setdefault((school_level, grade), {})[measure] = SUPPRESSED if hidden \
                else percent(n) if measure in RATES else integer(n)
    columns = (*OUTCOMES, "promotion_rate", "repetition_rate", "dropout_rate")
    expected = sorted([LEVELS[lvl], str(grade), *(cells.get(m, "0") for m in columns)]
                      for (lvl, grade), cells in rows.items())
    assert expected and any(SUPPRESSED in row for row in expected)
    access.grant(year_end["url"])  # the readers' grants, as `eduhub warehouse grant` gives them
    env = runtime.environment(year_end["url"])
    with database_logins(year_end["url"], {"reader": access.PROVINCIAL}, "eduhub_year_end_"
                         ) as urls, dashboard(env) as base:
        page = dashboard_page(browser, base, *credentials(urls["reader"]))
        page.goto(base + "/thong-ke")
        shown = table(page, "bieu-3")
        page.screenshot(path=str(tmp_path / "thong-ke-cuoi-nam.png"), full_page=True)
    assert sorted(shown) == expected
