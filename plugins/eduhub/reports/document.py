"""What a report holds, independent of its format: sections of paragraphs, tables and charts,
and the official frame (issuing body, number, place and date, signer). The .docx and .pdf
renderers draw the same `Report`, so both formats carry exactly the same figures.

Numbers and dates are written the Vietnamese way: 1.234.567; 98,5%; ngày 06 tháng 12 năm 2026.
"""

from __future__ import annotations

import datetime as dt
import unicodedata
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path

ISSUER_PARENT = "UBND TỈNH TÂY NINH"
ISSUER = "SỞ GIÁO DỤC VÀ ĐÀO TẠO"
ISSUER_ABBREVIATION = "SGDĐT"
PLACE = "Tây Ninh"
NATIONAL_NAME = "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM"
MOTTO = "Độc lập - Tự do - Hạnh phúc"
# a published cell withheld by the small-cell rule (docs/privacy.md)
SUPPRESSED = "(ẩn)"
EMPTY_NOTE = "Không có dòng nào."
SUPPRESSED_NOTE = ("(ẩn): số liệu nhỏ hơn 5 hoặc ô ẩn bổ sung để không suy ra được ô nhỏ "
                   "(quy tắc bảo vệ dữ liệu cá nhân).")


def nfc(text: str) -> str:
    return unicodedata.normalize("NFC", text)


# Vietnamese alphabetical order: letters first (ă after a, đ after d, ...), then the tone
# (ngang, huyền, hỏi, ngã, sắc, nặng), as a class list is sorted.
_ALPHABET = "0123456789aăâbcdđeêghiklmnoôơpqrstuưvxy"
_LETTER_MARKS = {"\u0306", "\u0302", "\u031b"}  # breve, circumflex, horn: part of the letter
_TONES = {"\u0300": 1, "\u0309": 2, "\u0303": 3, "\u0301": 4, "\u0323": 5}


def vietnamese_key(text: str) -> tuple:
    """A sort key that orders Vietnamese words as the alphabet does (not by code point)."""
    letters, tones = [], []
    for char in unicodedata.normalize("NFC", text or "").lower():
        parts = unicodedata.normalize("NFD", char)
        letter = unicodedata.normalize(
            "NFC", parts[0] + "".join(m for m in parts[1:] if m in _LETTER_MARKS))
        rank = _ALPHABET.find(letter)
        letters.append(rank if rank >= 0 else len(_ALPHABET) + ord(letter))
        tones.append(max((_TONES.get(m, 0) for m in parts[1:]), default=0))
    return (tuple(letters), tuple(tones))


def person_sort_key(full_name: str) -> tuple:
    """A class list's order: by given name (the last word), then the whole name."""
    words = (full_name or "").split()
    return (vietnamese_key(words[-1] if words else ""), vietnamese_key(full_name))


def integer(value) -> str:
    """1234567 -> 1.234.567 (the thousands separator is a dot)."""
    if value is None:
        return "-"
    return f"{int(value):,}".replace(",", ".")


def percent(value, digits: int = 1) -> str:
    """0.9851 -> 98,5% (the decimal separator is a comma)."""
    if value is None:
        return "-"
    return f"{Decimal(str(value)) * 100:.{digits}f}".replace(".", ",") + "%"


def points(value, digits: int = 1) -> str:
    """A change of a rate, in percentage points with its sign: 0.015 -> +1,5; -0.2 -> -20,0."""
    if value is None:
        return "-"
    return f"{Decimal(str(value)) * 100:+.{digits}f}".replace(".", ",")


def decimal(value, digits: int = 2) -> str:
    if value is None:
        return "-"
    return f"{Decimal(str(value)):.{digits}f}".replace(".", ",")


def long_date(day: dt.date) -> str:
    """ngày 06 tháng 12 năm 2026, as the date line of an administrative document writes it."""
    return f"ngày {day.day:02d} tháng {day.month:02d} năm {day.year}"


def short_date(day: dt.date | None) -> str:
    return day.strftime("%d/%m/%Y") if day else "-"


@dataclass(frozen=True)
class Table:
    caption: str
    headers: tuple[str, ...]
    rows: tuple[tuple[str, ...], ...]
    # columns right-aligned (figures)
    numeric: tuple[int, ...] = ()
    note: str = ""
    # relative column widths (the first column wider when not given)
    widths: tuple[float, ...] = ()

    def __post_init__(self):
        if self.widths and len(self.widths) != len(self.headers):
            raise ValueError(f"table {self.caption!r}: {len(self.widths)} widths for "
                             f"{len(self.headers)} headers")
        for row in self.rows:
            if len(row) != len(self.headers):
                raise ValueError(f"table {self.caption!r}: a row of {len(row)} cells under "
                                 f"{len(self.headers)} headers")

    def footnote(self) -> str:
        """What is written under the table: its note, and for a table without rows that it has
        none (a header alone reads as a page cut off)."""
        return " ".join(filter(None, ("" if self.rows else EMPTY_NOTE, self.note)))

    def column_widths(self) -> tuple[float, ...]:
        return self.widths or (1.7, *(1.0,) * (len(self.headers) - 1))


@dataclass(frozen=True)
class Chart:
    caption: str
    image: Path


@dataclass
class Section:
    heading: str
    paragraphs: list[str] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)
    charts: list[Chart] = field(default_factory=list)


@dataclass
class Report:
    """One document: `kind` and the unit, year and term it covers name its files."""

    kind: str
    title: str
    subtitle: str
    unit_code: str
    unit_name: str
    school_year: str
    term: str | None
    issued_on: dt.date
    sections: list[Section]
    document_code: str = "BC"
    signer_title: str = "GIÁM ĐỐC"
    recipients: tuple[str, ...] = ("Bộ GDĐT (để báo cáo);", "UBND tỉnh (để báo cáo);",
                                   "Lưu: VT, phòng chuyên môn.")
    # wide tables (a school's worklist) on A4 turned sideways
    landscape: bool = False
    # a record signed by two sides (biên bản): the other side's title, signing on the left where
    # a report lists its recipients
    witness_title: str = ""
    # who issues it (the header's left block and the number's suffix): the Sở, or a school for
    # its own statistics
    issuer_parent: str = ISSUER_PARENT
    issuer: str = ISSUER
    issuer_abbreviation: str = ISSUER_ABBREVIATION

    @property
    def number_line(self) -> str:
        return f"Số:       /{self.document_code}-{self.issuer_abbreviation}"

    @property
    def place_date(self) -> str:
        return f"{PLACE}, {long_date(self.issued_on)}"

    def tables(self) -> list[Table]:
        return [t for s in self.sections for t in s.tables]

    def file_stem(self) -> str:
        """unit, kind, school year, term, date: the name the Sở finds next year."""
        term = f"_{self.term}" if self.term else ""
        return (f"{self.kind}_{self.unit_code}_{self.school_year}{term}_"
                f"{self.issued_on.isoformat()}")
