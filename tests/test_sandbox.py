"""The synthetic province: deterministic, plausible, and its manifest tells the whole truth."""

from __future__ import annotations

import json
from collections import Counter
from datetime import date

import pytest

from eduhub_sandbox import generator
from eduhub_sandbox.generator import LEVELS, TERM_START, strip_accents

OFFICIAL_ETHNIC = {"Kinh", "Khmer", "Hoa", "Chăm"}


@pytest.fixture(scope="module")
def late_term(tmp_path_factory):
    """Day 140 (late January): term-1 results are due, so missing ones are defects."""
    out = tmp_path_factory.mktemp("late")
    manifest = generator.write(generator.generate(scale=6000, seed=11, day=140), out)
    return generator.load(out), manifest


def test_same_seed_same_bytes_other_seed_or_day_differs(tmp_path):
    digests = []
    for name, seed, day in (("a", 3, 0), ("b", 3, 0), ("c", 4, 0), ("d", 3, 30)):
        generator.write(generator.generate(scale=800, seed=seed, day=day), tmp_path / name)
        digests.append(generator.digest(tmp_path / name))
    assert digests[0] == digests[1]
    assert len(set(digests)) == 3


def test_communes_are_real_tay_ninh_wards_with_legacy_districts():
    communes = generator.official_communes()
    assert len(communes) == 96
    assert sum(c.division_type == "phường" for c in communes) == 14
    assert {c.legacy_province_code for c in communes} == {"72", "80"}
    assert next(c for c in communes if c.name == "Phường Tân An").legacy_district_code == "794"
    province = generator.generate(scale=3000, seed=1)
    assert {c["commune_code"] for c in province.communes} <= {c.commune_code for c in communes}


def _observed_learner_defects(data: dict, day: int) -> set[tuple[str, str]]:
    """Every defect of a declared kind visible in the files, found independently of the manifest."""
    registry = {p["person_key"]: p for p in data["registry"]}
    ids = Counter(p["personal_id"] for p in data["registry"])
    assert max(ids.values()) == 1  # the registry itself is clean
    found = set()
    profiles = Counter(x["person_key"] for x in data["learners"])
    in_pcgd = {r["personal_id"] for r in data["pcgd_residents"]}
    levels = {s["school_code"]: s["level"] for s in data["schools"]}
    hk1 = {r["moet_id"]: r for r in data["results"]
           if r["term"] == "hk1" and r["school_year"] == generator.SCHOOL_YEAR}
    for x in data["learners"]:
        key, truth = x["learner_key"], registry[x["person_key"]]
        pid = x["personal_id"]
        if pid is None:
            found.add(("missing_personal_id", key))
        elif "0" + pid == truth["personal_id"]:
            found.add(("id_leading_zero_lost", key))
        elif pid != truth["personal_id"]:
            diff = [i for i in range(12) if pid[i] != truth["personal_id"][i]]
            kind = ("id_century_sex_mismatch" if diff == [3] else
                    "id_year_mismatch" if set(diff) <= {4, 5} else "shared_personal_id")
            found.add((kind, key))
        if x["full_name"] != truth["full_name"]:
            kind = ("name_accents_dropped" if x["full_name"] == strip_accents(truth["full_name"])
                    else "name_typo")
            found.add((kind, key))
        if x["date_of_birth"] is None or x["sex"] is None:
            found.add(("missing_required_field", key))
        elif x["date_of_birth"] != truth["date_of_birth"]:
            found.add(("wrong_birth_date", key))
        if x["ethnicity"] not in OFFICIAL_ETHNIC:
            found.add(("unknown_code", key))
        if x["updated_at"] < TERM_START.isoformat():
            found.add(("stale_record", key))
        if profiles[x["person_key"]] > 1 and key.endswith("D"):
            found.add(("duplicate_enrolment", key))
        if truth["personal_id"] not in in_pcgd:
            found.add(("enrolled_missing_from_pcgd", key))
        if day >= 130 and x["grade"] >= 1 and x["moet_id"] not in hk1 and x["status"] == "dang_hoc":
            found.add(("missing_term_results", key))
        scores = (hk1.get(x["moet_id"]) or {}).get("scores")
        required = generator.COMPULSORY_SUBJECTS.get(levels[x["school_code"]], ())
        if scores is not None and set(required) - set(scores):
            found.add(("missing_subject_score", key))
        if x["grade"] >= 1 and not -1 <= 2026 - int(truth["date_of_birth"][:4]) - 5 - x["grade"] <= 2:
            found.add(("age_grade_mismatch", key))
    return found


def test_manifest_lists_exactly_the_learner_defects(late_term):
    data, manifest = late_term
    declared = {(d["defect"], d["record"]) for d in manifest["defects"] if d["entity"] == "learner"}
    assert _observed_learner_defects(data, day=140) == declared
    kinds = {k for k, _ in declared}
    assert kinds == {"missing_personal_id", "id_century_sex_mismatch", "id_year_mismatch",
                     "name_typo", "name_accents_dropped", "wrong_birth_date",
                     "duplicate_enrolment", "shared_personal_id", "stale_record",
                     "missing_term_results", "missing_required_field", "unknown_code",
                     "enrolled_missing_from_pcgd", "age_grade_mismatch",
                     "id_leading_zero_lost", "missing_subject_score"}


def test_manifest_lists_exactly_the_other_defects(late_term):
    data, manifest = late_term
    declared = {(d["defect"], d["entity"], d["record"]) for d in manifest["defects"]
                if d["entity"] != "learner"}
    official = {c.commune_code for c in generator.official_communes()}
    found = {("unknown_code", "school", s["school_code"]) for s in data["schools"]
             if s["commune_code"] not in official}
    found |= {("staff_without_qualification", "staff", s["staff_key"]) for s in data["staff"]
              if s["qualification"] is None}
    found |= {("missing_personal_id", "staff", s["staff_key"]) for s in data["staff"]
              if s["personal_id"] is None}
    found |= {("school_age_not_enrolled", "pcgd_resident", r["resident_id"])
              for r in data["pcgd_residents"]
              if r["education_status"] == "khong_di_hoc"
              and 6 <= 2026 - int(r["date_of_birth"][:4]) <= 14}
    # registry units that are open and no system serves
    served = {s["school_code"] for s in data["schools"]}
    found |= {("silent_school", "school", u["unit_code"]) for u in data["units"]
              if u["unit_code"] not in served and u["closed_on"] is None}
    # past years' digital transcripts listed but never made
    learner = {(x["moet_id"], x["school_code"]): x["learner_key"] for x in data["learners"]}
    found |= {("transcript_not_created", "transcript",
               f"{learner[t['moet_id'], t['school_code']]}:{t['school_year']}")
              for t in data["transcripts"]
              if t["status"] == "chua_tao" and t["school_year"] != generator.SCHOOL_YEAR}
    assert found == declared
    assert {k for k, _, _ in declared} == {"unknown_code", "staff_without_qualification",
                                          "missing_personal_id", "school_age_not_enrolled",
                                          "silent_school", "transcript_not_created"}


def test_clean_personal_ids_agree_with_birth_year_and_sex(late_term):
    data, _ = late_term
    for p in data["registry"]:
        pid, born = p["personal_id"], date.fromisoformat(p["date_of_birth"])
        assert len(pid) == 12 and pid.isdigit()
        assert int(pid[3]) // 2 == born.year // 100 - 19
        assert int(pid[3]) % 2 == (1 if p["sex"] == "nu" else 0)
        assert pid[4:6] == f"{born.year % 100:02d}"
    prefixes = Counter(p["personal_id"][:3] for p in data["registry"])
    assert (prefixes["072"] + prefixes["080"]) / sum(prefixes.values()) > 0.8


def test_distributions_within_bounds(late_term):
    data, manifest = late_term
    misgraded = {d["record"] for d in manifest["defects"] if d["defect"] == "age_grade_mismatch"}
    registry = {p["person_key"]: p for p in data["registry"]}
    learners = [x for x in data["learners"] if not x["learner_key"].endswith("D")]
    by_school = {s["school_code"]: s for s in data["schools"]}
    levels = Counter(by_school[x["school_code"]]["level"] for x in learners)
    for level, (_grades, share, _) in LEVELS.items():
        assert abs(levels[level] / len(learners) - share) < 0.03, level
    girls = sum(registry[x["person_key"]]["sex"] == "nu" for x in learners) / len(learners)
    assert 0.45 < girls < 0.53
    for x in learners:
        if x["learner_key"] in misgraded:  # the defect: a grade its age does not fit
            continue
        age = 2026 - int(registry[x["person_key"]]["date_of_birth"][:4])
        assert (3 <= age <= 5) if x["grade"] == 0 else age == x["grade"] + 5
    ethnic = Counter(registry[x["person_key"]]["ethnicity"] for x in learners)
    assert ethnic["Kinh"] / len(learners) > 0.93 and set(ethnic) <= OFFICIAL_ETHNIC
    for s in data["schools"]:
        assert s["managing_unit"] == ("SO" if s["level"] in ("thpt", "gdtx") else s["managing_unit"])
    assert {s["vendor"] for s in data["schools"]} == {"sms_vendor_a", "sms_vendor_b", "file_exports"}


def test_a_later_day_differs_by_exactly_that_days_changes(tmp_path):
    def snapshot(day):
        generator.write(generator.generate(scale=3000, seed=5, day=day), tmp_path / str(day))
        return generator.load(tmp_path / str(day))

    before, after = snapshot(104), snapshot(105)
    day_105 = "2026-12-19"  # 5 September + 105 days
    keys = {"learners": ("learner_key",), "results": ("moet_id", "school_year", "term"),
            "health": ("moet_id",), "staff": ("staff_key",)}
    changed_total = 0
    for entity, key in keys.items():
        old = {tuple(r[k] for k in key): r for r in before[entity]}
        new = {tuple(r[k] for k in key): r for r in after[entity]}
        assert set(old) <= set(new), entity  # nothing disappears
        changed = {k for k, r in new.items() if old.get(k) != r}
        stamped = {k for k, r in new.items() if r["updated_at"].startswith(day_105)}
        assert changed == stamped, entity
        changed_total += len(changed)
    assert changed_total > 0


def test_manifest_is_consistent_with_counts(sandbox_dir, ground_truth):
    manifest = json.loads((sandbox_dir / "manifest.json").read_text(encoding="utf-8"))
    for entity, n in manifest["counts"].items():
        assert len(ground_truth[entity]) == n


def test_records_a_school_deleted_vanish_with_their_school_records_and_are_declared():
    """Before the end-of-year report some schools delete the records of learners who left
    instead of recording the departure (`silently_removed`): from the day of the deletion the
    learner, and every result, health check and transcript of theirs, is gone from the files,
    and the manifest declares it with its school and day; before it, nothing is declared."""
    def province(day):
        built = generator.generate(scale=3000, seed=5, day=day)
        return built.rows, [d for d in built.defects if d["defect"] == "silently_removed"]

    (before, declared_before), (after, declared) = province(250), province(300)
    assert declared_before == []
    old = {x["learner_key"]: x for x in before["learners"]}
    gone = set(old) - {x["learner_key"] for x in after["learners"]}
    assert gone and {d["record"] for d in declared} == gone
    assert all(old[d["record"]]["school_code"] == d["school_code"]
               and old[d["record"]]["status"] == "dang_hoc"
               and generator.SILENT_REMOVAL_DAYS[0] <= d["day"] < generator.SILENT_REMOVAL_DAYS[1]
               for d in declared)
    moet_gone = {old[k]["moet_id"] for k in gone}
    for entity in ("results", "health", "transcripts"):
        assert any(r["moet_id"] in moet_gone for r in before[entity]), entity
        assert not any(r["moet_id"] in moet_gone for r in after[entity]), entity
    # nothing else left: the other learners' records are all still there
    kept = {r["moet_id"] for r in before["results"]} - moet_gone
    assert kept <= {r["moet_id"] for r in after["results"]}
