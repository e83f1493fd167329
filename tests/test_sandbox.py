"""The synthetic province: deterministic, plausible, and its manifest tells the truth."""

from __future__ import annotations

from datetime import date

from eduhub.sandbox import generator


def test_same_seed_same_bytes_other_seed_other_province(tmp_path):
    digests = []
    for name, seed in (("a", 3), ("b", 3), ("c", 4)):
        generator.write(generator.generate(scale=800, seed=seed), tmp_path / name)
        digests.append(generator.digest(tmp_path / name))
    assert digests[0] == digests[1]
    assert digests[0] != digests[2]


def test_communes_are_real_tay_ninh_wards():
    communes = generator.official_communes()
    assert len(communes) == 96
    assert sum(c.division_type == "phường" for c in communes) == 14
    province = generator.generate(scale=3000, seed=1)
    assert {c.commune_code for c in province.communes} <= {c.commune_code for c in communes}


def test_personal_ids_agree_with_birth_year_and_sex(ground_truth):
    learners = [x for x in ground_truth["learners"] if x["personal_id"]]
    assert learners
    for x in learners:
        pid, born = x["personal_id"], date.fromisoformat(x["date_of_birth"])
        assert len(pid) == 12 and pid.isdigit()
        century_sex = int(pid[3])
        assert century_sex // 2 == born.year // 100 - 19
        assert century_sex % 2 == (1 if x["sex"] == "nu" else 0)
        assert pid[4:6] == f"{born.year % 100:02d}"
    assert len({x["personal_id"] for x in learners}) == len(learners)
    assert len({x["moet_id"] for x in ground_truth["learners"]}) == len(ground_truth["learners"])


def test_age_fits_grade(ground_truth):
    for x in ground_truth["learners"]:
        age = 2026 - date.fromisoformat(x["date_of_birth"]).year
        if x["grade"] == 0:
            assert 3 <= age <= 5
        else:
            assert age == x["grade"] + 5


def test_manifest_lists_exactly_the_missing_ids(sandbox_dir, ground_truth):
    import json

    manifest = json.loads((sandbox_dir / "manifest.json").read_text(encoding="utf-8"))
    declared = {d["record"] for d in manifest["defects"] if d["defect"] == "missing_personal_id"}
    actual = {x["learner_key"] for x in ground_truth["learners"] if x["personal_id"] is None}
    assert declared == actual and declared
    assert manifest["counts"]["learners"] == len(ground_truth["learners"])


def test_every_level_has_schools_with_its_managing_unit(ground_truth):
    levels = {s["level"] for s in ground_truth["schools"]}
    assert levels == set(generator.LEVELS)
    for s in ground_truth["schools"]:
        expected = "SO" if s["level"] in ("thpt", "gdtx") else s["commune_code"]
        assert s["managing_unit"] == expected
