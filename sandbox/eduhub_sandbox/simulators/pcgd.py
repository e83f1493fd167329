"""PCGD-XMC under `/pcgd/api/v1` (docs/sources/pcgd.md): households with their residents, per
commune."""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from http import HTTPStatus

from eduhub_sandbox import faults as faultlib
from eduhub_sandbox.simulators.common import (
    DEFAULT_PAGE_SIZE,
    MAX_PAGE_SIZE,
    Credentials,
    HttpError,
    int_param,
    param,
    parse_since,
    require_api_key,
)
from eduhub_sandbox.store import ProvinceStore

log = logging.getLogger(__name__)


class Pcgd:
    """PCGD-XMC: households of a commune with their residents nested, page/page_size paging."""

    prefix = "/pcgd/api/v1"
    source = "pcgd"
    service = "pcgd"

    def __init__(self, data: ProvinceStore | dict[str, list[dict]], credentials: Credentials,
                 hostile: faultlib.PersistentFaults | None = None):
        self.store = ProvinceStore.of(data)
        self.api_key = credentials.api_key(self.service)
        self.hostile = hostile or faultlib.PersistentFaults()
        self.communes = sorted(self.store.communes, key=lambda c: c["commune_code"])
        # the communes one may ask for: those listed, and any a household names
        self.codes = {c["commune_code"] for c in self.communes} | self.store.household_communes()

    def served(self) -> Iterator[dict]:
        """Every household as served (persistent faults included), commune by commune."""
        for code in sorted(self.codes):
            seqs = self.store.household_seqs(code)
            for start in range(0, len(seqs), MAX_PAGE_SIZE):
                for h, members in self.store.households(seqs[start:start + MAX_PAGE_SIZE]):
                    yield self.household_view(h, members)

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
    def page(rows: list, query: dict, view=lambda r: r, chunk_view=None) -> dict:
        """One page of `rows`, page/page_size paging with the total and the page count; each
        row of the page shaped by `view`, or the page's rows together by `chunk_view`."""
        page, size = int_param(query, "page", 1), int_param(query, "page_size", DEFAULT_PAGE_SIZE)
        if page < 1 or not 1 <= size <= MAX_PAGE_SIZE:
            raise HttpError(HTTPStatus.BAD_REQUEST, f"need page >= 1 and 1 <= page_size <= {MAX_PAGE_SIZE}")
        chunk = rows[(page - 1) * size:page * size]
        data = chunk_view(chunk) if chunk_view else [view(r) for r in chunk]
        return {"data": data, "page": page, "page_size": size, "total": len(rows),
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
            if parts[1] not in self.codes:
                raise HttpError(HTTPStatus.NOT_FOUND, f"unknown commune {parts[1]}")
            since_text = param(query, "updated_since")
            since = parse_since(since_text) if since_text else None
            seqs = self.store.household_seqs(parts[1], since)
            # only the page's households (and their residents) are read
            return self.page(seqs, query, chunk_view=lambda chunk: [
                self.household_view(h, members) for h, members in self.store.households(chunk)])
        raise HttpError(HTTPStatus.NOT_FOUND, f"no such endpoint {path}")
