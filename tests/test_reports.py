"""The Sở's reports, generated from the day's warehouse and read back: the .docx with
python-docx, the .pdf with poppler (pdftotext, pdffonts, pdftoppm). Every cell of the
statistics forms is compared with the marts; both formats carry the same figures."""

from __future__ import annotations

import csv
import datetime as dt
import json
import re
import subprocess
from pathlib import Path

import pytest
from conftest import database_name, dbt
from docx import Document

from eduhub import reports, runtime, settings, warehouse
from eduhub.reports import document
from eduhub.reports.document import SUPPRESSED, integer, percent, points
from eduhub.reports.labels import TERMS
from eduhub_sandbox import generator

pytestmark = pytest.mark.slow

ISSUED = dt.date(2027, 1, 23)


def seed_form_columns(form: str) -> list[dict]:
    """The columns of a statistics form, as the Sở keeps them (the seed), in print order."""
    with (settings.DBT_PROJECT_DIR / "seeds" / "statistics_form_columns.csv").open(
            encoding="utf-8") as f:
        return sorted((row for row in csv.DictReader(f) if row["form"] == form),
                      key=lambda row: int(row["position"]))


FORM_COLUMNS = seed_form_columns("truong")  # the schools' form
LEARNER_COLUMNS = seed_form_columns("hoc_sinh")  # the learners' form: a column per sex
LEVELS = ("mam_non", "tieu_hoc", "thcs", "thpt", "gdtx")


def test_numbers_and_dates_are_written_the_vietnamese_way():
    assert integer(1234567) == "1.234.567" and integer(0) == "0" and integer(None) == "-"
    assert percent(0.9851) == "98,5%" and percent(1) == "100,0%" and percent(None) == "-"
    assert document.long_date(dt.date(2027, 1, 8)) == "ngày 08 tháng 01 năm 2027"
    report = document.Report("thong-ke", "BÁO CÁO", "x", "80", "Toàn tỉnh", "2026-2027", "hk1",
                             ISSUED, [])
    assert report.file_stem() == "thong-ke_80_2026-2027_hk1_2027-01-23"
    # a table without rows says so under it
    assert document.Table("t", ("a", "b"), ()).footnote() == "Không có dòng nào."
    assert document.Table("t", ("a",), (("1",),), note="n").footnote() == "n"
    with pytest.raises(ValueError, match="a row of 1 cells under 2 headers"):
        document.Table("t", ("a", "b"), (("1",),))


def docx_tables(path: Path) -> list[list[tuple[str, ...]]]:
    """Every bordered table of the document (the header and signature blocks are not)."""
    doc = Document(str(path))
    return [[tuple(c.text for c in row.cells) for row in t.rows] for t in doc.tables
            if t.style is not None and t.style.name == "Table Grid"]


def docx_text(path: Path) -> str:
    doc = Document(str(path))
    cells = [c.text for t in doc.tables for row in t.rows for c in row.cells]
    return "\n".join([p.text for p in doc.paragraphs] + cells)


def pdf_text(path: Path) -> str:
    return subprocess.run(["pdftotext", "-raw", str(path), "-"], capture_output=True,
                          text=True, check=True).stdout


def assert_in_order(text: str, cells) -> None:
    """Every cell, in order, in the PDF's text (whitespace aside: a cell may wrap)."""
    flat = re.sub(r"\s+", "", text)
    at = 0
    for cell in cells:
        wanted = re.sub(r"\s+", "", cell)
        found = flat.find(wanted, at)
        assert found >= 0, f"{cell!r} missing from the PDF after {flat[max(0, at - 80):at]!r}"
        at = found + len(wanted)


def assert_pdf_sound(path: Path, tmp_path: Path) -> None:
    """All fonts embedded, every page renders."""
    fonts = subprocess.run(["pdffonts", str(path)], capture_output=True, text=True,
                           check=True).stdout.splitlines()[2:]
    assert fonts and all(line.split()[-5] == "yes" for line in fonts), fonts
    pages = int(re.search(r"Pages:\s+(\d+)", subprocess.run(
        ["pdfinfo", str(path)], capture_output=True, text=True).stdout).group(1))
    subprocess.run(["pdftoppm", "-r", "40", "-png", str(path), str(tmp_path / "page")],
                   check=True, capture_output=True)
    assert len(list(tmp_path.glob("page-*.png"))) == pages


@pytest.fixture(scope="module")
def made(modelled, tmp_path_factory):
    out = tmp_path_factory.mktemp("reports")
    url = modelled["url"]
    with warehouse.connect(url) as conn:
        commune = conn.execute("""
            select unit_code from marts.statistics_schools where aggregation_level = 'xa'
            group by 1 order by sum(schools) desc, 1 limit 1""").fetchone()[0]
        school = conn.execute("""
            select unit_code from marts.statistics_schools where aggregation_level = 'truong'
            order by classes desc, 1 limit 1""").fetchone()[0]
    done = {(kind, unit): reports.generate(url, kind, unit, out, issued_on=ISSUED)
            for kind in reports.KINDS if kind != "bien-ban-kiem-tra"  # a school's: below
            for unit in ("province", commune)}
    done[("thong-ke", school)] = reports.generate(url, "thong-ke", school, out,
                                                  issued_on=ISSUED)
    return {"out": out, "url": url, "commune": commune, "school": school, "done": done,
            "data": modelled["data"]}


def _level(code):
    return LEVELS.index(code) if code in LEVELS else len(LEVELS)


@pytest.mark.parametrize("unit", ["province", "commune", "school"])
def test_statistics_forms_hold_every_cell_frozen_at_the_data_date(made, unit, tmp_path):
    """The Thông tư 25/2024 forms of the start of the year, as frozen at 30 September
    (marts.statistics_snapshots, the modelled day being after it): every cell, of the
    province, a commune, and a school (its learners by grade and sex, never by ethnicity)."""
    level, code = {"province": ("tinh", "80"), "commune": ("xa", made["commune"]),
                   "school": ("truong", made["school"])}[unit]
    generated = made["done"][("thong-ke", "province" if unit == "province" else code)]
    with warehouse.connect(made["url"]) as conn:
        year = conn.execute("select max(school_year) from marts.statistics_schools").fetchone()[0]
        frozen = conn.execute("""
            select form, school_level, grade, sex, ethnicity, measure, figure, is_suppressed,
                   data_date
            from marts.statistics_snapshots where aggregation_level = %s and unit_code = %s
              and school_year = %s and data_point = 'dau_nam'""", (level, code, year)).fetchall()
    measures = tuple(row["measure"] for row in FORM_COLUMNS)
    schools: dict[str, dict] = {}
    for form, school_level, _, _, _, measure, figure, _, _ in frozen:
        if form == "truong":
            schools.setdefault(school_level, {})[measure] = figure
    learners = [r[1:5] + r[6:8] for r in frozen if r[0] == "hoc_sinh"]
    assert schools and learners  # a form of nothing proves nothing
    assert {r[-1] for r in frozen} == {dt.date(2026, 9, 30)}
    level_names = {"mam_non": "Mầm non", "tieu_hoc": "Tiểu học", "thcs": "Trung học cơ sở",
                   "thpt": "Trung học phổ thông", "gdtx": "Giáo dục thường xuyên"}
    expected_schools = [(level_names[lvl], *(integer(figures[m]) for m in measures))
                        for lvl, figures in sorted(schools.items(), key=lambda i: _level(i[0]))]
    by_ethnicity = unit != "school"
    assert all((r[3] is None) != by_ethnicity for r in learners)
    # a row per level, grade (and ethnicity), a column per sex; a sex without a cell is a 0
    sexes = [c["measure"] for c in LEARNER_COLUMNS]
    pivot: dict[tuple, dict[str, str]] = {}
    for school_level, grade, sex, ethnicity, figure, hidden in learners:
        pivot.setdefault((school_level, grade, ethnicity), {})[sex] = \
            "(ẩn)" if hidden else integer(figure)
    expected_learners = [
        (level_names[lvl], str(grade), *((ethnicity,) if by_ethnicity else ()),
         *(cells.get(sex, "0") for sex in sexes))
        for (lvl, grade, ethnicity), cells in pivot.items()]
    assert unit == "school" or any("(ẩn)" in row for row in expected_learners)
    first, second = docx_tables(generated.docx)
    assert first[1:] == expected_schools
    assert sorted(second[1:]) == sorted(expected_learners)
    assert second[0] == ("Cấp học", "Khối", *(("Dân tộc",) if by_ethnicity else ()),
                         *(c["header_vi"] for c in LEARNER_COLUMNS))
    text = pdf_text(generated.pdf)
    assert_in_order(text, [c for row in first[1:] for c in row])
    assert_in_order(text, [c for row in second[1:] for c in row])
    # who issues it: the Sở, or for a school's own statistics the school under the commune
    # (or the Sở) that manages it, signed by its principal and sent to them
    if unit == "school":
        units = {u["unit_code"]: u for u in made["data"]["units"]}
        communes = {c.commune_code: c.name for c in generator.official_communes()}
        manager = units[code]["managing_unit"]
        issuer = ("SỞ GDĐT TÂY NINH" if manager == "SO" else f"UBND {communes[manager]}".upper(),
                  generated.unit_name.upper(), "HIỆU TRƯỞNG", "Sở GDĐT (để tổng hợp)")
        absent = ("SỞ GIÁO DỤC VÀ ĐÀO TẠO", "GIÁM ĐỐC")
    else:
        issuer = ("UBND TỈNH TÂY NINH", "SỞ GIÁO DỤC VÀ ĐÀO TẠO", "GIÁM ĐỐC")
        absent = ("HIỆU TRƯỞNG",)
    for words in (generated.unit_name, f"đầu năm học {year}", "30/09/2026",
                  "Độc lập - Tự do - Hạnh phúc", "ngày 23 tháng 01 năm 2027", *issuer):
        assert words in docx_text(generated.docx) and re.sub(r"\s+", "", words) in \
            re.sub(r"\s+", "", text), words
    assert not any(words in docx_text(generated.docx) for words in absent)
    assert generated.term == "dau_nam" and "_dau_nam_" in generated.pdf.name
    assert_pdf_sound(generated.pdf, tmp_path)


def test_the_form_s_columns_are_data_the_so_keeps(made, tmp_path):
    """A form change is a change of the seed statistics_form_columns, not of code: a column
    renamed and one added (toilets, a figure the snapshots keep) and the report follows."""
    url = made["url"]
    with warehouse.connect(url) as conn:
        kept = conn.execute("select form, position, measure, header_vi"
                            " from reference.statistics_form_columns").fetchall()
        try:
            conn.execute("update reference.statistics_form_columns set header_vi = 'Số lớp học'"
                         " where measure = 'classes'")
            conn.execute("insert into reference.statistics_form_columns"
                         " values ('truong', 99, 'toilets', 'Công trình vệ sinh')")
            generated = reports.generate(url, "thong-ke", "province", tmp_path,
                                         issued_on=ISSUED)
        finally:
            with conn.transaction():
                conn.execute("delete from reference.statistics_form_columns")
                with conn.cursor() as cur:
                    cur.executemany("insert into reference.statistics_form_columns"
                                    " values (%s, %s, %s, %s)", kept)
        toilets = dict(conn.execute("""
            select school_level, figure from marts.statistics_snapshots
            where aggregation_level = 'tinh' and form = 'truong' and measure = 'toilets'
              and data_point = 'dau_nam'""").fetchall())
    header, *rows = docx_tables(generated.docx)[0]
    assert header == ("Cấp học", *(("Số lớp học" if r["measure"] == "classes" else
                                    r["header_vi"]) for r in FORM_COLUMNS), "Công trình vệ sinh")
    level_names = {"mam_non": "Mầm non", "tieu_hoc": "Tiểu học", "thcs": "Trung học cơ sở",
                   "thpt": "Trung học phổ thông", "gdtx": "Giáo dục thường xuyên"}
    assert toilets and {row[0]: row[-1] for row in rows} == {
        level_names[level]: integer(n) for level, n in toilets.items()}


def test_the_morning_check_writes_only_in_a_deadline_s_week(made, tmp_path):
    """publish_reports' timed run: on the published warehouse it writes in the week up to a
    deadline (18 January), not the day after nor a week and a day before; on a warehouse with
    nothing published it writes nothing, and says why."""
    assert reports.not_due(made["url"], dt.date(2027, 1, 11)) is None
    assert reports.not_due(made["url"], dt.date(2027, 1, 18)) is None
    assert "no reporting deadline" in reports.not_due(made["url"], dt.date(2027, 1, 19))
    assert "no reporting deadline" in reports.not_due(made["url"], dt.date(2027, 1, 10))
    empty = warehouse.create_database(database_name("eduhub_reports_empty"), made["url"],
                                      replace=True)
    assert "nothing published yet" in reports.not_due(empty, dt.date(2027, 1, 12))


def test_a_statistics_report_is_of_a_frozen_data_point(made, tmp_path):
    """The end-of-year figures are frozen on 31 May: asked for before, the report says so."""
    with pytest.raises(reports.ReportError, match="cuối năm học 2026-2027 được chốt"):
        reports.generate(made["url"], "thong-ke", "province", tmp_path, term="cuoi_nam",
                         issued_on=ISSUED)
    with pytest.raises(reports.ReportError, match="dau_nam .* hoặc cuoi_nam"):
        reports.generate(made["url"], "thong-ke", "province", tmp_path, term="hk1",
                         issued_on=ISSUED)
    assert not list(tmp_path.iterdir())


def test_quality_review_carries_completeness_scorecard_and_chart(made, tmp_path):
    generated = made["done"][("chat-luong", "province")]
    with warehouse.connect(made["url"]) as conn:
        year, term = conn.execute("select school_year, term from marts.quality_scorecard"
                                  " where aggregation_level = 'tinh' limit 1").fetchone()
        completeness = conn.execute("""
            select data_domain, expected_schools, reporting_schools, expected_records,
                   present_records, record_completeness
            from marts.completeness where aggregation_level = 'tinh' and term = %s""",
                                    (term,)).fetchall()
        scorecard = dict(conn.execute("""
            select criterion, score from marts.quality_scorecard
            where aggregation_level = 'tinh' and term = %s""", (term,)).fetchall())
        silent = conn.execute("""
            select count(*) from marts.completeness where aggregation_level = 'truong'
            and data_domain = 'reporting' and present_records = 0 and term = %s""",
                              (term,)).fetchone()[0]
    tables = docx_tables(generated.docx)
    province = [row for row in tables[0][1:] if row[0] == "Toàn tỉnh Tây Ninh"]
    domains = {"reporting": "Báo cáo của trường", "learners": "Học sinh", "staff": "Đội ngũ",
               "facilities": "Cơ sở vật chất", "results": "Kết quả học tập",
               "health": "Sức khỏe", "transcripts": "Học bạ số"}
    assert sorted((r[1], *r[2:7]) for r in province) == sorted(
        (domains[d], integer(es), integer(rs), integer(er), integer(pr), percent(rc))
        for d, es, rs, er, pr, rc in completeness)
    # the silent schools of the registry are expected, not absent
    reporting = next(r for r in province if r[1] == "Báo cáo của trường")
    assert int(reporting[2].replace(".", "")) - int(reporting[3].replace(".", "")) >= silent > 0
    header, *rows = tables[3]
    assert header[1:] == ("Đúng (đạt/áp dụng)", "Đủ (đạt/áp dụng)", "Sạch (đạt/áp dụng)",
                          "Sống (đạt/áp dụng)")
    assert [c.split(" ")[0] for c in rows[0][1:]] == [
        percent(scorecard[c]) for c in ("dung", "du", "sach", "song")]
    # the province by level: completeness per domain, and the scores per criterion
    with warehouse.connect(made["url"]) as conn:
        completeness_levels = conn.execute("""
            select school_level, data_domain, record_completeness from marts.completeness_levels
            where aggregation_level = 'tinh' and term = %s""", (term,)).fetchall()
        scorecard_levels = conn.execute("""
            select school_level, criterion, applicable, passed, score
            from marts.quality_scorecard_levels where aggregation_level = 'tinh' and term = %s
            """, (term,)).fetchall()
    level_names = {"mam_non": "Mầm non", "tieu_hoc": "Tiểu học", "thcs": "Trung học cơ sở",
                   "thpt": "Trung học phổ thông", "gdtx": "Giáo dục thường xuyên",
                   "khong_theo_truong": "Không theo trường (PCGD-XMC)"}
    header, *rows = tables[1]
    shown = {(row[0], name): cell for row in rows for name, cell in zip(header[1:], row[1:],
                                                                          strict=True)}
    assert completeness_levels and {k: v for k, v in shown.items() if v != "-"} == {
        (level_names[lvl], domains[d]): percent(rate) for lvl, d, rate in completeness_levels}
    header, *rows = tables[4]
    shown = {(row[0], name): cell for row in rows for name, cell in zip(header[1:], row[1:],
                                                                          strict=True)}
    criteria = {"dung": "Đúng", "du": "Đủ", "sach": "Sạch", "song": "Sống"}
    assert scorecard_levels and {k: v for k, v in shown.items() if v != "-"} == {
        (level_names[lvl], f"{criteria[c]} (đạt/áp dụng)"):
        f"{percent(score)} ({integer(passed)}/{integer(applicable)})"
        for lvl, c, applicable, passed, score in scorecard_levels}
    # completeness against the term before, per unit and domain (marts.completeness_trend)
    with warehouse.connect(made["url"]) as conn:
        completeness_trend = conn.execute("""
            select data_domain, previous_school_year, previous_term,
                   previous_record_completeness, record_completeness, change_from_previous
            from marts.completeness_trend where aggregation_level = 'tinh' and term = %s""",
                                          (term,)).fetchall()
    header, *rows = tables[2]
    assert header == ("Đơn vị", "Lĩnh vực", "Kỳ trước", "Tỷ lệ đầy đủ")
    assert completeness_trend and sorted(r[1:] for r in rows if r[0] == "Toàn tỉnh Tây Ninh") \
        == sorted((domains[d], f"{TERMS[t]} {y}" if t else "-",
                   f"{percent(previous)} → {percent(rate)} ({points(change)})"
                   if previous is not None else f"- → {percent(rate)}")
                  for d, y, t, previous, rate, change in completeness_trend)
    # the trend: each criterion's score beside the term before's, as marts.quality_trend has it
    with warehouse.connect(made["url"]) as conn:
        trend = {c: rest for c, *rest in conn.execute("""
            select criterion, previous_school_year, previous_term, previous_score, score,
                   change_from_previous
            from marts.quality_trend where aggregation_level = 'tinh' and term = %s""",
                                                      (term,))}
    header, *rows = tables[5]
    assert header == ("Đơn vị", "Kỳ trước", "Đúng", "Đủ", "Sạch", "Sống")
    province_trend = next(r for r in rows if r[0] == "Toàn tỉnh Tây Ninh")
    assert len(trend) == 4 and province_trend[2:] == tuple(
        f"{percent(previous)} → {percent(score)} ({points(change)})" if previous is not None
        else f"- → {percent(score)}"
        for _, _, previous, score, change in (trend[c] for c in ("dung", "du", "sach", "song")))
    earlier = {(year, term) for year, term, *_ in trend.values() if term}
    assert len(earlier) <= 1 and province_trend[1] == next(
        (f"{TERMS[t]} {y}" for y, t in earlier), "-")
    assert len(Document(str(generated.docx)).inline_shapes) == 1  # the chart
    images = subprocess.run(["pdfimages", "-list", str(generated.pdf)], capture_output=True,
                            text=True, check=True).stdout.splitlines()[2:]
    assert [line.split()[2] for line in images] == ["image", "smask"]  # the chart, its alpha
    assert_in_order(pdf_text(generated.pdf), [c for row in tables[0][1:] for c in row])
    assert f"năm học {year}" in docx_text(generated.docx)
    assert_pdf_sound(generated.pdf, tmp_path)

    # ID coverage and verification per level, and the PCGD-XMC reconciliation per commune
    with warehouse.connect(made["url"]) as conn:
        ids = conn.execute("""
            select school_level, rule_id, applicable, passed, score
            from marts.quality_rule_priorities where aggregation_level = 'tinh' and term = %s
            and rule_id in ('DU_PERSONAL_ID', 'DUNG_POPULATION_VERIFIED')""",
                           (term,)).fetchall()
        pcgd = conn.execute("""
            select commune_name, school_age_children, enrolled_learners_missing_from_pcgd,
                   primary_universal_rate
            from marts.pcgd_reconciliation where school_age_children > 0""").fetchall()
    identity, reconciliation = tables[7], tables[8]
    level_names = {"mam_non": "Mầm non", "tieu_hoc": "Tiểu học", "thcs": "Trung học cơ sở",
                   "thpt": "Trung học phổ thông", "gdtx": "Giáo dục thường xuyên"}
    column = {"DU_PERSONAL_ID": 1, "DUNG_POPULATION_VERIFIED": 3}
    cells = {(row[0], i): row[i:i + 2] for row in identity[1:] for i in column.values()}
    assert ids and len(cells) == len(ids)
    for level, rule, applicable, passed, score in ids:
        assert cells[(level_names[level], column[rule])] == (
            f"{integer(passed)}/{integer(applicable)}", percent(score))
    assert pcgd and sorted((r[0], r[1], r[5], r[6]) for r in reconciliation[1:]) == sorted(
        (name, integer(children), integer(missing), percent(rate))
        for name, children, missing, rate in pcgd)
    assert_in_order(pdf_text(generated.pdf), [c for t in (identity, reconciliation)
                                              for row in t[1:] for c in row])

    # the digital transcripts by status, per year of the transcript
    with warehouse.connect(made["url"]) as conn:
        transcripts = conn.execute("""
            select transcript_year, is_due, transcripts, signed, created_unsigned, not_created,
                   signed_rate
            from marts.transcript_status where aggregation_level = 'tinh' and term = %s
            order by 1""", (term,)).fetchall()
    header, *rows = tables[9]
    assert header[:4] == ("Đơn vị", "Năm học của học bạ", "Đến hạn", "Số học bạ")
    assert transcripts and [r[1:] for r in rows if r[0] == "Toàn tỉnh Tây Ninh"] == [
        (y, "Có" if due else "Chưa", *(integer(v) for v in counts), percent(rate))
        for y, due, *counts, rate in transcripts]
    assert_in_order(pdf_text(generated.pdf), [c for row in rows for c in row])


def test_inspection_plan_lists_the_years_sample_of_the_unit(made, tmp_path):
    with warehouse.connect(made["url"]) as conn:
        year = conn.execute("select max(school_year) from marts.inspection_sample").fetchone()[0]
        everywhere = {r[0] for r in conn.execute(
            "select school_code from marts.inspection_sample where school_year = %s", (year,))}
        commune = {r[0] for r in conn.execute("""
            select s.school_code from marts.inspection_sample as s
            join (select school_code, commune_code from intermediate.int_schools union
                  select unit_code, commune_code from staging.stg_school_registry__units
                  where unit_code not in (select school_code from intermediate.int_schools))
                as i using (school_code)
            where s.school_year = %s and i.commune_code = %s""", (year, made["commune"]))}
    assert everywhere and commune and commune < everywhere
    for unit, expected in (("province", everywhere), (made["commune"], commune)):
        generated = made["done"][("ke-hoach-kiem-tra", unit)]
        (table,) = docx_tables(generated.docx)
        assert {row[0] for row in table[1:]} == expected
        assert_in_order(pdf_text(generated.pdf), [c for row in table[1:] for c in row])
    assert_pdf_sound(generated.pdf, tmp_path)


def test_visit_record_is_pre_filled_for_a_sampled_school(made, modelled, tmp_path):
    url = made["url"]
    with warehouse.connect(url) as conn:
        year, term = conn.execute("select school_year, term from marts.quality_scorecard"
                                  " order by school_year desc, term desc limit 1").fetchone()
        # the sampled school with the most failing records
        school, reason, quota = conn.execute("""
            select s.school_code, s.reason_vi, s.stratum_quota from marts.inspection_sample as s
            left join audit.quality_failures as f
                on f.school_code = s.school_code and f.school_year = s.school_year
            where s.school_year = %s group by 1, 2, 3 order by count(f.rule_id) desc, 1
            limit 1""", (year,)).fetchone()
        failing = conn.execute("""
            select rule_id, count(*) from audit.quality_failures
            where school_code = %s and school_year = %s and term = %s group by 1""",
                               (school, year, term)).fetchall()
        domains = conn.execute("""
            select count(*) from marts.completeness where aggregation_level = 'truong'
            and unit_code = %s and school_year = %s and term = %s""",
                               (school, year, term)).fetchone()[0]
    assert failing and domains
    generated = reports.generate(url, "bien-ban-kiem-tra", school, tmp_path, issued_on=ISSUED)
    chosen, completeness, scorecard, rules, checks = docx_tables(generated.docx)
    assert chosen[1][0] == school and chosen[1][-1] == reason and chosen[1][6] == integer(quota)
    assert len(completeness) - 1 == domains and len(scorecard) == 2
    assert sorted((r[0], r[2]) for r in rules[1:]) == sorted(
        (rule, integer(n)) for rule, n in failing)
    # what the inspectors write on site is left blank
    assert len(checks) == 6 and all(row[3:] == ("", "", "") for row in checks[1:])
    text = docx_text(generated.docx)
    pdf = pdf_text(generated.pdf)
    for words in ("ĐẠI DIỆN NHÀ TRƯỜNG", "TRƯỞNG ĐOÀN KIỂM TRA", f"năm học {year}"):
        assert words in text and words in pdf, words
    assert "Nơi nhận" not in text and "Nơi nhận" not in pdf
    assert_in_order(pdf, [c for table in (chosen, rules) for row in table[1:] for c in row])
    assert_pdf_sound(generated.pdf, tmp_path)
    # a silent school (the registry's, sending nothing) in the sample: its record is written,
    # with its name from the registry. Whether one is drawn here depends on what the other
    # modules of this warehouse did to the sample; the live day's sample holds one, and
    # test_live_day checks every sampled school's record is written.
    silent = {d["record"] for d in modelled["manifest"]["defects"]
              if d["defect"] == "silent_school"}
    with warehouse.connect(url) as conn:
        sampled_silent = [r[0] for r in conn.execute(
            "select school_code from marts.inspection_sample where school_year = %s"
            " and school_code = any(%s) order by 1", (year, sorted(silent)))]
    for code in sampled_silent[:1]:
        quiet = reports.generate(url, "bien-ban-kiem-tra", code, tmp_path, issued_on=ISSUED)
        chosen, completeness, *_ = docx_tables(quiet.docx)
        assert chosen[1][0] == code and chosen[1][1] != code  # its name
        assert any(row[1] == "Báo cáo của trường" and row[3] == "0"
                   for row in completeness[1:])
    # the school in a year it was not drawn (no sample before 2026-2027), and a commune
    for unit, school_year, why in ((school, "2025-2026", "không thuộc mẫu"),
                                   ("province", None, "từng trường")):
        with pytest.raises(reports.ReportError, match=why):
            reports.generate(url, "bien-ban-kiem-tra", unit, tmp_path, school_year=school_year,
                             issued_on=ISSUED)


def test_inspection_summary_counts_the_visits_and_flags_overdue_follow_ups(made, modelled,
                                                                           tmp_path):
    url = made["url"]
    with warehouse.connect(url) as conn:
        year, a, b = conn.execute("""
            select school_year, min(school_code), max(school_code)
            from marts.inspection_sample group by 1 order by 1 desc limit 1""").fetchone()
        sampled = conn.execute("select count(*) from marts.inspection_sample"
                               " where school_year = %s", (year,)).fetchone()[0]
        conn.execute("delete from ops.inspection_visits where school_year = %s", (year,))
        conn.execute("""
            insert into ops.inspection_visits (school_year, school_code, visit_status, visited_on,
                findings_vi, follow_up_vi, follow_up_due)
            values (%s, %s, 'da_kiem_tra', '2026-12-01', 'Thiếu số định danh của 3 học sinh',
                    'Bổ sung số định danh', '2027-01-10'),
                   (%s, %s, 'da_kiem_tra', '2026-12-15', 'Không có sai sót', null, null)""",
                     (year, a, year, b))
    dbt(["run", "--select", "inspection_sample"], modelled["env"], day=ISSUED.isoformat())
    generated = reports.generate(url, "tong-hop-kiem-tra", "province", tmp_path / "out",
                                 issued_on=ISSUED)
    progress, visits = docx_tables(generated.docx)
    totals = [sum(int(row[i].replace(".", "")) for row in progress[1:]) for i in range(1, 6)]
    assert totals == [sampled, 2, sampled - 2, 1, 1]  # the follow-up of 10 January is overdue
    assert [row[0] for row in visits[1:]] == [a, b]
    assert visits[1][2:] == ("01/12/2026", "Thiếu số định danh của 3 học sinh",
                             "Bổ sung số định danh", "10/01/2027 (quá hạn)")
    assert visits[2][3:] == ("Không có sai sót", "-", "-")
    assert_in_order(pdf_text(generated.pdf), [c for row in visits[1:] for c in row])
    assert_pdf_sound(generated.pdf, tmp_path)


def test_the_cli_writes_both_files_lists_them_once_and_names_a_bad_unit(made, modelled,
                                                                          tmp_path):
    env = {**modelled["env"]}
    args = [runtime.tool("eduhub"), "report", "ke-hoach-kiem-tra", "--unit", made["commune"],
            "--out", str(tmp_path)]
    for _ in range(2):  # again: the same files, listed once
        proc = subprocess.run(args, env=env, capture_output=True, text=True)
        assert proc.returncode == 0, proc.stderr
    listed = json.loads((tmp_path / "manifest.json").read_text(encoding="utf-8"))
    assert len(listed) == 1 and listed[0]["unit_code"] == made["commune"]
    for key in ("docx", "pdf"):
        assert (tmp_path / listed[0][key]).stat().st_size > 0
        assert made["commune"] in listed[0][key] and listed[0]["school_year"] in listed[0][key]
    proc = subprocess.run([*args[:4], "99999", "--out", str(tmp_path)], env=env,
                          capture_output=True, text=True)
    assert proc.returncode == 2 and "'99999'" in proc.stderr
    assert len(json.loads((tmp_path / "manifest.json").read_text(encoding="utf-8"))) == 1


def test_a_workbooks_figures_go_back_to_numbers():
    from eduhub.reports import spreadsheet

    assert [spreadsheet.figure(t) for t in ("1.234.567", "12", "98,5%", "100,0%", SUPPRESSED,
                                            "-", "6A1")] == [1234567, 12, 0.985, 1.0,
                                                             SUPPRESSED, "-", "6A1"]
    taken: set[str] = set()
    names = [spreadsheet.sheet_name(c, taken) for c in (
        "Biểu 1. Trường, lớp", "Biểu 1. Khác", "Danh sách: lớp [6A1]/trường * " + "x" * 40)]
    assert names[0] == "Biểu 1" and names[1] != names[0] and len(names[2]) <= 31
    assert not set("[]:*?/\\") & set(names[2])
