"""School management vendor A under `/vendor-a/api/v1` (docs/sources/sms_vendor_a.md):
token login, offset pagination, English field names, ISO dates."""

from __future__ import annotations

import json
import logging
import secrets
import threading
from collections.abc import Callable, Iterator
from http import HTTPStatus

from eduhub_sandbox import faults as faultlib
from eduhub_sandbox.simulators.common import (
    GENDER_CODES,
    MAX_PAGE_SIZE,
    YEAR_ENTITIES,
    Credentials,
    HttpError,
    Reply,
    changed_since,
    page_params,
    param,
    parse_since,
)
from eduhub_sandbox.store import ProvinceStore

log = logging.getLogger(__name__)


class VendorA:
    """Vendor A's API over the generated province (only the schools that use vendor A)."""

    prefix = "/vendor-a/api/v1"
    source = "sms_vendor_a"

    def __init__(self, data: ProvinceStore | dict[str, list[dict]], credentials: Credentials,
                 hostile: faultlib.PersistentFaults | None = None, seed: int = 0):
        self.store = ProvinceStore.of(data)
        self.credentials = credentials
        self.hostile = hostile or faultlib.PersistentFaults()
        self.seed = seed
        self.tokens: set[str] = set()
        self.schools = [s for s in self.store.schools if s["vendor"] == "sms_vendor_a"]
        self.codes = {s["school_code"] for s in self.schools}
        self.views: dict[str, Callable[[dict], dict]] = {
            "learners": self._served_learner, "classes": self.class_view, "staff": self.staff_view,
            "facilities": self.facility_view, "results": self.result_view,
            "health": self.health_view, "transcripts": self.transcript_view,
        }
        self._shift_lock = threading.Lock()
        self._shift_state: dict[str, str] = {}

    def served(self, entity: str) -> Iterator[dict]:
        """Every record of `entity` as served (persistent faults included), school by school."""
        for code in sorted(self.codes):
            seqs = self.store.school_seqs(entity, code)
            for start in range(0, len(seqs), MAX_PAGE_SIZE):
                yield from map(self.views[entity],
                               self.store.school_records(entity, seqs[start:start + MAX_PAGE_SIZE]))

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
                "year_end_outcome": r.get("outcome"), "updated_at": r["updated_at"]}

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

        since_text = param(query, "updated_since")
        since = parse_since(since_text) if since_text else None
        parts = path.strip("/").split("/")
        if parts == ["schools"]:
            schools = changed_since(self.schools, since, lambda s: s.get("updated_at", "1970-01-01"))
            offset, limit = page_params(query)
            return self._page_of([self.school_view(s) for s in schools[offset:offset + limit]],
                                 len(schools), offset, limit)
        if len(parts) == 3 and parts[0] == "schools" and parts[2] in self.views:
            entity, code = parts[2], parts[1]
            if code not in self.codes:
                raise HttpError(HTTPStatus.NOT_FOUND, f"unknown school {code}")
            year = param(query, "school_year")
            seqs = self.store.school_seqs(entity, code, since,
                                          year if year and entity in YEAR_ENTITIES else None)
            if entity == "learners" and self.hostile.shifts(self.source, entity, code):
                return self._shifting_page(entity, path, query, seqs)
            return self._page(entity, seqs, query)
        raise HttpError(HTTPStatus.NOT_FOUND, f"no such endpoint {path}")

    @staticmethod
    def _page_of(rows: list, total: int, offset: int, limit: int) -> dict:
        return {"data": rows, "total": total, "offset": offset, "limit": limit}

    def _page(self, entity: str, seqs: list[int], query: dict) -> dict:
        """One page of a school's listing: only the records on it are read and shaped."""
        offset, limit = page_params(query)
        rows = self.store.school_records(entity, seqs[offset:offset + limit])
        return self._page_of([self.views[entity](r) for r in rows], len(seqs), offset, limit)

    def _shifting_page(self, entity: str, path: str, query: dict, seqs: list[int]) -> Reply:
        """Hostile: once the first page of a listing is delivered, its first record moves to
        the end (as if re-sorted after an update) until a pass reaches the end; later passes
        are stable. Offset paging thus sees one record twice and skips another."""
        offset, limit = page_params(query)
        listing = path + "?" + "&".join(f"{k}={v}" for k, v in sorted(query.items())
                                        if k not in ("offset", "limit"))
        with self._shift_lock:
            state = self._shift_state.get(listing, "fresh")
        if state == "shifted":
            seqs = seqs[1:] + seqs[:1]
        reaches_end = offset + limit >= len(seqs)
        new_state = state
        if state == "fresh" and offset == 0 and not reaches_end:
            new_state = "shifted"
        elif state == "shifted" and reaches_end:
            new_state = "stable"

        def commit() -> None:
            with self._shift_lock:
                if self._shift_state.get(listing, "fresh") == state:
                    self._shift_state[listing] = new_state

        return Reply(self._page(entity, seqs, query), commit if new_state != state else None)
