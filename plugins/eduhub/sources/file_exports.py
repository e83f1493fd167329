"""File drops: the sector database's class exports (DANH SÁCH HỌC SINH LỚP ...) as xlsx.

Layout `<drop folder>/<school code>/<school year>/<class>.xlsx`; first sheet, a header row
with the export's Vietnamese headers (found below a title block, in any case and order, with
extra columns). Contract: docs/sources/file_exports.md. Each row lands as received (header ->
cell value), the export's headers under their standard names (`COLUMNS`), others as the file
names them, with the file's place in the drop folder and its modification time (when the
school saved it: the data's arrival) added under `_`-prefixed names. Cell
types are undone where a spreadsheet changed the value: an ID typed as a number gets back the
leading zero it lost when that gives a valid personal ID (flagged in
`_leading_zero_restored`), a date cell becomes `yyyy-mm-dd`. Values are judged later (GX, the
models), never here: a record's defect never rejects its file.
"""

from __future__ import annotations

import hashlib
import os
import unicodedata
import zipfile
from dataclasses import dataclass
from datetime import UTC, date, datetime
from pathlib import Path

from eduhub.landing import EntitySpec

SOURCE = "file_exports"
MOET_ID = "Mã định danh Bộ GD&ĐT"
PERSONAL_ID = "Số định danh cá nhân"
REQUIRED_COLUMNS = (MOET_ID, "Họ tên", "Ngày sinh", "Giới tính", "Trạng thái", "Lớp học",
                    "Khối học", PERSONAL_ID)
# Every header of the export (CONTEXT section 2): found whatever their case and spacing
COLUMNS = ("STT", MOET_ID, "Họ tên", "Ngày sinh", "Giới tính", "Dân tộc", "Trạng thái",
           "SĐT liên hệ", "Nơi sinh chi tiết", "Tổ/thôn hộ khẩu thường trú", "Tỉnh thành quê quán",
           "Phường xã quê quán", "Chỗ ở hiện nay", "Số CMND", "Ngày cấp", "Nơi cấp", "Họ tên cha",
           "Nghề nghiệp cha", "Năm sinh cha", "Họ tên mẹ", "Nghề nghiệp mẹ", "Năm sinh mẹ",
           "Lớp học", "Khối học", PERSONAL_ID)
# Columns of numbers that are text (a spreadsheet typed as a number drops their leading 0)
ID_COLUMNS = (PERSONAL_ID, "Số CMND", "SĐT liên hệ", MOET_ID)
DATE_COLUMNS = ("Ngày sinh", "Ngày cấp")
# The header is looked for in the first rows: a title block (the Sở, the school, "DANH SÁCH
# HỌC SINH LỚP …") may stand above it
HEADER_SEARCH_ROWS = 30
LEARNERS = EntitySpec(SOURCE, "learners", ("_school_code", MOET_ID), frozenset(), None)
# What a class export may hold, far above a real one (a class of 60, a school of a few
# thousand): past it the file is refused rather than read into memory (a zip bomb, a sheet
# of a million rows).
MAX_UNCOMPRESSED_BYTES = 200 * 1024 * 1024
MAX_ROWS = 20_000
MAX_COLUMNS = 200


class RejectedFile(ValueError):
    """A file that cannot be landed; the message names the file and the problem."""


@dataclass(frozen=True)
class DropFile:
    path: Path
    relative: str  # school/year/class.xlsx
    school_code: str
    school_year: str

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.path.read_bytes()).hexdigest()

    @property
    def modified_at(self) -> str:
        """When the school saved the file (its modification time, UTC): the data's arrival,
        which the exports carry nowhere else."""
        return datetime.fromtimestamp(self.path.stat().st_mtime, UTC).isoformat()


def scan(drop_dir: Path) -> list[DropFile]:
    """Every `<school>/<year>/<class>.xlsx` under the drop folder, in a stable order."""
    drop_dir = Path(drop_dir)
    files = []
    for path in sorted(drop_dir.glob("*/*/*.xlsx")):
        if path.name.startswith("~$"):  # Excel's lock files
            continue
        relative = _name(path.relative_to(drop_dir).as_posix())
        school, year = relative.split("/")[:2]
        files.append(DropFile(path, relative, school, year))
    return files


def _name(name: str) -> str:
    """A file name as text, whatever encoding the school's computer wrote it in: bytes that
    are not UTF-8 show as \\xNN escapes (the file is still read, and named in messages)."""
    raw = os.fsencode(name)
    return unicodedata.normalize("NFC", raw.decode("utf-8", errors="backslashreplace"))


def header_key(text) -> str:
    """A header as compared: NFC, case and spacing ignored."""
    return " ".join(unicodedata.normalize("NFC", str(text)).casefold().split())


_CANONICAL = {header_key(c): c for c in COLUMNS}


def _column_name(header) -> str | None:
    if header is None or not str(header).strip():
        return None
    return _CANONICAL.get(header_key(header),
                          unicodedata.normalize("NFC", " ".join(str(header).split())))


def _id_text(value, column: str, restored: list[str]) -> str:
    """An ID or phone number typed as a number, as text: with its leading zero back when the
    spreadsheet dropped it and the result is a valid personal ID (or a phone number's 10
    digits), recorded in `restored`."""
    from eduhub.identity import personal_id

    text = str(int(value))
    padded = "0" + text
    if column in (PERSONAL_ID, "Số CMND") and len(text) == 11 \
            and personal_id.check(padded).valid:
        restored.append(column)
        return padded
    if column == "SĐT liên hệ" and len(text) == 9:
        restored.append(column)
        return padded
    return text


def _cell(value):
    if isinstance(value, datetime):
        return value.date().isoformat() if value.time() == datetime.min.time() else value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, str):
        value = unicodedata.normalize("NFC", value.strip())
        return value or None
    return value


def read_rows(drop: DropFile) -> list[dict]:
    """The rows of a class export as dicts; RejectedFile when it cannot be read as one."""
    from openpyxl import load_workbook

    _check_size(drop)
    try:
        workbook = load_workbook(drop.path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds for a broken file
        raise RejectedFile(f"{drop.relative}: not a readable xlsx file ({type(exc).__name__})") \
            from exc
    try:
        return _records(drop, workbook.worksheets[0])
    except RejectedFile:
        raise
    except Exception as exc:  # a sheet whose XML is broken fails only while it is read
        raise RejectedFile(f"{drop.relative}: the sheet cannot be read "
                           f"({type(exc).__name__})") from exc
    finally:
        workbook.close()


def _check_size(drop: DropFile) -> None:
    try:
        with zipfile.ZipFile(drop.path) as archive:
            size = sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, OSError) as exc:
        raise RejectedFile(f"{drop.relative}: not a readable xlsx file "
                           f"({type(exc).__name__})") from exc
    if size > MAX_UNCOMPRESSED_BYTES:
        raise RejectedFile(f"{drop.relative}: {size} bytes once uncompressed, more than the "
                           f"{MAX_UNCOMPRESSED_BYTES} a class export may hold")


def _find_header(drop: DropFile, rows) -> tuple[int, list[str | None]]:
    """The header row (its number, its columns; `rows` then stands past it): the first of the
    first rows holding every required column."""
    best: tuple[int, list] = (-1, [])
    for number, values in enumerate(rows, start=1):
        columns = [_column_name(v) for v in values or ()]
        found = [c for c in REQUIRED_COLUMNS if c in columns]
        if len(found) == len(REQUIRED_COLUMNS):
            return number, columns
        if len(found) > best[0]:
            best = (len(found), columns)
        if number >= HEADER_SEARCH_ROWS:
            break
    if best[0] <= 0:
        raise RejectedFile(f"{drop.relative}: no header row of a class export in its first "
                           f"{HEADER_SEARCH_ROWS} rows")
    missing = [c for c in REQUIRED_COLUMNS if c not in best[1]]
    raise RejectedFile(f"{drop.relative}: missing required column "
                       + ", ".join(f"'{c}'" for c in missing))


def _records(drop: DropFile, sheet) -> list[dict]:
    if hasattr(sheet, "reset_dimensions"):
        # the file's own <dimension> may be stale (some writers never update it): read the
        # rows that are there, not the range it claims
        sheet.reset_dimensions()
    rows = sheet.iter_rows(values_only=True, max_col=MAX_COLUMNS)
    header_row, columns = _find_header(drop, rows)
    modified_at = drop.modified_at
    records = []
    for number, values in enumerate(rows, start=header_row + 1):
        if number > MAX_ROWS + header_row:
            raise RejectedFile(f"{drop.relative}: more than {MAX_ROWS} rows; not a class "
                               "export")
        if values is None or all(v is None or str(v).strip() == "" for v in values):
            continue
        restored: list[str] = []
        record = {}
        for column, value in zip(columns, values, strict=False):
            if column is None:
                continue
            if column in ID_COLUMNS and isinstance(value, int | float) \
                    and not isinstance(value, bool) and float(value).is_integer():
                record[column] = _id_text(value, column, restored)
            elif column in DATE_COLUMNS and isinstance(value, int | float) \
                    and not isinstance(value, bool) and 1 <= value < 2958466:
                record[column] = _excel_serial_date(value)
            else:
                record[column] = _cell(value)
        if restored:
            record["_leading_zero_restored"] = restored
        record.update({"_school_code": drop.school_code, "_school_year": drop.school_year,
                       "_file": drop.relative, "_file_modified_at": modified_at,
                       "_row": number})
        records.append(record)
    return records


def _excel_serial_date(value) -> str:
    """A date the spreadsheet keeps as its serial number (a cell not formatted as a date)."""
    from openpyxl.utils.datetime import from_excel

    return _cell(from_excel(value))
