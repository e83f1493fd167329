"""The pre-2025 commune crosswalk (dbt seed commune_crosswalk.csv) is the maintained package's
(vietnamadminunits), and maps old wards and communes of Tây Ninh and Long An where the
arrangement of 1 July 2025 (Nghị quyết 1682/NQ-UBTVQH15) put them."""

from __future__ import annotations

import csv

from eduhub import crosswalk, settings


def test_the_seed_is_what_the_package_says():
    assert crosswalk.read_seed() == crosswalk.legacy_wards()


def test_every_old_unit_of_both_provinces_lands_in_one_of_the_96_communes():
    wards = crosswalk.read_seed()
    with (settings.DBT_PROJECT_DIR / "seeds" / "communes.csv").open(encoding="utf-8") as f:
        communes = {row["commune_code"] for row in csv.DictReader(f)}
    assert len(communes) == 96
    assert {w.commune_code for w in wards} == communes
    by_province = {p: sum(w.legacy_province_code == p for w in wards) for p in ("72", "80")}
    assert by_province == {"72": 94, "80": 186} and len(wards) == 280
    assert len({w.legacy_commune_code for w in wards}) == 280


def test_known_mergers():
    by_name = {(w.legacy_district_name, w.legacy_commune_name): w.commune_code
               for w in crosswalk.read_seed()}
    # Phường Tân Ninh: wards 1, 2, 3 and Hiệp Ninh of the old Tây Ninh city
    for ward in ("Phường 1", "Phường 2", "Phường 3", "Phường Hiệp Ninh"):
        assert by_name[("Thành phố Tây Ninh", ward)] == "25459", ward
    # Phường Long An: wards 1, 3, 5, 6 and Hướng Thọ Phú of the old Tân An city
    for ward in ("Phường 1", "Phường 3", "Phường 5", "Phường 6", "Xã Hướng Thọ Phú"):
        assert by_name[("Thành phố Tân An", ward)] == "27694", ward
    # a ward divided between two new communes goes to the package's default one, flagged
    divided = [w for w in crosswalk.read_seed() if w.divided]
    assert len(divided) == 24
