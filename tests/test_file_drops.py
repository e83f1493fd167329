"""File drops as schools leave them: names in any encoding, a sheet whose XML is broken, a
stale <dimension>, a zip bomb. A file that cannot be read is rejected once, named, with the
reason (ops.files); every other file lands; nothing stops the folder's other files."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import zipfile
from datetime import UTC, datetime
from pathlib import Path

import pytest
from conftest import land_registry, validate_landed

from eduhub import migrations, runtime, warehouse
from eduhub.landing import land_partition
from eduhub.pipelines import file_exports as file_exports_pipeline
from eduhub.sources import file_exports, school_registry, sms_vendor_a
from eduhub_sandbox.simulators import file_exports as exports


def _rewrite_sheet(path: Path, change) -> None:
    """The xlsx with its first sheet's XML changed by `change` (bytes -> bytes)."""
    with zipfile.ZipFile(path) as archive:
        members = {info: archive.read(info) for info in archive.infolist()}
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        for info, data in members.items():
            archive.writestr(info, change(data) if info.filename == "xl/worksheets/sheet1.xml"
                             else data)


@pytest.fixture(autouse=True)
def registry(request, simulators):
    """The Sở's registry landed (from the simulator) in the test's database: the drop
    folders are checked against it."""
    if "fresh_db" in request.fixturenames:
        land_registry(request.getfixturevalue("fresh_db"), "registry", simulators)


@pytest.fixture
def drops(tmp_path, ground_truth, sandbox_dir):
    drop_dir = tmp_path / "drops"
    written = sorted(exports.write_class_exports(ground_truth, drop_dir,
                                                 seed=exports.manifest_seed(sandbox_dir)))
    assert len(written) >= 4
    good, broken, stale, renamed = written[:4]
    rows = {p: len(file_exports.read_rows(file_exports.DropFile(
        p, p.relative_to(drop_dir).as_posix(), p.parent.parent.name, p.parent.name)))
        for p in (stale, renamed)}
    _rewrite_sheet(broken, lambda xml: xml[: len(xml) // 2])  # cut mid-element
    _rewrite_sheet(stale, lambda xml: re.sub(rb'<dimension ref="[^"]*"/>',
                                             b'<dimension ref="A1:B2"/>', xml))
    # a name written by a computer set to a Vietnamese 8-bit code page: not UTF-8
    latin = os.path.join(os.fsencode(renamed.parent), "L\xe1p 5A.xlsx".encode("latin-1"))
    shutil.move(renamed, os.fsdecode(latin))
    return {"dir": drop_dir, "good": good, "broken": broken, "stale": stale,
            "rows": {"stale": rows[stale], "renamed": rows[renamed]}, "all": len(written)}


def _rel(drops, path: Path) -> str:
    return path.relative_to(drops["dir"]).as_posix()


def test_every_readable_file_lands_and_the_broken_one_is_rejected_once(drops, fresh_db):
    first = file_exports_pipeline.land_file_drops(drops["dir"], fresh_db, "b1")
    broken = _rel(drops, drops["broken"])
    assert list(first.rejected) == [broken]
    assert "the sheet cannot be read (" in first.rejected[broken]
    assert len(first.landed) == drops["all"] - 1
    renamed = [r for r in first.landed if "\\xe1" in r]
    assert len(renamed) == 1 and renamed[0].endswith("L\\xe1p 5A.xlsx")
    with warehouse.connect(fresh_db) as conn:
        files = dict(conn.execute("select relative_path, status from ops.files").fetchall())
        landed = dict(conn.execute(
            "select payload ->> '_file', count(*) from raw.file_exports__learners "
            "group by 1").fetchall())
    assert files[broken] == "rejected" and files[renamed[0]] == "landed"
    # the stale <dimension> hid no row; the odd name lost none
    assert landed[_rel(drops, drops["stale"])] == drops["rows"]["stale"]
    assert landed[renamed[0]] == drops["rows"]["renamed"]
    # the next run reads nothing again and fails on nothing
    again = file_exports_pipeline.land_file_drops(drops["dir"], fresh_db, "b2")
    assert (again.landed, again.rejected, len(again.skipped)) == ([], {}, drops["all"])


def test_a_file_too_large_once_uncompressed_is_refused_unread(drops, fresh_db, monkeypatch):
    monkeypatch.setattr(file_exports, "MAX_UNCOMPRESSED_BYTES", 10_000)
    summary = file_exports_pipeline.land_file_drops(drops["dir"], fresh_db, "b1")
    good = _rel(drops, drops["good"])
    assert "once uncompressed, more than the 10000 a class export may hold" in \
        summary.rejected[good]


def test_every_layout_of_a_real_export_reads_as_the_learners_truth(tmp_path, ground_truth,
                                                                  sandbox_dir, fresh_db):
    """Class exports as schools send them (title blocks, recased, reordered and extra columns,
    IDs and phones typed as numbers, date cells, d/m/yyyy, "Lớp 6"): they land, pass their
    contract, and staging reads each learner exactly as the sandbox made it."""
    drop_dir = tmp_path / "drops"
    exports.write_class_exports(ground_truth, drop_dir, seed=exports.manifest_seed(sandbox_dir))
    summary = file_exports_pipeline.land_file_drops(drop_dir, fresh_db, "b1")
    assert summary.rejected == {}
    validate_landed(fresh_db, "b1", ["file_exports"])
    env = runtime.environment(fresh_db)
    runtime.run(runtime.dbt_args(["run", "--select", "stg_file_exports__learners",
                                  "--target-path", str(tmp_path / "target")]), env,
                stdout=subprocess.DEVNULL)
    with warehouse.connect(fresh_db) as conn:
        staged = {r[0]: r[1:] for r in conn.execute("""
            select moet_id, personal_id, full_name, date_of_birth::text, sex, grade,
                   class_name, enrolment_status
            from staging.stg_file_exports__learners""")}
        # the layouts were there: IDs typed as numbers, headers below a title block
        restored = conn.execute("select count(*) from raw.file_exports__learners "
                                "where payload ? '_leading_zero_restored'").fetchone()[0]
        titled = conn.execute("""
            select count(*) from (
                select partition from raw.file_exports__learners group by partition
                having min((payload ->> '_row')::int) > 2) as below_a_title""").fetchone()[0]
    assert restored > 0 and titled > 0
    schools = {s["school_code"] for s in ground_truth["schools"] if s["vendor"] == "file_exports"}
    truth = {x["moet_id"]: (x["personal_id"], x["full_name"] or None, x["date_of_birth"],
                            x["sex"], x["grade"], x["class_name"], x["status"])
             for x in ground_truth["learners"] if x["school_code"] in schools}
    assert staged == truth


def test_a_drop_folder_named_after_an_api_school_is_refused(tmp_path, ground_truth, sandbox_dir,
                                                            fresh_db):
    """A school that reports through vendor A's API: a class list dropped under its code
    would count its learners twice (and re-home it). It is refused, named; the rest lands."""
    drop_dir = tmp_path / "drops"
    written = exports.write_class_exports(ground_truth, drop_dir,
                                          seed=exports.manifest_seed(sandbox_dir))
    api_school = next(s for s in ground_truth["schools"] if s["vendor"] == "sms_vendor_a")
    intruder = drop_dir / api_school["school_code"] / written[0].parent.name / "6A.xlsx"
    intruder.parent.mkdir(parents=True)
    shutil.copy(written[0], intruder)
    with warehouse.connect(fresh_db) as conn:
        land_partition(conn, sms_vendor_a.SCHOOLS, [{"school_code": api_school["school_code"],
                                                     "name": api_school["name"]}],
                       batch_id="s1", partition="all", extracted_at=datetime.now(UTC))
    summary = file_exports_pipeline.land_file_drops(drop_dir, fresh_db, "b1")
    relative = intruder.relative_to(drop_dir).as_posix()
    assert summary.rejected == {relative: (
        f"{relative}: school {api_school['school_code']} reports through the sms_vendor_a API; "
        "a drop folder may not stand for it")}
    assert len(summary.landed) == len(written)
    with warehouse.connect(fresh_db) as conn:
        status = conn.execute("select status from ops.files where relative_path = %s",
                              (relative,)).fetchone()
        intruded = conn.execute("select count(*) from raw.file_exports__learners "
                                "where payload ->> '_school_code' = %s",
                                (api_school["school_code"],)).fetchone()[0]
    assert status == ("rejected",) and intruded == 0


def test_a_vanished_class_file_is_recorded_and_its_learners_stay(drops, fresh_db):
    """A file taken out of the folder withdraws nobody (only a newer file of the class may);
    it is recorded as missing, for retention; back again, it is not; an empty folder (not
    mounted) records nothing."""
    file_exports_pipeline.land_file_drops(drops["dir"], fresh_db, "b1")
    good = _rel(drops, drops["good"])

    def state():
        with warehouse.connect(fresh_db) as conn:
            vanished = [r[0] for r in conn.execute(
                "select relative_path from ops.vanished_files order by 1")]
            current = conn.execute("""
                select count(*) filter (where not is_deleted), count(*) filter (where is_deleted)
                from raw.file_exports__learners where partition = %s""", (good,)).fetchone()
        return vanished, current

    _, landed = state()
    assert landed[0] > 0 and landed[1] == 0
    away = drops["dir"].parent / "away.xlsx"
    shutil.move(drops["good"], away)
    file_exports_pipeline.land_file_drops(drops["dir"], fresh_db, "b2")
    assert state() == ([good], landed)
    file_exports_pipeline.land_file_drops(drops["dir"], fresh_db, "b3")  # since the first miss
    with warehouse.connect(fresh_db) as conn:
        first_missed = conn.execute("select missing_since from ops.vanished_files").fetchall()
    assert len(first_missed) == 1
    shutil.move(away, drops["good"])
    file_exports_pipeline.land_file_drops(drops["dir"], fresh_db, "b4")
    assert state() == ([], landed)
    emptied = drops["dir"].parent / "unmounted"
    emptied.mkdir()
    file_exports_pipeline.land_file_drops(emptied, fresh_db, "b5")
    assert state() == ([], landed)


def test_a_folder_the_registry_does_not_list_as_a_class_export_school_waits(
        tmp_path, ground_truth, sandbox_dir, fresh_db):
    """A drop folder stands for a school only when the registry lists it, open, as reporting
    by class exports: a code it does not know, or a school it lists as reporting through an
    API (whose school list has not landed), waits as `held`, named; the rest lands; once the
    registry lists the school, its file lands."""
    drop_dir = tmp_path / "drops"
    written = exports.write_class_exports(ground_truth, drop_dir,
                                          seed=exports.manifest_seed(sandbox_dir))
    year = written[0].parent.name
    vendor_b = next(s["school_code"] for s in ground_truth["schools"]
                    if s["vendor"] == "sms_vendor_b")
    closed = next(u for u in ground_truth["units"] if u["closed_on"])
    unknown = "80999999"
    for code in (unknown, vendor_b, closed["unit_code"]):
        (drop_dir / code / year).mkdir(parents=True)
        shutil.copy(written[0], drop_dir / code / year / "6A.xlsx")
    first = file_exports_pipeline.land_file_drops(drop_dir, fresh_db, "b1")
    held = {path.split("/")[0]: message for path, message in first.rejected.items()}
    assert held == {
        unknown: f"{unknown}/{year}/6A.xlsx: school {unknown} is not in the Sở's registry of "
                 "units",
        vendor_b: f"{vendor_b}/{year}/6A.xlsx: school {vendor_b} reports through sms_vendor_b "
                  "according to the registry, not by class exports",
        closed["unit_code"]: f"{closed['unit_code']}/{year}/6A.xlsx: school "
                             f"{closed['unit_code']} closed on {closed['closed_on']} (registry)"}
    assert len(first.landed) == len(written)
    with warehouse.connect(fresh_db) as conn:
        statuses = dict(conn.execute("select split_part(relative_path, '/', 1), status "
                                     "from ops.files where status <> 'landed'").fetchall())
    assert statuses == dict.fromkeys(held, "held")

    # the registry lists the new school as a class-export school: its file lands, the others
    # still wait
    with warehouse.connect(fresh_db) as conn:
        units = [payload for (payload,) in conn.execute(
            "select payload from raw.school_registry__units")]
        added = {**units[0], "unit_code": unknown, "channel": "file_exports", "closed_on": None}
        land_partition(conn, school_registry.UNITS, [*units, added], batch_id="registry-2",
                       partition="all", extracted_at=datetime.now(UTC), full=True,
                       reported_total=len(units) + 1)
    validate_landed(fresh_db, "registry-2", ["school_registry"])
    second = file_exports_pipeline.land_file_drops(drop_dir, fresh_db, "b2")
    assert second.landed == [f"{unknown}/{year}/6A.xlsx"]
    assert {p.split("/")[0] for p in second.rejected} == {vendor_b, closed["unit_code"]}


def test_no_folder_lands_before_a_registry_has_been_validated(drops, server_url):
    url = warehouse.create_database("eduhub_t_no_registry", server_url, replace=True)
    migrations.upgrade(url)
    summary = file_exports_pipeline.land_file_drops(drops["dir"], url, "b1")
    assert summary.landed == [] and len(summary.rejected) == drops["all"]
    assert all(m.endswith("no validated school registry has landed yet: the file waits for it")
               for m in summary.rejected.values())
