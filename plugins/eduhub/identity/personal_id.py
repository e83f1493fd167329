"""Checks of the 12-digit personal ID (số định danh cá nhân), Nghị định 137/2015 Art. 13.

Layout: 3 digits for the province (or country) where the birth was registered, 1 digit for
century and sex (0/1 = male/female born 1900-1999, 2/3 = 2000-2099, 4/5 = 2100-2199),
2 digits for the birth year, 6 random digits. There is no check digit, so none is checked.
An unknown prefix is only a warning: births registered abroad carry a country code.

Findings carry a stable code (the dbt macro `personal_id_findings` uses the same codes) and a
Vietnamese message. The ID itself never appears in a finding or a log line.
"""

from __future__ import annotations

import re
from dataclasses import asdict, dataclass
from datetime import date

ERROR = "error"
WARNING = "warning"

# Province codes of the birth-registration place, the 63 provinces before 1 July 2025
# (Thông tư 07/2016/TT-BCA, implementing Nghị định 137/2015). Still valid after the merger:
# an ID never changes.
PROVINCE_PREFIXES: dict[str, str] = {
    "001": "Hà Nội", "002": "Hà Giang", "004": "Cao Bằng", "006": "Bắc Kạn",
    "008": "Tuyên Quang", "010": "Lào Cai", "011": "Điện Biên", "012": "Lai Châu",
    "014": "Sơn La", "015": "Yên Bái", "017": "Hòa Bình", "019": "Thái Nguyên",
    "020": "Lạng Sơn", "022": "Quảng Ninh", "024": "Bắc Giang", "025": "Phú Thọ",
    "026": "Vĩnh Phúc", "027": "Bắc Ninh", "030": "Hải Dương", "031": "Hải Phòng",
    "033": "Hưng Yên", "034": "Thái Bình", "035": "Hà Nam", "036": "Nam Định",
    "037": "Ninh Bình", "038": "Thanh Hóa", "040": "Nghệ An", "042": "Hà Tĩnh",
    "044": "Quảng Bình", "045": "Quảng Trị", "046": "Thừa Thiên Huế", "048": "Đà Nẵng",
    "049": "Quảng Nam", "051": "Quảng Ngãi", "052": "Bình Định", "054": "Phú Yên",
    "056": "Khánh Hòa", "058": "Ninh Thuận", "060": "Bình Thuận", "062": "Kon Tum",
    "064": "Gia Lai", "066": "Đắk Lắk", "067": "Đắk Nông", "068": "Lâm Đồng",
    "070": "Bình Phước", "072": "Tây Ninh", "074": "Bình Dương", "075": "Đồng Nai",
    "077": "Bà Rịa - Vũng Tàu", "079": "Thành phố Hồ Chí Minh", "080": "Long An",
    "082": "Tiền Giang", "083": "Bến Tre", "084": "Trà Vinh", "086": "Vĩnh Long",
    "087": "Đồng Tháp", "089": "An Giang", "091": "Kiên Giang", "092": "Cần Thơ",
    "093": "Hậu Giang", "094": "Sóc Trăng", "095": "Bạc Liêu", "096": "Cà Mau",
}

# code -> (severity, Vietnamese message). The same table drives the dbt macro.
MESSAGES: dict[str, tuple[str, str]] = {
    "missing": (ERROR, "Thiếu số định danh cá nhân"),
    "not_digits": (ERROR, "Số định danh cá nhân chỉ được gồm chữ số"),
    "wrong_length": (ERROR, "Số định danh cá nhân phải gồm đúng 12 chữ số"),
    "century_sex_invalid": (ERROR, "Chữ số thứ 4 (thế kỷ và giới tính) không hợp lệ: chỉ được từ 0 đến 5"),
    "century_sex_mismatch": (ERROR, "Chữ số thứ 4 không khớp với giới tính hoặc thế kỷ của năm sinh"),
    "year_mismatch": (ERROR, "Chữ số thứ 5-6 không khớp với năm sinh"),
    "birth_year_in_future": (ERROR, "Chữ số thứ 4-6 cho năm sinh sau ngày kiểm tra: số định danh "
                                    "không thể đúng"),
    "unknown_prefix": (WARNING, "Mã nơi đăng ký khai sinh (3 chữ số đầu) không có trong danh "
                                "mục mã tỉnh; cần kiểm tra (có thể là mã quốc gia)"),
}

# Each defect kind of the sandbox manifest and the finding that must report it.
DEFECT_FINDINGS = {
    "missing_personal_id": "missing",
    "id_century_sex_mismatch": "century_sex_mismatch",
    "id_year_mismatch": "year_mismatch",
    "id_leading_zero_lost": "wrong_length",
}

SEXES = ("nam", "nu")
_DIGITS = re.compile(r"^[0-9]+$")


@dataclass(frozen=True)
class Finding:
    code: str
    severity: str
    message: str

    @classmethod
    def of(cls, code: str) -> Finding:
        severity, message = MESSAGES[code]
        return cls(code, severity, message)


@dataclass(frozen=True)
class IdCheck:
    findings: tuple[Finding, ...]

    @property
    def valid(self) -> bool:
        """No error: warnings (an unknown prefix) do not make an ID invalid."""
        return not any(f.severity == ERROR for f in self.findings)

    @property
    def codes(self) -> list[str]:
        return [f.code for f in self.findings]

    def as_dict(self) -> dict:
        return {"valid": self.valid, "findings": [asdict(f) for f in self.findings]}


def check(personal_id: str | None, date_of_birth: date | str | None = None,
          sex: str | None = None, as_of: date | None = None) -> IdCheck:
    """Check an ID, against the birth date and sex when they are known, on the day `as_of`
    (today by default): an ID whose digits put the birth after that year cannot be right."""
    if isinstance(date_of_birth, str):
        date_of_birth = date.fromisoformat(date_of_birth)
    if sex is not None and sex not in SEXES:
        raise ValueError("sex must be 'nam' or 'nu'")
    value = (personal_id or "").strip()
    if not value:
        return IdCheck((Finding.of("missing"),))
    if not _DIGITS.match(value):
        return IdCheck((Finding.of("not_digits"),))
    if len(value) != 12:
        return IdCheck((Finding.of("wrong_length"),))
    findings = []
    digit = int(value[3])
    if digit > 5:
        findings.append(Finding.of("century_sex_invalid"))
    elif date_of_birth is not None or sex is not None:
        # Only the part that is known is compared: the century with a birth date, the sex
        # with a sex (even digits are male, odd female).
        if date_of_birth is not None and digit // 2 != date_of_birth.year // 100 - 19:
            findings.append(Finding.of("century_sex_mismatch"))
        elif sex is not None and digit % 2 != (1 if sex == "nu" else 0):
            findings.append(Finding.of("century_sex_mismatch"))
    if date_of_birth is not None and value[4:6] != f"{date_of_birth.year % 100:02d}":
        findings.append(Finding.of("year_mismatch"))
    if digit <= 5 and 1900 + digit // 2 * 100 + int(value[4:6]) > (as_of or date.today()).year:
        findings.append(Finding.of("birth_year_in_future"))
    if value[:3] not in PROVINCE_PREFIXES:
        findings.append(Finding.of("unknown_prefix"))
    return IdCheck(tuple(findings))
