"""Client of school management vendor A: token login, offset pagination, English field names.

Contract: docs/sources/sms_vendor_a.md.
"""

from __future__ import annotations

from collections.abc import Iterator

from eduhub.landing import EntitySpec, canonical_json
from eduhub.sources.base import Listing, SourceClient

SOURCE = "sms_vendor_a"
PAGE_SIZE = 500
MAX_PASSES = 3

SCHOOLS = EntitySpec(SOURCE, "schools", ("school_code",), frozenset({
    "school_code", "school_name", "level", "commune_code", "managing_unit"}),
    watermark_field=None)
LEARNERS = EntitySpec(SOURCE, "learners", ("school_code", "learner_id"), frozenset({
    "learner_id", "national_id", "full_name", "birth_date", "gender", "ethnicity", "school_code",
    "class_name", "grade", "enrollment_status", "updated_at"}))
# Per-school entities: landed name -> (endpoint under /schools/{code}/, spec)
PER_SCHOOL = {
    "learners": LEARNERS,
    "classes": EntitySpec(SOURCE, "classes", ("class_id",), frozenset({
        "class_id", "school_code", "school_year", "class_name", "grade", "homeroom_teacher_id",
        "updated_at"})),
    "staff": EntitySpec(SOURCE, "staff", ("school_code", "staff_id"), frozenset({
        "staff_id", "national_id", "full_name", "birth_date", "gender", "ethnicity",
        "school_code", "role", "qualification", "subject", "updated_at"})),
    "facilities": EntitySpec(SOURCE, "facilities", ("school_code", "school_year"), frozenset({
        "school_code", "school_year", "classrooms", "solid_classrooms", "clean_water", "toilets",
        "minimum_equipment", "teacher_housing", "updated_at"})),
    "results": EntitySpec(SOURCE, "results", ("school_code", "learner_id", "school_year", "term"),
                          frozenset({"learner_id", "school_code", "school_year", "term", "scores",
                                     "assessment", "conduct", "updated_at"})),
    "health": EntitySpec(SOURCE, "health", ("school_code", "learner_id", "school_year"), frozenset({
        "learner_id", "school_code", "school_year", "check_date", "height_cm", "weight_kg",
        "nutrition_status", "updated_at"})),
    "transcripts": EntitySpec(SOURCE, "transcripts", ("school_code", "learner_id", "school_year"),
                              frozenset({"learner_id", "school_code", "school_year", "status",
                                         "updated_at"})),
}


class VendorAClient(SourceClient):
    source = SOURCE

    def __init__(self, base_url: str, client_id: str, client_secret: str,
                 page_size: int = PAGE_SIZE, **retry_options):
        super().__init__(base_url, **retry_options)
        self._credentials = {"client_id": client_id, "client_secret": client_secret}
        self.page_size = page_size

    def _login(self) -> None:
        body = self.request("POST", "/auth/token", json=self._credentials)
        self.session.headers["Authorization"] = f"Bearer {body['access_token']}"

    def _pages(self, endpoint: str, params: dict | None = None) -> Iterator[dict]:
        if "Authorization" not in self.session.headers:
            self._login()
        offset, page = 0, 0
        while True:
            page += 1
            self.check_page(endpoint, page)
            body = self.request(
                "GET", endpoint, page=str(offset // self.page_size + 1),
                params={**(params or {}), "offset": offset, "limit": self.page_size})
            yield body
            offset += len(body["data"])
            if not body["data"] or offset >= body["total"]:
                return

    def listing(self, endpoint: str, spec: EntitySpec, params: dict | None = None) -> Listing:
        """Page to the end. Offset paging over data that changes meanwhile can repeat or skip
        a record; when fewer distinct records than the reported total arrive, page again and
        merge (the later pass wins)."""
        by_key: dict[str, object] = {}
        keyless: dict[str, object] = {}
        total = None
        passes = 0
        while passes < MAX_PASSES:
            passes += 1
            for page in self._pages(endpoint, params):
                total = page.get("total", total)
                for record in page["data"]:
                    key = spec.natural_key(record) if isinstance(record, dict) else None
                    if key is None:
                        keyless[canonical_json(record)] = record
                    else:
                        by_key[key] = record
            if total is None or len(by_key) + len(keyless) >= total:
                break
        return Listing([*by_key.values(), *keyless.values()], total, passes)

    def schools_listing(self) -> Listing:
        return self.listing("/schools", SCHOOLS)

    def school_listing(self, entity: str, school_code: str,
                       updated_since: str | None = None) -> Listing:
        params = {"updated_since": updated_since} if updated_since else None
        return self.listing(f"/schools/{school_code}/{entity}", PER_SCHOOL[entity], params)

    def learners_listing(self, school_code: str, updated_since: str | None = None) -> Listing:
        return self.school_listing("learners", school_code, updated_since)

    def schools(self) -> list:
        return self.schools_listing().records

    def learners(self, school_code: str, updated_since: str | None = None) -> list:
        return self.learners_listing(school_code, updated_since).records
