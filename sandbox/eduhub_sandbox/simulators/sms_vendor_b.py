"""School management vendor B under `/vendor-b/api` (docs/sources/sms_vendor_b.md): API key,
cursor pagination, Vietnamese field names and labels, dd/mm/yyyy dates."""

from __future__ import annotations

import base64
import bisect
import hashlib
import json
import logging
from collections.abc import Callable
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
    changed_since,
    int_param,
    label,
    param,
    parse_since,
    require_api_key,
    vn_date,
    vn_datetime,
)

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
        rows = changed_since(self.rows[entity][group], since, lambda pair: pair[1]["updated_at"])
        if year and self.ENTITIES[entity][0] in YEAR_ENTITIES:
            rows = [p for p in rows if p[1].get("school_year") == year]
        # The cursor is bound to its query: reusing it with other filters is an error.
        fingerprint = hashlib.sha256("|".join(
            (entity, group, since_text or "", year or "")).encode()).hexdigest()[:12]
        start = 0
        cursor = param(query, "cursor")
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
