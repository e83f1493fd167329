"""What the simulators share: pages, query parameters, API keys, labels and Vietnamese dates."""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
import re
import secrets
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from http import HTTPStatus

log = logging.getLogger(__name__)

MAX_PAGE_SIZE = 500


DEFAULT_PAGE_SIZE = 100


MAX_VERIFY_BATCH = 100


VN_TZ = timezone(timedelta(hours=7))


GENDER_CODES = {"nam": "M", "nu": "F"}


# Entities that have a school year: the only ones a school-year filter applies to.
YEAR_ENTITIES = {"classes", "facilities", "results", "health", "transcripts"}


# Vietnamese labels as vendor B and the sector database's exports show them.
SEX_LABELS = {"nam": "Nam", "nu": "Nữ"}


STATUS_LABELS = {"dang_hoc": "Đang học", "chuyen_truong": "Chuyển trường", "bo_hoc": "Bỏ học",
                 "tot_nghiep": "Tốt nghiệp"}


LEVEL_LABELS = {"mam_non": "Mầm non", "tieu_hoc": "Tiểu học", "thcs": "THCS", "thpt": "THPT",
                "gdtx": "GDTX"}


ROLE_LABELS = {"giao_vien": "Giáo viên", "can_bo_quan_ly": "Cán bộ quản lý", "nhan_vien": "Nhân viên"}


QUALIFICATION_LABELS = {"trung_cap": "Trung cấp", "cao_dang": "Cao đẳng", "dai_hoc": "Đại học",
                        "thac_si": "Thạc sĩ", "tien_si": "Tiến sĩ"}


TERM_LABELS = {"hk1": "HK1", "hk2": "HK2", "ca_nam": "CN"}

# a learner's outcome at the end of the year, as vendor B's screens word it
OUTCOME_LABELS = {"len_lop": "Được lên lớp", "hoan_thanh_cap_hoc": "Hoàn thành chương trình cấp học",
                  "kiem_tra_lai": "Kiểm tra lại, rèn luyện trong hè", "o_lai_lop": "Ở lại lớp"}


ASSESSMENT_LABELS = {"hoan_thanh_tot": "Hoàn thành tốt", "hoan_thanh": "Hoàn thành",
                     "chua_hoan_thanh": "Chưa hoàn thành"}


CONDUCT_LABELS = {"tot": "Tốt", "kha": "Khá", "dat": "Đạt", "chua_dat": "Chưa đạt"}


TRANSCRIPT_LABELS = {"da_ky_so": "Đã ký số", "chua_ky_so": "Chưa ký số", "chua_tao": "Chưa tạo"}


NUTRITION_LABELS = {"binh_thuong": "Bình thường", "suy_dinh_duong": "Suy dinh dưỡng",
                    "thua_can": "Thừa cân", "beo_phi": "Béo phì"}


def label(labels: dict[str, str], code):
    """The label of a code; a code outside the list is served as it is (sources do that)."""
    return labels.get(code, code) if code is not None else None


def vn_date(iso: str | None) -> str | None:
    """YYYY-MM-DD -> dd/mm/yyyy."""
    if not iso:
        return None
    y, m, d = iso[:10].split("-")
    return f"{d}/{m}/{y}"


def vn_datetime(iso: str) -> str:
    """An ISO timestamp -> dd/mm/yyyy HH:MM:SS in Vietnam time."""
    return datetime.fromisoformat(iso).astimezone(VN_TZ).strftime("%d/%m/%Y %H:%M:%S")


@dataclass(frozen=True)
class Credentials:
    client_id: str
    client_secret: str

    def api_key(self, service: str) -> str:
        """The API key of one simulated service, derived from the secret (no extra setting)."""
        mac = hmac.new(self.client_secret.encode(), service.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(mac).decode().rstrip("=")[:32]


class HttpError(Exception):
    def __init__(self, status: HTTPStatus | int, message: str, headers: dict | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers or {}


@dataclass
class Reply:
    """A 200 answer; `commit` runs only once the whole answer was sent (stateful listings)."""

    payload: dict
    commit: Callable[[], None] | None = None


def param(query: dict[str, list[str]], name: str) -> str | None:
    values = query.get(name)
    return values[0] if values else None


def int_param(query, name: str, default: int) -> int:
    value = param(query, name)
    try:
        return default if value is None else int(value)
    except ValueError as exc:
        raise HttpError(HTTPStatus.BAD_REQUEST, f"{name} must be an integer") from exc


def page_params(query: dict[str, list[str]]) -> tuple[int, int]:
    offset, limit = int_param(query, "offset", 0), int_param(query, "limit", DEFAULT_PAGE_SIZE)
    if offset < 0 or not 1 <= limit <= MAX_PAGE_SIZE:
        raise HttpError(HTTPStatus.BAD_REQUEST, f"need offset >= 0 and 1 <= limit <= {MAX_PAGE_SIZE}")
    return offset, limit


VN_STAMP = re.compile(r"(\d{2})/(\d{2})/(\d{4})(?:[ T](\d{2}):(\d{2})(?::(\d{2}))?)?")


def parse_since(value: str, vietnamese: bool = False) -> datetime:
    """`updated_since`: ISO 8601 (a missing offset means Vietnam time); vendor B also takes
    dd/mm/yyyy[ HH:MM[:SS]]."""
    text = value.strip()
    # An unencoded "+07:00" in a query string arrives as " 07:00".
    text = re.sub(r"(T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?) (\d{2}:?\d{2})$", r"\1+\2", text)
    match = VN_STAMP.fullmatch(text) if vietnamese else None
    try:
        if match:
            d, m, y, hh, mm, ss = (int(g) if g else 0 for g in match.groups())
            return datetime(y, m, d, hh, mm, ss, tzinfo=VN_TZ)
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        hint = " or dd/mm/yyyy HH:MM:SS" if vietnamese else ""
        raise HttpError(HTTPStatus.BAD_REQUEST, f"updated_since must be ISO 8601{hint}") from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=VN_TZ)


def changed_since(rows: list, since: datetime | None, stamp=lambda r: r["updated_at"]) -> list:
    """Rows whose updated_at is strictly later than `since`."""
    if since is None:
        return rows
    return [r for r in rows if datetime.fromisoformat(stamp(r)) > since]


def require_api_key(headers, expected: str) -> None:
    given = headers.get("X-API-Key", "")
    if not (given and secrets.compare_digest(given.encode(), expected.encode())):
        raise HttpError(HTTPStatus.UNAUTHORIZED, "missing or unknown X-API-Key")


def by_school(rows: list[dict], codes: set[str]) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {c: [] for c in codes}
    for row in rows:
        if row.get("school_code") in out:
            out[row["school_code"]].append(row)
    return out


def nfc(value):
    return unicodedata.normalize("NFC", value) if isinstance(value, str) else value
