"""The school registry under `/school-registry/api/v1` (docs/sources/school_registry.md): the
Sở's list of education units, one page after another; the whole list at every read."""

from __future__ import annotations

from http import HTTPStatus

from eduhub_sandbox.simulators.common import Credentials, HttpError, require_api_key
from eduhub_sandbox.simulators.pcgd import Pcgd
from eduhub_sandbox.store import ProvinceStore

FIELDS = ("unit_code", "unit_name", "level", "ownership", "commune_code", "managing_unit",
          "channel", "opened_on", "closed_on", "updated_at")


class SchoolRegistry:
    prefix = "/school-registry/api/v1"
    source = "school_registry"
    service = "school_registry"

    def __init__(self, data: ProvinceStore | dict[str, list[dict]], credentials: Credentials):
        self.api_key = credentials.api_key(self.service)
        # about a thousand units at province scale: kept in memory
        self.units = sorted(ProvinceStore.of(data).units, key=lambda u: u["unit_code"])

    def handle(self, method: str, path: str, query: dict, headers, body: bytes) -> dict:
        require_api_key(headers, self.api_key)
        if method != "GET":
            raise HttpError(HTTPStatus.METHOD_NOT_ALLOWED, "only GET")
        if path.strip("/") == "units":
            return Pcgd.page(self.units, query, lambda u: {f: u.get(f) for f in FIELDS})
        raise HttpError(HTTPStatus.NOT_FOUND, f"no such endpoint {path}")
