"""A school's worklist: every record of the school that fails a quality rule, with the class,
the learner's name, the field to fix, what is wrong, how to fix it (the rule catalogue) and the
deadline, sorted as a class list is, as `.xlsx` (to work through) and `.pdf` (to send).

Worklists hold personal data, so they are not reports: they go to the school that owns the
records, never published. The names come only through the database's door
`worklist.school_failures` (migration 0007), which only the provincial role may call and which
records who asked, when and for which school in `ops.worklist_generations`. The files are
written into a folder of their own per school, readable by their owner only.
"""

from __future__ import annotations

import datetime as dt
import os
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path

import psycopg

from eduhub import school_calendar, warehouse
from eduhub.access import PROVINCIAL
from eduhub.reports import render_pdf
from eduhub.reports.content import ReportError, latest_term
from eduhub.reports.document import (
    Report,
    Section,
    Table,
    integer,
    nfc,
    person_sort_key,
    short_date,
    vietnamese_key,
)
from eduhub.reports.labels import CRITERIA, TERMS, label

KIND = "danh-sach-loi"
SEVERITIES = {"error": "Lỗi", "warning": "Cảnh báo"}
# where a record that is no learner's belongs in the list
NO_CLASS = {"staff": "Cán bộ, giáo viên", "school": "Hồ sơ trường"}

XLSX_COLUMNS = (
    ("STT", 6), ("Lớp", 10), ("Họ và tên", 26), ("Ngày sinh", 12), ("Mã định danh Bộ GDĐT", 16),
    ("Trường dữ liệu cần sửa", 24), ("Nội dung lỗi", 44), ("Cách khắc phục", 50),
    ("Mức độ", 10), ("Tiêu chí", 9), ("Mã quy tắc", 24), ("Hạn hoàn thành", 14))


ENTITY_ORDER = {"school": 0, "learner": 1, "staff": 2}


def class_key(class_name: str) -> tuple:
    """10A1 after 6A2: numbers as numbers, letters in Vietnamese order."""
    return tuple((0, int(part), ()) if part.isdigit() else (1, 0, vietnamese_key(part))
                 for part in re.split(r"(\d+)", class_name or "") if part)


@dataclass(frozen=True)
class Failure:
    rule_id: str
    criterion: str
    severity: str
    entity: str
    record_key: str
    class_name: str
    full_name: str
    date_of_birth: str | None
    moet_id: str | None
    grade: int | None
    field_vi: str | None
    description_vi: str
    resolution_vi: str

    def sort_key(self) -> tuple:
        """The school's own records first, then learners as a class list (class, given name),
        then staff by name."""
        return (ENTITY_ORDER.get(self.entity, len(ENTITY_ORDER)), class_key(self.class_name),
                person_sort_key(self.full_name), self.record_key, self.rule_id)

    @property
    def group(self) -> str:
        return self.class_name or NO_CLASS.get(self.entity, "")

    @property
    def birth(self) -> str:
        return short_date(dt.date.fromisoformat(self.date_of_birth)) if self.date_of_birth else ""


@dataclass(frozen=True)
class Worklist:
    school_code: str
    school_name: str
    school_year: str
    term: str
    deadline: dt.date
    issued_on: dt.date
    failures: list[Failure]

    def file_stem(self) -> str:
        return f"{KIND}_{self.school_code}_{self.school_year}_{self.term}_{self.issued_on}"


@dataclass(frozen=True)
class GeneratedWorklist:
    school_code: str
    school_name: str
    school_year: str
    term: str
    issued_on: str
    records: int
    xlsx: Path
    pdf: Path

    def entry(self, out: Path) -> dict:
        return {"kind": KIND, "unit_code": self.school_code, "unit_name": self.school_name,
                "school_year": self.school_year, "term": self.term, "issued_on": self.issued_on,
                "records": self.records, "personal_data": True,
                "xlsx": self.xlsx.relative_to(out).as_posix(),
                "pdf": self.pdf.relative_to(out).as_posix()}


def deadline(school_year: str, term: str, issued_on: dt.date) -> dt.date:
    """The deadline of the term's report, or, once it has passed, the calendar's next one."""
    calendar = school_calendar.calendar()
    year = calendar.year(school_year)
    own = next((r.deadline for r in year.reports() if r.term == term), None)
    if own is not None and own >= issued_on:
        return own
    return min(r.deadline for y in (year, calendar.year(year.first_year + 1))
               for r in y.reports() if r.deadline >= issued_on)


def fetch(url: str, school: str, issued_on: dt.date) -> Worklist:
    """The school's failing records, through the door (which records this request)."""
    with warehouse.connect(url) as conn:
        return fetch_in(conn, school, issued_on)


def fetch_in(conn: psycopg.Connection, school: str, issued_on: dt.date) -> Worklist:
    """`fetch` in a session already open as the person who asks (the dashboard's)."""
    try:
        with conn.transaction():
            user, allowed = conn.execute(
                "select session_user, case when has_schema_privilege('worklist', 'usage')"
                " then has_function_privilege('worklist.school_failures(text)', 'execute')"
                " else false end").fetchone()
            if not allowed:
                raise ReportError(
                    f"tài khoản {user} không được lập danh sách lỗi cho trường: danh sách chứa "
                    f"dữ liệu cá nhân, cần là thành viên của vai trò {PROVINCIAL}")
            name = conn.execute("select worklist.school_name(%s)", (school,)).fetchone()[0]
            school_year, term = latest_term(conn)
            rows = conn.execute(
                "select rule_id, criterion, severity, entity, record_key, class_name,"
                " full_name, date_of_birth, moet_id, grade, field_vi, description_vi,"
                " resolution_vi from worklist.school_failures(%s)", (school,)).fetchall()
    except psycopg.errors.InvalidParameterValue as exc:
        raise ReportError(f"trường {school!r} không có trong kho dữ liệu") from exc
    except (psycopg.errors.UndefinedFunction, psycopg.errors.InvalidSchemaName) as exc:
        raise ReportError("kho dữ liệu chưa có danh sách lỗi (migration 0007): chạy "
                          "`eduhub warehouse migrate`") from exc
    failures = sorted((Failure(*(nfc(v) if isinstance(v, str) else v for v in r)) for r in rows),
                      key=Failure.sort_key)
    return Worklist(school, nfc(name), school_year, term, deadline(school_year, term, issued_on),
                    issued_on, failures)


def _cells(worklist: Worklist, f: Failure, n: int) -> tuple:
    return (n, f.group, f.full_name, f.birth, f.moet_id or "", f.field_vi or "",
            f.description_vi, f.resolution_vi, label(SEVERITIES, f.severity),
            label(CRITERIA, f.criterion), f.rule_id, short_date(worklist.deadline))


def write_xlsx(worklist: Worklist, path: Path) -> Path:
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Border, Font, Side
    from openpyxl.utils import get_column_letter

    book = Workbook()
    sheet = book.active
    sheet.title = "Danh sách lỗi"
    bold = Font(name="Times New Roman", bold=True, size=12)
    plain = Font(name="Times New Roman", size=11)
    thin = Side(style="thin")
    heading = [
        "SỞ GIÁO DỤC VÀ ĐÀO TẠO TÂY NINH",
        f"DANH SÁCH BẢN GHI CẦN SỬA - {worklist.school_name} ({worklist.school_code})",
        f"Năm học {worklist.school_year}, {label(TERMS, worklist.term)}. "
        f"Hạn hoàn thành: {short_date(worklist.deadline)}. "
        f"Lập ngày {short_date(worklist.issued_on)}. Số bản ghi: {integer(len(worklist.failures))}",
        "Tài liệu chứa dữ liệu cá nhân: chỉ dùng để sửa hồ sơ trên phần mềm quản lý nhà trường, "
        "không chuyển cho người khác.",
    ]
    for text in heading:
        sheet.append([text])
        sheet.cell(sheet.max_row, 1).font = bold
    sheet.append([])
    header_row = sheet.max_row + 1
    sheet.append([h for h, _ in XLSX_COLUMNS])
    for n, f in enumerate(worklist.failures, 1):
        sheet.append(list(_cells(worklist, f, n)))
    for i, (_, width) in enumerate(XLSX_COLUMNS, 1):
        sheet.column_dimensions[get_column_letter(i)].width = width
    for row in sheet.iter_rows(min_row=header_row, max_row=sheet.max_row):
        for cell in row:
            cell.font = bold if cell.row == header_row else plain
            cell.alignment = Alignment(wrap_text=True, vertical="top")
            cell.border = Border(left=thin, right=thin, top=thin, bottom=thin)
    last = get_column_letter(len(XLSX_COLUMNS))
    sheet.freeze_panes = f"A{header_row + 1}"
    sheet.auto_filter.ref = f"A{header_row}:{last}{max(sheet.max_row, header_row)}"
    sheet.print_title_rows = f"{header_row}:{header_row}"
    sheet.page_setup.orientation = "landscape"
    sheet.page_setup.fitToWidth = 1
    sheet.page_setup.fitToHeight = 0
    sheet.sheet_properties.pageSetUpPr.fitToPage = True
    # a fixed creation time: the same worklist gives the same file
    book.properties.created = book.properties.modified = dt.datetime.combine(
        worklist.issued_on, dt.time())
    path.parent.mkdir(parents=True, exist_ok=True)
    book.save(path)
    return path


def as_report(worklist: Worklist) -> Report:
    rows = tuple((str(n), f.group, f.full_name, f.birth, f.field_vi or "", f.description_vi,
                  f.resolution_vi) for n, f in enumerate(worklist.failures, 1))
    by_rule: dict[str, int] = {}
    for f in worklist.failures:
        by_rule[f.description_vi] = by_rule.get(f.description_vi, 0) + 1
    intro = (f"Sở Giáo dục và Đào tạo gửi {worklist.school_name} danh sách "
             f"{integer(len(worklist.failures))} bản ghi chưa đạt các tiêu chí đúng, đủ, sạch, "
             f"sống của dữ liệu ngành (năm học {worklist.school_year}, "
             f"{label(TERMS, worklist.term)}). Đề nghị nhà trường sửa trên phần mềm quản lý nhà "
             f"trường và hoàn thành trước ngày {short_date(worklist.deadline)}.")
    summary = Table("Số bản ghi theo lỗi", ("Nội dung lỗi", "Số bản ghi"),
                    tuple((rule, integer(n)) for rule, n in
                          sorted(by_rule.items(), key=lambda item: (-item[1], item[0]))),
                    numeric=(1,), widths=(4.0, 1.0))
    table = Table("Danh sách bản ghi cần sửa",
                  ("STT", "Lớp", "Họ và tên", "Ngày sinh", "Trường dữ liệu", "Nội dung lỗi",
                   "Cách khắc phục"),
                  rows, numeric=(0,), widths=(0.45, 0.7, 1.5, 0.95, 1.2, 2.0, 2.2))
    sections = [Section("I. Tổng hợp", [intro], [summary]),
                Section("II. Danh sách", [] if rows else ["Không có bản ghi nào cần sửa."],
                        [table] if rows else [])]
    return Report(KIND, "DANH SÁCH BẢN GHI CẦN SỬA",
                  f"{worklist.school_name} - năm học {worklist.school_year}",
                  worklist.school_code, worklist.school_name, worklist.school_year,
                  worklist.term, worklist.issued_on, sections, document_code="DSL",
                  recipients=(f"{worklist.school_name} (để thực hiện);",
                              "Lưu: VT, phòng chuyên môn."),
                  landscape=True)


def _private_folder(path: Path) -> Path:
    path.mkdir(parents=True, exist_ok=True)
    os.chmod(path, 0o700)
    return path


def generate(url: str, school: str, out: Path,
             issued_on: dt.date | None = None) -> GeneratedWorklist:
    """One school's worklist as .xlsx and .pdf in `out/danh-sach-loi/<school>/`."""
    issued_on = issued_on or dt.date.today()
    out = Path(out)
    worklist = fetch(url, school, issued_on)
    folder = _private_folder(out / KIND / worklist.school_code)
    stem = worklist.file_stem()
    xlsx = write_xlsx(worklist, folder / f"{stem}.xlsx")
    with tempfile.TemporaryDirectory(prefix="eduhub-worklist-") as scratch:
        pdf = render_pdf.render(as_report(worklist), folder / f"{stem}.pdf", Path(scratch))
    for path in (xlsx, pdf):
        os.chmod(path, 0o600)
    return GeneratedWorklist(worklist.school_code, worklist.school_name, worklist.school_year,
                             worklist.term, issued_on.isoformat(), len(worklist.failures),
                             xlsx, pdf)
