"""A deterministic synthetic province with known defects (docs/sandbox.md).

The whole timeline of the term is drawn first from one seeded random stream (enrolments,
transfers, drop-outs, grades entered), then the state on `day` is written. So the same
seed gives the same province on every day, and day D+1 differs from day D by exactly
the events of day D+1. Every injected defect is listed in `manifest.json`.
"""

from __future__ import annotations

import functools
import hashlib
import json
import math
import random
import unicodedata
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path

from eduhub import school_calendar
from eduhub_sandbox import names

PROVINCE_CODE = 80  # new Tây Ninh (Tây Ninh + Long An since 1 July 2025)
TERM_START = date(2026, 9, 5)  # day 0: the synthetic province's opening day
# its school year and the two before it, by the platform's calendar
SCHOOL_YEAR = school_calendar.school_year(TERM_START)
PAST_YEARS = tuple(school_calendar.school_year(date(TERM_START.year - k, 12, 1)) for k in (2, 1))
HK1_ENTRY_DAYS = (95, 130)  # term-1 results are entered in December and January
# The whole year's results, with each learner's outcome, are entered in the second half of May
# (day 268 is 31 May, the end-of-year data date); a few are entered late, in June.
YEAR_END_ENTRY_DAYS = (252, 267)
LATE_YEAR_END_ENTRY_DAYS = (269, 285)
LATE_YEAR_END_SHARE = 0.03
# A learner's outcome at the end of the year (Thông tư 22/2021 for secondary, 27/2020 for
# primary): promoted, or for the last grade of a level its completion; a summer re-test
# (decided later); kept back in the grade.
YEAR_END_OUTCOMES = [("len_lop", 95.0), ("kiem_tra_lai", 3.0), ("o_lai_lop", 2.0)]
LAST_GRADES = {5, 9, 12}
HEALTH_CHECK_DAYS = (20, 60)
PROVINCE_SCALE = 600_000
STAFF_PER_LEARNER = 40_000 / 600_000

# Birth-registration prefixes of people living in new Tây Ninh: mostly old Tây Ninh (072)
# and Long An (080), some from neighbouring provinces.
BIRTH_PREFIXES = [("072", 55), ("080", 35), ("079", 4), ("082", 3), ("074", 2), ("070", 1)]

# level: grades, share of learners, schools per 1,000 learners
LEVELS = {
    "mam_non": ((0,), 0.17, 0.65),
    "tieu_hoc": ((1, 2, 3, 4, 5), 0.40, 0.56),
    "thcs": ((6, 7, 8, 9), 0.28, 0.40),
    "thpt": ((10, 11, 12), 0.13, 0.13),
    "gdtx": ((10, 11, 12), 0.02, 0.06),
}
LEVEL_NAMES = {
    "mam_non": "Trường Mầm non", "tieu_hoc": "Trường Tiểu học", "thcs": "Trường THCS",
    "thpt": "Trường THPT", "gdtx": "Trung tâm GDNN-GDTX",
}
VENDORS = [("sms_vendor_a", 55), ("sms_vendor_b", 35), ("file_exports", 10)]
CLASS_SIZE = {"mam_non": 28, "tieu_hoc": 33, "thcs": 38, "thpt": 40, "gdtx": 35}
SUBJECTS = {
    "thcs": ["toan", "ngu_van", "tieng_anh", "khoa_hoc_tu_nhien", "lich_su_dia_ly", "gdcd",
             "tin_hoc", "cong_nghe"],
    "thpt": ["toan", "ngu_van", "tieng_anh", "lich_su", "vat_ly", "hoa_hoc", "sinh_hoc",
             "tin_hoc"],
}
SUBJECTS["gdtx"] = SUBJECTS["thpt"]
# The subjects every learner of the level must have a score in (Thông tư 22/2021: the
# compulsory subjects assessed by marks; the others of SUBJECTS are upper-secondary
# electives). The warehouse's seed `required_subjects` holds the same.
COMPULSORY_SUBJECTS = {
    "thcs": SUBJECTS["thcs"],
    "thpt": ["toan", "ngu_van", "tieng_anh", "lich_su"],
    "gdtx": ["toan", "ngu_van", "lich_su"],
}
QUALIFICATIONS = {
    "mam_non": [("trung_cap", 10), ("cao_dang", 30), ("dai_hoc", 58), ("thac_si", 2)],
    "default": [("cao_dang", 5), ("dai_hoc", 80), ("thac_si", 14), ("tien_si", 1)],
}

# Defect kinds and their default rates (share of learners, staff or schools).
DEFAULT_DEFECT_RATES = {
    "missing_personal_id": 0.02,
    "id_century_sex_mismatch": 0.004,
    "id_year_mismatch": 0.004,
    "name_typo": 0.006,
    "name_accents_dropped": 0.006,
    "wrong_birth_date": 0.004,
    "duplicate_enrolment": 0.003,
    "shared_personal_id": 0.002,
    "stale_record": 0.006,
    "missing_term_results": 0.01,
    "missing_required_field": 0.004,
    "unknown_code": 0.003,
    "enrolled_missing_from_pcgd": 0.005,
    "school_age_not_enrolled": 0.005,
    "staff_missing_personal_id": 0.01,
    "staff_without_qualification": 0.02,
    "school_legacy_commune_code": 0.02,
    "age_grade_mismatch": 0.01,
    "id_leading_zero_lost": 0.004,
    "missing_subject_score": 0.006,
    # share of the transcripts of past school years
    "transcript_not_created": 0.02,
    # share of the learners studying with no other defect or event
    "silently_removed": 0.01,
}
# A school tidies its roster before the end-of-year report by deleting the records of learners
# who left instead of recording their departure: gone from its system, results and all, with
# no trace. Only a full read sees it; the learner is still expected at the school.
SILENT_REMOVAL_DAYS = (255, 300)
# At most one of these per learner record, so the ground truth stays unambiguous.
LEARNER_DEFECTS = [
    "missing_personal_id", "id_century_sex_mismatch", "id_year_mismatch", "name_typo",
    "name_accents_dropped", "wrong_birth_date", "duplicate_enrolment", "shared_personal_id",
    "stale_record", "missing_term_results", "missing_required_field", "unknown_code",
    "enrolled_missing_from_pcgd", "age_grade_mismatch",
    # last, and drawing nothing from the province's stream: the records of the kinds before
    # them stay as they were
    "id_leading_zero_lost", "missing_subject_score",
]

# Old districts (before 1 July 2025) by ranges of ward codes: legacy codes kept on
# historical records. Approximate: ward codes were numbered district by district.
LEGACY_DISTRICTS = [
    (25459, "72", "703", "Thành phố Tây Ninh"), (25486, "72", "705", "Huyện Tân Biên"),
    (25516, "72", "706", "Huyện Tân Châu"), (25552, "72", "707", "Huyện Dương Minh Châu"),
    (25585, "72", "708", "Huyện Châu Thành"), (25630, "72", "709", "Thị xã Hòa Thành"),
    (25654, "72", "710", "Huyện Gò Dầu"), (25681, "72", "711", "Huyện Bến Cầu"),
    (25708, "72", "712", "Thị xã Trảng Bàng"),
    (27694, "80", "794", "Thành phố Tân An"), (27721, "80", "796", "Huyện Tân Hưng"),
    (27748, "80", "797", "Huyện Vĩnh Hưng"), (27787, "80", "795", "Thị xã Kiến Tường"),
    (27811, "80", "798", "Huyện Mộc Hóa"), (27826, "80", "800", "Huyện Tân Thạnh"),
    (27865, "80", "801", "Huyện Thạnh Hóa"), (27925, "80", "802", "Huyện Đức Huệ"),
    (27931, "80", "803", "Huyện Đức Hòa"), (27991, "80", "804", "Huyện Bến Lức"),
    (28036, "80", "805", "Huyện Thủ Thừa"), (28072, "80", "806", "Huyện Tân Trụ"),
    (28108, "80", "807", "Huyện Cần Đước"), (28159, "80", "808", "Huyện Cần Giuộc"),
    (28210, "80", "809", "Huyện Châu Thành"),
]

ENTITIES = ("communes", "schools", "classes", "learners", "staff", "facilities", "results",
            "health", "transcripts", "registry", "pcgd_households", "pcgd_residents", "units")
# The Sở's list of education units (the school registry): every school, plus units no system
# reports for (silent: they should, and do not) and a unit closed before the year.
SILENT_UNIT_SHARE = 0.02
OWNERSHIP = [("cong_lap", 88), ("tu_thuc", 12)]


def _weighted(rng: random.Random, pairs):
    values, weights = zip(*pairs, strict=True)
    return rng.choices(values, weights=weights, k=1)[0]


def _stamp(day: int, minute: int) -> str:
    """A time on a day of the term, in Vietnam's time zone."""
    moment = datetime(2026, 9, 5, 7, 0) + timedelta(days=day, minutes=minute)
    return moment.strftime("%Y-%m-%dT%H:%M:%S+07:00")


def strip_accents(text: str) -> str:
    """Vietnamese without tones or marks; Đ needs its own rule (it does not decompose)."""
    text = text.replace("Đ", "D").replace("đ", "d")
    decomposed = unicodedata.normalize("NFD", text)
    return unicodedata.normalize("NFC", "".join(c for c in decomposed
                                                if unicodedata.category(c) != "Mn"))


def personal_id(prefix: str, sex: str, birth_year: int, serial: int) -> str:
    """A 12-digit ID laid out as Nghị định 137/2015 Art. 13 prescribes (there is no check digit)."""
    century_index = (birth_year // 100) - 19  # 1900s -> 0, 2000s -> 1, 2100s -> 2
    century_sex = century_index * 2 + (1 if sex == "nu" else 0)
    return f"{prefix}{century_sex}{birth_year % 100:02d}{serial:06d}"


@dataclass(frozen=True)
class Commune:
    commune_code: str
    name: str
    division_type: str
    legacy_province_code: str
    legacy_district_code: str
    legacy_district_name: str


@functools.cache
def _legacy_wards():
    from eduhub import crosswalk

    return crosswalk.legacy_wards()


def official_communes() -> list[Commune]:
    from vietnam_provinces import Ward

    communes = []
    for w in Ward.iter_all():
        if int(w.province_code) != PROVINCE_CODE:
            continue
        code = int(w.code)
        legacy = [d for d in LEGACY_DISTRICTS if d[0] <= code][-1]
        communes.append(Commune(f"{code:05d}", w.name, w.division_type.value, *legacy[1:]))
    return sorted(communes, key=lambda c: c.commune_code)


@dataclass
class Person:
    person_key: str
    personal_id: str
    full_name: str
    date_of_birth: date
    sex: str
    ethnicity: str
    commune_code: str


@dataclass
class Province:
    seed: int
    scale: int
    day: int
    rates: dict
    rows: dict[str, list[dict]] = field(default_factory=dict)
    defects: list[dict] = field(default_factory=list)

    # Compatibility views used by the simulators and tests.
    @property
    def schools(self) -> list[dict]:
        return self.rows["schools"]

    @property
    def learners(self) -> list[dict]:
        return self.rows["learners"]

    @property
    def communes(self) -> list[dict]:
        return self.rows["communes"]


class _Builder:
    def __init__(self, scale: int, seed: int, day: int, rates: dict, communes: int | None):
        self.rng = random.Random(seed)
        self.scale, self.seed, self.day, self.rates = scale, seed, day, rates
        self.used_ids: set[str] = set()
        self.used_moet: set[str] = set()
        self.defects: list[dict] = []
        self.registry: list[Person] = []
        all_communes = official_communes()
        if communes is None:
            communes = len(all_communes) if scale >= 60_000 else max(3, scale // 700)
        self.communes = sorted(self.rng.sample(all_communes, min(communes, len(all_communes))),
                               key=lambda c: c.commune_code)
        self.official_codes = {c.commune_code for c in all_communes}

    # identities -------------------------------------------------------------------
    def new_person(self, prefix_key: str, birth: date, sex: str, commune: str) -> Person:
        rng = self.rng
        prefix = _weighted(rng, BIRTH_PREFIXES)
        while True:
            pid = personal_id(prefix, sex, birth.year, rng.randrange(1_000_000))
            if pid not in self.used_ids:
                self.used_ids.add(pid)
                break
        family = _weighted(rng, names.FAMILY_NAMES)
        name = f"{family} {rng.choice(names.MIDDLE_NAMES[sex])} {rng.choice(names.GIVEN_NAMES[sex])}"
        person = Person(f"{prefix_key}{len(self.registry) + 1:08d}", pid, name, birth, sex,
                        _weighted(rng, names.ETHNIC_GROUPS), commune)
        self.registry.append(person)
        return person

    def new_moet_id(self) -> str:
        while True:
            moet = str(self.rng.randrange(10**9, 10**10))
            if moet not in self.used_moet:
                self.used_moet.add(moet)
                return moet

    def birth_for_grade(self, grade: int) -> date:
        # Grade 1 in 2026-2027 means born in 2020; preschool spans ages 3-5.
        year = 2020 - (grade - 1) if grade > 0 else self.rng.choice((2021, 2022, 2023))
        return date(year, 1, 1) + timedelta(days=self.rng.randrange(365))

    def defect(self, kind: str, entity: str, record: str, **details) -> None:
        self.defects.append({"defect": kind, "entity": entity, "record": record, **details})

    # the province -----------------------------------------------------------------
    def build(self) -> Province:
        province = Province(self.seed, self.scale, self.day, self.rates)
        rows = province.rows
        rows["communes"] = [vars(c).copy() for c in self.communes]

        schools = self.build_schools()
        rows["schools"] = schools
        by_level: dict[str, list[dict]] = {}
        for s in schools:
            by_level.setdefault(s["level"], []).append(s)

        learners = self.build_learners(by_level)
        learners += self.duplicate_profiles(learners)
        removed = {x["learner_key"] for x in learners if self.silently_removed(x)}
        staff = self.build_staff(schools, learners)
        classes = self.assign_classes(schools, learners, staff)
        rows["classes"] = classes
        rows["learners"] = [self.learner_view(x) for x in learners
                            if x["_enrol_day"] <= self.day and x["learner_key"] not in removed]
        rows["staff"] = staff
        rows["facilities"] = self.build_facilities(schools, classes)
        rows["results"], rows["health"], rows["transcripts"] = self.build_school_records(learners)
        rows["pcgd_households"], rows["pcgd_residents"] = self.build_pcgd(learners)
        rows["units"] = self.build_units(schools)
        rows["registry"] = [
            {"person_key": p.person_key, "personal_id": p.personal_id, "full_name": p.full_name,
             "date_of_birth": p.date_of_birth.isoformat(), "sex": p.sex,
             "ethnicity": p.ethnicity, "permanent_commune_code": p.commune_code}
            for p in sorted(self.registry, key=lambda p: p.personal_id)
        ]
        # Defects of records that do not exist yet on this day are not in the files.
        present = {
            "learner": {x["learner_key"] for x in rows["learners"]} | removed,
            "staff": {x["staff_key"] for x in staff},
            "school": {u["unit_code"] for u in rows["units"]},
            "pcgd_resident": {r["resident_id"] for r in rows["pcgd_residents"]},
            # made with the school records of this day's learners only
            "transcript": {d["record"] for d in self.defects if d["entity"] == "transcript"},
        }
        province.defects = [d for d in self.defects if d["record"] in present[d["entity"]]]
        return province

    def build_schools(self) -> list[dict]:
        rng = self.rng
        schools = []
        serial = 0
        n_communes = len(self.communes)
        for level, (_grades, _share, per_thousand) in LEVELS.items():
            # a small sandbox still needs a few schools of each level to be interesting
            count = max(3 if level in ("mam_non", "tieu_hoc", "thcs") else 1,
                        round(self.scale * per_thousand / 1000))
            for i in range(count):
                serial += 1
                commune = self.communes[(i * 7 + serial) % n_communes] if i >= n_communes \
                    else self.communes[i]
                place = commune.name.split(" ", 1)[1]
                same = sum(1 for s in schools if s["level"] == level
                           and s["commune_code"] == commune.commune_code)
                managing = "SO" if level in ("thpt", "gdtx") else commune.commune_code
                school = {
                    "school_code": f"{PROVINCE_CODE}{serial:06d}",
                    "name": f"{LEVEL_NAMES[level]} {place}" + (f" số {same + 1}" if same else ""),
                    "level": level, "commune_code": commune.commune_code,
                    "managing_unit": managing, "vendor": _weighted(rng, VENDORS),
                    "updated_at": _stamp(0, rng.randrange(600)),
                }
                schools.append(school)
        # Some schools still report a pre-2025 commune code (at least one when the rate is > 0).
        rate = self.rates["school_legacy_commune_code"]
        eligible = [s for s in schools if self.legacy_codes(s["commune_code"])]
        n_legacy = min(len(eligible), max(1, round(rate * len(schools)))) if rate > 0 else 0
        for school in rng.sample(eligible, n_legacy):
            current = school["commune_code"]
            school["commune_code"] = self.legacy_code(current)
            self.defect("unknown_code", "school", school["school_code"], field="commune_code",
                        value=school["commune_code"], current_code=current)
        # every vendor serves at least one school, whatever the draw
        for i, (vendor, _weight) in enumerate(VENDORS):
            if not any(s["vendor"] == vendor for s in schools):
                schools[i * 3 % len(schools)]["vendor"] = vendor
        return schools

    def build_units(self, schools: list[dict]) -> list[dict]:
        """The school registry. Its own random stream, so that adding it changed no other
        record. Each unit's commune is its current one (the registry is kept up to date,
        whatever code a school's own system still reports); its channel is how it reports."""
        rng = random.Random(f"{self.seed}:units")
        current = {d["record"]: d["current_code"] for d in self.defects
                   if d["defect"] == "unknown_code" and d["entity"] == "school"}

        def unit(code, name, level, commune, managing, channel, opened, closed=None):
            return {"unit_code": code, "unit_name": name, "level": level,
                    "ownership": "cong_lap" if level == "gdtx" else _weighted(rng, OWNERSHIP),
                    "commune_code": commune, "managing_unit": managing, "channel": channel,
                    "opened_on": opened, "closed_on": closed,
                    "updated_at": _stamp(0, rng.randrange(600))}

        def opened() -> str:
            return date(rng.randrange(1976, 2024), 9, 5).isoformat()

        units = [unit(s["school_code"], s["name"], s["level"],
                      current.get(s["school_code"], s["commune_code"]), s["managing_unit"],
                      s["vendor"], opened()) for s in schools]
        serial = len(schools)
        levels = [level for level in LEVELS if level != "gdtx"]
        for i in range(max(1, round(len(schools) * SILENT_UNIT_SHARE)) + 1):
            serial += 1
            level, commune = rng.choice(levels), rng.choice(self.communes)
            code = f"{PROVINCE_CODE}{serial:06d}"
            name = f"{LEVEL_NAMES[level]} {commune.name.split(' ', 1)[1]} (cơ sở {serial})"
            managing = "SO" if level == "thpt" else commune.commune_code
            if i == 0:  # merged into another school at the end of last year
                units.append(unit(code, name, level, commune.commune_code, managing,
                                  "sms_vendor_a", "2001-09-05", "2026-06-30"))
                continue
            units.append(unit(code, name, level, commune.commune_code, managing,
                              _weighted(rng, VENDORS), opened()))
            self.defect("silent_school", "school", code, channel=units[-1]["channel"])
        return units

    def legacy_codes(self, current: str) -> list[str]:
        """The real pre-2025 codes of the wards and communes merged whole into `current` on 1
        July 2025 (the crosswalk), but those a current commune still uses (they would read as
        current)."""
        return sorted(w.legacy_commune_code for w in _legacy_wards()
                      if w.commune_code == current and not w.divided
                      and w.legacy_commune_code not in self.official_codes)

    def legacy_code(self, current: str) -> str:
        """A pre-2025 code of a ward or commune merged into `current`."""
        return self.rng.choice(self.legacy_codes(current))

    def silently_removed(self, x: dict) -> bool:
        """Whether the school has deleted the record by this day (the defect
        `silently_removed`, declared from its day on). Its own stream per record: nothing else
        moves."""
        if x["_flags"] or x["_enrol_day"] or "_dropout_day" in x or "_transfer_day" in x:
            return False
        rng = self.record_rng(x["moet_id"], "silent_removal")
        if rng.random() >= self.rates["silently_removed"]:
            return False
        day = rng.randrange(*SILENT_REMOVAL_DAYS)
        if day > self.day:
            return False
        x["_removed"] = True
        self.defect("silently_removed", "learner", x["learner_key"],
                    school_code=x["school_code"], day=day)
        return True

    def build_learners(self, by_level: dict[str, list[dict]]) -> list[dict]:
        rng = self.rng
        rates = self.rates
        learners: list[dict] = []
        thresholds = []
        cumulative = 0.0
        for kind in LEARNER_DEFECTS:
            cumulative += rates[kind]
            thresholds.append((cumulative, kind))
        n_new = int(self.scale * 0.004)  # enrolments during the term
        for i in range(self.scale + n_new):
            level = _weighted(rng, [(lv, spec[1]) for lv, spec in LEVELS.items()])
            school = rng.choice(by_level[level])
            grade = rng.choice(LEVELS[level][0])
            sex = "nu" if rng.random() < 0.487 else "nam"
            home = school["commune_code"] if school["commune_code"] in self.official_codes \
                else rng.choice(self.communes).commune_code
            person = self.new_person("P", self.birth_for_grade(grade), sex, home)
            enrol_day = 0 if i < self.scale else rng.randrange(1, 120)
            x = {
                "learner_key": f"L{i + 1:07d}", "person_key": person.person_key,
                "moet_id": self.new_moet_id(), "personal_id": person.personal_id,
                "full_name": person.full_name, "date_of_birth": person.date_of_birth.isoformat(),
                "sex": sex, "ethnicity": person.ethnicity, "school_code": school["school_code"],
                "level": level, "grade": grade, "status": "dang_hoc",
                "residence_commune_code": home,
                "phone": f"09{rng.randrange(10**8):08d}",
                "_enrol_day": enrol_day, "_updated_day": enrol_day,
                "_minute": rng.randrange(600), "_hk1_day": rng.randrange(*HK1_ENTRY_DAYS),
                "_health_day": rng.randrange(*HEALTH_CHECK_DAYS), "_flags": set(),
            }
            # Term events: drop-outs and transfers out of the province's records.
            event = rng.random()
            if event < 0.004:
                x["_dropout_day"] = rng.randrange(10, 150)
            elif event < 0.010:
                x["_transfer_day"] = rng.randrange(10, 150)
            draw = rng.random()
            kind = next((k for t, k in thresholds if draw < t), None)
            if kind:
                self.apply_learner_defect(kind, x, person, learners, by_level)
            learners.append(x)
        return learners

    def apply_learner_defect(self, kind, x, person, learners, by_level) -> None:  # noqa: C901 - one branch per defect kind
        rng = self.rng
        key = x["learner_key"]
        if kind == "missing_personal_id":
            x["personal_id"] = None
        elif kind == "id_century_sex_mismatch":
            pid = x["personal_id"]
            x["personal_id"] = pid[:3] + str(int(pid[3]) ^ 1) + pid[4:]
        elif kind == "id_year_mismatch":
            pid = x["personal_id"]
            wrong = (int(pid[4:6]) + rng.choice((1, 2, 3, -1, -2))) % 100
            x["personal_id"] = f"{pid[:4]}{wrong:02d}{pid[6:]}"
        elif kind == "name_typo":
            x["full_name"] = self.typo(x["full_name"])
        elif kind == "name_accents_dropped":
            stripped = strip_accents(x["full_name"])
            if stripped == x["full_name"]:
                return
            x["full_name"] = stripped
        elif kind == "wrong_birth_date":
            born = person.date_of_birth
            shifted = born + timedelta(days=rng.choice((-1, 1)) * rng.randrange(20, 200))
            if shifted.year != born.year:  # keep the year: the ID's year digits stay right
                shifted = born - timedelta(days=rng.randrange(20, 200)) if born.month > 6 \
                    else born + timedelta(days=rng.randrange(20, 160))
            x["date_of_birth"] = shifted.isoformat()
        elif kind == "duplicate_enrolment":
            # Another school opened a second profile for the same person (a new MOET ID).
            others = [s for s in by_level[x["level"]] if s["school_code"] != x["school_code"]]
            if not others:
                return
            x["_duplicate_of_school"] = rng.choice(others)["school_code"]
        elif kind == "shared_personal_id":
            donors = [y for y in learners[-500:] if y["personal_id"] and not y["_flags"]]
            if not donors:
                return
            donor = rng.choice(donors)
            x["personal_id"] = donor["personal_id"]
            x["_shared_with"] = donor["learner_key"]
        elif kind == "stale_record":
            if x["_enrol_day"] > 0 or "_dropout_day" in x or "_transfer_day" in x:
                return
            x["_stale"] = rng.choice(("chuyen_truong", "bo_hoc"))
        elif kind == "missing_term_results":
            if x["grade"] == 0:
                return
        elif kind == "missing_required_field":
            field_name = rng.choice(("date_of_birth", "sex"))
            x[field_name] = None
            self.defect(kind, "learner", key, field=field_name)
            x["_flags"].add(kind)
            return
        elif kind == "unknown_code":
            x["ethnicity"] = rng.choice(("Kinh Hoa", "Khơ me", "Việt"))
            self.defect(kind, "learner", key, field="ethnicity", value=x["ethnicity"])
            x["_flags"].add(kind)
            return
        elif kind == "enrolled_missing_from_pcgd":
            pass
        elif kind == "id_leading_zero_lost":
            # imported into the school's system from a spreadsheet that read the ID as a
            # number (every province code starts with 0): the system holds 11 digits. Not in
            # the file schools: a number in their exports is the exports' own defect
            # (typed_cells), which the landing repairs.
            school = next(s for s in by_level[x["level"]] if s["school_code"] == x["school_code"])
            if not x["personal_id"] or school["vendor"] == "file_exports":
                return
            x["personal_id"] = x["personal_id"][1:]
        elif kind == "missing_subject_score":
            # a teacher left one compulsory subject's term-1 score blank: the result exists but
            # is incomplete. Secondary levels only (primary is assessed as a whole); the file
            # schools send no results
            school = next(s for s in by_level[x["level"]] if s["school_code"] == x["school_code"])
            if x["level"] not in COMPULSORY_SUBJECTS or school["vendor"] == "file_exports":
                return
            x["_missing_subject"] = self.record_rng(x["moet_id"], "missing_subject").choice(
                COMPULSORY_SUBJECTS[x["level"]])
        elif kind == "age_grade_mismatch":
            # recorded three grades below the one its age gives (kept back), or else two above
            # (skipped ahead), within its level
            grades = LEVELS[x["level"]][0]
            moved = next((g for g in (x["grade"] - 3, x["grade"] + 2) if g in grades and g), None)
            if moved is None:
                return
            x["grade"] = moved
        x["_flags"].add(kind)
        if kind == "duplicate_enrolment":
            return  # recorded on the second profile, see duplicate_profiles()
        details = ({"shared_with": x["_shared_with"]} if kind == "shared_personal_id" else
                   {"field": x["_missing_subject"]} if kind == "missing_subject_score" else {})
        self.defect(kind, "learner", key, **details)

    def typo(self, name: str) -> str:
        rng = self.rng
        parts = name.split(" ")
        i = rng.randrange(1, len(parts))
        word = parts[i]
        pos = rng.randrange(len(word))
        pool = "aăâeêioôơuưy" if word[pos].lower() in "aăâeêioôơuưy" else "bcdghklmnpqrstvx"
        replacement = rng.choice([c for c in pool if c != word[pos].lower()])
        parts[i] = word[:pos] + replacement + word[pos + 1:]
        return unicodedata.normalize("NFC", " ".join(parts))

    def duplicate_profiles(self, learners: list[dict]) -> list[dict]:
        """Second profiles of duplicate enrolments: same person, another school, new MOET ID."""
        extra = []
        for x in learners:
            school = x.get("_duplicate_of_school")
            if not school:
                continue
            dup = {**x, "learner_key": x["learner_key"] + "D", "moet_id": self.new_moet_id(),
                   "school_code": school, "_flags": {"duplicate_profile"},
                   "_duplicate_of_school": None}
            extra.append(dup)
            self.defect("duplicate_enrolment", "learner", dup["learner_key"],
                        duplicate_of=x["learner_key"])
        return extra

    def build_staff(self, schools: list[dict], learners: list[dict]) -> list[dict]:
        rng = self.rng
        per_school: dict[str, int] = {}
        for x in learners:
            per_school[x["school_code"]] = per_school.get(x["school_code"], 0) + 1
        staff = []
        for school in schools:
            n = max(3, round(per_school.get(school["school_code"], 0) * STAFF_PER_LEARNER))
            for j in range(n):
                role = "can_bo_quan_ly" if j < 2 else _weighted(
                    rng, [("giao_vien", 86), ("nhan_vien", 14)])
                sex = "nu" if rng.random() < (0.9 if school["level"] == "mam_non" else 0.7) else "nam"
                birth = date(rng.randrange(1966, 2003), 1, 1) + timedelta(days=rng.randrange(365))
                person = self.new_person("S", birth, sex, school["commune_code"]
                                         if school["commune_code"] in self.official_codes
                                         else self.communes[0].commune_code)
                quals = QUALIFICATIONS.get(school["level"], QUALIFICATIONS["default"])
                key = f"S{len(staff) + 1:07d}"
                record = {
                    "staff_key": key, "person_key": person.person_key,
                    "moet_id": self.new_moet_id(), "personal_id": person.personal_id,
                    "full_name": person.full_name, "date_of_birth": birth.isoformat(),
                    "sex": sex, "ethnicity": person.ethnicity,
                    "school_code": school["school_code"], "role": role,
                    "qualification": _weighted(rng, quals) if role != "nhan_vien"
                    else _weighted(rng, [("trung_cap", 50), ("cao_dang", 30), ("dai_hoc", 20)]),
                    "subject": rng.choice(SUBJECTS[school["level"]])
                    if role == "giao_vien" and school["level"] in SUBJECTS else None,
                    "updated_at": _stamp(0, rng.randrange(600)),
                }
                draw = rng.random()
                if draw < self.rates["staff_without_qualification"]:
                    record["qualification"] = None
                    self.defect("staff_without_qualification", "staff", key)
                elif draw < (self.rates["staff_without_qualification"]
                             + self.rates["staff_missing_personal_id"]):
                    record["personal_id"] = None
                    self.defect("missing_personal_id", "staff", key)
                staff.append(record)
        return staff

    def assign_classes(self, schools, learners, staff) -> list[dict]:
        by_school_grade: dict[tuple[str, int], list[dict]] = {}
        for x in learners:
            by_school_grade.setdefault((x["school_code"], x["grade"]), []).append(x)
        teachers: dict[str, list[dict]] = {}
        for s in staff:
            if s["role"] == "giao_vien":
                teachers.setdefault(s["school_code"], []).append(s)
        level_of = {s["school_code"]: s["level"] for s in schools}
        classes = []
        for (school_code, grade), members in sorted(by_school_grade.items()):
            n = max(1, math.ceil(len(members) / CLASS_SIZE[level_of[school_code]]))
            pool = teachers.get(school_code, [])
            for c in range(n):
                label = f"{'Lá' if grade == 0 else grade}{'ABCDEFGHIKLMNOPQRSTUVXY'[c % 23]}"
                label += str(c // 23 + 1) if c >= 23 else ""
                class_id = f"{school_code}-{SCHOOL_YEAR}-{label}"
                homeroom = pool[(len(classes) + c) % len(pool)]["moet_id"] if pool else None
                classes.append({"class_id": class_id, "school_code": school_code,
                                "school_year": SCHOOL_YEAR, "class_name": label, "grade": grade,
                                "homeroom_staff_id": homeroom, "updated_at": _stamp(0, 0)})
            for k, x in enumerate(members):
                label = classes[-n + k % n]["class_name"]
                x["class_name"] = label
                x["class_id"] = f"{school_code}-{SCHOOL_YEAR}-{label}"
        return classes

    def learner_view(self, x: dict) -> dict:
        """The school's record of a learner on `self.day` (events after it not yet happened)."""
        status, updated = "dang_hoc", x["_enrol_day"]
        for event, new_status in (("_dropout_day", "bo_hoc"), ("_transfer_day", "chuyen_truong")):
            if x.get(event) is not None and x[event] <= self.day:
                status, updated = new_status, x[event]
        record = {k: v for k, v in x.items() if not k.startswith("_") and k != "level"}
        record["status"] = status
        record["updated_at"] = _stamp(updated, x["_minute"])
        if x.get("_stale"):
            # Left the school last year; never updated since.
            record["updated_at"] = "2026-05-20T10:00:00+07:00"
        return record

    def build_facilities(self, schools, classes) -> list[dict]:
        rng = self.rng
        n_classes: dict[str, int] = {}
        for c in classes:
            n_classes[c["school_code"]] = n_classes.get(c["school_code"], 0) + 1
        rows = []
        for s in schools:
            for year in (*PAST_YEARS, SCHOOL_YEAR):
                rooms = n_classes.get(s["school_code"], 1) + rng.randrange(0, 3)
                rows.append({
                    "school_code": s["school_code"], "school_year": year, "classrooms": rooms,
                    "solid_classrooms": rooms - rng.randrange(0, max(1, rooms // 4)),
                    "clean_water": rng.random() < 0.97, "toilets": max(2, rooms // 3),
                    "minimum_equipment": rng.random() < 0.85,
                    "teacher_housing": rng.randrange(0, 4) if s["level"] != "thpt" else 0,
                    "updated_at": _stamp(0, rng.randrange(600)) if year == SCHOOL_YEAR
                    else f"{year[5:]}-06-15T09:00:00+07:00",
                })
        return rows

    def record_rng(self, *parts) -> random.Random:
        """A stream of its own per record, so what exists on one day does not shift another's draws."""
        return random.Random(":".join(map(str, (self.seed, *parts))))

    def build_school_records(self, learners):
        results, health, transcripts = [], [], []
        for x in learners:
            if x["_enrol_day"] > self.day or x.get("_removed"):
                continue
            grade, level, code = x["grade"], x["level"], x["school_code"]
            moet = x["moet_id"]
            for k, year in enumerate(reversed(PAST_YEARS), start=1):
                past_grade = grade - k
                if past_grade < 1 or past_grade not in LEVELS[level][0]:
                    continue
                stamp = f"{year[5:]}-05-25T10:00:00+07:00"
                past = self.result(moet, code, year, "ca_nam", level, stamp)
                past["outcome"] = "len_lop"  # they study a grade higher now
                results.append(past)
                signed = self.record_rng(moet, year, "transcript").random() < 0.93
                status = "da_ky_so" if signed else "chua_ky_so"
                # a year the school never made the digital transcript of: listed, not created.
                # A stream of its own, so the other transcripts stay as they were
                if self.record_rng(moet, year, "transcript_created").random() < \
                        self.rates["transcript_not_created"]:
                    status = "chua_tao"
                    self.defect("transcript_not_created", "transcript",
                                f"{x['learner_key']}:{year}", school_year=year)
                transcripts.append({"moet_id": moet, "school_code": code, "school_year": year,
                                    "status": status, "updated_at": stamp})
            if grade >= 1:
                entered = x["_hk1_day"] <= self.day and "missing_term_results" not in x["_flags"]
                if entered:
                    result = self.result(moet, code, SCHOOL_YEAR, "hk1", level,
                                         _stamp(x["_hk1_day"], x["_minute"]))
                    if "_missing_subject" in x:
                        del result["scores"][x["_missing_subject"]]
                    results.append(result)
                year_end = self.year_end_result(x)
                if year_end:
                    results.append(year_end)
                transcripts.append({"moet_id": moet, "school_code": code,
                                    "school_year": SCHOOL_YEAR, "status": "chua_tao",
                                    "updated_at": _stamp(0, x["_minute"])})
            if x["_health_day"] <= self.day:
                h = self.health(moet, code, grade, x["_health_day"])
                health.append(h)
        return results, health, transcripts

    def year_end_result(self, x: dict) -> dict | None:
        """The whole year's result of a learner still studying, with the year's outcome, once
        the school has entered it (streams of their own: the days before are unchanged)."""
        left = [x[event] for event in ("_dropout_day", "_transfer_day") if x.get(event) is not None]
        rng = self.record_rng(x["moet_id"], SCHOOL_YEAR, "year_end")
        days = LATE_YEAR_END_ENTRY_DAYS if rng.random() < LATE_YEAR_END_SHARE \
            else YEAR_END_ENTRY_DAYS
        entry_day = rng.randrange(*days)
        if entry_day > self.day or any(day <= entry_day for day in left) \
                or "missing_term_results" in x["_flags"]:  # a school that never enters them
            return None
        outcome = _weighted(rng, YEAR_END_OUTCOMES)
        if outcome == "len_lop" and x["grade"] in LAST_GRADES:
            outcome = "hoan_thanh_cap_hoc"  # primary completed, lower secondary graduated...
        record = self.result(x["moet_id"], x["school_code"], SCHOOL_YEAR, "ca_nam", x["level"],
                             _stamp(entry_day, x["_minute"]))
        record["outcome"] = outcome
        return record

    def result(self, moet, school_code, year, term, level, stamp) -> dict:
        rng = self.record_rng(moet, year, term)
        record = {"moet_id": moet, "school_code": school_code, "school_year": year, "term": term,
                  "conduct": _weighted(rng, [("tot", 70), ("kha", 22), ("dat", 7), ("chua_dat", 1)]),
                  "updated_at": stamp}
        if level in SUBJECTS:
            record["scores"] = {s: round(min(10, max(0, rng.gauss(7, 1.4))) * 4) / 4
                                for s in SUBJECTS[level]}
        else:
            record["assessment"] = _weighted(
                rng, [("hoan_thanh_tot", 35), ("hoan_thanh", 62), ("chua_hoan_thanh", 3)])
        return record

    def health(self, moet, school_code, grade, check_day) -> dict:
        rng = self.record_rng(moet, SCHOOL_YEAR, "health")
        age = 5 + max(grade, 0)
        height = round(rng.gauss(95 + 6 * age, 6), 1)
        bmi = rng.gauss(16.5, 2.2)
        weight = round(bmi * (height / 100) ** 2, 1)
        status = "suy_dinh_duong" if bmi < 13.5 else "thua_can" if bmi > 20.5 else "binh_thuong"
        return {"moet_id": moet, "school_code": school_code, "school_year": SCHOOL_YEAR,
                "check_date": (TERM_START + timedelta(days=check_day)).isoformat(),
                "height_cm": height, "weight_kg": weight, "nutrition_status": status,
                "updated_at": _stamp(check_day, 0)}

    def build_pcgd(self, learners):
        """Households of the communes: the learners (one record per person), their parents,
        and school-age children who are in no school (each a defect)."""
        rng = self.rng
        households, residents = [], []
        seen_person: set[str] = set()
        # The census counts residents, enrolled yet or not: it does not depend on the day.
        candidates = learners
        people = {p.person_key: p for p in self.registry}
        by_commune: dict[str, list[dict]] = {}
        for x in candidates:
            if x["person_key"] in seen_person or "enrolled_missing_from_pcgd" in x["_flags"]:
                continue
            seen_person.add(x["person_key"])
            by_commune.setdefault(x["residence_commune_code"], []).append(x)
        n_unenrolled = round(self.scale * self.rates["school_age_not_enrolled"])
        unenrolled_at = set(rng.sample(range(max(1, len(candidates))),
                                       min(n_unenrolled, len(candidates))))
        counter = 0
        for commune in sorted(by_commune):
            kids = by_commune[commune]
            i = 0
            while i < len(kids):
                size = min(len(kids) - i, _weighted(rng, [(1, 45), (2, 40), (3, 15)]))
                members = kids[i:i + size]
                i += size
                counter += 1
                hid = f"HG{commune}{counter:07d}"
                head_sex = "nam" if rng.random() < 0.7 else "nu"
                head = self.new_person("A", date(rng.randrange(1972, 1996), 1, 1)
                                       + timedelta(days=rng.randrange(365)), head_sex, commune)
                hamlet = rng.randrange(1, 12)
                households.append({"household_id": hid, "commune_code": commune,
                                   "head_name": head.full_name, "address": f"Ấp {hamlet}",
                                   "updated_at": _stamp(0, 0)})
                adults = [head]
                if rng.random() < 0.8:
                    spouse_sex = "nu" if head_sex == "nam" else "nam"
                    adults.append(self.new_person("A", date(rng.randrange(1972, 1998), 1, 1)
                                                  + timedelta(days=rng.randrange(365)),
                                                  spouse_sex, commune))
                for adult in adults:
                    residents.append(self.resident(hid, commune, adult, self.adult_status()))
                for x in members:
                    p = people[x["person_key"]]
                    residents.append(self.resident(hid, commune, p, self.enrolled_status(x)))
                if counter in unenrolled_at:
                    age = rng.randrange(6, 15)
                    child = self.new_person("C", date(2026 - age, 1, 1)
                                            + timedelta(days=rng.randrange(240)),
                                            rng.choice(("nam", "nu")), commune)
                    r = self.resident(hid, commune, child, "khong_di_hoc")
                    residents.append(r)
                    self.defect("school_age_not_enrolled", "pcgd_resident", r["resident_id"])
        return households, residents

    def resident(self, hid, commune, person: Person, status: str) -> dict:
        return {"resident_id": f"R{person.person_key}", "household_id": hid,
                "commune_code": commune, "personal_id": person.personal_id,
                "full_name": person.full_name, "date_of_birth": person.date_of_birth.isoformat(),
                "sex": person.sex, "education_status": status, "updated_at": _stamp(0, 0)}

    def adult_status(self) -> str:
        return _weighted(self.rng, [("tot_nghiep_thpt", 40), ("tot_nghiep_thcs", 35),
                                    ("tot_nghiep_tieu_hoc", 20), ("biet_chu", 4), ("mu_chu", 1)])

    @staticmethod
    def enrolled_status(x: dict) -> str:
        return {"mam_non": "dang_hoc_mam_non", "tieu_hoc": "dang_hoc_tieu_hoc",
                "thcs": "dang_hoc_thcs", "thpt": "dang_hoc_thpt",
                "gdtx": "dang_hoc_gdtx"}[x["level"]]


def generate(scale: int = 2000, seed: int = 1, day: int = 0, communes: int | None = None,
             defect_rates: dict[str, float] | None = None) -> Province:
    """Generate the province with `scale` learners as it stands on `day` of the term."""
    rates = {**DEFAULT_DEFECT_RATES, **(defect_rates or {})}
    unknown = set(rates) - set(DEFAULT_DEFECT_RATES)
    if unknown:
        raise ValueError(f"unknown defect kinds: {sorted(unknown)}")
    return _Builder(scale, seed, day, rates, communes).build()


def write(province: Province, out: Path) -> dict:
    """Write the province as JSON Lines plus the ground-truth manifest; returns the manifest.
    The simulators' store of them is built when they first serve the folder (store.py), or
    at once by `eduhub sandbox generate`: the test suite writes many provinces it only reads."""
    out.mkdir(parents=True, exist_ok=True)
    for entity in ENTITIES:
        with (out / f"{entity}.jsonl").open("w", encoding="utf-8", newline="\n") as f:
            for row in province.rows[entity]:
                f.write(json.dumps(row, ensure_ascii=False, sort_keys=True) + "\n")
    manifest = {
        "seed": province.seed, "scale": province.scale, "day": province.day,
        "date": (TERM_START + timedelta(days=province.day)).isoformat(),
        "school_year": SCHOOL_YEAR,
        "counts": {entity: len(province.rows[entity]) for entity in ENTITIES},
        "rates": province.rates,
        "defects": province.defects,
    }
    (out / "manifest.json").write_text(
        json.dumps(manifest, ensure_ascii=False, sort_keys=True, indent=1) + "\n", encoding="utf-8")
    return manifest


def digest(out: Path) -> str:
    """A hash over every file the generator wrote, for determinism checks."""
    h = hashlib.sha256()
    for path in sorted(out.glob("*.json*")):
        h.update(path.name.encode())
        h.update(path.read_bytes())
    return h.hexdigest()


def load(data_dir: Path) -> dict[str, list[dict]]:
    """Read a generated province back as plain dicts, by entity (file stem)."""
    result = {}
    for entity in ENTITIES:
        path = Path(data_dir) / f"{entity}.jsonl"
        if path.exists():
            with path.open(encoding="utf-8") as f:
                result[entity] = [json.loads(line) for line in f]
    return result
