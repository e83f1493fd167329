"""The figures of each report kind, read from the published marts (and the names of units
from the reference data), as a `document.Report` both renderers draw.

Every figure is a mart's figure formatted, never recomputed here: a report says what the
warehouse publishes. Published statistics keep their small-cell suppression.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace

from psycopg import sql

from eduhub import warehouse
from eduhub.reports import charts
from eduhub.reports.document import (
    SUPPRESSED,
    SUPPRESSED_NOTE,
    Report,
    Section,
    Table,
    integer,
    long_date,
    nfc,
    percent,
    points,
    short_date,
)
from eduhub.reports.labels import (
    AGGREGATION_LEVELS,
    CRITERIA,
    DATA_POINTS,
    DOMAINS,
    SCHOOL_LEVELS,
    SELECTIONS,
    TERMS,
    VISIT_STATUSES,
    label,
)

PROVINCE_CODE = "80"
PROVINCE_NAME = "Toàn tỉnh Tây Ninh"
# the managing unit of the schools the Sở manages itself (upper secondary, continuing education)
SO_CODE = "SO"
SO_HEADER = "SỞ GDĐT TÂY NINH"
LEVEL_ORDER = tuple(SCHOOL_LEVELS)


# Every school a report may name, silent ones included, with its name and commune: the published
# directory (marts.unit_directory), which every reader role may read within its row policies
SCHOOL_UNITS = ("(select unit_code as school_code, unit_name as school_name,"
                " located_in_commune as commune_code from marts.unit_directory"
                " where aggregation_level = 'truong')")


class ReportError(ValueError):
    """A report that cannot be made as asked (unknown unit, no published figures)."""


@dataclass(frozen=True)
class Unit:
    aggregation_level: str  # tinh, xa, truong
    code: str
    name: str


def resolve_unit(conn, unit: str) -> Unit:
    """`province`, a commune's code or a school's code."""
    if unit in ("province", "tinh", PROVINCE_CODE):
        return Unit("tinh", PROVINCE_CODE, PROVINCE_NAME)
    row = conn.execute("select aggregation_level, unit_name from marts.unit_directory"
                       " where unit_code = %s and aggregation_level in ('xa', 'truong')"
                       " order by aggregation_level = 'xa' desc limit 1", (unit,)).fetchone()
    if row:  # a commune, a school, or a unit only the registry knows (a silent school)
        return Unit(row[0], unit, nfc(row[1]))
    raise ReportError(f"đơn vị {unit!r} không có trong danh mục: dùng 'province', mã xã/phường "
                      "hoặc mã trường")


def exists(conn, relation: str) -> bool:
    """Whether a relation is there: a warehouse upgraded since its last transformation lacks the
    newest marts, and a report leaves their tables empty rather than fail."""
    return conn.execute("select to_regclass(%s)", (relation,)).fetchone()[0] is not None


def latest_term(conn) -> tuple[str, str]:
    """The school year and term of the published figures."""
    row = exists(conn, "marts.quality_scorecard") and conn.execute(
        "select school_year, term from marts.quality_scorecard"
        " order by school_year desc, term desc limit 1").fetchone()
    if not row:
        raise ReportError("chưa có số liệu công bố (marts.quality_scorecard chưa có hoặc "
                          "trống): chạy transform_warehouse trước")
    return row


def _level_rank(level: str) -> int:
    return LEVEL_ORDER.index(level) if level in LEVEL_ORDER else len(LEVEL_ORDER)


def _domain_rank(domain: str) -> int:
    return list(DOMAINS).index(domain) if domain in DOMAINS else len(DOMAINS)


# -- statistics ------------------------------------------------------------------------------

def form_columns(conn, form: str = "truong") -> list[tuple[str, str]]:
    """The columns of a statistics form as the Sở keeps them (seed statistics_form_columns):
    (measure, header) in print order. A form change is a change of that table, not of code."""
    columns = conn.execute("select measure, header_vi from reference.statistics_form_columns"
                           " where form = %s order by position", (form,)).fetchall()
    if not columns:
        raise ReportError(f"biểu {form!r} không có cột nào (reference.statistics_form_columns)")
    return [(measure, nfc(header)) for measure, header in columns]


def statistics_tables(conn, unit: Unit, school_year: str,
                      data_point: str | None = None) -> list[Table]:
    """The unit's forms: the current figures (`data_point` None: the dashboard's), or those
    frozen at a data date of Thông tư 25/2024 (the reports'). A school's learners are counted by
    grade and sex, not by ethnicity (statistics_school_learners). The end-of-year date's also
    have Biểu 3, the year's outcomes (statistics_year_end), and so do the current figures once
    some learner of the year has an outcome."""
    columns = form_columns(conn)
    measures = [m for m, _ in columns]
    year_end = form_columns(conn, "ket_qua_cuoi_nam")
    if data_point is None:
        schools, learners = _current_figures(conn, unit, school_year, measures)
        outcomes = _current_outcomes(conn, unit, school_year, [m for m, _ in year_end])
        # the outcomes once the school year's are being given, not months of "not evaluated"
        with_outcomes = any(not hidden and figure and measure in YEAR_END_OUTCOMES
                            for figures in outcomes.values()
                            for measure, (figure, hidden) in figures.items())
    else:
        schools, learners, outcomes = _frozen_figures(conn, unit, school_year, data_point,
                                                      measures)
        with_outcomes = data_point == "cuoi_nam"
    schools.sort(key=lambda r: _level_rank(r[0]))
    return [
        Table("Biểu 1. Trường, lớp, đội ngũ và phòng học theo cấp học",
              ("Cấp học", *(h for _, h in columns)),
              tuple((label(SCHOOL_LEVELS, r[0]), *(integer(v) for v in r[1:])) for r in schools),
              numeric=tuple(range(1, len(columns) + 1))),
        learners_table(unit, form_columns(conn, "hoc_sinh"), learners),
        *((year_end_table(unit, year_end, outcomes),) if with_outcomes else ()),
    ]


def learners_table(unit: Unit, columns: list[tuple[str, str]], learners: list[tuple]) -> Table:
    """Biểu 2: the learners studying per level and grade (and ethnicity, above a school), a
    column per sex (the form's columns: the seed's). A published row's sex without a cell had
    no learner; a cell of a sex the form has no column for is an error, never left out.
    learners: (level, grade, sex, ethnicity, count, suppressed)."""
    by_ethnicity = unit.aggregation_level != "truong"
    sexes = [sex for sex, _ in columns]
    rows: dict[tuple, dict[str, str]] = {}
    for level, grade, sex, ethnicity, count, suppressed in learners:
        if sex not in sexes:
            raise ReportError(f"biểu 'hoc_sinh' không có cột cho giới tính {sex!r}"
                              " (reference.statistics_form_columns)")
        rows.setdefault((level, grade, ethnicity), {})[sex] = \
            SUPPRESSED if suppressed else integer(count)
    ordered = sorted(rows.items(), key=lambda item: (
        _level_rank(item[0][0]), item[0][1] if item[0][1] is not None else -1,
        item[0][2] or ""))
    keys = 3 if by_ethnicity else 2
    return Table(
        "Biểu 2. Học sinh đang học theo cấp học, khối lớp, giới tính"
        + (" và dân tộc" if by_ethnicity else ""),
        ("Cấp học", "Khối", *(("Dân tộc",) if by_ethnicity else ()), *(h for _, h in columns)),
        tuple((label(SCHOOL_LEVELS, level), str(grade) if grade is not None else "-",
               *((nfc(ethnicity),) if by_ethnicity else ()),
               *(cells.get(sex, "0") for sex in sexes))
              for (level, grade, ethnicity), cells in ordered),
        numeric=(1, *range(keys, keys + len(columns))), note=SUPPRESSED_NOTE,
        widths=(1.8, 0.6, *((1.2,) if by_ethnicity else ()), *(1.0,) * len(columns)))


def is_indicator(measure: str) -> bool:
    """A column of Biểu 3 that is an indicator of statistics_year_end_rates (a proportion,
    printed as a percentage), not an outcome's count."""
    return measure.endswith(("_rate", "_share"))


def year_end_table(unit: Unit, columns: list[tuple[str, str]],
                   outcomes: dict[tuple, dict[str, tuple]]) -> Table:
    """Biểu 3: the persons of the year by their outcome and the indicators from them (the
    form's columns: the seed's), per level and grade (a school's per level: its grades are
    too small to show).
    (level, grade) -> outcome -> (figure, suppressed); a published group's outcome without a
    row had no learner."""
    def cell(figures: dict, measure: str) -> str:
        figure, suppressed = figures.get(measure, (0, False))
        if suppressed:
            return SUPPRESSED
        return percent(figure) if is_indicator(measure) else integer(figure)

    rows = sorted(outcomes.items(), key=lambda item: (
        _level_rank(item[0][0]), item[0][1] if item[0][1] is not None else -1))
    return Table(
        "Biểu 3. Kết quả cuối năm học của học sinh theo cấp học"
        + ("" if unit.aggregation_level == "truong" else ", khối lớp"),
        ("Cấp học", "Khối", *(header for _, header in columns)),
        tuple((label(SCHOOL_LEVELS, level), str(grade) if grade is not None else "-",
               *(cell(figures, outcome) for outcome, _ in columns))
              for (level, grade), figures in rows),
        numeric=tuple(range(1, len(columns) + 2)), note=SUPPRESSED_NOTE,
        widths=(1.6, 0.6, *(1.0,) * len(columns)))


def _current_figures(conn, unit: Unit, school_year: str, measures: list[str]
                     ) -> tuple[list, list]:
    # the measures are the seed's, which its tests hold to the mart's columns
    schools = conn.execute(sql.SQL(
        "select school_level, {} from marts.statistics_schools"
        " where aggregation_level = %s and unit_code = %s and school_year = %s").format(
            sql.SQL(", ").join(map(sql.Identifier, measures))),
        (unit.aggregation_level, unit.code, school_year)).fetchall()
    learners = conn.execute(
        ("select school_level, grade, sex, null, learners, is_suppressed"
         " from marts.statistics_school_learners" if unit.aggregation_level == "truong" else
         "select school_level, grade, sex, ethnicity, learners, is_suppressed"
         " from marts.statistics_learners")
        + " where aggregation_level = %s and unit_code = %s and school_year = %s",
        (unit.aggregation_level, unit.code, school_year)).fetchall()
    return schools, learners


# the outcomes a whole-year result gives (the others: none yet, dropped out)
YEAR_END_OUTCOMES = ("len_lop", "hoan_thanh_cap_hoc", "kiem_tra_lai", "o_lai_lop")


def _current_outcomes(conn, unit: Unit, school_year: str, measures: list[str]
                      ) -> dict[tuple, dict[str, tuple]]:
    """Biểu 3's figures as published now (statistics_year_end and its rates), in the shape of
    the frozen ones: (level, grade) -> measure -> (figure, suppressed)."""
    outcomes: dict[tuple, dict[str, tuple]] = {}
    if not exists(conn, "marts.statistics_year_end_rates"):
        return outcomes
    where = " where aggregation_level = %s and unit_code = %s and school_year = %s"
    key = (unit.aggregation_level, unit.code, school_year)
    for level, grade, outcome, figure, hidden in conn.execute(
            "select school_level, grade, outcome, learners, is_suppressed"
            " from marts.statistics_year_end" + where, key):
        outcomes.setdefault((level, grade), {})[outcome] = (figure, hidden)
    # the measures are the seed's, which its tests hold to the marts' columns
    rates = [m for m in measures if is_indicator(m)]
    if rates:
        for level, grade, hidden, *figures in conn.execute(sql.SQL(
                "select school_level, grade, is_suppressed, {} from marts.statistics_year_end_rates"
                + where).format(sql.SQL(", ").join(map(sql.Identifier, rates))), key):
            outcomes.setdefault((level, grade), {}).update(
                {rate: (figure, hidden) for rate, figure in zip(rates, figures, strict=True)})
    return outcomes


def _frozen_figures(conn, unit: Unit, school_year: str, data_point: str,
                    measures: list[str]) -> tuple[list, list, dict]:
    rows = conn.execute(
        "select form, school_level, grade, sex, ethnicity, measure, figure, is_suppressed"
        " from marts.statistics_snapshots where aggregation_level = %s and unit_code = %s"
        " and school_year = %s and data_point = %s",
        (unit.aggregation_level, unit.code, school_year, data_point)).fetchall()
    by_level: dict[str, dict] = {}
    learners, outcomes = [], {}
    for form, level, grade, sex, ethnicity, measure, figure, suppressed in rows:
        if form == "truong":
            by_level.setdefault(level, {})[measure] = figure
        elif form == "ket_qua_cuoi_nam":
            outcomes.setdefault((level, grade), {})[measure] = (figure, suppressed)
        else:
            learners.append((level, grade, sex, ethnicity, figure, suppressed))
    schools = [(level, *(figures.get(m) for m in measures)) for level, figures in by_level.items()]
    return schools, learners, outcomes


def frozen_data_point(conn, school_year: str, asked: str | None) -> tuple[str, dt.date, dt.date]:
    """The data point of a statistics report (asked, else the latest frozen in the year), its
    data date and the day of the figures frozen: a report of statistics is of a data date."""
    if asked is not None and asked not in DATA_POINTS:
        raise ReportError(f"thời điểm số liệu {asked!r} không có: dau_nam (30/9) hoặc "
                          "cuoi_nam (31/5)")
    frozen = exists(conn, "marts.statistics_snapshots") and conn.execute(
        "select data_point, data_date, figures_as_of from marts.statistics_snapshots"
        " where school_year = %s and data_point = coalesce(%s, data_point)"
        " group by 1, 2, 3 order by data_date desc limit 1", (school_year, asked)).fetchone()
    if not frozen:
        point = label(DATA_POINTS, asked).lower() if asked else "đầu năm học hoặc cuối năm học"
        raise ReportError(f"chưa có số liệu thống kê {point} {school_year} được chốt "
                          "(số liệu chốt ở lần chạy đầu tiên vào hoặc sau ngày số liệu của "
                          "lịch năm học)")
    return frozen


def school_issuer(conn, unit: Unit) -> dict:
    """A school's statistics are its own report (Thông tư 25/2024: each unit reports to the one
    that manages it): its name heads the document under its managing body's, its head signs,
    and it goes to that body and the Sở."""
    managed_by, body = conn.execute(
        "select school.managed_by, manager.unit_name from marts.unit_directory as school"
        " left join marts.unit_directory as manager on manager.aggregation_level = 'xa'"
        " and manager.unit_code = school.managed_by"
        " where school.aggregation_level = 'truong' and school.unit_code = %s",
        (unit.code,)).fetchone() or (None, None)
    by_commune = managed_by != SO_CODE and body is not None
    return {
        "issuer_parent": nfc(f"UBND {body}".upper()) if by_commune
        else SO_HEADER,
        "issuer": nfc(unit.name.upper()),
        "issuer_abbreviation": unit.code,
        # a school's head is its principal; a centre's (GDNN-GDTX) its director
        "signer_title": "GIÁM ĐỐC" if unit.name.lower().startswith("trung tâm")
        else "HIỆU TRƯỞNG",
        # "UBND xã Tân Hội": the division type in lower case inside a sentence
        "recipients": ((f"UBND {nfc(body[:1].lower() + body[1:])} (để báo cáo);",)
                       if by_commune else ())
        + ("Sở GDĐT (để tổng hợp);", "Lưu: VT."),
    }


def statistics_report(conn, unit: Unit, school_year: str, term: str | None,
                      issued_on: dt.date, workdir) -> Report:
    data_point, data_date, as_of = frozen_data_point(conn, school_year, term)
    tables = statistics_tables(conn, unit, school_year, data_point)
    point = label(DATA_POINTS, data_point).lower()
    if not tables[0].rows:
        raise ReportError(f"{unit.name} không có số liệu thống kê {point} {school_year}")
    return Report(
        kind="thong-ke", title="BÁO CÁO", document_code="BC",
        subtitle=f"Thống kê giáo dục {point} {school_year} - {unit.name}",
        unit_code=unit.code, unit_name=unit.name, school_year=school_year, term=data_point,
        issued_on=issued_on, **(school_issuer(conn, unit) if unit.aggregation_level == "truong"
                                else {}),
        sections=[Section(
            "I. SỐ LIỆU THỐNG KÊ",
            [f"Số liệu {point} {school_year} của {unit.name}, tại thời điểm "
             f"{short_date(data_date)} theo Thông tư 25/2024/TT-BGDĐT (chốt từ kho dữ liệu "
             f"ngành giáo dục của Sở ngày {short_date(as_of)}: các hệ thống quản lý trường học, "
             "danh mục đơn vị của Sở)."],
            tables)])


# -- data-quality review ---------------------------------------------------------------------

def _scope(unit: Unit) -> tuple[str, tuple]:
    """The rows of the marts the unit's review covers: the unit itself and what it manages."""
    if unit.aggregation_level == "tinh":
        return "aggregation_level in ('tinh', 'don_vi_quan_ly')", ()
    return "aggregation_level = %s and unit_code = %s", (unit.aggregation_level, unit.code)


def unit_names(conn) -> dict[str, str]:
    """Every unit's name the session may see (marts.unit_directory), the province's always."""
    names = {PROVINCE_CODE: PROVINCE_NAME}
    names.update(conn.execute("select unit_code, unit_name from marts.unit_directory"
                              " order by aggregation_level = 'truong'").fetchall())
    return {k: nfc(v) for k, v in names.items()}


def _unit_order(level: str, code: str) -> tuple:
    return (list(AGGREGATION_LEVELS).index(level) * -1, code)


def quality_tables(conn, unit: Unit, school_year: str,
                   term: str) -> tuple[dict[str, Table], dict[str, float]]:
    """The review's tables, and the unit's own score per criterion (for the chart)."""
    names = unit_names(conn)
    where, args = _scope(unit)
    completeness = sorted(conn.execute(
        "select aggregation_level, unit_code, data_domain, expected_schools, reporting_schools,"
        " expected_records, present_records, record_completeness, field_completeness,"
        " timeliness from marts.completeness"
        f" where {where} and school_year = %s and term = %s", (*args, school_year, term)
    ).fetchall(), key=lambda r: (_unit_order(r[0], r[1]), _domain_rank(r[2])))
    scorecard = conn.execute(
        "select aggregation_level, unit_code, criterion, applicable, passed, score"
        " from marts.quality_scorecard"
        f" where {where} and school_year = %s and term = %s", (*args, school_year, term)
    ).fetchall()
    by_unit: dict[tuple, dict] = {}
    for level, code, criterion, applicable, passed, score in scorecard:
        by_unit.setdefault((level, code), {})[criterion] = (applicable, passed, score)
    priorities = conn.execute(
        "select unit_code, school_level, rule_id, failing, score, target, gap_to_target,"
        " need_rank from marts.quality_rule_priorities"
        " where aggregation_level = 'don_vi_quan_ly' and below_target and need_rank <= 3"
        " and school_year = %s and term = %s"
        + ("" if unit.aggregation_level == "tinh" else " and unit_code = %s")
        + " order by gap_to_target desc, rule_id, unit_code, school_level limit 30",
        (school_year, term) if unit.aggregation_level == "tinh"
        else (school_year, term, unit.code)).fetchall()
    trend: dict[tuple, dict] = {}
    published = exists(conn, "marts.quality_trend")
    for level, code, criterion, score, prev_year, prev_term, prev_score, change in (
            conn.execute(
                "select aggregation_level, unit_code, criterion, score, previous_school_year,"
                " previous_term, previous_score, change_from_previous from marts.quality_trend"
                f" where {where} and school_year = %s and term = %s",
                (*args, school_year, term)) if published else ()):
        trend.setdefault((level, code), {})[criterion] = (score, prev_year, prev_term,
                                                          prev_score, change)
    kept = exists(conn, "marts.completeness_trend")
    completeness_trend = sorted(conn.execute(
        "select aggregation_level, unit_code, data_domain, record_completeness,"
        " previous_school_year, previous_term, previous_record_completeness,"
        " change_from_previous from marts.completeness_trend"
        f" where {where} and school_year = %s and term = %s", (*args, school_year, term)
    ).fetchall() if kept else (), key=lambda r: (_unit_order(r[0], r[1]), _domain_rank(r[2])))
    rules = dict(conn.execute("select rule_id, description_vi from reference.quality_rules"
                              ).fetchall())
    own = {c: v[2] for c, v in by_unit.get((unit.aggregation_level, unit.code), {}).items()}
    completeness_by_level, scorecard_by_level = level_tables(conn, unit, school_year, term)
    return {
        "completeness": Table(
            "Bảng 1. Mức độ đầy đủ dữ liệu theo lĩnh vực",
            ("Đơn vị", "Lĩnh vực", "Trường phải báo cáo", "Trường đã báo cáo",
             "Bản ghi phải có", "Bản ghi có", "Tỷ lệ đầy đủ", "Đủ trường thông tin",
             "Đúng hạn"),
            tuple((names.get(code, code), label(DOMAINS, domain), integer(es), integer(rs),
                   integer(er), integer(pr), percent(rc), percent(fc), percent(tl))
                  for _, code, domain, es, rs, er, pr, rc, fc, tl in completeness),
            numeric=(2, 3, 4, 5, 6, 7, 8), widths=(2.2, 1.6, 1, 1, 1, 1, 1, 1, 1)),
        "completeness_by_level": completeness_by_level,
        "completeness_trend": Table(
            "Bảng 3. Tỷ lệ đầy đủ so với kỳ trước (kỳ trước → kỳ này, thay đổi theo điểm %)",
            ("Đơn vị", "Lĩnh vực", "Kỳ trước", "Tỷ lệ đầy đủ"),
            tuple((names.get(code, code), label(DOMAINS, domain),
                   f"{label(TERMS, prev_term)} {prev_year}" if prev_term else "-",
                   _change((rate, prev_year, prev_term, prev_rate, change)))
                  for _, code, domain, rate, prev_year, prev_term, prev_rate, change
                  in completeness_trend),
            numeric=(3,), widths=(2.4, 1.8, 1.6, 2.4),
            note="Kỳ trước: số liệu của lần chạy cuối cùng trong kỳ đó; \"-\": chưa có số liệu "
                 "kỳ trước."),
        "scorecard": Table(
            "Bảng 4. Chất lượng dữ liệu theo tiêu chí đúng, đủ, sạch, sống",
            ("Đơn vị", *(f"{CRITERIA[c]} (đạt/áp dụng)" for c in CRITERIA)),
            tuple((names.get(code, code), *(
                f"{percent(v[2])} ({integer(v[1])}/{integer(v[0])})" if (v := scores.get(c))
                else "-" for c in CRITERIA))
                for (level, code), scores in sorted(by_unit.items(),
                                                    key=lambda i: _unit_order(*i[0]))),
            numeric=(1, 2, 3, 4), widths=(2.4, 1.5, 1.5, 1.5, 1.5)),
        "scorecard_by_level": scorecard_by_level,
        "trend": Table(
            "Bảng 6. Điểm chất lượng so với kỳ trước (kỳ trước → kỳ này, thay đổi theo điểm %)",
            ("Đơn vị", "Kỳ trước", *(CRITERIA[c] for c in CRITERIA)),
            tuple((names.get(code, code), _previous_term(criteria), *(
                _change(criteria.get(c)) for c in CRITERIA))
                for (level, code), criteria in sorted(trend.items(),
                                                      key=lambda i: _unit_order(*i[0]))),
            numeric=(2, 3, 4, 5), widths=(2.4, 1.6, 1.5, 1.5, 1.5, 1.5),
            note="Kỳ trước: số liệu của lần chạy cuối cùng trong kỳ đó; \"-\": chưa có số liệu "
                 "kỳ trước."),
        "priorities": Table(
            "Bảng 7. Các đơn vị còn xa chỉ tiêu nhất (3 đơn vị thấp nhất mỗi quy tắc)",
            ("Đơn vị", "Cấp học", "Quy tắc", "Không đạt", "Điểm", "Chỉ tiêu", "Còn thiếu",
             "Thứ hạng"),
            tuple((names.get(code, code), label(SCHOOL_LEVELS, level),
                   f"{rule}\n{nfc(rules.get(rule, ''))}", integer(failing), percent(score),
                   percent(target), percent(gap), str(rank))
                  for code, level, rule, failing, score, target, gap, rank in priorities),
            numeric=(3, 4, 5, 6, 7), widths=(1.8, 1.3, 3.8, 1, 1, 1, 1, 0.9)),
    }, own


def level_tables(conn, unit: Unit, school_year: str, term: str) -> tuple[Table, Table]:
    """The unit's own completeness per level and domain, and its scores per level and
    criterion (a school is of one level: its tables are empty)."""
    args = (unit.aggregation_level, unit.code, school_year, term)
    where = " where aggregation_level = %s and unit_code = %s and school_year = %s and term = %s"
    published = exists(conn, "marts.quality_scorecard_levels")
    completeness: dict[str, dict] = {}
    scores: dict[str, dict] = {}
    if published:
        for level, domain, rate in conn.execute(
                "select school_level, data_domain, record_completeness"
                " from marts.completeness_levels" + where, args):
            completeness.setdefault(level, {})[domain] = rate
        for level, criterion, applicable, passed, score in conn.execute(
                "select school_level, criterion, applicable, passed, score"
                " from marts.quality_scorecard_levels" + where, args):
            scores.setdefault(level, {})[criterion] = (applicable, passed, score)
    domains = [d for d in DOMAINS if any(d in v for v in completeness.values())]
    return (
        Table("Bảng 2. Tỷ lệ bản ghi đã có trên bản ghi phải có theo cấp học và lĩnh vực",
              ("Cấp học", *(label(DOMAINS, d) for d in domains)),
              tuple((label(SCHOOL_LEVELS, level), *(percent(rates.get(d)) if d in rates
                                                     else "-" for d in domains))
                    for level, rates in sorted(completeness.items(),
                                               key=lambda i: _level_rank(i[0]))),
              numeric=tuple(range(1, len(domains) + 1))),
        Table("Bảng 5. Chất lượng dữ liệu theo cấp học",
              ("Cấp học", *(f"{CRITERIA[c]} (đạt/áp dụng)" for c in CRITERIA)),
              tuple((label(SCHOOL_LEVELS, level), *(
                  f"{percent(v[2])} ({integer(v[1])}/{integer(v[0])})"
                  if (v := criteria.get(c)) else "-" for c in CRITERIA))
                  for level, criteria in sorted(scores.items(),
                                                key=lambda i: _level_rank(i[0]))),
              numeric=(1, 2, 3, 4), widths=(2.4, 1.5, 1.5, 1.5, 1.5)),
    )


def _previous_term(criteria: dict) -> str:
    """The term the unit's scores are compared with (the same for all its criteria)."""
    for _, year, term, _, _ in criteria.values():
        if term:
            return f"{label(TERMS, term)} {year}"
    return "-"


def _change(figures: tuple | None) -> str:
    """75,0% → 90,0% (+15,0); the score alone when there is no earlier term."""
    if figures is None:
        return "-"
    score, _, _, previous, change = figures
    if previous is None:
        return f"- → {percent(score)}"
    return f"{percent(previous)} → {percent(score)} ({points(change)})"


def quality_report(conn, unit: Unit, school_year: str, term: str, issued_on: dt.date,
                   workdir) -> Report:
    if unit.aggregation_level == "truong":
        raise ReportError("báo cáo chất lượng dữ liệu dành cho toàn tỉnh và từng xã/phường; "
                          f"{unit.code} là một trường (các bản ghi cần sửa của trường: "
                          f"eduhub report danh-sach-loi --unit {unit.code})")
    tables, scores = quality_tables(conn, unit, school_year, term)
    review = ("giữa năm học (sau học kỳ I, hạn 18/01)" if term == "hk1"
              else "cuối năm học (hạn 07/6)")
    chart = charts.scorecard_chart(scores,
                                   workdir / f"scorecard_{unit.code}_{school_year}_{term}.png")
    return Report(
        kind="chat-luong", title="BÁO CÁO", document_code="BC",
        subtitle=(f"Chất lượng dữ liệu ngành giáo dục {review}, năm học {school_year} "
                  f"({label(TERMS, term).lower()}) - {unit.name}"),
        unit_code=unit.code, unit_name=unit.name, school_year=school_year, term=term,
        issued_on=issued_on, sections=[
            Section("I. MỨC ĐỘ ĐẦY ĐỦ DỮ LIỆU",
                    ["Mẫu số là các trường đang hoạt động trong danh mục đơn vị của Sở và các "
                     "bản ghi mỗi trường phải có trong kỳ; trường không gửi dữ liệu được tính "
                     "với tỷ lệ 0."],
                    [tables["completeness"], tables["completeness_by_level"],
                     tables["completeness_trend"]]),
            Section("II. CHẤT LƯỢNG DỮ LIỆU THEO TIÊU CHÍ ĐÚNG, ĐỦ, SẠCH, SỐNG",
                    ["Điểm của mỗi tiêu chí là số lượt kiểm tra đạt trên số lượt kiểm tra áp "
                     "dụng."],
                    [tables["scorecard"], tables["scorecard_by_level"], tables["trend"]],
                    [chart]),
            Section("III. CÁC ĐƠN VỊ CẦN HỖ TRỢ",
                    ["Các quy tắc chưa đạt chỉ tiêu của danh mục, xếp theo khoảng cách đến chỉ "
                     "tiêu."],
                    [tables["priorities"]]),
            Section("IV. ĐỊNH DANH HỌC SINH VÀ ĐỐI CHIẾU PHỔ CẬP GIÁO DỤC",
                    ["Hồ sơ học sinh có số định danh cá nhân 12 chữ số, và hồ sơ có họ tên, ngày "
                     "sinh, giới tính khớp Cơ sở dữ liệu quốc gia về dân cư; trẻ trong độ tuổi "
                     "của hệ thống PCGD-XMC đối chiếu với hồ sơ học sinh các trường."],
                    [identity_table(conn, unit, school_year, term),
                     pcgd_table(conn, unit)]),
            Section("V. HỌC BẠ SỐ",
                    ["Học bạ số của học sinh đang học theo năm học của học bạ và trạng thái, "
                     "như phần mềm của trường ghi nhận. Học bạ đến hạn (năm học đã kết thúc, "
                     "hoặc năm học này sau hạn báo cáo cuối năm) được tính trong lĩnh vực "
                     "\"Học bạ số\" của Bảng 1."],
                    [transcripts_table(conn, unit, school_year, term)]),
        ])


def transcripts_table(conn, unit: Unit, school_year: str, term: str) -> Table:
    """The unit's (and what it manages') digital transcripts by status, per transcript year."""
    names = unit_names(conn)
    where, args = _scope(unit)
    published = exists(conn, "marts.transcript_status")
    rows = sorted(conn.execute(
        "select aggregation_level, unit_code, transcript_year, is_due, transcripts, signed,"
        " created_unsigned, not_created, signed_rate from marts.transcript_status"
        f" where {where} and school_year = %s and term = %s", (*args, school_year, term)
    ).fetchall() if published else (), key=lambda r: (_unit_order(r[0], r[1]), r[2]))
    return Table(
        "Bảng 10. Học bạ số theo trạng thái",
        ("Đơn vị", "Năm học của học bạ", "Đến hạn", "Số học bạ", "Đã ký số",
         "Đã tạo, chưa ký số", "Chưa tạo", "Tỷ lệ đã ký số"),
        tuple((names.get(code, code), year, "Có" if due else "Chưa", integer(n),
               integer(signed), integer(unsigned), integer(missing), percent(rate))
              for _, code, year, due, n, signed, unsigned, missing, rate in rows),
        numeric=(3, 4, 5, 6, 7), widths=(2.4, 1.3, 0.9, 1, 1, 1.1, 1, 1))


ID_RULES = ("DU_PERSONAL_ID", "DUNG_POPULATION_VERIFIED")


def identity_table(conn, unit: Unit, school_year: str, term: str) -> Table:
    """ID coverage and verification against the population database, per school level."""
    level, code = (("tinh", PROVINCE_CODE) if unit.aggregation_level == "tinh"
                   else ("don_vi_quan_ly", unit.code))
    rows = conn.execute(
        "select school_level, rule_id, applicable, passed, score"
        " from marts.quality_rule_priorities where aggregation_level = %s and unit_code = %s"
        " and school_year = %s and term = %s and rule_id = any(%s)",
        (level, code, school_year, term, list(ID_RULES))).fetchall()
    by_level: dict[str, dict] = {}
    for school_level, rule, applicable, passed, score in rows:
        by_level.setdefault(school_level, {})[rule] = (
            f"{integer(passed)}/{integer(applicable)}", percent(score))
    return Table(
        "Bảng 8. Số định danh cá nhân và xác thực với CSDLQG về dân cư theo cấp học",
        ("Cấp học", "Có số định danh (có/hồ sơ)", "Tỷ lệ", "Khớp CSDLQG (khớp/kiểm tra)",
         "Tỷ lệ"),
        tuple((label(SCHOOL_LEVELS, school_level),
               *(cell for rule in ID_RULES for cell in rules.get(rule, ("-", "-"))))
              for school_level, rules in sorted(by_level.items(),
                                                key=lambda i: _level_rank(i[0]))),
        numeric=(1, 2, 3, 4), widths=(1.8, 1.5, 0.9, 1.5, 0.9))


def pcgd_table(conn, unit: Unit) -> Table:
    """The PCGD-XMC reconciliation of the unit's communes (the province: each commune with
    school-age children in the census)."""
    where, args = (("school_age_children > 0", ()) if unit.aggregation_level == "tinh"
                   else ("commune_code = %s", (unit.code,)))
    rows = conn.execute(
        "select commune_name, school_age_children, school_age_children_enrolled,"
        " enrolment_rate, enrolled_learners, enrolled_learners_missing_from_pcgd,"
        " primary_universal_rate, lower_secondary_universal_rate, literacy_rate_15_60"
        f" from marts.pcgd_reconciliation where {where} order by commune_code", args).fetchall()
    return Table(
        "Bảng 9. Đối chiếu với hệ thống phổ cập giáo dục, xóa mù chữ (PCGD-XMC)",
        ("Xã/phường", "Trẻ 6-14 tuổi", "Đang đi học", "Tỷ lệ đi học", "HS đang học",
         "HS không có trong PCGD-XMC", "PCGD tiểu học", "PCGD THCS", "Biết chữ 15-60"),
        tuple((nfc(name), integer(children), integer(enrolled), percent(rate),
               integer(learners), integer(missing), percent(primary), percent(lower),
               percent(literacy))
              for name, children, enrolled, rate, learners, missing, primary, lower, literacy
              in rows),
        numeric=tuple(range(1, 9)), widths=(1.8, 1, 1, 1, 1, 1.2, 1, 1, 1))


# -- inspection plan -------------------------------------------------------------------------

SAMPLE_FROM = (" from marts.inspection_sample as sample"
               f" left join {SCHOOL_UNITS} as s using (school_code)")


def _sample_scope(unit: Unit) -> tuple[str, tuple]:
    """The condition on SAMPLE_FROM that keeps the unit's schools."""
    if unit.aggregation_level == "xa":
        return " and s.commune_code = %s", (unit.code,)
    if unit.aggregation_level == "truong":
        return " and sample.school_code = %s", (unit.code,)
    return "", ()


def inspection_table(conn, unit: Unit, school_year: str) -> Table:
    names = unit_names(conn)
    scope, args = _sample_scope(unit)
    rows = conn.execute(
        "select sample.school_code, sample.inspecting_authority, sample.school_level,"
        " sample.stratum_size, sample.stratum_quota, sample.selection, sample.reason_vi,"
        " sample.visit_status, sample.visited_on"
        + SAMPLE_FROM +
        f" where sample.school_year = %s{scope}"
        " order by sample.inspecting_authority, sample.school_level, sample.school_code",
        (school_year, *args)).fetchall()
    return Table(
        f"Danh sách đơn vị được chọn kiểm tra (30% mỗi nhóm), năm học {school_year}",
        ("Mã trường", "Tên trường", "Đơn vị kiểm tra", "Cấp học", "Số trường của nhóm",
         "Số phải chọn", "Cách chọn", "Lý do", "Tình trạng"),
        tuple((code, names.get(code, code), names.get(authority, authority),
               label(SCHOOL_LEVELS, level), integer(size), integer(quota),
               label(SELECTIONS, selection), nfc(reason or ""),
               label(VISIT_STATUSES, status) + (f" {short_date(visited)}" if visited else ""))
              for code, authority, level, size, quota, selection, reason, status, visited
              in rows),
        numeric=(4, 5), widths=(1.6, 2.2, 1.6, 1.3, 0.9, 0.9, 1.1, 2.4, 1.3))


def inspection_report(conn, unit: Unit, school_year: str, term: str | None,
                      issued_on: dt.date, workdir) -> Report:
    table = inspection_table(conn, unit, school_year)
    if not table.rows:
        raise ReportError(f"chưa có mẫu kiểm tra năm học {school_year} cho {unit.name}")
    return Report(
        kind="ke-hoach-kiem-tra", title="KẾ HOẠCH", document_code="KH",
        subtitle=f"Kiểm tra chất lượng dữ liệu năm học {school_year} - {unit.name}",
        unit_code=unit.code, unit_name=unit.name, school_year=school_year, term=None,
        issued_on=issued_on, sections=[Section(
            "I. ĐƠN VỊ ĐƯỢC KIỂM TRA",
            ["Mỗi nhóm (đơn vị kiểm tra và cấp học) được chọn 30% số trường, làm tròn lên: "
             "trường có rủi ro cao được chọn trước, phần còn lại chọn ngẫu nhiên với hạt giống "
             "của năm học (lặp lại được)."],
            [table])])


def inspection_summary_tables(conn, unit: Unit, school_year: str,
                              issued_on: dt.date) -> tuple[Table, Table]:
    names = unit_names(conn)
    scope, args = _sample_scope(unit)
    counts = conn.execute(
        "select sample.inspecting_authority, count(*),"
        " count(*) filter (where sample.visit_status = 'da_kiem_tra'),"
        " count(*) filter (where sample.follow_up_due is not null),"
        " count(*) filter (where sample.follow_up_due < %s)"
        + SAMPLE_FROM +
        f" where sample.school_year = %s{scope}"
        " group by 1 order by 1", (issued_on, school_year, *args)).fetchall()
    visits = conn.execute(
        "select sample.school_code, sample.visited_on, sample.findings_vi,"
        " sample.follow_up_vi, sample.follow_up_due"
        + SAMPLE_FROM +
        f" where sample.school_year = %s and sample.visit_status = 'da_kiem_tra'{scope}"
        " order by sample.visited_on, sample.school_code", (school_year, *args)).fetchall()
    return (
        Table("Bảng 1. Tiến độ kiểm tra theo đơn vị kiểm tra",
              ("Đơn vị kiểm tra", "Trường được chọn", "Đã kiểm tra", "Chưa kiểm tra",
               "Có việc khắc phục", "Quá hạn khắc phục"),
              tuple((names.get(a, a), integer(n), integer(done), integer(n - done),
                     integer(follow), integer(overdue))
                    for a, n, done, follow, overdue in counts),
              numeric=(1, 2, 3, 4, 5), widths=(2.4, 1, 1, 1, 1, 1)),
        Table("Bảng 2. Kết quả các cuộc kiểm tra đã thực hiện",
              ("Mã trường", "Tên trường", "Ngày kiểm tra", "Phát hiện", "Việc khắc phục",
               "Hạn khắc phục"),
              tuple((code, names.get(code, code), short_date(on), nfc(findings or "-"),
                     nfc(follow or "-"),
                     short_date(due) + (" (quá hạn)" if due and due < issued_on else ""))
                    for code, on, findings, follow, due in visits),
              widths=(1.4, 2, 1.2, 3, 2.4, 1.4)),
    )


def inspection_summary_report(conn, unit: Unit, school_year: str, term: str | None,
                              issued_on: dt.date, workdir) -> Report:
    progress, visits = inspection_summary_tables(conn, unit, school_year, issued_on)
    if not progress.rows:
        raise ReportError(f"chưa có mẫu kiểm tra năm học {school_year} cho {unit.name}")
    return Report(
        kind="tong-hop-kiem-tra", title="BÁO CÁO", document_code="BC",
        subtitle=f"Kết quả kiểm tra chất lượng dữ liệu năm học {school_year} - {unit.name}",
        unit_code=unit.code, unit_name=unit.name, school_year=school_year, term=None,
        issued_on=issued_on, sections=[
            Section("I. TIẾN ĐỘ KIỂM TRA",
                    [f"Tình hình đến {long_date(issued_on)}: các trường trong mẫu 30% của năm "
                     "học, đã và chưa kiểm tra; việc khắc phục quá hạn là việc có hạn trước "
                     "ngày báo cáo."], [progress]),
            Section("II. KẾT QUẢ KIỂM TRA", [], [visits])])


# -- visit record (biên bản kiểm tra) of a sampled school ---------------------------------------

# dotted blanks that fit on the line they are written on (Liberation Serif 13pt, A4)
BLANK = "." * 28
BLANK_LINE = "." * 110
# what the inspectors check on site, per criterion: they write the counts and remarks
ON_SITE_CHECKS = (
    ("dung", "Đối chiếu ngẫu nhiên hồ sơ học sinh (họ tên, ngày sinh, giới tính, số định danh) "
             "trên phần mềm với sổ đăng bộ, giấy khai sinh, CCCD"),
    ("du", "Hồ sơ học sinh, cán bộ, kết quả học tập, học bạ số có đủ trên phần mềm"),
    ("sach", "Không còn hồ sơ trùng, số định danh dùng cho hai người"),
    ("song", "Trạng thái học sinh (đang học, chuyển trường, bỏ học) cập nhật kịp thời"),
    ("du", "Các bản ghi trong danh sách lỗi Sở đã gửi trường đã được sửa"),
)


def visit_record_report(conn, unit: Unit, school_year: str, term: str | None,
                        issued_on: dt.date, workdir) -> Report:
    """The visit record of a sampled school, pre-filled with why it was chosen and what the
    warehouse shows of its data on the day, the rest left for the inspectors to write."""
    if unit.aggregation_level != "truong":
        raise ReportError("biên bản kiểm tra lập cho từng trường trong mẫu: dùng mã trường "
                          "(kế hoạch kiểm tra `ke-hoach-kiem-tra` liệt kê các trường)")
    sample = conn.execute(
        "select sample.inspecting_authority, sample.school_level, s.commune_code,"
        " sample.stratum_size, sample.stratum_quota, sample.selection, sample.reason_vi"
        + SAMPLE_FROM + " where sample.school_year = %s and sample.school_code = %s",
        (school_year, unit.code)).fetchone()
    if sample is None:
        raise ReportError(f"trường {unit.code} không thuộc mẫu kiểm tra năm học {school_year}")
    authority, level, commune, size, quota, selection, reason = sample
    names = unit_names(conn)
    tables, _ = quality_tables(conn, unit, school_year, term)
    failures = conn.execute(
        "select rule_id, description_vi, count(*) from audit.quality_failures"
        " where school_code = %s and school_year = %s and term = %s"
        " group by 1, 2 order by 3 desc, 1", (unit.code, school_year, term)).fetchall()
    chosen = Table(
        "Bảng 1. Trường được chọn kiểm tra",
        ("Mã trường", "Tên trường", "Cấp học", "Xã/phường", "Đơn vị kiểm tra",
         "Số trường của nhóm", "Số phải chọn", "Cách chọn", "Lý do"),
        ((unit.code, unit.name, label(SCHOOL_LEVELS, level), names.get(commune, commune or "-"),
          names.get(authority, authority), integer(size), integer(quota),
          label(SELECTIONS, selection), nfc(reason or "")),),
        numeric=(5, 6), widths=(1.3, 2, 1.2, 1.4, 1.4, 0.9, 0.9, 1, 2))
    failing = Table(
        "Bảng 4. Số bản ghi chưa đạt theo quy tắc (chi tiết trong danh sách lỗi gửi trường)",
        ("Quy tắc", "Nội dung", "Số bản ghi"),
        tuple((rule, nfc(what), integer(n)) for rule, what, n in failures),
        numeric=(2,), widths=(2.6, 4, 0.9))
    checks = Table(
        "Bảng 5. Nội dung kiểm tra tại trường (đoàn kiểm tra ghi)",
        ("STT", "Tiêu chí", "Nội dung kiểm tra", "Số hồ sơ kiểm tra", "Số hồ sơ chưa đạt",
         "Ghi chú"),
        tuple((str(n), CRITERIA[c], what, "", "", "")
              for n, (c, what) in enumerate(ON_SITE_CHECKS, 1)),
        numeric=(0,), widths=(0.5, 0.8, 3.4, 1, 1, 1.6))
    return Report(
        kind="bien-ban-kiem-tra", title="BIÊN BẢN KIỂM TRA", document_code="BB",
        subtitle=f"Chất lượng dữ liệu năm học {school_year} - {unit.name}",
        unit_code=unit.code, unit_name=unit.name, school_year=school_year, term=term,
        issued_on=issued_on, signer_title="TRƯỞNG ĐOÀN KIỂM TRA",
        witness_title="ĐẠI DIỆN NHÀ TRƯỜNG", recipients=(), sections=[
            Section("I. THÀNH PHẦN, THỜI GIAN, ĐỊA ĐIỂM", [
                f"Thời gian: {'.' * 8} giờ {'.' * 8} ngày {'.' * 8} tháng {'.' * 8} năm "
                f"{'.' * 10}",
                f"Địa điểm: {unit.name}, {names.get(commune, commune or '')}.",
                f"Đoàn kiểm tra của {names.get(authority, authority)}, gồm:",
                f"1. Ông/Bà {BLANK} Chức vụ: {BLANK} - Trưởng đoàn",
                f"2. Ông/Bà {BLANK} Chức vụ: {BLANK} - Thành viên",
                f"Đại diện nhà trường: Ông/Bà {BLANK} Chức vụ: {BLANK}",
            ], [chosen]),
            Section("II. DỮ LIỆU CỦA TRƯỜNG TRÊN HỆ THỐNG", [
                f"Số liệu kho dữ liệu ngành giáo dục của Sở tại {long_date(issued_on)}, "
                f"{label(TERMS, term)} năm học {school_year} (đoàn kiểm tra đối chiếu tại trường)."
            ], [replace(tables["completeness"], caption="Bảng 2. Mức độ đầy đủ dữ liệu theo "
                        "lĩnh vực"),
                replace(tables["scorecard"], caption="Bảng 3. Chất lượng dữ liệu theo tiêu chí "
                        "đúng, đủ, sạch, sống"),
                failing]),
            Section("III. KẾT QUẢ KIỂM TRA", [], [checks]),
            Section("IV. KẾT LUẬN VÀ KIẾN NGHỊ", [
                "Kết luận: " + BLANK_LINE[:95], BLANK_LINE, BLANK_LINE,
                "Việc nhà trường phải khắc phục và thời hạn: " + BLANK_LINE[:60], BLANK_LINE,
                BLANK_LINE,
                "Biên bản lập thành 02 bản có giá trị như nhau, đoàn kiểm tra giữ 01 bản, nhà "
                "trường giữ 01 bản.",
            ]),
        ])


KINDS = {
    "thong-ke": statistics_report,
    "chat-luong": quality_report,
    "ke-hoach-kiem-tra": inspection_report,
    "tong-hop-kiem-tra": inspection_summary_report,
    "bien-ban-kiem-tra": visit_record_report,
}


def build(url: str, kind: str, unit: str, school_year: str | None, term: str | None,
          issued_on: dt.date, workdir) -> Report:
    if kind not in KINDS:
        raise ReportError(f"loại báo cáo {kind!r} không có: {', '.join(KINDS)}")
    with warehouse.connect(url) as conn:
        resolved = resolve_unit(conn, unit)
        latest_year, latest = latest_term(conn)
        # a statistics report's period is a data point (its own default, the latest frozen)
        period = term if kind == "thong-ke" else term or latest
        return KINDS[kind](conn, resolved, school_year or latest_year, period, issued_on,
                           workdir)
