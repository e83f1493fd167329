"""File drops: the sector database's class exports (DANH SÁCH HỌC SINH LỚP ...) as xlsx.

Layout `<drop folder>/<school code>/<school year>/<class>.xlsx`; first sheet, one header
row with the export's Vietnamese headers. Contract: docs/sources/file_exports.md.
Each row lands as received (header -> cell value), with the file's place in the drop
folder added under `_`-prefixed names.
"""

from __future__ import annotations

import hashlib
import os
import unicodedata
import zipfile
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

from eduhub.landing import EntitySpec

SOURCE = "file_exports"
MOET_ID = "Mã định danh Bộ GD&ĐT"
REQUIRED_COLUMNS = (MOET_ID, "Họ tên", "Ngày sinh", "Giới tính", "Trạng thái", "Lớp học",
                    "Khối học", "Số định danh cá nhân")
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


def _records(drop: DropFile, sheet) -> list[dict]:
    if hasattr(sheet, "reset_dimensions"):
        # the file's own <dimension> may be stale (some writers never update it): read the
        # rows that are there, not the range it claims
        sheet.reset_dimensions()
    rows = sheet.iter_rows(values_only=True, max_col=MAX_COLUMNS)
    header = next(rows, None)
    if not header:
        raise RejectedFile(f"{drop.relative}: the first sheet has no header row")
    columns = [unicodedata.normalize("NFC", str(h).strip()) if h is not None else None
               for h in header]
    missing = [c for c in REQUIRED_COLUMNS if c not in columns]
    if missing:
        raise RejectedFile(f"{drop.relative}: missing required column "
                           + ", ".join(f"'{c}'" for c in missing))
    records = []
    for number, values in enumerate(rows, start=2):
        if number > MAX_ROWS + 1:
            raise RejectedFile(f"{drop.relative}: more than {MAX_ROWS} rows; not a class "
                               "export")
        if values is None or all(v is None or str(v).strip() == "" for v in values):
            continue
        record = {c: _cell(v) for c, v in zip(columns, values, strict=False) if c}
        record.update({"_school_code": drop.school_code, "_school_year": drop.school_year,
                       "_file": drop.relative, "_row": number})
        records.append(record)
    return records
