"""The schools' worklists (`eduhub report danh-sach-loi`), from the day's warehouse, as each role
runs the CLI: a provincial login gets exactly its school's failing records with the sandbox's
names and classes, in .xlsx and .pdf read back, and the warehouse records that it asked; the
analyst's and a commune's logins are refused and leave nothing behind."""

from __future__ import annotations

import datetime as dt
import json
import os
import stat
import subprocess
from collections import Counter

import pytest
from conftest import database_logins
from openpyxl import load_workbook
from test_reports import assert_in_order, assert_pdf_sound, pdf_text

from eduhub import access, runtime, school_calendar, warehouse
from eduhub.reports import document, worklist

pytestmark = pytest.mark.slow

LOGINS = {"provincial": access.PROVINCIAL, "analyst": access.ANALYST}
# the injected defects whose rule fails exactly the records the generator broke that way
# (test_models checks the whole province; here: one school's share of them)
EXACT = {"missing_personal_id": "DU_PERSONAL_ID", "missing_required_field": "DU_REQUIRED_FIELDS",
         "unknown_code": "DUNG_ETHNICITY_CODE", "id_leading_zero_lost": "DUNG_ID_FORMAT"}


@pytest.fixture(scope="module")
def roles(modelled):
    """Test logins in the provincial and analyst groups and a commune's role, on the day's
    warehouse; the school with the most injected learner defects among those an API serves
    (whose records carry names and classes), and a commune that manages it."""
    url = modelled["url"]
    data = modelled["data"]
    served = {s["school_code"] for s in data["schools"] if s["vendor"] != "file_exports"}
    school_of = {x["learner_key"]: x["school_code"] for x in data["learners"]}
    defects = Counter(school_of[d["record"]] for d in modelled["manifest"]["defects"]
                      if d["entity"] == "learner" and d["defect"] in EXACT
                      and school_of.get(d["record"]) in served)
    school = min(defects, key=lambda s: (-defects[s], s))
    with warehouse.connect(url) as conn:
        commune = conn.execute("select managing_unit from intermediate.int_schools"
                               " where school_code = %s", (school,)).fetchone()[0]
    groups = {**LOGINS, "commune": access.commune_role(commune)}
    with database_logins(url, groups, "eduhub_worklist_") as urls:
        yield {"school": school, "urls": urls}


def cli(modelled, login_url: str, unit: str, out) -> subprocess.CompletedProcess:
    env = {**modelled["env"], "EDUHUB_WAREHOUSE_URL": login_url}
    return subprocess.run([runtime.tool("eduhub"), "report", "danh-sach-loi", "--unit", unit,
                           "--out", str(out)], env=env, capture_output=True, text=True)


def generations(url: str) -> list[tuple]:
    with warehouse.connect(url) as conn:
        return conn.execute("select generated_by, school_code, records"
                            " from ops.worklist_generations order by generation_id").fetchall()


def xlsx_rows(path) -> tuple[list[str], list[tuple]]:
    sheet = load_workbook(path).active
    rows = [tuple("" if v is None else v for v in r) for r in sheet.iter_rows(values_only=True)]
    at = next(i for i, r in enumerate(rows) if r and r[0] == "STT")
    return [r[0] for r in rows[:at] if r and r[0]], rows[at + 1:]


@pytest.fixture(scope="module")
def made(modelled, roles, tmp_path_factory):
    out = tmp_path_factory.mktemp("worklists")
    before = len(generations(modelled["url"]))
    runs = [cli(modelled, roles["urls"]["provincial"], roles["school"], out) for _ in range(2)]
    for proc in runs:
        assert proc.returncode == 0, proc.stderr
    listed = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    return {"out": out, "listed": listed, "logged": generations(modelled["url"])[before:]}


def test_a_worklist_holds_exactly_its_schools_failing_records(modelled, roles, made):
    school = roles["school"]
    with warehouse.connect(modelled["url"]) as conn:
        published = conn.execute("""
            select rule_id, record_key from audit.quality_failures where school_code = %s""",
                                 (school,)).fetchall()
        year, term = conn.execute("select school_year, term from marts.quality_scorecard"
                                  " order by school_year desc, term desc limit 1").fetchone()
    [entry] = made["listed"]  # generated twice, listed once
    assert (entry["kind"], entry["unit_code"], entry["school_year"], entry["term"]) == (
        "danh-sach-loi", school, year, term)
    heading, rows = xlsx_rows(made["out"] / entry["xlsx"])
    assert entry["records"] == len(rows) == len(published) > 0
    assert [r[0] for r in rows] == list(range(1, len(rows) + 1))

    # every row is one of the school's published failures, each once, nothing of another
    # school; a learner's row carries the school's own record of the learner
    learners = {x["moet_id"]: x for x in modelled["data"]["learners"]}
    staff = {s["moet_id"]: s for s in modelled["data"]["staff"]}
    by_rule: dict[str, set[str]] = {}
    for _n, cls, name, born, moet, field, what, fix, _sev, _crit, rule, _due in rows:
        person = learners.get(moet) or staff.get(moet)
        assert person and person["school_code"] == school, (rule, moet)
        by_rule.setdefault(rule, set()).add(moet)
        if moet in learners:
            dob = person["date_of_birth"]
            assert (cls, name, born) == (person["class_name"], person["full_name"],
                                         "/".join(reversed(dob.split("-"))) if dob else "")
        assert what and fix and field, (rule, moet)
    assert Counter((r[10], r[4]) for r in rows) == Counter(
        (rule, key.split("|")[-1]) for rule, key in published)

    # the sandbox's ground truth: every defect injected into this school, under its rule
    by_key = {x["learner_key"]: x for x in modelled["data"]["learners"]}
    for defect, rule in EXACT.items():
        injected = {by_key[d["record"]]["moet_id"] for d in modelled["manifest"]["defects"]
                    if d["defect"] == defect and d["entity"] == "learner"
                    and by_key[d["record"]]["school_code"] == school}
        assert by_rule.get(rule, set()) == injected, rule
    assert any(by_rule.get(rule) for rule in EXACT.values())
    # the required-fields rule names the very field the generator emptied
    fields = {"date_of_birth": "Ngày sinh", "sex": "Giới tính"}
    for row in rows:
        if row[10] == "DU_REQUIRED_FIELDS":
            assert row[5] == "; ".join(v for k, v in fields.items() if learners[row[4]][k] is None)

    # a class list: learners grouped by class (6A2 before 10A1), then by given name
    listed = [(r[1], r[2]) for r in rows if r[4] in learners]
    assert listed == sorted(listed, key=lambda cn: (worklist.class_key(cn[0]),
                                                    document.person_sort_key(cn[1])))
    assert len({cls for cls, _ in listed}) > 1

    # the deadline: the term's report deadline in the school calendar while it is ahead
    issued = dt.date.fromisoformat(entry["issued_on"])
    own = next(r.deadline for r in school_calendar.calendar().year(year).reports()
               if r.term == term)
    [shown] = {r[11] for r in rows}
    due = dt.datetime.strptime(shown, "%d/%m/%Y").date()
    assert due == own if own >= issued else due > issued
    assert any(shown in line for line in heading)


def test_vietnamese_alphabetical_order():
    names = ["Đạt", "Dũng", "Ân", "Ăn", "Ánh", "An", "Anh", "Ạnh", "Yến", "Ơn", "Ôn", "On"]
    assert sorted(names, key=document.vietnamese_key) == [
        "An", "Anh", "Ánh", "Ạnh", "Ăn", "Ân", "Dũng", "Đạt", "On", "Ôn", "Ơn", "Yến"]
    assert sorted(["10A1", "6A2", "6A10", "6B1"], key=worklist.class_key) == [
        "6A2", "6A10", "6B1", "10A1"]
    assert sorted(["Nguyễn Văn Đạt", "Trần Thị Dung", "Lê An"],
                  key=document.person_sort_key) == ["Lê An", "Trần Thị Dung", "Nguyễn Văn Đạt"]


def test_the_pdf_lists_the_same_records_and_the_files_are_the_owners_only(roles, made,
                                                                          tmp_path):
    [entry] = made["listed"]
    _, rows = xlsx_rows(made["out"] / entry["xlsx"])
    pdf = made["out"] / entry["pdf"]
    text = pdf_text(pdf)
    assert roles["school"] in entry["pdf"] and "DANH SÁCH BẢN GHI CẦN SỬA" in text
    assert_in_order(text, [cell for r in rows for cell in (str(r[0]), r[2], r[6])])
    assert_pdf_sound(pdf, tmp_path)
    folder = pdf.parent
    assert folder.name == roles["school"]
    assert stat.S_IMODE(os.stat(folder).st_mode) == 0o700
    for key in ("xlsx", "pdf"):
        assert stat.S_IMODE(os.stat(made["out"] / entry[key]).st_mode) == 0o600


def test_each_worklist_is_recorded_against_the_login_that_asked(roles, made):
    assert made["logged"] == [("eduhub_worklist_provincial", roles["school"],
                               made["listed"][0]["records"])] * 2


@pytest.mark.parametrize("login", ["analyst", "commune"])
def test_other_roles_are_refused_and_leave_nothing(modelled, roles, login, tmp_path):
    before = generations(modelled["url"])
    proc = cli(modelled, roles["urls"][login], roles["school"], tmp_path)
    assert proc.returncode == 2 and access.PROVINCIAL in proc.stderr, proc.stderr
    assert list(tmp_path.iterdir()) == []
    assert generations(modelled["url"]) == before


def test_an_unknown_school_is_named(modelled, roles, tmp_path):
    proc = cli(modelled, roles["urls"]["provincial"], "99999", tmp_path)
    assert proc.returncode == 2 and "'99999'" in proc.stderr, proc.stderr
    assert not (tmp_path / "manifest.json").exists()
