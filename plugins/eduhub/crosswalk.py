"""The pre-2025 commune crosswalk: every ward and commune of old Tây Ninh and old Long An
(before the arrangement of 1 July 2025, Nghị quyết 1682/NQ-UBTVQH15) with the commune of the
new province it became part of. Records still carrying an old code keep their commune.

The dbt seed `commune_crosswalk.csv` is this table, made from the maintained package
`vietnamadminunits` (its legacy unit list and its 2025 conversion tables; a development
dependency: the platform reads only the committed seed). `eduhub reference crosswalk`
writes it again; a test checks the seed is what the package says. A legacy ward divided
between several new communes maps to the package's default one, flagged `divided`.
"""

from __future__ import annotations

import csv
import json
import sqlite3
from dataclasses import astuple, dataclass, fields
from importlib import resources
from pathlib import Path

from eduhub import settings

NEW_PROVINCE_KEY = "tinhtayninh"
LEGACY_PROVINCE_KEYS = ("tinhtayninh", "tinhlongan")
SEED = settings.DBT_PROJECT_DIR / "seeds" / "commune_crosswalk.csv"


@dataclass(frozen=True)
class LegacyWard:
    legacy_commune_code: str
    legacy_commune_name: str
    legacy_district_name: str
    legacy_province_code: str
    commune_code: str
    divided: bool


def legacy_wards() -> list[LegacyWard]:
    """The crosswalk as the package holds it, by legacy code."""
    data = resources.files("vietnamadminunits") / "data"
    with resources.as_file(data / "dataset.db") as path:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            new = dict(db.execute("select wardKey, wardCode from admin_units "
                                  "where provinceKey = ?", (NEW_PROVINCE_KEY,)))
            legacy = {f"{p}_{d}_{w}": (code, ward, district, province) for
                      p, d, w, code, ward, district, province in db.execute(
                          "select provinceKey, districtKey, wardKey, wardCode, ward, district, "
                          "provinceCode from admin_units_legacy where provinceKey in (?, ?)",
                          LEGACY_PROVINCE_KEYS)}
        finally:
            db.close()
    tables = json.loads((data / "converter_2025.json").read_text(encoding="utf-8"))
    target: dict[str, tuple[str, bool]] = {}
    for new_key, legacy_keys in tables["DICT_PROVINCE_WARD_NO_DIVIDED"][NEW_PROVINCE_KEY].items():
        for legacy_key in legacy_keys:
            target[legacy_key] = (new[new_key], False)
    for legacy_key, options in tables["DICT_PROVINCE_WARD_DIVIDED"][NEW_PROVINCE_KEY].items():
        default = next(o for o in options if o["isDefaultNewWard"])
        target[legacy_key] = (new[default["newWardKey"]], True)
    if set(target) != set(legacy):
        raise ValueError("the package's conversion tables and its legacy unit list disagree")
    wards = [LegacyWard(code, ward, district, province, *target[key])
             for key, (code, ward, district, province) in legacy.items()]
    return sorted(wards, key=lambda w: w.legacy_commune_code)


def write_seed(path: Path = SEED) -> int:
    """The seed file from the package; returns its rows."""
    wards = legacy_wards()
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow([f.name for f in fields(LegacyWard)])
        for ward in wards:
            row = astuple(ward)
            writer.writerow([*row[:-1], str(row[-1]).lower()])
    return len(wards)


def read_seed(path: Path = SEED) -> list[LegacyWard]:
    with path.open(encoding="utf-8", newline="") as f:
        return [LegacyWard(**{**row, "divided": row["divided"] == "true"})
                for row in csv.DictReader(f)]
