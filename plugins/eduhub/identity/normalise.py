"""Vietnamese text for matching: NFC, and an explicit accent table for blocking keys.

Names are compared with their accents (tones tell "Hà" from "Hạ"), and blocked and
searched without them. Unicode decomposition alone does not turn Đ into D (Đ is a letter of
its own, not D with a mark), so the accent table is explicit; the dbt macro `vn_unaccent`
uses the same two strings with PostgreSQL's translate() (no `unaccent` extension needed).
"""

from __future__ import annotations

import re
import unicodedata

# Every Vietnamese letter with a mark or tone, lower then upper case, and its plain letter.
_ACCENTED = (
    "àáảãạăằắẳẵặâầấẩẫậ" "èéẻẽẹêềếểễệ" "ìíỉĩị" "òóỏõọôồốổỗộơờớởỡợ" "ùúủũụưừứửữự" "ỳýỷỹỵ" "đ"
    "ÀÁẢÃẠĂẰẮẲẴẶÂẦẤẨẪẬ" "ÈÉẺẼẸÊỀẾỂỄỆ" "ÌÍỈĨỊ" "ÒÓỎÕỌÔỒỐỔỖỘƠỜỚỞỠỢ" "ÙÚỦŨỤƯỪỨỬỮỰ" "ỲÝỶỸỴ" "Đ"
)
_PLAIN = (
    "a" * 17 + "e" * 11 + "i" * 5 + "o" * 17 + "u" * 11 + "y" * 5 + "d"
    + "A" * 17 + "E" * 11 + "I" * 5 + "O" * 17 + "U" * 11 + "Y" * 5 + "D"
)
ACCENT_TABLE = str.maketrans(_ACCENTED, _PLAIN)
_SPACES = re.compile(r"\s+")


def accent_map() -> tuple[str, str]:
    """(accented, plain): the two strings of the table, for SQL translate()."""
    return _ACCENTED, _PLAIN


def nfc(text: str | None) -> str | None:
    """NFC, trimmed, inner whitespace collapsed; None stays None."""
    if text is None:
        return None
    return _SPACES.sub(" ", unicodedata.normalize("NFC", text)).strip()


def strip_accents(text: str | None) -> str | None:
    """The text without Vietnamese marks and tones (Đ → D), through the explicit table; any
    other combining mark (a foreign name) is dropped after decomposition."""
    if text is None:
        return None
    plain = nfc(text).translate(ACCENT_TABLE)
    if plain.isascii():
        return plain
    decomposed = unicodedata.normalize("NFD", plain)
    return unicodedata.normalize("NFC", "".join(c for c in decomposed
                                                if unicodedata.category(c) != "Mn"))


def name_key(text: str | None) -> str | None:
    """The blocking and search key of a name: unaccented, lower case, single spaces."""
    plain = strip_accents(text)
    return plain.lower() if plain else None


def compare_name(text: str | None) -> str | None:
    """The name as compared: accents kept, NFC, lower case, single spaces."""
    value = nfc(text)
    return value.lower() if value else None
