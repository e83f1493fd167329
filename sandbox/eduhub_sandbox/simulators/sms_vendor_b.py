"""School management vendor B under `/vendor-b/api` (docs/sources/sms_vendor_b.md): API key,
cursor pagination, Vietnamese field names and labels, dd/mm/yyyy dates."""

from __future__ import annotations

import base64
import bisect
import hashlib
import json
import logging
from collections.abc import Callable, Iterator
from datetime import datetime
from http import HTTPStatus

from eduhub_sandbox import faults as faultlib
from eduhub_sandbox.simulators.common import (
    ASSESSMENT_LABELS,
    CONDUCT_LABELS,
    DEFAULT_PAGE_SIZE,
    LEVEL_LABELS,
    MAX_PAGE_SIZE,
    NUTRITION_LABELS,
    OUTCOME_LABELS,
    QUALIFICATION_LABELS,
    ROLE_LABELS,
    SEX_LABELS,
    STATUS_LABELS,
    TERM_LABELS,
    TRANSCRIPT_LABELS,
    YEAR_ENTITIES,
    Credentials,
    HttpError,
    int_param,
    label,
    param,
    parse_since,
    require_api_key,
    vn_date,
    vn_datetime,
)
from eduhub_sandbox.store import SORT_KEYS, ProvinceStore

log = logging.getLogger(__name__)


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
            "ket_qua_cuoi_nam": label(OUTCOME_LABELS, r.get("outcome")),
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
        "truong": ("schools", _b_school, SORT_KEYS["schools"]),
        "lop-hoc": ("classes", _b_class, SORT_KEYS["classes"]),
        "hoc-sinh": ("learners", _b_learner, SORT_KEYS["learners"]),
        "can-bo": ("staff", _b_staff, SORT_KEYS["staff"]),
        "co-so-vat-chat": ("facilities", _b_facility, SORT_KEYS["facilities"]),
        "ket-qua-hoc-tap": ("results", _b_result, SORT_KEYS["results"]),
        "suc-khoe": ("health", _b_health, SORT_KEYS["health"]),
        "hoc-ba-so": ("transcripts", _b_transcript, SORT_KEYS["transcripts"]),
    }

    def __init__(self, data: ProvinceStore | dict[str, list[dict]], credentials: Credentials,
                 hostile: faultlib.PersistentFaults | None = None, seed: int = 0):
        self.store = ProvinceStore.of(data)
        self.api_key = credentials.api_key(self.service)
        self.hostile = hostile or faultlib.PersistentFaults()
        self.seed = seed
        schools = [s for s in self.store.schools if s["vendor"] == "sms_vendor_b"]
        self.codes = {s["school_code"] for s in schools}
        # The school list is small and kept in memory: [(sort key, record)] in key order; its
        # position is the school's among vendor B's schools.
        key_fields = self.ENTITIES["truong"][2]
        self.schools = sorted(((tuple(str(s.get(f) or "") for f in key_fields) + (i,), s)
                               for i, s in enumerate(schools)), key=lambda pair: pair[0])

    def _keys(self, entity: str, group: str, since, year: str | None) -> list[tuple]:
        """The sort keys of a listing's records, in order; a school's records are read from
        the store (their key ends with their position in the file)."""
        if entity == "truong":
            return [key for key, s in self.schools
                    if since is None or datetime.fromisoformat(s["updated_at"]) > since]
        stem = self.ENTITIES[entity][0]
        return self.store.vendor_b_keys(stem, group, since,
                                        year if year and stem in YEAR_ENTITIES else None)

    def _records(self, entity: str, keys: list[tuple]) -> list[dict]:
        if entity == "truong":
            by_key = dict(self.schools)
            return [by_key[k] for k in keys]
        return self.store.school_records(self.ENTITIES[entity][0], [k[-1] for k in keys])

    def served(self, entity: str) -> Iterator[dict]:
        """Every record of a listing as served (persistent faults included), school by school."""
        for group in ([""] if entity == "truong" else sorted(self.codes)):
            keys = self._keys(entity, group, None, None)
            for start in range(0, len(keys), MAX_PAGE_SIZE):
                for row in self._records(entity, keys[start:start + MAX_PAGE_SIZE]):
                    yield self._served(entity, row)

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
        require_api_key(headers, self.api_key)
        if method != "GET":
            raise HttpError(HTTPStatus.METHOD_NOT_ALLOWED, "only GET")
        entity = path.strip("/")
        if entity not in self.ENTITIES:
            raise HttpError(HTTPStatus.NOT_FOUND, f"no such endpoint {path}")
        school = param(query, "ma_truong")
        if entity == "truong":
            group = ""
        elif not school:
            raise HttpError(HTTPStatus.BAD_REQUEST, "ma_truong is required")
        elif school not in self.codes:
            raise HttpError(HTTPStatus.NOT_FOUND, f"unknown school {school}")
        else:
            group = school
        limit = int_param(query, "limit", DEFAULT_PAGE_SIZE)
        if not 1 <= limit <= MAX_PAGE_SIZE:
            raise HttpError(HTTPStatus.BAD_REQUEST, f"need 1 <= limit <= {MAX_PAGE_SIZE}")
        since_text = param(query, "updated_since")
        since = parse_since(since_text, vietnamese=True) if since_text else None
        year = param(query, "nam_hoc")
        keys = self._keys(entity, group, since, year)
        # The cursor is bound to its query: reusing it with other filters is an error.
        fingerprint = hashlib.sha256("|".join(
            (entity, group, since_text or "", year or "")).encode()).hexdigest()[:12]
        start = 0
        cursor = param(query, "cursor")
        if cursor:
            after = self._decode_cursor(cursor, fingerprint)
            start = bisect.bisect_right(keys, after)
        page = keys[start:start + limit]
        more = start + limit < len(keys)
        next_cursor = self._encode_cursor(page[-1], fingerprint) if more and page else None
        return {"items": [self._served(entity, row) for row in self._records(entity, page)],
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
