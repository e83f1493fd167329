"""The suites in `expectations/`: what each guards, its expectations and severities, and the
parameters many share."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date
from pathlib import Path

from eduhub import settings
from eduhub.landing import raw_table_name

SEVERITIES = ("critical", "warning")


META_COLUMNS = ("natural_key", "batch_id", "partition", "extracted_at")


MARTS_SUITE = "marts"


# Date and time shapes, strict enough that PostgreSQL's casts in staging cannot fail on a value
# that matches: months 01-12, the days each month has (29 February in leap years only), years
# 1900-2099.
_YEAR = r"(19|20)[0-9]{2}"


_LEAP = r"((19|20)(0[48]|[2468][048]|[13579][26])|2000)"


_MD_ISO = (r"((0[13578]|1[02])-(0[1-9]|[12][0-9]|3[01])|(0[469]|11)-(0[1-9]|[12][0-9]|30)"
           r"|02-(0[1-9]|1[0-9]|2[0-8]))")


_DM_VN = (r"((0[1-9]|[12][0-9]|3[01])/(0[13578]|1[02])|(0[1-9]|[12][0-9]|30)/(0[469]|11)"
          r"|(0[1-9]|1[0-9]|2[0-8])/02)")


ISO_DATE = rf"({_YEAR}-{_MD_ISO}|{_LEAP}-02-29)"


VN_DATE = rf"({_DM_VN}/{_YEAR}|29/02/{_LEAP})"


_TIME = r"([01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]"


PARAMETERS = {
    "iso_date": rf"^{ISO_DATE}$",
    "vn_date": rf"^{VN_DATE}$",
    "iso_timestamp": rf"^{ISO_DATE}T{_TIME}([.][0-9]+)?(Z|[+-]([01][0-9]|2[0-3]):[0-5][0-9])$",
    "vn_timestamp": rf"^{VN_DATE} {_TIME}$",
    # a date as class exports hold it: d/m/yyyy with /, . or - (days and months with or
    # without their 0), or yyyy-mm-dd from a date cell; staging turns the impossible ones
    # (31/02) into null
    "export_date": (r"^((0?[1-9]|[12][0-9]|3[01])[/.-](0?[1-9]|1[0-2])[/.-](19|20)[0-9]{2}"
                    rf"|{ISO_DATE})$"),
    # what a PostgreSQL integer holds (staging casts it; a longer run of digits is an error)
    "integer": r"^-?[0-9]{1,9}$",
    "number": r"^-?[0-9]+([.][0-9]+)?$",
    "moet_id": r"^[0-9]{10}$",
    "personal_id": r"^[0-9]{12}$",
    "school_code": r"^[0-9]{8}$",
    "commune_code": r"^[0-9]{5}$",
    "school_year": r"^20[0-9]{2}-20[0-9]{2}$",
    # a 12-digit number standing alone (not inside a longer run of letters and digits, such as
    # the hex of a keyed pseudonym): a raw personal ID
    "raw_personal_id": r"(^|[^0-9A-Za-z])[0-9]{12}([^0-9A-Za-z]|$)",
}


def parameters_for(as_of: date) -> dict:
    return {**PARAMETERS, "as_of_date": as_of.isoformat()}


class SuiteError(ValueError):
    """A suite file that cannot be run as written."""


@dataclass(frozen=True)
class Suite:
    name: str
    source: str | None
    entity: str | None
    expectations: list[dict]
    views: dict[str, dict]
    columns: dict[str, dict]
    notes: str = ""

    @property
    def table(self) -> str:
        return raw_table_name(self.source, self.entity)

    def expectations_on(self, view: str) -> list[dict]:
        return [e for e in self.expectations if e.get("view", "records") == view]


def suites_dir() -> Path:
    return Path(settings.EXPECTATIONS_DIR)


def load_suite(name: str) -> Suite:
    path = suites_dir() / f"{name}.json"
    try:
        definition = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SuiteError(f"no suite {name!r}: {path} does not exist") from None
    views = definition.get("views", {})
    for view_name, view in views.items():
        if view_name in ("records", "source_counts") or not (
                set(view) <= {"unnest", "entries", "notes"} and
                len({"unnest", "entries"} & set(view)) == 1):
            raise SuiteError(f"{path}: view {view_name!r} needs exactly one of unnest or entries")
    for i, exp in enumerate(definition["expectations"]):
        if exp.get("severity") not in SEVERITIES:
            raise SuiteError(f"{path}: expectation {i} ({exp.get('type')}) needs severity "
                             "critical or warning")
        view = exp.get("view", "records")
        if name != MARTS_SUITE and view not in ("records", "source_counts", *views):
            raise SuiteError(f"{path}: expectation {i} is on an unknown view {view!r}")
    return Suite(name=definition.get("name", name), source=definition.get("source"),
                 entity=definition.get("entity"), expectations=definition["expectations"],
                 views=views, columns=definition.get("columns", {}),
                 notes=definition.get("notes", ""))


def load_suite_definition(name: str) -> dict:
    """The suite file as written (kept for callers that read it raw)."""
    return json.loads((suites_dir() / f"{name}.json").read_text(encoding="utf-8"))


def landing_suites(sources: Iterable[str] | None = None) -> list[str]:
    """The landing suites in `expectations/`, of the given sources (all when None)."""
    wanted = set(sources) if sources is not None else None
    names = []
    for path in sorted(suites_dir().glob("*.json")):
        if path.stem == MARTS_SUITE:
            continue
        source = json.loads(path.read_text(encoding="utf-8")).get("source")
        if wanted is None or source in wanted:
            names.append(path.stem)
    return names
