"""One school calendar: the school year and term of any day, in Python and in dbt alike.

The rule (eduhub.school_calendar): a school year runs from its opening day (5 September by
default) to the day before the next one's; học kỳ I to 18 January, học kỳ II to 31 May, then
the summer (`ca_nam`), which still belongs to the year that just ended. The Sở's dates
(seed school_calendar) override the defaults (seed school_calendar_defaults) year by year.
dbt reads the same seeds; here both answer for every day of a dozen years, with overrides,
and the inspection sample rolls over into a new school year without touching the last one.
"""

from __future__ import annotations

import shutil
import subprocess
from datetime import date, timedelta
from pathlib import Path

import pytest
from conftest import dbt as run_dbt
from conftest import validate_landed

from eduhub import runtime, school_calendar, settings, transform, warehouse
from eduhub.pipelines import inspection, retention, school_management
from eduhub.school_calendar import CalendarError, SchoolCalendar
from eduhub.sources.sms_vendor_a import VendorAClient
from eduhub.sources.sms_vendor_b import VendorBClient

D = date.fromisoformat


@pytest.mark.parametrize("day, year, term, report_term", [
    ("2027-05-31", "2026-2027", "hk2", "ca_nam"),
    ("2027-06-01", "2026-2027", "ca_nam", "ca_nam"),
    ("2027-08-01", "2026-2027", "ca_nam", "ca_nam"),
    ("2027-08-31", "2026-2027", "ca_nam", "ca_nam"),
    ("2027-09-01", "2026-2027", "ca_nam", "ca_nam"),
    ("2027-09-04", "2026-2027", "ca_nam", "ca_nam"),
    ("2027-09-05", "2027-2028", "hk1", "hk1"),  # the opening day: the rollover
    ("2027-09-30", "2027-2028", "hk1", "hk1"),
    ("2028-01-18", "2027-2028", "hk1", "hk1"),
    ("2028-01-19", "2027-2028", "hk2", "ca_nam"),
    ("2028-02-29", "2027-2028", "hk2", "ca_nam"),
    ("2028-05-31", "2027-2028", "hk2", "ca_nam"),
    ("2028-06-01", "2027-2028", "ca_nam", "ca_nam"),
    ("2028-08-31", "2027-2028", "ca_nam", "ca_nam"),
    ("2028-09-05", "2028-2029", "hk1", "hk1"),
    ("2028-12-31", "2028-2029", "hk1", "hk1"),
    ("2041-03-02", "2040-2041", "hk2", "ca_nam"),  # no year is missing
])
def test_year_and_term_of_a_day(day, year, term, report_term):
    got = school_calendar.school_day(D(day))
    assert (got.school_year, got.term, got.report_term) == (year, term, report_term)
    assert school_calendar.school_year(D(day)) == year
    assert school_calendar.term(D(day)) == term


def test_the_defaults_give_the_reports_deadlines_and_seed_of_any_year():
    year = school_calendar.calendar().year("2027-2028")
    assert (year.year_start, year.hk1_end, year.hk2_start, year.hk2_end, year.year_end) == (
        D("2027-09-05"), D("2028-01-18"), D("2028-01-19"), D("2028-05-31"), D("2028-09-04"))
    assert [(r.term, r.term_start, r.deadline) for r in year.reports()] == [
        ("hk1", D("2027-09-05"), D("2028-01-18")), ("ca_nam", D("2028-01-19"), D("2028-06-07"))]
    assert (year.start_of_year_data_date, year.end_of_year_data_date) == (
        D("2027-09-30"), D("2028-05-31"))
    assert (year.inspection_freeze_date, year.inspection_seed) == (D("2027-09-15"), 20270905)
    # the mid-year report is due after 18 January, the end-of-year one after 7 June
    cal = school_calendar.calendar()
    assert [cal.day(D(d)).due_report_term for d in ("2028-01-18", "2028-01-19", "2028-06-08")
            ] == [None, "hk1", "ca_nam"]
    # the reports are written in the week before a deadline (publish_reports' morning check)
    assert [(r.term, r.deadline) if (r := cal.year_of(D(d)).report_due_within(D(d), 7))
            else None for d in ("2028-01-10", "2028-01-11", "2028-01-18", "2028-01-19",
                                "2028-05-31", "2028-06-07", "2028-06-08")] == [
        None, ("hk1", D("2028-01-18")), ("hk1", D("2028-01-18")), None,
        ("ca_nam", D("2028-06-07")), ("ca_nam", D("2028-06-07")), None]


def write_calendar(seeds: Path, rows: list[str]) -> None:
    header = ("school_year,year_start,hk1_end,hk2_end,mid_year_deadline,end_of_year_deadline,"
              "start_of_year_data_date,end_of_year_data_date,inspection_freeze_date,"
              "inspection_seed,note")
    (seeds / school_calendar.CALENDAR_FILE).write_text("\n".join([header, *rows]) + "\n",
                                                       encoding="utf-8")


# The Sở moves the opening of 2027-2028 to 6 September and ends its học kỳ I on 15 January
# and its học kỳ II on 25 May; 2029-2030 has only a later end-of-year deadline.
OVERRIDES = ["2026-2027,2026-09-05,2027-01-18,2027-05-31,2027-01-18,2027-06-07,,,,20260905,",
             "2027-2028,2027-09-06,2028-01-15,2028-05-25,,,,,,,QĐ thử",
             "2029-2030,,,,,2030-06-10,,,,,"]


@pytest.fixture
def seeds(tmp_path) -> Path:
    out = tmp_path / "seeds"
    out.mkdir()
    shutil.copy(settings.DBT_PROJECT_DIR / "seeds" / school_calendar.DEFAULTS_FILE, out)
    write_calendar(out, OVERRIDES)
    return out


def test_the_sos_dates_override_the_defaults_year_by_year(seeds):
    cal = SchoolCalendar.from_csv(seeds)
    assert cal.day(D("2027-09-05")).school_year == "2026-2027"  # the summer is one day longer
    assert cal.year("2026-2027").year_end == D("2027-09-05")
    first = cal.day(D("2027-09-06"))
    assert (first.school_year, first.term) == ("2027-2028", "hk1")
    assert first.year.inspection_seed == 20270906
    assert [cal.day(d).term for d in (D("2028-01-15"), D("2028-01-16"), D("2028-05-26"))] == [
        "hk1", "hk2", "ca_nam"]
    # a cell left empty takes the default
    assert cal.year("2027-2028").mid_year_deadline == D("2028-01-18")
    assert cal.year("2029-2030").end_of_year_deadline == D("2030-06-10")
    assert cal.year("2029-2030").year_start == D("2029-09-05")


@pytest.mark.parametrize("row, message", [
    ("2027-2028,2027-09-06,2027-09-01,,,,,,,,", "expected year_start < hk1_end"),
    ("2027-2028,2028-09-06,,,,,,,,,", "cannot start"),
    ("2027-2029,,,,,,,,,,", "not a school year"),
    ("2027-2028,6/9/2027,,,,,,,,,", "2027-2028"),
])
def test_a_calendar_that_contradicts_itself_is_refused(seeds, row, message):
    write_calendar(seeds, [row])
    with pytest.raises(CalendarError, match=message):
        SchoolCalendar.from_csv(seeds).year_of(D("2028-03-01"))


def test_retention_counts_the_calendars_years():
    assert retention.cutoff(D("2027-09-04"), 2) == D("2025-09-05")
    assert retention.cutoff(D("2027-09-05"), 2) == D("2026-09-05")


# --- dbt: the same seeds, the same answers -----------------------------------------------

AS_OF = "2027-09-04"  # dbt lists the years from ten before the run's day to the one after


def dbt(project: Path, env: dict, command: list[str], as_of: str) -> None:
    run_dbt([*command, "--target-path", str(project / "target")], env, day=as_of, project=project)


@pytest.mark.slow
def test_python_and_dbt_agree_on_every_day(fresh_db, seeds, tmp_path):
    project = tmp_path / "dbt_project"
    shutil.copytree(settings.DBT_PROJECT_DIR, project,
                    ignore=shutil.ignore_patterns("target", "logs"))
    shutil.copy(seeds / school_calendar.CALENDAR_FILE, project / "seeds")
    cal = SchoolCalendar.from_csv(project / "seeds")
    env = runtime.environment(fresh_db)
    # the seeds, the calendar models and their tests (the calendar's own consistency test too)
    dbt(project, env, ["build", "--select", "+int_term_context", "int_school_terms"], AS_OF)

    with warehouse.connect(fresh_db) as conn:
        years = conn.execute("""
            select school_year, year_start, year_end, hk1_end, hk2_end, mid_year_deadline,
                   end_of_year_deadline, start_of_year_data_date, end_of_year_data_date,
                   inspection_freeze_date, inspection_seed
            from intermediate.int_school_years order by year_start""").fetchall()
        terms = conn.execute("""
            select school_year, term, report_term, term_start, term_end
            from intermediate.int_school_terms order by term_start""").fetchall()
        reports = conn.execute("""
            select school_year, term, report_name, term_start, deadline
            from intermediate.int_reporting_deadlines order by term_start""").fetchall()

    # ten years before the run's day to the one after it, and every year the Sở set (2029-2030)
    assert [y[0] for y in years] == [f"{y}-{y + 1}" for y in range(2017, 2030)]
    for row in years:
        y = cal.year(row[0])
        assert row == (y.name, y.year_start, y.year_end, y.hk1_end, y.hk2_end,
                       y.mid_year_deadline, y.end_of_year_deadline, y.start_of_year_data_date,
                       y.end_of_year_data_date, y.inspection_freeze_date, y.inspection_seed)
        assert [r for r in reports if r[0] == row[0]] == [
            (y.name, r.term, r.report_name, r.term_start, r.deadline) for r in y.reports()]

    # every day of those years: in exactly one term, the one Python gives
    first, last = years[0][1], years[-1][2]
    sql_days = {}
    for school_year, term, report_term, start, end in terms:
        day = start
        while day <= end:
            assert day not in sql_days
            sql_days[day] = (school_year, term, report_term)
            day += timedelta(days=1)
    assert min(sql_days) == first and max(sql_days) == last
    assert len(sql_days) == (last - first).days + 1
    for day, answer in sql_days.items():
        got = cal.day(day)
        assert answer == (got.school_year, got.term, got.report_term), day

    # the run's day as the models see it (int_term_context): the view dbt built for AS_OF,
    # evaluated for every day of the years around the moved rollover in its place
    with warehouse.connect(fresh_db) as conn:
        view = conn.execute("select pg_get_viewdef('intermediate.int_term_context'::regclass)"
                            ).fetchone()[0]
        assert view.count(f"'{AS_OF}'") == 1
        day = D("2026-09-01")
        while day <= D("2028-09-10"):
            context = conn.execute(
                "select school_year, term, due_term, school_year_start, school_year_end from ("
                + view.rstrip().rstrip(";").replace(f"'{AS_OF}'", f"'{day}'") + ") as c"
            ).fetchall()
            got = cal.day(day)
            assert context == [(got.school_year, got.report_term, got.due_report_term,
                                got.year.year_start, got.year.year_end)], day
            day += timedelta(days=1)


# --- the inspection sample across the rollover ----------------------------------------------

def land_school_lists(url: str, sources: dict) -> None:
    """The schools of both vendors (what sync_school_management lands first): enough for the
    inspection strata."""
    a = sources[settings.SMS_VENDOR_A_CONN_ID]
    b = sources[settings.SMS_VENDOR_B_CONN_ID]
    clients = {
        "sms_vendor_a": VendorAClient(f"{a.scheme}://{a.host}:{a.port}{a.base_path}", a.login,
                                  a.password),
        "sms_vendor_b": VendorBClient(f"{b.scheme}://{b.host}:{b.port}{b.base_path}", b.password),
    }
    for vendor, client in clients.items():
        school_management.land_schools(vendor, client, url, "calendar")
    validate_landed(url, "calendar", list(clients))


def build_sample(env: dict, target: Path, as_of: str, selection: str) -> None:
    """The inspection marts as the transformation builds them on `as_of` (the selection: what
    the test needs rebuilt)."""
    target_path = ["--target-path", str(target)]
    if selection.startswith("+"):
        run_dbt(["seed", *target_path], env, day=as_of)
    run_dbt(["run", "--select", selection, *target_path], env, day=as_of)


def samples(url: str) -> dict[str, list[tuple]]:
    with warehouse.connect(url) as conn:
        rows = conn.execute("""
            select school_year, school_code, selection, seed, frozen_at
            from ops.inspection_samples order by school_year, school_code""").fetchall()
    out: dict[str, list[tuple]] = {}
    for row in rows:
        out.setdefault(row[0], []).append(row)
    return out


@pytest.mark.slow
def test_the_inspection_sample_rolls_over_into_the_new_school_year(
        fresh_db, simulators, airflow_home, tmp_path):
    url = fresh_db
    transform.ensure_raw_tables(url)
    land_school_lists(url, simulators)
    env = runtime.environment(url, airflow_home=airflow_home)
    target = tmp_path / "target"

    # May 2027: the 2026-2027 sample is drafted and frozen, and one school visited
    build_sample(env, target, "2027-05-20", "+inspection_sample")
    done = inspection.freeze_due(url, D("2027-05-20"))
    assert (done.school_year, done.due) == ("2026-2027", True) and done.frozen > 0
    last_year = samples(url)["2026-2027"]
    visited = last_year[0][1]
    with warehouse.connect(url) as conn:
        conn.execute("""
            insert into ops.inspection_visits (school_year, school_code, visit_status,
                visited_on, findings_vi, follow_up_vi, follow_up_due)
            values ('2026-2027', %s, 'da_kiem_tra', '2027-03-10', 'Thiếu hồ sơ', 'Bổ sung',
                    '2027-10-31')""", (visited,))

    # the summer still belongs to 2026-2027: frozen already, nothing more
    assert inspection.freeze_due(url, D("2027-09-04")).frozen == 0
    # a freeze of 2027-2028 from a draft still of 2026-2027 fails; it never freezes nothing
    with pytest.raises(inspection.NothingToFreeze, match="2027-2028.*holds 2026-2027"):
        inspection.freeze_sample(url, "2027-2028")

    # the opening day rolls the draft over (what the run's day changes: the calendar's views
    # and what depends on them, up to the marts); the freeze waits for 15 September
    build_sample(env, target, "2027-09-14", "int_school_years+,+inspection_sample")
    with warehouse.connect(url) as conn:
        drafted = conn.execute("select distinct school_year, seed from "
                               "marts.inspection_sample_draft").fetchall()
        reason = conn.execute("select reason_vi from marts.inspection_sample_draft "
                              "where school_code = %s", (visited,)).fetchone()
    assert drafted == [("2027-2028", 20270905)]
    assert reason is None or "chưa được kiểm tra" not in reason[0]  # inspected last year
    assert inspection.freeze_due(url, D("2027-09-14")).due is False
    assert "2027-2028" not in samples(url)

    # the DAG on 15 September freezes the new year (its day: dag_support.run_day)
    run = subprocess.run([runtime.tool("airflow"), "dags", "test", "freeze_inspection_sample",
                          "2027-09-15"], env=env, capture_output=True, text=True)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    frozen = samples(url)
    assert frozen["2026-2027"] == last_year  # untouched
    assert frozen["2027-2028"] and {r[3] for r in frozen["2027-2028"]} == {20270905}

    # the mart: both years frozen, last year's visit kept
    build_sample(env, target, "2027-09-14", "inspection_sample")
    with warehouse.connect(url) as conn:
        published = conn.execute("""
            select school_year, count(*), bool_and(is_frozen),
                   count(*) filter (where visit_status = 'da_kiem_tra')
            from marts.inspection_sample group by 1 order by 1""").fetchall()
        visits = conn.execute("select school_year, school_code, follow_up_due "
                              "from ops.inspection_visits").fetchall()
    assert published == [("2026-2027", len(last_year), True, 1),
                         ("2027-2028", len(frozen["2027-2028"]), True, 0)]
    assert visits == [("2026-2027", visited, D("2027-10-31"))]
