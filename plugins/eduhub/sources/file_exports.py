"""File drops: the sector database's class exports (DANH SÁCH HỌC SINH LỚP ...) as xlsx.

Layout `<drop folder>/<school code>/<school year>/<class>.xlsx`; first sheet, one header
row with the export's Vietnamese headers. Contract: docs/sources/file_exports.md.
Each row lands as received (header -> cell value), with the file's place in the drop
folder added under `_`-prefixed names.
"""

from __future__ import annotations

import hashlib
import unicodedata
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path

from eduhub.landing import EntitySpec

SOURCE = "file_exports"
MOET_ID = "Mã định danh Bộ GD&ĐT"
REQUIRED_COLUMNS = (MOET_ID, "Họ tên", "Ngày sinh", "Giới tính", "Trạng thái", "Lớp học",
                    "Khối học", "Số định danh cá nhân")
LEARNERS = EntitySpec(SOURCE, "learners", ("_school_code", MOET_ID), frozenset(), None)


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
        school, year = path.parent.parent.name, path.parent.name
        files.append(DropFile(path, path.relative_to(drop_dir).as_posix(), school, year))
    return files


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

    try:
        workbook = load_workbook(drop.path, read_only=True, data_only=True)
    except Exception as exc:  # openpyxl raises many kinds for a broken file
        raise RejectedFile(f"{drop.relative}: not a readable xlsx file ({type(exc).__name__})") \
            from exc
    try:
        sheet = workbook.worksheets[0]
        rows = sheet.iter_rows(values_only=True)
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
            if values is None or all(v is None or str(v).strip() == "" for v in values):
                continue
            record = {c: _cell(v) for c, v in zip(columns, values, strict=False) if c}
            record.update({"_school_code": drop.school_code, "_school_year": drop.school_year,
                           "_file": drop.relative, "_row": number})
            records.append(record)
        return records
    finally:
        workbook.close()
