"""Report tables as an .xlsx workbook, a sheet per table, figures as numbers (an analyst sums
and filters them), suppressed cells as the documents show them."""

from __future__ import annotations

import datetime as dt
import re
from pathlib import Path

from eduhub.reports.document import Table

_INTEGER = re.compile(r"^-?\d{1,3}(\.\d{3})*$")
_PERCENT = re.compile(r"^-?\d+(,\d+)?%$")


def figure(text: str):
    """A formatted figure back to its number ("1.234" -> 1234, "98,5%" -> 0.985); any other
    text (a suppressed cell, a dash) as it is."""
    if _INTEGER.match(text):
        return int(text.replace(".", ""))
    if _PERCENT.match(text):
        return round(float(text[:-1].replace(",", ".")) / 100, 6)
    return text


def sheet_name(caption: str, taken: set[str]) -> str:
    """Excel's limits: 31 characters, no []:*?/\\, unique in the book."""
    base = re.sub(r"[\[\]:*?/\\]", " ", caption.split(".")[0] if caption.startswith(("Biểu", "Bảng"))
                  else caption)[:31].strip() or "Bảng"
    name, n = base, 2
    while name in taken:
        name = f"{base[:28]} {n}"
        n += 1
    taken.add(name)
    return name


def write_tables(tables: list[Table], path: Path, heading: list[str],
                 created: dt.date) -> Path:
    from openpyxl import Workbook
    from openpyxl.styles import Alignment, Font
    from openpyxl.utils import get_column_letter

    book = Workbook()
    book.remove(book.active)
    bold = Font(name="Times New Roman", bold=True, size=12)
    plain = Font(name="Times New Roman", size=11)
    taken: set[str] = set()
    for table in tables:
        sheet = book.create_sheet(sheet_name(table.caption, taken))
        for text in [*heading, table.caption]:
            sheet.append([text])
            sheet.cell(sheet.max_row, 1).font = bold
        sheet.append([])
        header_row = sheet.max_row + 1
        sheet.append(list(table.headers))
        for row in table.rows:
            sheet.append([figure(c) if i in table.numeric else c for i, c in enumerate(row)])
        if table.note:
            sheet.append([])
            sheet.append([table.note])
        for row in sheet.iter_rows(min_row=header_row, max_row=header_row + len(table.rows)):
            for cell in row:
                cell.font = bold if cell.row == header_row else plain
                cell.alignment = Alignment(wrap_text=True, vertical="top")
                if isinstance(cell.value, float):
                    cell.number_format = "0.0%"
                elif isinstance(cell.value, int):
                    cell.number_format = "#,##0"
        for i, _ in enumerate(table.headers, 1):
            sheet.column_dimensions[get_column_letter(i)].width = 16 if i > 1 else 28
        sheet.freeze_panes = f"A{header_row + 1}"
        sheet.print_title_rows = f"{header_row}:{header_row}"
    # a fixed creation time: the same figures give the same file
    book.properties.created = book.properties.modified = dt.datetime.combine(created, dt.time())
    path.parent.mkdir(parents=True, exist_ok=True)
    book.save(path)
    return path
