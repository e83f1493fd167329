"""The personal-ID checks (library and `eduhub id check`) against the sandbox ground truth."""

from __future__ import annotations

import json
import subprocess
import sys
import unicodedata
from datetime import date

import pytest

from eduhub.identity import normalise, personal_id
from eduhub.identity.personal_id import DEFECT_FINDINGS, MESSAGES


def expected_errors(x: dict, manifest_kinds: dict[str, str], donors: dict[str, dict]) -> set[str]:
    """The error findings a learner's ID must get, from the manifest and the record itself."""
    kind = manifest_kinds.get(x["learner_key"])
    if kind in DEFECT_FINDINGS:
        return {DEFECT_FINDINGS[kind]}
    if kind == "shared_personal_id":
        # a borrowed ID is valid for its owner; it contradicts the borrower only when the
        # borrower's sex or birth year differs
        owner = donors[x["learner_key"]]
        errors = set()
        if x["date_of_birth"] and x["date_of_birth"][:4] != owner["date_of_birth"][:4]:
            errors.add("year_mismatch")
        if x["sex"] and x["sex"] != owner["sex"]:
            errors.add("century_sex_mismatch")
        return errors
    return set()


def test_every_injected_id_defect_is_found_and_no_valid_id_is_reported(ground_truth, sandbox_dir):
    manifest = json.loads((sandbox_dir / "manifest.json").read_text())
    kinds = {d["record"]: d["defect"] for d in manifest["defects"] if d["entity"] == "learner"}
    by_key = {x["learner_key"]: x for x in ground_truth["learners"]}
    donors = {d["record"]: by_key[d["shared_with"]] for d in manifest["defects"]
              if d["defect"] == "shared_personal_id"}
    assert {"missing_personal_id", "id_century_sex_mismatch", "id_year_mismatch"} <= set(
        kinds.values())
    wrong = []
    for x in ground_truth["learners"]:
        got = personal_id.check(x["personal_id"], x["date_of_birth"], x["sex"])
        errors = {f.code for f in got.findings if f.severity == "error"}
        if errors != expected_errors(x, kinds, donors):
            wrong.append((x["learner_key"], kinds.get(x["learner_key"]), sorted(errors)))
        # the sandbox draws prefixes from known provinces only
        assert "unknown_prefix" not in got.codes
    assert wrong == []
    staff_missing = {d["record"] for d in manifest["defects"]
                     if d["entity"] == "staff" and d["defect"] == "missing_personal_id"}
    for s in ground_truth["staff"]:
        got = personal_id.check(s["personal_id"], s["date_of_birth"], s["sex"])
        assert got.codes == (["missing"] if s["staff_key"] in staff_missing else []), s["staff_key"]


@pytest.mark.parametrize("pid, dob, sex", [
    ("072088123456", "1988-04-01", "nam"),   # 1900s, male
    ("080195000001", "1995-12-31", "nu"),    # 1900s, female
    ("079220000123", "2020-02-29", "nam"),   # 2000s, male
    ("001306999999", "2006-07-15", "nu"),    # 2000s, female
    ("096400000001", "2100-01-01", "nam"),   # 2100s, male
])
def test_valid_ids_of_both_centuries_and_sexes(pid, dob, sex):
    # checked on the day of the birth: an ID of the 2100s is right only from then on
    assert personal_id.check(pid, dob, sex, as_of=date.fromisoformat(dob)).findings == ()
    # without birth date and sex: the format only
    assert personal_id.check(pid, as_of=date.fromisoformat(dob)).findings == ()


@pytest.mark.parametrize("pid, dob, sex, codes", [
    (None, None, None, ["missing"]),
    ("  ", None, None, ["missing"]),
    ("07222015126X", None, None, ["not_digits"]),
    ("0722201512", None, None, ["wrong_length"]),
    ("0722201512620", None, None, ["wrong_length"]),
    ("072720151262", None, None, ["century_sex_invalid"]),
    ("072320151262", "2020-03-09", "nam", ["century_sex_mismatch"]),   # female digit, male
    ("072020151262", "2020-03-09", "nam", ["century_sex_mismatch"]),   # 1900s digit, born 2020
    ("072221151262", "2020-03-09", "nam", ["year_mismatch"]),
    ("072321151262", "2020-03-09", "nam", ["century_sex_mismatch", "year_mismatch"]),
    ("099220151262", "2020-03-09", "nam", ["unknown_prefix"]),
    ("072320151262", None, "nam", ["century_sex_mismatch"]),           # sex alone is checked
    ("072231151262", None, None, ["birth_year_in_future"]),            # born 2031
    ("072431151262", None, None, ["birth_year_in_future"]),            # born 2131
])
def test_each_kind_of_defect(pid, dob, sex, codes):
    result = personal_id.check(pid, dob, sex, as_of=date(2026, 11, 28))
    assert result.codes == codes
    assert result.valid == (codes == ["unknown_prefix"])  # an unknown prefix only warns
    for f in result.findings:
        assert f.message == unicodedata.normalize("NFC", f.message)
        assert (f.severity, f.message) == MESSAGES[f.code]


def test_the_63_province_prefixes():
    assert len(personal_id.PROVINCE_PREFIXES) == 63
    assert all(1 <= int(code) <= 96 for code in personal_id.PROVINCE_PREFIXES)
    assert personal_id.PROVINCE_PREFIXES["072"] == "Tây Ninh"
    assert personal_id.PROVINCE_PREFIXES["080"] == "Long An"


def run_cli(*args: str) -> tuple[int, dict]:
    proc = subprocess.run([sys.executable, "-m", "eduhub.cli", "id", "check", *args],
                          capture_output=True, text=True)
    return proc.returncode, json.loads(proc.stdout) if proc.stdout.strip() else {}


@pytest.mark.parametrize("args, code, findings", [
    (["072088123456", "--dob", "1988-04-01", "--sex", "nam"], 0, []),
    (["080195000001", "--dob", "1995-12-31", "--sex", "nu"], 0, []),
    (["079220000123", "--dob", "2020-02-29", "--sex", "nam"], 0, []),
    (["001306999999", "--dob", "2006-07-15", "--sex", "nu"], 0, []),
    (["072088123456"], 0, []),
    (["099220151262"], 0, ["unknown_prefix"]),  # a warning: still valid
    (["072320151262", "--dob", "2020-03-09", "--sex", "nam"], 1, ["century_sex_mismatch"]),
    (["072221151262", "--dob", "2020-03-09"], 1, ["year_mismatch"]),
    (["0722201512"], 1, ["wrong_length"]),
    (["072920151262"], 1, ["century_sex_invalid"]),
    (["Nguyễn Văn A"], 2, ["not_digits"]),
    (["07222015126X"], 2, ["not_digits"]),
    ([""], 2, ["missing"]),
])
def test_cli_id_check(args, code, findings):
    rc, out = run_cli(*args)
    assert rc == code
    assert [f["code"] for f in out["findings"]] == findings
    assert out["valid"] == (code == 0)
    for f in out["findings"]:
        assert f["message"] and f["severity"] in ("error", "warning")


@pytest.mark.parametrize("args", [
    ["072088123456", "--dob", "1988-13-01"],
    ["072088123456", "--dob", "01/04/1988"],
    ["072088123456", "--sex", "male"],
])
def test_cli_unusable_options(args):
    rc, _ = run_cli(*args)
    assert rc == 2


def test_cli_output_never_echoes_the_id():
    proc = subprocess.run([sys.executable, "-m", "eduhub.cli", "id", "check", "072321151262",
                           "--dob", "2020-03-09", "--sex", "nam"], capture_output=True, text=True)
    assert "072321151262" not in proc.stdout + proc.stderr


def test_normalisation():
    assert normalise.strip_accents("Đặng Thị Hồng Nhung") == "Dang Thi Hong Nhung"
    assert normalise.strip_accents("đường") == "duong"
    assert normalise.name_key("  NGUYỄN   Văn  Đức ") == "nguyen van duc"
    decomposed = unicodedata.normalize("NFD", "Lê Hạ")
    assert normalise.nfc(decomposed) == "Lê Hạ"
    assert normalise.compare_name("Hà") != normalise.compare_name("Hạ")  # tones kept
    assert normalise.name_key("Hà") == normalise.name_key("Hạ")
    accented, plain = normalise.accent_map()
    assert len(accented) == len(plain) == 134
    for a, p in zip(accented, plain, strict=True):
        if a not in "đĐ":
            stripped = "".join(c for c in unicodedata.normalize("NFD", a)
                               if unicodedata.category(c) != "Mn")
            assert stripped == p
