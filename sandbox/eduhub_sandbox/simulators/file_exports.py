"""File drops of schools without an API: the sector database's class lists as xlsx.

`<drop folder>/<school code>/<school year>/<class name>.xlsx`, first sheet, one header row
with the real export's Vietnamese headers (CONTEXT section 2), one row per learner of the
class. Columns the sandbox does not model (parents, ID card issue, hometown) are derived
from the learner and a seed, so the same province and seed give byte-identical files.
Contract: docs/sources/file_exports.md.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import random
import re
import unicodedata
import zipfile
from datetime import date, datetime, time, timedelta, timezone
from pathlib import Path

from openpyxl import Workbook
from openpyxl.styles import Font
from openpyxl.writer.excel import ExcelWriter

from eduhub import school_calendar
from eduhub_sandbox import generator, names
from eduhub_sandbox.simulators.common import SEX_LABELS, STATUS_LABELS, label, vn_date

HEADERS = [
    "STT", "Mã định danh Bộ GD&ĐT", "Họ tên", "Ngày sinh", "Giới tính", "Dân tộc", "Trạng thái",
    "SĐT liên hệ", "Nơi sinh chi tiết", "Tổ/thôn hộ khẩu thường trú", "Tỉnh thành quê quán",
    "Phường xã quê quán", "Chỗ ở hiện nay", "Số CMND", "Ngày cấp", "Nơi cấp", "Họ tên cha",
    "Nghề nghiệp cha", "Năm sinh cha", "Họ tên mẹ", "Nghề nghiệp mẹ", "Năm sinh mẹ", "Lớp học",
    "Khối học", "Số định danh cá nhân",
]
SHEET_TITLE = "Danh sách học sinh"
CURRENT_SCHOOL_YEAR = generator.SCHOOL_YEAR
# Fixed stamps: openpyxl writes "now" into docProps/core.xml and zip entries carry write times.
FIXED_STAMP = datetime(2026, 9, 5, 7, 0, 0)
ZIP_STAMP = (2026, 9, 5, 7, 0, 0)

# Birth-registration prefix -> province at birth (before 1 July 2025) and the province today.
BIRTH_PROVINCE = {"072": "tỉnh Tây Ninh", "080": "tỉnh Long An", "079": "Thành phố Hồ Chí Minh",
                  "074": "tỉnh Bình Dương", "082": "tỉnh Tiền Giang", "070": "tỉnh Bình Phước"}
HOME_PROVINCE = {"072": "Tây Ninh", "080": "Tây Ninh", "079": "Thành phố Hồ Chí Minh",
                 "074": "Thành phố Hồ Chí Minh", "082": "Đồng Tháp", "070": "Đồng Nai"}
ID_CARD_ISSUER = "Cục Cảnh sát quản lý hành chính về trật tự xã hội"
OCCUPATIONS = [("Làm ruộng", 24), ("Công nhân", 22), ("Buôn bán", 14), ("Lao động tự do", 14),
               ("Nội trợ", 8), ("Kinh doanh", 6), ("Công chức", 5), ("Giáo viên", 3), ("Tài xế", 4)]


def _weighted(rng: random.Random, pairs):
    values, weights = zip(*pairs, strict=True)
    return rng.choices(values, weights=weights, k=1)[0]


def _sort_name(name: str) -> str:
    """Unaccented, for ordering a class list by given name as the sector database does."""
    text = (name or "").replace("Đ", "D").replace("đ", "d")
    return "".join(c for c in unicodedata.normalize("NFD", text)
                   if unicodedata.category(c) != "Mn").casefold()


def export_path(drop_dir: Path, school: str, year: str, class_name: str) -> Path:
    """Where a class list is written: `<school>/<year>/<class>.xlsx`."""
    name = re.sub(r'[\\/:*?"<>|]', "-", unicodedata.normalize("NFC", class_name)).strip() or "lop"
    return Path(drop_dir) / school / year / f"{name}.xlsx"


def _manifest(data_dir: Path) -> dict:
    path = Path(data_dir) / "manifest.json"
    return json.loads(path.read_text(encoding="utf-8")) if path.exists() else {}


def manifest_day(data_dir: Path) -> int | None:
    """The generator's day from manifest.json (None if absent)."""
    return _manifest(data_dir).get("day")


def manifest_seed(data_dir: Path) -> int:
    """The generator's seed from manifest.json (0 if absent): the export derives from it."""
    return int(_manifest(data_dir).get("seed", 0))


class _Context:
    """Look-ups shared by every row: communes, households (for the address)."""

    def __init__(self, data: dict[str, list[dict]]):
        self.communes = {c["commune_code"]: c for c in data.get("communes", [])}
        households = {h["household_id"]: h for h in data.get("pcgd_households", [])}
        # The census addresses a person's household; link it by the person where the sandbox can.
        self.address_of_resident = {r["resident_id"]: households[r["household_id"]]["address"]
                                    for r in data.get("pcgd_residents", [])
                                    if r["household_id"] in households}


def learner_row(x: dict, stt: int, ctx: _Context, seed: int) -> list:
    """One row of the class export for learner record `x`."""
    rng = random.Random(f"{seed}:export:{x['moet_id']}")
    pid = x.get("personal_id") or ""
    prefix = pid[:3] if pid else _weighted(rng, [("072", 60), ("080", 40)])
    born = date.fromisoformat(x["date_of_birth"]) if x.get("date_of_birth") else None
    birth_year = born.year if born else 2020 - max(x.get("grade") or 0, 0)
    commune = ctx.communes.get(x.get("residence_commune_code") or "", {})
    commune_name = commune.get("name", "")
    hamlet = ctx.address_of_resident.get(f"R{x.get('person_key')}")
    if not hamlet:
        n = rng.randrange(1, 12)
        hamlet = f"Khu phố {n}" if commune.get("division_type") == "phường" else f"Ấp {n}"

    birth_province = BIRTH_PROVINCE.get(prefix, "tỉnh Tây Ninh")
    places = [(f"Bệnh viện Đa khoa {birth_province}", 50), (f"Bệnh viện Sản Nhi {birth_province}", 25)]
    if commune.get("legacy_district_name") and prefix == f"0{commune.get('legacy_province_code')}":
        places.append((f"Trung tâm Y tế {commune['legacy_district_name']}, {birth_province}", 25))
    birth_place = _weighted(rng, places)
    home_province = HOME_PROVINCE.get(prefix, "Tây Ninh")
    home_commune = commune_name if home_province == "Tây Ninh" else ""
    residence = ", ".join(p for p in (hamlet, commune_name, "tỉnh Tây Ninh") if p)

    # The legacy "Số CMND" column: filled for learners of 14 and more who have an ID card.
    id_card, issued, issuer = "", "", ""
    if pid and born and 2026 - born.year >= 14 and rng.random() < 0.85:
        fourteen = date(born.year + 14, born.month, min(born.day, 28))
        span = max(1, (date(2026, 8, 31) - fourteen).days)
        id_card = pid
        issued = (fourteen + timedelta(days=rng.randrange(span))).strftime("%d/%m/%Y")
        issuer = ID_CARD_ISSUER

    family = (x.get("full_name") or "Nguyễn").split(" ")[0]
    father = f"{family} {rng.choice(names.MIDDLE_NAMES['nam'])} {rng.choice(names.GIVEN_NAMES['nam'])}"
    mother_family = _weighted(rng, names.FAMILY_NAMES)
    mother_middle = "Thị" if rng.random() < 0.6 else rng.choice(names.MIDDLE_NAMES["nu"])
    mother = f"{mother_family} {mother_middle} {rng.choice(names.GIVEN_NAMES['nu'])}"
    father_job, mother_job = _weighted(rng, OCCUPATIONS), _weighted(rng, OCCUPATIONS)
    father_year, mother_year = birth_year - rng.randint(23, 42), birth_year - rng.randint(20, 38)
    if rng.random() < 0.04:  # single-parent families: the father's columns stay empty
        father, father_job, father_year = "", "", None

    grade = x.get("grade")
    return [
        stt, x["moet_id"], x.get("full_name") or "", vn_date(x.get("date_of_birth")) or "",
        label(SEX_LABELS, x.get("sex")) or "", x.get("ethnicity") or "",
        label(STATUS_LABELS, x.get("status")) or "", x.get("phone") or "", birth_place, hamlet,
        home_province, home_commune, residence, id_card, issued, issuer, father, father_job,
        father_year, mother, mother_job, mother_year, x.get("class_name") or "",
        "Mẫu giáo" if grade == 0 else f"Khối {grade}", pid,
    ]


# The ways real class exports depart from the plain layout (docs/sources/file_exports.md), each
# drawn per file from the seed: what a learner's row says stays the same, so the ground truth
# holds whatever the layout.
LAYOUT_SHARES = {
    "title_block": 0.4,      # the Sở, the school and the list's title above the header row
    "recased_headers": 0.25,  # the headers in capitals (or lower case)
    "extra_column": 0.3,     # a "Ghi chú" column at the end
    "reordered": 0.2,        # the personal ID moved next to the name
    "typed_cells": 0.35,     # IDs and phones typed as numbers (the leading 0 lost), grades as
                             # numbers, birth dates as date cells
    "short_dates": 0.2,      # text dates without their zeros: 9/3/2015
    "grade_as_class": 0.2,   # "Lớp 6" for "Khối 6"
}
PERSONAL_ID_COLUMN = HEADERS.index("Số định danh cá nhân")


def layout_of(seed: int, school: str, year: str, class_name: str) -> frozenset[str]:
    """The departures from the plain layout of one class file."""
    rng = random.Random(f"{seed}:layout:{school}/{year}/{class_name}")
    return frozenset(k for k, share in LAYOUT_SHARES.items() if rng.random() < share)


def _short_date(text):
    if isinstance(text, str) and re.fullmatch(r"\d{2}/\d{2}/\d{4}", text):
        day, month, year = text.split("/")
        return f"{int(day)}/{int(month)}/{year}"
    return text


def _as_number(text):
    """A number typed into a cell: what Excel keeps of an ID or a phone number."""
    return int(text) if isinstance(text, str) and text.isdigit() else text


def laid_out(row: list, layout: frozenset[str]) -> list:
    """A plain row as the layout writes it."""
    row = list(row)
    at = {h: i for i, h in enumerate(HEADERS)}
    if "grade_as_class" in layout and str(row[at["Khối học"]]).startswith("Khối "):
        row[at["Khối học"]] = "Lớp " + row[at["Khối học"]][len("Khối "):]
    if "short_dates" in layout:
        for column in ("Ngày sinh", "Ngày cấp"):
            row[at[column]] = _short_date(row[at[column]])
    if "typed_cells" in layout:
        for column in ("Số định danh cá nhân", "Số CMND", "SĐT liên hệ"):
            row[at[column]] = _as_number(row[at[column]])
        grade = row[at["Khối học"]]
        if isinstance(grade, str) and re.fullmatch(r"(Khối|Lớp) \d+", grade):
            row[at["Khối học"]] = int(grade.split(" ")[1])
        born = row[at["Ngày sinh"]]
        if isinstance(born, str) and re.fullmatch(r"\d{1,2}/\d{1,2}/\d{4}", born):
            day, month, year = map(int, born.split("/"))
            row[at["Ngày sinh"]] = datetime(year, month, day)
    if "reordered" in layout:
        row.insert(at["Họ tên"] + 1, row.pop(PERSONAL_ID_COLUMN))
    if "extra_column" in layout:
        row.append("")
    return row


def laid_out_headers(layout: frozenset[str], lower: bool = False) -> list[str]:
    headers = laid_out(HEADERS, layout - {"typed_cells", "short_dates", "grade_as_class"})
    if "extra_column" in layout:
        headers[-1] = "Ghi chú"
    if "recased_headers" in layout:
        headers = [h.lower() if lower else h.upper() for h in headers]
    return headers


def title_rows(school_name: str, class_name: str, year: str) -> list[list]:
    return [["SỞ GIÁO DỤC VÀ ĐÀO TẠO TÂY NINH"], [school_name.upper()], [],
            [f"DANH SÁCH HỌC SINH LỚP {class_name} - NĂM HỌC {year}"], []]


def workbook_bytes(rows: list[list], headers: list[str] | None = None,
                   title: list[list] | None = None) -> bytes:
    """An xlsx of one sheet: the title rows if any, the header row, then `rows`; the same rows
    give the same bytes."""
    wb = Workbook()
    ws = wb.active
    ws.title = SHEET_TITLE
    for line in title or ():
        ws.append(line)
    ws.append(headers or HEADERS)
    for cell in ws[ws.max_row]:
        cell.font = Font(bold=True)
    for row in rows:
        ws.append(row)
    wb.properties.creator = "eduhub sandbox"
    wb.properties.created = FIXED_STAMP
    wb.properties.modified = FIXED_STAMP
    raw = io.BytesIO()
    # ExcelWriter rather than wb.save(): save() stamps `modified` with the current time.
    ExcelWriter(wb, zipfile.ZipFile(raw, "w", zipfile.ZIP_DEFLATED)).save()
    # Re-pack with fixed entry times and attributes (writestr stamps the clock).
    out = io.BytesIO()
    with zipfile.ZipFile(io.BytesIO(raw.getvalue())) as src, \
            zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for info in src.infolist():
            entry = zipfile.ZipInfo(info.filename, date_time=ZIP_STAMP)
            entry.compress_type = zipfile.ZIP_DEFLATED
            entry.create_system = 0
            entry.external_attr = 0
            dst.writestr(entry, src.read(info.filename))
    return out.getvalue()


def class_lists(data: dict[str, list[dict]]) -> dict[tuple[str, str, str], list[dict]]:
    """(school code, school year, class name) -> learners, for the file-export schools.

    Every class of the current year is listed, even one without learners (an empty list)."""
    schools = {s["school_code"] for s in data.get("schools", []) if s.get("vendor") == "file_exports"}
    classes = {c["class_id"]: c for c in data.get("classes", []) if c["school_code"] in schools}
    years = sorted({c["school_year"] for c in classes.values()})
    current = years[-1] if years else CURRENT_SCHOOL_YEAR
    groups: dict[tuple[str, str, str], list[dict]] = {
        (c["school_code"], c["school_year"], c["class_name"]): []
        for c in classes.values() if c["school_year"] == current}
    for x in data.get("learners", []):
        if x["school_code"] not in schools:
            continue
        c = classes.get(x.get("class_id") or "")
        year = c["school_year"] if c else current
        groups.setdefault((x["school_code"], year, x.get("class_name") or ""), []).append(x)
    return groups


def write_class_exports(data: dict[str, list[dict]], drop_dir: Path, seed: int = 0,
                        plain: bool = False, day: int | None = None) -> list[Path]:
    """Write every class list of the file-export schools, each in the layout drawn for it
    (`layout_of`; `plain`: all in the plain layout); returns the paths written, sorted. `day`:
    the generator's day, past the mid-year deadline some schools export late
    (`late_exporters`)."""
    ctx = _Context(data)
    late = late_exporters(data, seed, day)
    school_names = {s["school_code"]: s.get("name") or "" for s in data.get("schools", [])}
    written = []
    by_school: dict[str, list[dict]] = {}
    for x in data.get("learners", []):
        by_school.setdefault(x["school_code"], []).append(x)
    for (school, year, class_name), learners in sorted(class_lists(data).items()):
        ordered = sorted(learners, key=lambda x: (_sort_name((x.get("full_name") or " ").split(" ")[-1]),
                                                  _sort_name(x.get("full_name") or ""), x["moet_id"]))
        layout = frozenset() if plain else layout_of(seed, school, year, class_name)
        rows = [laid_out(learner_row(x, i, ctx, seed), layout)
                for i, x in enumerate(ordered, start=1)]
        title = (title_rows(school_names.get(school, ""), class_name, year)
                 if "title_block" in layout else None)
        path = export_path(drop_dir, school, year, class_name)
        path.parent.mkdir(parents=True, exist_ok=True)
        headers = laid_out_headers(layout, lower=len(class_name) % 2 == 1)
        path.write_bytes(workbook_bytes(rows, headers, title))
        saved = saved_at(learners or by_school.get(school, []), seed, path.relative_to(drop_dir),
                         late=school in late)
        if saved:
            os.utime(path, (saved.timestamp(), saved.timestamp()))
        written.append(path)
    return sorted(written)


# Of the file-export schools, the share that sends its class lists after the report deadline
# (at least one when there are two or more, so that the sandbox has both kinds).
LATE_EXPORTER_SHARE = 0.3
MAX_DELAY_HOURS = 72  # a list is saved 1 to 72 hours after its last change
VIETNAM = timezone(timedelta(hours=7))


def late_exporters(data: dict[str, list[dict]], seed: int, day: int | None) -> set[str]:
    """The file-export schools that save every class list after the mid-year report deadline
    (ground truth of timeliness: they are late for the first term). None unless the sandbox's
    day (the generator's `day`, from its opening day) is past the latest a late save can be."""
    schools = sorted(s["school_code"] for s in data.get("schools", [])
                     if s.get("vendor") == "file_exports")
    if len(schools) < 2 or day is None:
        return set()
    today = datetime.combine(generator.TERM_START + timedelta(days=day), time(0), VIETNAM)
    if today < _after_deadline(today) + timedelta(hours=MAX_DELAY_HOURS):
        return set()
    ranked = sorted(schools, key=lambda code: hashlib.sha256(f"{seed}|late|{code}".encode()
                                                             ).digest())
    return set(ranked[:max(1, round(len(schools) * LATE_EXPORTER_SHARE))])


def _after_deadline(moment: datetime) -> datetime:
    """08:00 of the day after the mid-year report deadline of `moment`'s school year: the
    earliest a late school saves a list."""
    deadline = school_calendar.calendar().year_of(moment.astimezone(VIETNAM).date()
                                                  ).mid_year_deadline
    return datetime.combine(deadline + timedelta(days=1), time(8), VIETNAM)


def saved_at(learners: list[dict], seed: int, relative: Path, late: bool = False
             ) -> datetime | None:
    """When the school saved a class list (the file's modification time, which the landing
    takes for its arrival): 1 to 72 hours after the last change of its learners (of the
    school, for an empty class), the delay drawn from the seed and the file's place. A late
    school (`late_exporters`) saves it no earlier than 08:00 of the day after the mid-year
    report deadline (the school calendar's) of that change's year, plus the same delay."""
    stamps = [datetime.fromisoformat(x["updated_at"]) for x in learners if x.get("updated_at")]
    if not stamps:
        return None
    draw = hashlib.sha256(f"{seed}|{relative.as_posix()}".encode()).digest()
    delay = timedelta(hours=1 + int.from_bytes(draw[:4], "big") % MAX_DELAY_HOURS)
    last = max(stamps)
    return (max(last, _after_deadline(last)) if late else last) + delay
