"""A deterministic synthetic province: communes, schools and learners, with known defects.

Same seed and scale give byte-identical files. Every injected defect is written to
`manifest.json`, so tests can assert that the warehouse finds exactly those.
"""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import asdict, dataclass, field
from datetime import date, timedelta
from pathlib import Path

from eduhub.sandbox import names

PROVINCE_CODE = 80  # new Tây Ninh (Tây Ninh + Long An since 1 July 2025)
SCHOOL_YEAR = "2026-2027"
TERM_START = date(2026, 9, 5)

# Birth-registration prefixes of learners living in new Tây Ninh: mostly old Tây Ninh and
# Long An, some from neighbouring provinces.
BIRTH_PREFIXES = [("072", 55), ("080", 35), ("079", 4), ("082", 3), ("074", 2), ("070", 1)]

LEVELS = {
    # level: (grades, share of learners, schools per commune on average)
    "mam_non": ((0,), 0.17, 1.5),
    "tieu_hoc": ((1, 2, 3, 4, 5), 0.40, 1.6),
    "thcs": ((6, 7, 8, 9), 0.28, 1.0),
    "thpt": ((10, 11, 12), 0.13, 0.35),
    "gdtx": ((10, 11, 12), 0.02, 0.1),
}
LEVEL_NAMES = {
    "mam_non": "Trường Mầm non", "tieu_hoc": "Trường Tiểu học", "thcs": "Trường THCS",
    "thpt": "Trường THPT", "gdtx": "Trung tâm GDNN-GDTX",
}
VENDORS = [("vendor_a", 55), ("vendor_b", 35), ("file_export", 10)]

DEFAULT_DEFECT_RATES = {"missing_personal_id": 0.05}


@dataclass(frozen=True)
class Commune:
    commune_code: str
    name: str
    division_type: str


@dataclass(frozen=True)
class School:
    school_code: str
    name: str
    level: str
    commune_code: str
    managing_unit: str  # the commune for mầm non, tiểu học, THCS; the Sở for THPT, GDTX
    vendor: str


@dataclass(frozen=True)
class Learner:
    learner_key: str  # the sandbox's own identity of the person, never served by a source
    moet_id: str
    personal_id: str | None
    full_name: str
    date_of_birth: str
    sex: str  # "nam" | "nu"
    ethnicity: str
    school_code: str
    class_name: str
    grade: int
    status: str
    updated_at: str


@dataclass
class Province:
    seed: int
    scale: int
    communes: list[Commune] = field(default_factory=list)
    schools: list[School] = field(default_factory=list)
    learners: list[Learner] = field(default_factory=list)
    defects: list[dict] = field(default_factory=list)


def _weighted(rng: random.Random, pairs):
    values, weights = zip(*pairs, strict=True)
    return rng.choices(values, weights=weights, k=1)[0]


def official_communes() -> list[Commune]:
    from vietnam_provinces import Ward

    wards = [w for w in Ward.iter_all() if int(w.province_code) == PROVINCE_CODE]
    return sorted(
        (Commune(f"{int(w.code):05d}", w.name, w.division_type.value) for w in wards),
        key=lambda c: c.commune_code,
    )


def personal_id(prefix: str, sex: str, birth_year: int, serial: int) -> str:
    """A 12-digit ID laid out as Nghị định 137/2015 Art. 13 prescribes (there is no check digit)."""
    century_index = (birth_year // 100) - 19  # 1900s -> 0, 2000s -> 1, 2100s -> 2
    century_sex = century_index * 2 + (1 if sex == "nu" else 0)
    return f"{prefix}{century_sex}{birth_year % 100:02d}{serial:06d}"


def _birth_date(rng: random.Random, grade: int) -> date:
    # Grade 1 in 2026-2027 means born in 2020; preschool (grade 0) spans ages 3-5.
    year = 2020 - (grade - 1) if grade > 0 else rng.choice((2021, 2022, 2023))
    return date(year, 1, 1) + timedelta(days=rng.randrange(365))


def _full_name(rng: random.Random, sex: str) -> str:
    family = _weighted(rng, names.FAMILY_NAMES)
    return f"{family} {rng.choice(names.MIDDLE_NAMES[sex])} {rng.choice(names.GIVEN_NAMES[sex])}"


def generate(scale: int = 2000, seed: int = 1, communes: int | None = None,
             defect_rates: dict[str, float] | None = None) -> Province:
    """Generate `scale` learners. `communes` limits how many communes are populated."""
    rng = random.Random(seed)
    rates = {**DEFAULT_DEFECT_RATES, **(defect_rates or {})}
    province = Province(seed=seed, scale=scale)
    all_communes = official_communes()
    if communes is None:
        communes = max(3, min(len(all_communes), scale // 600))
    province.communes = sorted(rng.sample(all_communes, communes), key=lambda c: c.commune_code)

    serial = 0
    for commune in province.communes:
        for level, (_grades, _share, per_commune) in LEVELS.items():
            count = int(per_commune) + (1 if rng.random() < per_commune % 1 else 0)
            for n in range(count):
                serial += 1
                suffix = f" số {n + 1}" if count > 1 else ""
                managing = commune.commune_code if level in ("mam_non", "tieu_hoc", "thcs") else "SO"
                province.schools.append(School(
                    school_code=f"{PROVINCE_CODE}{serial:06d}",
                    name=f"{LEVEL_NAMES[level]} {commune.name.split(' ', 1)[1]}{suffix}",
                    level=level, commune_code=commune.commune_code, managing_unit=managing,
                    vendor=_weighted(rng, VENDORS),
                ))
    # Every level exists at least once, whatever the draw.
    present = {s.level for s in province.schools}
    for level in LEVELS:
        if level not in present:
            serial += 1
            commune = province.communes[0]
            province.schools.append(School(
                f"{PROVINCE_CODE}{serial:06d}",
                f"{LEVEL_NAMES[level]} {commune.name.split(' ', 1)[1]}", level,
                commune.commune_code, "SO" if level in ("thpt", "gdtx") else commune.commune_code,
                "vendor_a",
            ))

    by_level: dict[str, list[School]] = {}
    for school in province.schools:
        by_level.setdefault(school.level, []).append(school)

    used_ids: set[str] = set()
    used_moet: set[str] = set()
    for i in range(scale):
        level = _weighted(rng, [(lv, spec[1]) for lv, spec in LEVELS.items()])
        school = rng.choice(by_level[level])
        grade = rng.choice(LEVELS[level][0])
        sex = "nu" if rng.random() < 0.487 else "nam"
        dob = _birth_date(rng, grade)
        prefix = _weighted(rng, BIRTH_PREFIXES)
        while True:
            pid = personal_id(prefix, sex, dob.year, rng.randrange(1_000_000))
            if pid not in used_ids:
                used_ids.add(pid)
                break
        while True:
            moet = f"{rng.randrange(10**9, 10**10)}"
            if moet not in used_moet:
                used_moet.add(moet)
                break
        key = f"L{i + 1:07d}"
        served_id: str | None = pid
        if rng.random() < rates["missing_personal_id"]:
            served_id = None
            province.defects.append({"defect": "missing_personal_id", "entity": "learner",
                                     "record": key, "school_code": school.school_code})
        class_letter = "ABCDEFGH"[rng.randrange(4)]
        class_name = f"{'Lá' if grade == 0 else grade}{class_letter}"  # "Lá": oldest preschool group
        province.learners.append(Learner(
            learner_key=key, moet_id=moet, personal_id=served_id, full_name=_full_name(rng, sex),
            date_of_birth=dob.isoformat(), sex=sex,
            ethnicity=_weighted(rng, names.ETHNIC_GROUPS), school_code=school.school_code,
            class_name=class_name, grade=grade, status="dang_hoc",
            updated_at=(TERM_START - timedelta(days=rng.randrange(21))).isoformat() + "T08:00:00+07:00",
        ))
    return province


def _write_jsonl(path: Path, rows) -> None:
    with path.open("w", encoding="utf-8", newline="\n") as f:
        for row in rows:
            f.write(json.dumps(asdict(row), ensure_ascii=False, sort_keys=True) + "\n")


def write(province: Province, out: Path) -> dict:
    """Write the province as JSON Lines plus the ground-truth manifest; returns the manifest."""
    out.mkdir(parents=True, exist_ok=True)
    _write_jsonl(out / "communes.jsonl", province.communes)
    _write_jsonl(out / "schools.jsonl", province.schools)
    _write_jsonl(out / "learners.jsonl", province.learners)
    manifest = {
        "seed": province.seed,
        "scale": province.scale,
        "school_year": SCHOOL_YEAR,
        "counts": {"communes": len(province.communes), "schools": len(province.schools),
                   "learners": len(province.learners)},
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
    """Read a generated province back as plain dicts, by entity."""
    result = {}
    for entity in ("communes", "schools", "learners"):
        with (data_dir / f"{entity}.jsonl").open(encoding="utf-8") as f:
            result[entity] = [json.loads(line) for line in f]
    return result
