"""PCGD-XMC under `/pcgd/api/v1` (docs/sources/pcgd.md): households with their residents, per
commune."""

from __future__ import annotations

import logging
import math
from datetime import datetime
from http import HTTPStatus

from eduhub_sandbox import faults as faultlib
from eduhub_sandbox.simulators.common import (
    DEFAULT_PAGE_SIZE,
    MAX_PAGE_SIZE,
    Credentials,
    HttpError,
    changed_since,
    int_param,
    param,
    parse_since,
    require_api_key,
)

log = logging.getLogger(__name__)


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
    def page(rows: list, query: dict, view=lambda r: r) -> dict:
        """One page of `rows`, page/page_size paging with the total and the page count."""
        page, size = int_param(query, "page", 1), int_param(query, "page_size", DEFAULT_PAGE_SIZE)
        if page < 1 or not 1 <= size <= MAX_PAGE_SIZE:
            raise HttpError(HTTPStatus.BAD_REQUEST, f"need page >= 1 and 1 <= page_size <= {MAX_PAGE_SIZE}")
        chunk = rows[(page - 1) * size:page * size]
        return {"data": [view(r) for r in chunk], "page": page, "page_size": size, "total": len(rows),
                "total_pages": math.ceil(len(rows) / size)}

    def handle(self, method: str, path: str, query: dict, headers, body: bytes) -> dict:
        require_api_key(headers, self.api_key)
        if method != "GET":
            raise HttpError(HTTPStatus.METHOD_NOT_ALLOWED, "only GET")
        parts = path.strip("/").split("/")
        if parts == ["communes"]:
            return self.page([{"commune_code": c["commune_code"], "name": c["name"],
                                "division_type": c["division_type"]} for c in self.communes], query)
        if len(parts) == 3 and parts[0] == "communes" and parts[2] == "households":
            rows = self.households.get(parts[1])
            if rows is None:
                raise HttpError(HTTPStatus.NOT_FOUND, f"unknown commune {parts[1]}")
            since_text = param(query, "updated_since")
            if since_text:
                rows = changed_since(rows, parse_since(since_text), lambda t: t[2])
            return self.page(rows, query, lambda t: self.household_view(t[0], t[1]))
        raise HttpError(HTTPStatus.NOT_FOUND, f"no such endpoint {path}")
