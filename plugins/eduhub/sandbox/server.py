"""HTTP simulators of the source systems, serving a generated province on loopback.

One server, one port; each simulated system lives under its own path prefix, with its
contract in docs/sources/:

- `/vendor-a/api/v1/...`: school management vendor A (token login, offset pagination,
  English field names, ISO dates). sms_vendor_a.md
- `/vendor-b/api/...`: school management vendor B (API key, cursor pagination, Vietnamese
  field names and labels, dd/mm/yyyy dates). sms_vendor_b.md
- `/population/api/v1/...`: the population database's verification service (API key,
  batches of at most 100, rate limit with 429 + Retry-After). population.md
- `/pcgd/api/v1/...`: PCGD-XMC, households with their residents per commune. pcgd.md

Faults (5xx, 429, slow answers, timeouts, malformed pages, schema drift, shifting pages)
are injected by profile and seed (faults.py, docs/sources/faults.md).
"""

from __future__ import annotations

import base64
import bisect
import hashlib
import hmac
import json
import logging
import math
import re
import secrets
import sys
import threading
import time
import unicodedata
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from eduhub.sandbox import faults as faultlib
from eduhub.sandbox import generator

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


def _param(query: dict[str, list[str]], name: str) -> str | None:
    values = query.get(name)
    return values[0] if values else None


def _int_param(query, name: str, default: int) -> int:
    value = _param(query, name)
    try:
        return default if value is None else int(value)
    except ValueError as exc:
        raise HttpError(HTTPStatus.BAD_REQUEST, f"{name} must be an integer") from exc


def _page_params(query: dict[str, list[str]]) -> tuple[int, int]:
    offset, limit = _int_param(query, "offset", 0), _int_param(query, "limit", DEFAULT_PAGE_SIZE)
    if offset < 0 or not 1 <= limit <= MAX_PAGE_SIZE:
        raise HttpError(HTTPStatus.BAD_REQUEST, f"need offset >= 0 and 1 <= limit <= {MAX_PAGE_SIZE}")
    return offset, limit


_VN_STAMP = re.compile(r"(\d{2})/(\d{2})/(\d{4})(?:[ T](\d{2}):(\d{2})(?::(\d{2}))?)?")


def parse_since(value: str, vietnamese: bool = False) -> datetime:
    """`updated_since`: ISO 8601 (a missing offset means Vietnam time); vendor B also takes
    dd/mm/yyyy[ HH:MM[:SS]]."""
    text = value.strip()
    # An unencoded "+07:00" in a query string arrives as " 07:00".
    text = re.sub(r"(T\d{2}:\d{2}(?::\d{2}(?:\.\d+)?)?) (\d{2}:?\d{2})$", r"\1+\2", text)
    match = _VN_STAMP.fullmatch(text) if vietnamese else None
    try:
        if match:
            d, m, y, hh, mm, ss = (int(g) if g else 0 for g in match.groups())
            return datetime(y, m, d, hh, mm, ss, tzinfo=VN_TZ)
        moment = datetime.fromisoformat(text)
    except ValueError as exc:
        hint = " or dd/mm/yyyy HH:MM:SS" if vietnamese else ""
        raise HttpError(HTTPStatus.BAD_REQUEST, f"updated_since must be ISO 8601{hint}") from exc
    return moment if moment.tzinfo else moment.replace(tzinfo=VN_TZ)


def _changed_since(rows: list, since: datetime | None, stamp=lambda r: r["updated_at"]) -> list:
    """Rows whose updated_at is strictly later than `since`."""
    if since is None:
        return rows
    return [r for r in rows if datetime.fromisoformat(stamp(r)) > since]


def _require_api_key(headers, expected: str) -> None:
    given = headers.get("X-API-Key", "")
    if not (given and secrets.compare_digest(given.encode(), expected.encode())):
        raise HttpError(HTTPStatus.UNAUTHORIZED, "missing or unknown X-API-Key")


def _by_school(rows: list[dict], codes: set[str]) -> dict[str, list[dict]]:
    out: dict[str, list[dict]] = {c: [] for c in codes}
    for row in rows:
        if row.get("school_code") in out:
            out[row["school_code"]].append(row)
    return out


# --- vendor A --------------------------------------------------------------------------------

class VendorA:
    """Vendor A's API over the generated province (only the schools that use vendor A)."""

    prefix = "/vendor-a/api/v1"
    source = "sms_vendor_a"

    def __init__(self, data: dict[str, list[dict]], credentials: Credentials,
                 hostile: faultlib.PersistentFaults | None = None, seed: int = 0):
        self.credentials = credentials
        self.hostile = hostile or faultlib.PersistentFaults()
        self.seed = seed
        self.tokens: set[str] = set()
        self.schools = [s for s in data["schools"] if s["vendor"] == "sms_vendor_a"]
        codes = {s["school_code"] for s in self.schools}
        self.learners_by_school = _by_school(data["learners"], codes)
        self.views: dict[str, Callable[[dict], dict]] = {
            "learners": self._served_learner, "classes": self.class_view, "staff": self.staff_view,
            "facilities": self.facility_view, "results": self.result_view,
            "health": self.health_view, "transcripts": self.transcript_view,
        }
        self.rows = {"learners": self.learners_by_school}
        for entity in self.views:
            if entity != "learners":
                self.rows[entity] = _by_school(data.get(entity, []), codes)
        self._shift_lock = threading.Lock()
        self._shift_state: dict[str, str] = {}

    @staticmethod
    def school_view(s: dict) -> dict:
        return {"school_code": s["school_code"], "school_name": s["name"], "level": s["level"],
                "commune_code": s["commune_code"], "managing_unit": s["managing_unit"]}

    @staticmethod
    def learner_view(x: dict) -> dict:
        return {
            "learner_id": x["moet_id"], "national_id": x["personal_id"],
            "full_name": x["full_name"], "birth_date": x["date_of_birth"],
            "gender": GENDER_CODES.get(x["sex"]), "ethnicity": x["ethnicity"],
            "school_code": x["school_code"], "class_name": x["class_name"], "grade": x["grade"],
            "enrollment_status": x["status"], "updated_at": x["updated_at"],
        }

    @staticmethod
    def class_view(c: dict) -> dict:
        return {"class_id": c["class_id"], "school_code": c["school_code"],
                "school_year": c["school_year"], "class_name": c["class_name"], "grade": c["grade"],
                "homeroom_teacher_id": c.get("homeroom_staff_id"), "updated_at": c["updated_at"]}

    @staticmethod
    def staff_view(s: dict) -> dict:
        return {"staff_id": s["moet_id"], "national_id": s["personal_id"],
                "full_name": s["full_name"], "birth_date": s["date_of_birth"],
                "gender": GENDER_CODES.get(s["sex"]), "ethnicity": s["ethnicity"],
                "school_code": s["school_code"], "role": s["role"],
                "qualification": s.get("qualification"), "subject": s.get("subject"),
                "updated_at": s["updated_at"]}

    @staticmethod
    def facility_view(f: dict) -> dict:
        return {"school_code": f["school_code"], "school_year": f["school_year"],
                "classrooms": f["classrooms"], "solid_classrooms": f["solid_classrooms"],
                "clean_water": f["clean_water"], "toilets": f["toilets"],
                "minimum_equipment": f["minimum_equipment"], "teacher_housing": f["teacher_housing"],
                "updated_at": f["updated_at"]}

    @staticmethod
    def result_view(r: dict) -> dict:
        return {"learner_id": r["moet_id"], "school_code": r["school_code"],
                "school_year": r["school_year"], "term": r["term"], "scores": r.get("scores"),
                "assessment": r.get("assessment"), "conduct": r.get("conduct"),
                "updated_at": r["updated_at"]}

    @staticmethod
    def health_view(h: dict) -> dict:
        return {"learner_id": h["moet_id"], "school_code": h["school_code"],
                "school_year": h["school_year"], "check_date": h.get("check_date"),
                "height_cm": h.get("height_cm"), "weight_kg": h.get("weight_kg"),
                "nutrition_status": h.get("nutrition_status"), "updated_at": h["updated_at"]}

    @staticmethod
    def transcript_view(t: dict) -> dict:
        return {"learner_id": t["moet_id"], "school_code": t["school_code"],
                "school_year": t["school_year"], "status": t["status"], "updated_at": t["updated_at"]}

    def _served_learner(self, x: dict) -> dict:
        """A learner as served, with the hostile profile's persistent drift applied."""
        view = self.learner_view(x)
        school = x["school_code"]
        renamed = self.hostile.renamed(self.source, school)
        if renamed:
            old, new = renamed
            view = {(new if k == old else k): v for k, v in view.items()}
        added = self.hostile.added(self.source, school)
        if added:
            view[added] = faultlib.added_value(self.seed, self.source, x["learner_key"])
        missing = self.hostile.malformed(self.source, "learners", x["learner_key"])
        if missing:
            view.pop(missing, None)
        return view

    def handle(self, method: str, path: str, query: dict, headers, body: bytes) -> dict | Reply:
        if method == "POST" and path == "/auth/token":
            try:
                payload = json.loads(body or b"{}")
            except json.JSONDecodeError as exc:
                raise HttpError(HTTPStatus.BAD_REQUEST, "body must be JSON") from exc
            given = Credentials(str(payload.get("client_id", "")), str(payload.get("client_secret", "")))
            if not (secrets.compare_digest(given.client_id.encode(), self.credentials.client_id.encode())
                    and secrets.compare_digest(given.client_secret.encode(),
                                               self.credentials.client_secret.encode())):
                raise HttpError(HTTPStatus.UNAUTHORIZED, "invalid client credentials")
            token = secrets.token_urlsafe(24)
            self.tokens.add(token)
            return {"access_token": token, "token_type": "bearer", "expires_in": 3600}

        auth = headers.get("Authorization", "")
        if not auth.startswith("Bearer ") or auth[7:] not in self.tokens:
            raise HttpError(HTTPStatus.UNAUTHORIZED, "missing or unknown bearer token")
        if method != "GET":
            raise HttpError(HTTPStatus.METHOD_NOT_ALLOWED, "only GET")

        since_text = _param(query, "updated_since")
        since = parse_since(since_text) if since_text else None
        parts = path.strip("/").split("/")
        if parts == ["schools"]:
            schools = _changed_since(self.schools, since, lambda s: s.get("updated_at", "1970-01-01"))
            return self._page([self.school_view(s) for s in schools], query)
        if len(parts) == 3 and parts[0] == "schools" and parts[2] in self.views:
            entity = parts[2]
            rows = self.rows[entity].get(parts[1])
            if rows is None:
                raise HttpError(HTTPStatus.NOT_FOUND, f"unknown school {parts[1]}")
            rows = _changed_since(rows, since)
            year = _param(query, "school_year")
            if year and entity in YEAR_ENTITIES:
                rows = [r for r in rows if r.get("school_year") == year]
            views = [self.views[entity](r) for r in rows]
            if entity == "learners" and self.hostile.shifts(self.source, entity, parts[1]):
                return self._shifting_page(path, query, views)
            return self._page(views, query)
        raise HttpError(HTTPStatus.NOT_FOUND, f"no such endpoint {path}")

    @staticmethod
    def _page(rows: list[dict], query: dict) -> dict:
        offset, limit = _page_params(query)
        return {"data": rows[offset:offset + limit], "total": len(rows), "offset": offset,
                "limit": limit}

    def _shifting_page(self, path: str, query: dict, views: list[dict]) -> Reply:
        """Hostile: once the first page of a listing is delivered, its first record moves to
        the end (as if re-sorted after an update) until a pass reaches the end; later passes
        are stable. Offset paging thus sees one record twice and skips another."""
        offset, limit = _page_params(query)
        listing = path + "?" + "&".join(f"{k}={v}" for k, v in sorted(query.items())
                                        if k not in ("offset", "limit"))
        with self._shift_lock:
            state = self._shift_state.get(listing, "fresh")
        if state == "shifted":
            views = views[1:] + views[:1]
        reaches_end = offset + limit >= len(views)
        new_state = state
        if state == "fresh" and offset == 0 and not reaches_end:
            new_state = "shifted"
        elif state == "shifted" and reaches_end:
            new_state = "stable"

        def commit() -> None:
            with self._shift_lock:
                if self._shift_state.get(listing, "fresh") == state:
                    self._shift_state[listing] = new_state

        return Reply(self._page(views, query), commit if new_state != state else None)


# --- vendor B --------------------------------------------------------------------------------

def _b_school(s: dict) -> dict:
    return {"ma_truong": s["school_code"], "ten_truong": s["name"],
            "cap_hoc": label(LEVEL_LABELS, s["level"]), "ma_xa": s["commune_code"],
            "don_vi_quan_ly": s["managing_unit"], "ngay_cap_nhat": vn_datetime(s["updated_at"])}


def _b_learner(x: dict) -> dict:
    return {"ma_dinh_danh_bo": x["moet_id"], "so_dinh_danh": x["personal_id"], "ho_ten": x["full_name"],
            "ngay_sinh": vn_date(x["date_of_birth"]), "gioi_tinh": label(SEX_LABELS, x["sex"]),
            "dan_toc": x["ethnicity"], "ma_truong": x["school_code"], "ma_lop": x.get("class_id"),
            "lop": x["class_name"], "khoi": x["grade"], "trang_thai": label(STATUS_LABELS, x["status"]),
            "ma_xa_thuong_tru": x.get("residence_commune_code"), "so_dien_thoai": x.get("phone"),
            "ngay_cap_nhat": vn_datetime(x["updated_at"])}


def _b_class(c: dict) -> dict:
    return {"ma_lop": c["class_id"], "ma_truong": c["school_code"], "nam_hoc": c["school_year"],
            "ten_lop": c["class_name"], "khoi": c["grade"], "ma_gvcn": c.get("homeroom_staff_id"),
            "ngay_cap_nhat": vn_datetime(c["updated_at"])}


def _b_staff(s: dict) -> dict:
    return {"ma_dinh_danh_bo": s["moet_id"], "so_dinh_danh": s["personal_id"], "ho_ten": s["full_name"],
            "ngay_sinh": vn_date(s["date_of_birth"]), "gioi_tinh": label(SEX_LABELS, s["sex"]),
            "dan_toc": s["ethnicity"], "ma_truong": s["school_code"],
            "vi_tri_viec_lam": label(ROLE_LABELS, s["role"]),
            "trinh_do_dao_tao": label(QUALIFICATION_LABELS, s.get("qualification")),
            "mon_day": s.get("subject"), "ngay_cap_nhat": vn_datetime(s["updated_at"])}


def _b_facility(f: dict) -> dict:
    return {"ma_truong": f["school_code"], "nam_hoc": f["school_year"], "so_phong_hoc": f["classrooms"],
            "so_phong_hoc_kien_co": f["solid_classrooms"], "nuoc_sach": f["clean_water"],
            "so_cong_trinh_ve_sinh": f["toilets"], "thiet_bi_day_hoc_toi_thieu": f["minimum_equipment"],
            "so_nha_cong_vu": f["teacher_housing"], "ngay_cap_nhat": vn_datetime(f["updated_at"])}


def _b_result(r: dict) -> dict:
    return {"ma_dinh_danh_bo": r["moet_id"], "ma_truong": r["school_code"], "nam_hoc": r["school_year"],
            "hoc_ky": label(TERM_LABELS, r["term"]), "diem": r.get("scores"),
            "danh_gia": label(ASSESSMENT_LABELS, r.get("assessment")),
            "ren_luyen": label(CONDUCT_LABELS, r.get("conduct")),
            "ngay_cap_nhat": vn_datetime(r["updated_at"])}


def _b_health(h: dict) -> dict:
    return {"ma_dinh_danh_bo": h["moet_id"], "ma_truong": h["school_code"], "nam_hoc": h["school_year"],
            "ngay_kham": vn_date(h.get("check_date")), "chieu_cao_cm": h.get("height_cm"),
            "can_nang_kg": h.get("weight_kg"),
            "tinh_trang_dinh_duong": label(NUTRITION_LABELS, h.get("nutrition_status")),
            "ngay_cap_nhat": vn_datetime(h["updated_at"])}


def _b_transcript(t: dict) -> dict:
    return {"ma_dinh_danh_bo": t["moet_id"], "ma_truong": t["school_code"], "nam_hoc": t["school_year"],
            "trang_thai_hoc_ba": label(TRANSCRIPT_LABELS, t["status"]),
            "ngay_cap_nhat": vn_datetime(t["updated_at"])}


class VendorB:
    """Vendor B's API: API key, cursor pagination, Vietnamese field names and labels."""

    prefix = "/vendor-b/api"
    source = "sms_vendor_b"
    service = "sms_vendor_b"
    # path -> (data stem, view, fields of the sort key; the cursor resumes after a key)
    ENTITIES: dict[str, tuple[str, Callable[[dict], dict], tuple[str, ...]]] = {
        "truong": ("schools", _b_school, ("school_code",)),
        "lop-hoc": ("classes", _b_class, ("class_id",)),
        "hoc-sinh": ("learners", _b_learner, ("learner_key",)),
        "can-bo": ("staff", _b_staff, ("staff_key",)),
        "co-so-vat-chat": ("facilities", _b_facility, ("school_year",)),
        "ket-qua-hoc-tap": ("results", _b_result, ("moet_id", "school_year", "term")),
        "suc-khoe": ("health", _b_health, ("moet_id", "school_year")),
        "hoc-ba-so": ("transcripts", _b_transcript, ("moet_id", "school_year")),
    }

    def __init__(self, data: dict[str, list[dict]], credentials: Credentials,
                 hostile: faultlib.PersistentFaults | None = None, seed: int = 0):
        self.api_key = credentials.api_key(self.service)
        self.hostile = hostile or faultlib.PersistentFaults()
        self.seed = seed
        schools = [s for s in data["schools"] if s["vendor"] == "sms_vendor_b"]
        self.codes = {s["school_code"] for s in schools}
        # path -> school code ("" for the school list) -> [(sort key, record)] in key order
        self.rows: dict[str, dict[str, list[tuple[tuple, dict]]]] = {}
        for path, (stem, _view, key_fields) in self.ENTITIES.items():
            source_rows = schools if path == "truong" else data.get(stem, [])
            groups: dict[str, list[tuple[tuple, dict]]] = {"": []} if path == "truong" else \
                {c: [] for c in self.codes}
            for i, row in enumerate(source_rows):
                group = "" if path == "truong" else row.get("school_code")
                if group in groups:
                    key = tuple(str(row.get(f) or "") for f in key_fields) + (i,)
                    groups[group].append((key, row))
            for group in groups.values():
                group.sort(key=lambda pair: pair[0])
            self.rows[path] = groups

    def _served(self, path: str, row: dict) -> dict:
        view = self.ENTITIES[path][1](row)
        if path != "hoc-sinh":
            return view
        school = row["school_code"]
        renamed = self.hostile.renamed(self.source, school)
        if renamed:
            old, new = renamed
            view = {(new if k == old else k): v for k, v in view.items()}
        added = self.hostile.added(self.source, school)
        if added:
            view[added] = faultlib.added_value(self.seed, self.source, row["learner_key"])
        missing = self.hostile.malformed(self.source, "learners", row["learner_key"])
        if missing:
            view[missing] = None
        return view

    def handle(self, method: str, path: str, query: dict, headers, body: bytes) -> dict:
        _require_api_key(headers, self.api_key)
        if method != "GET":
            raise HttpError(HTTPStatus.METHOD_NOT_ALLOWED, "only GET")
        entity = path.strip("/")
        if entity not in self.ENTITIES:
            raise HttpError(HTTPStatus.NOT_FOUND, f"no such endpoint {path}")
        school = _param(query, "ma_truong")
        if entity == "truong":
            group = ""
        elif not school:
            raise HttpError(HTTPStatus.BAD_REQUEST, "ma_truong is required")
        elif school not in self.codes:
            raise HttpError(HTTPStatus.NOT_FOUND, f"unknown school {school}")
        else:
            group = school
        limit = _int_param(query, "limit", DEFAULT_PAGE_SIZE)
        if not 1 <= limit <= MAX_PAGE_SIZE:
            raise HttpError(HTTPStatus.BAD_REQUEST, f"need 1 <= limit <= {MAX_PAGE_SIZE}")
        since_text = _param(query, "updated_since")
        since = parse_since(since_text, vietnamese=True) if since_text else None
        year = _param(query, "nam_hoc")
        rows = _changed_since(self.rows[entity][group], since, lambda pair: pair[1]["updated_at"])
        if year and self.ENTITIES[entity][0] in YEAR_ENTITIES:
            rows = [p for p in rows if p[1].get("school_year") == year]
        # The cursor is bound to its query: reusing it with other filters is an error.
        fingerprint = hashlib.sha256("|".join(
            (entity, group, since_text or "", year or "")).encode()).hexdigest()[:12]
        start = 0
        cursor = _param(query, "cursor")
        if cursor:
            after = self._decode_cursor(cursor, fingerprint)
            start = bisect.bisect_right([p[0] for p in rows], after)
        page = rows[start:start + limit]
        more = start + limit < len(rows)
        next_cursor = self._encode_cursor(page[-1][0], fingerprint) if more and page else None
        return {"items": [self._served(entity, row) for _key, row in page],
                "next_cursor": next_cursor, "limit": limit}

    @staticmethod
    def _encode_cursor(key: tuple, fingerprint: str) -> str:
        raw = json.dumps({"after": list(key), "q": fingerprint}, separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @staticmethod
    def _decode_cursor(cursor: str, fingerprint: str) -> tuple:
        try:
            raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
            payload = json.loads(raw)
            after, query = tuple(payload["after"]), payload["q"]
        except (ValueError, KeyError, TypeError) as exc:
            raise HttpError(HTTPStatus.BAD_REQUEST, "invalid cursor") from exc
        if query != fingerprint:
            raise HttpError(HTTPStatus.BAD_REQUEST, "cursor belongs to another query")
        return after


# --- population verification -----------------------------------------------------------------

class TokenBucket:
    """`rate` requests per second on average, bursts of up to `burst`."""

    def __init__(self, rate: float, burst: float | None = None, clock=time.monotonic):
        self.rate = rate
        self.capacity = burst if burst is not None else max(1.0, rate)
        self.tokens = self.capacity
        self.clock = clock
        self.updated = clock()
        self._lock = threading.Lock()

    def take(self) -> float:
        """0 if a request may go now, else the seconds until one may."""
        with self._lock:
            now = self.clock()
            self.tokens = min(self.capacity, self.tokens + (now - self.updated) * self.rate)
            self.updated = now
            if self.tokens >= 1:
                self.tokens -= 1
                return 0.0
            return (1 - self.tokens) / self.rate


def _nfc(value):
    return unicodedata.normalize("NFC", value) if isinstance(value, str) else value


class Population:
    """The population database's verification service, over registry.jsonl."""

    prefix = "/population/api/v1"
    service = "population"
    COMPARED = ("full_name", "date_of_birth", "sex")

    def __init__(self, data: dict[str, list[dict]], credentials: Credentials,
                 rate_per_second: float = 20.0, burst: float | None = None):
        self.api_key = credentials.api_key(self.service)
        self.registry = {p["personal_id"]: p for p in data.get("registry", [])}
        self.bucket = TokenBucket(rate_per_second, burst)

    def handle(self, method: str, path: str, query: dict, headers, body: bytes) -> dict:
        _require_api_key(headers, self.api_key)
        if path != "/verify":
            raise HttpError(HTTPStatus.NOT_FOUND, f"no such endpoint {path}")
        if method != "POST":
            raise HttpError(HTTPStatus.METHOD_NOT_ALLOWED, "only POST")
        wait = self.bucket.take()
        if wait:
            raise HttpError(HTTPStatus.TOO_MANY_REQUESTS, "rate limit exceeded",
                            {"Retry-After": str(max(1, math.ceil(wait)))})
        try:
            payload = json.loads(body or b"null")
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise HttpError(HTTPStatus.BAD_REQUEST, "body must be JSON") from exc
        records = payload.get("records") if isinstance(payload, dict) else None
        if not isinstance(records, list) or not records:
            raise HttpError(HTTPStatus.BAD_REQUEST, 'body must be {"records": [...]} with 1 or more records')
        if len(records) > MAX_VERIFY_BATCH:
            raise HttpError(HTTPStatus.REQUEST_ENTITY_TOO_LARGE,
                            f"batch of {len(records)} records; at most {MAX_VERIFY_BATCH} per request")
        results = []
        for i, record in enumerate(records):
            if not isinstance(record, dict) or not isinstance(record.get("personal_id"), str):
                raise HttpError(HTTPStatus.BAD_REQUEST, f"records[{i}] needs a string personal_id")
            results.append(self.verify(record))
        return {"results": results}

    def verify(self, record: dict) -> dict:
        pid = record["personal_id"]
        truth = self.registry.get(pid)
        if truth is None:
            return {"personal_id": pid, "status": "not_found", "mismatched_fields": []}
        # Names compare exactly after NFC: accents tell "Hà" from "Hạ".
        mismatched = [f for f in self.COMPARED if _nfc(record.get(f)) != _nfc(truth.get(f))]
        return {"personal_id": pid, "status": "mismatch" if mismatched else "match",
                "mismatched_fields": mismatched}


# --- PCGD-XMC --------------------------------------------------------------------------------

class Pcgd:
    """PCGD-XMC: households of a commune with their residents nested, page/page_size paging."""

    prefix = "/pcgd/api/v1"
    source = "pcgd"
    service = "pcgd"

    def __init__(self, data: dict[str, list[dict]], credentials: Credentials,
                 hostile: faultlib.PersistentFaults | None = None):
        self.api_key = credentials.api_key(self.service)
        self.hostile = hostile or faultlib.PersistentFaults()
        self.communes = sorted(data.get("communes", []), key=lambda c: c["commune_code"])
        residents: dict[str, list[dict]] = {}
        for r in data.get("pcgd_residents", []):
            residents.setdefault(r["household_id"], []).append(r)
        codes = {c["commune_code"] for c in self.communes}
        codes |= {h["commune_code"] for h in data.get("pcgd_households", [])}
        self.households: dict[str, list[tuple[dict, list[dict], str]]] = {c: [] for c in codes}
        for h in sorted(data.get("pcgd_households", []), key=lambda h: h["household_id"]):
            members = sorted(residents.get(h["household_id"], []), key=lambda r: r["resident_id"])
            # A household changed when it or one of its residents did.
            latest = max([h["updated_at"], *(r["updated_at"] for r in members)],
                         key=datetime.fromisoformat)
            self.households[h["commune_code"]].append((h, members, latest))

    def household_view(self, h: dict, members: list[dict]) -> dict:
        view = {"household_id": h["household_id"], "commune_code": h["commune_code"],
                "head_name": h["head_name"], "address": h["address"], "updated_at": h["updated_at"],
                "residents": [{"resident_id": r["resident_id"], "personal_id": r["personal_id"],
                               "full_name": r["full_name"], "date_of_birth": r["date_of_birth"],
                               "sex": r["sex"], "education_status": r["education_status"],
                               "updated_at": r["updated_at"]} for r in members]}
        missing = self.hostile.malformed(self.source, "households", h["household_id"])
        if missing:
            view[missing] = None
        return view

    @staticmethod
    def _page(rows: list, query: dict, view=lambda r: r) -> dict:
        page, size = _int_param(query, "page", 1), _int_param(query, "page_size", DEFAULT_PAGE_SIZE)
        if page < 1 or not 1 <= size <= MAX_PAGE_SIZE:
            raise HttpError(HTTPStatus.BAD_REQUEST, f"need page >= 1 and 1 <= page_size <= {MAX_PAGE_SIZE}")
        chunk = rows[(page - 1) * size:page * size]
        return {"data": [view(r) for r in chunk], "page": page, "page_size": size, "total": len(rows),
                "total_pages": math.ceil(len(rows) / size)}

    def handle(self, method: str, path: str, query: dict, headers, body: bytes) -> dict:
        _require_api_key(headers, self.api_key)
        if method != "GET":
            raise HttpError(HTTPStatus.METHOD_NOT_ALLOWED, "only GET")
        parts = path.strip("/").split("/")
        if parts == ["communes"]:
            return self._page([{"commune_code": c["commune_code"], "name": c["name"],
                                "division_type": c["division_type"]} for c in self.communes], query)
        if len(parts) == 3 and parts[0] == "communes" and parts[2] == "households":
            rows = self.households.get(parts[1])
            if rows is None:
                raise HttpError(HTTPStatus.NOT_FOUND, f"unknown commune {parts[1]}")
            since_text = _param(query, "updated_since")
            if since_text:
                rows = _changed_since(rows, parse_since(since_text), lambda t: t[2])
            return self._page(rows, query, lambda t: self.household_view(t[0], t[1]))
        raise HttpError(HTTPStatus.NOT_FOUND, f"no such endpoint {path}")


# --- the server ------------------------------------------------------------------------------

class SandboxServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, data_dir: Path | None, credentials: Credentials, port: int = 0, *,
                 faults: str | faultlib.FaultProfile = "none", seed: int = 0,
                 data: dict[str, list[dict]] | None = None,
                 population_rate: float = 20.0, population_burst: float | None = None):
        data = data if data is not None else generator.load(Path(data_dir))
        self.fault_profile = faultlib.profile(faults)
        self.seed = seed
        self.injector = faultlib.FaultInjector(self.fault_profile, seed)
        self.hostile = faultlib.persistent_faults(data, seed, self.fault_profile)
        self.apps = [
            VendorA(data, credentials, self.hostile, seed),
            VendorB(data, credentials, self.hostile, seed),
            Population(data, credentials, population_rate, population_burst),
            Pcgd(data, credentials, self.hostile),
        ]
        super().__init__(("127.0.0.1", port), _Handler)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    @property
    def transient_faults(self) -> bool:
        p = self.fault_profile
        return any((p.share_5xx, p.share_429, p.share_timeout, p.share_malformed_page, p.share_slow))


class _Handler(BaseHTTPRequestHandler):
    server: SandboxServer
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes: with Nagle on, keep-alive clients wait ~40 ms each.
    disable_nagle_algorithm = True

    def log_message(self, format, *args):  # noqa: A002 - signature fixed by the base class
        log.debug("%s %s", self.address_string(), format % args)

    def _dispatch(self, method: str) -> None:
        url = urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length) if length else b""
        app = next((a for a in self.server.apps if url.path.startswith(a.prefix + "/")), None)
        if app is None:
            self._send(HTTPStatus.NOT_FOUND, {"error": f"no simulator at {url.path}"})
            return
        fault = faultlib.Fault(faultlib.NONE, 0)
        if self.server.transient_faults:
            fault = self.server.injector.decide(faultlib.request_key(method, url.path, url.query, body))
        if fault.delay:
            time.sleep(fault.delay)
        if fault.kind in (faultlib.ERROR_5XX, faultlib.TIMEOUT):
            self._send(fault.status, {"error": "simulated server error"})
            return
        if fault.kind == faultlib.RATE_LIMITED:
            self._send(HTTPStatus.TOO_MANY_REQUESTS, {"error": "too many requests (simulated)"},
                       {"Retry-After": str(self.server.fault_profile.retry_after_seconds)})
            return
        try:
            reply = app.handle(method, url.path[len(app.prefix):], parse_qs(url.query), self.headers, body)
        except HttpError as exc:
            self._send(exc.status, {"error": exc.message}, exc.headers)
            return
        except Exception:
            log.exception("simulator error on %s %s", method, url.path)
            self._send(HTTPStatus.INTERNAL_SERVER_ERROR, {"error": "internal error"})
            return
        if not isinstance(reply, Reply):
            reply = Reply(reply)
        data = json.dumps(reply.payload, ensure_ascii=False).encode("utf-8")
        if fault.kind == faultlib.MALFORMED_PAGE and method == "GET":
            # A page cut off mid-way: 200, JSON content type, invalid JSON. Not delivered.
            self._send_bytes(HTTPStatus.OK, data[:max(1, len(data) // 2)])
            return
        if self._send_bytes(HTTPStatus.OK, data) and reply.commit:
            reply.commit()

    def _send(self, status, payload: dict, headers: dict | None = None) -> bool:
        return self._send_bytes(status, json.dumps(payload, ensure_ascii=False).encode("utf-8"), headers)

    def _send_bytes(self, status, data: bytes, headers: dict | None = None) -> bool:
        try:
            self.send_response(status)
            for name, value in (headers or {}).items():
                self.send_header(name, value)
            self.send_header("Content-Type", "application/json; charset=utf-8")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)
            self.wfile.flush()
            return True
        except (BrokenPipeError, ConnectionResetError):
            # The client gave up (its read timeout): nothing was delivered.
            self.close_connection = True
            return False

    def do_GET(self):  # noqa: N802 - http.server naming
        self._dispatch("GET")

    def do_POST(self):  # noqa: N802
        self._dispatch("POST")

    def do_PUT(self):  # noqa: N802
        self._dispatch("PUT")

    def do_DELETE(self):  # noqa: N802
        self._dispatch("DELETE")


def serve(data_dir: Path, credentials: Credentials, port: int = 0, faults: str = "none",
          seed: int = 0) -> None:
    server = SandboxServer(data_dir, credentials, port, faults=faults, seed=seed)
    # The first line of output tells a parent process where to connect.
    print(f"eduhub sandbox listening on {server.base_url} (faults: {server.fault_profile.name}, "
          f"seed {seed})", flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
        sys.stdout.flush()
