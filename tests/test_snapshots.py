"""The learner status history (dbt snapshot, SCD2) over two days of the sandbox's term.

Day D lands from the simulators (the sync DAG's pipeline functions) and builds under the
publish gate's vars, as the transformation DAG runs dbt; then day D+1, the generator's next
day: the snapshot must gain exactly the status changes and the new enrolments of day D+1
(each change closing the old version), and the movements per school and term must count
them. A plain `dbt build` afterwards (no gate vars) adds nothing. Only the snapshot and what
it reads and feeds are built: the whole project under Airflow is test_models' part, which
checks the snapshot there too.
"""

from __future__ import annotations

import shutil
from collections import Counter
from datetime import UTC, date, datetime, time, timedelta, timezone

import pytest
from conftest import dbt, land_registry, validate_landed

from eduhub import migrations, publish, runtime, settings, transform, warehouse
from eduhub.pipelines import file_exports as file_exports_pipeline
from eduhub.pipelines import pcgd as pcgd_pipeline
from eduhub.pipelines import retention, school_management
from eduhub.sources.pcgd import PcgdClient
from eduhub.sources.sms_vendor_a import VendorAClient
from eduhub.sources.sms_vendor_b import VendorBClient
from eduhub_sandbox import generator
from eduhub_sandbox.process import running_simulators
from eduhub_sandbox.simulators import file_exports as exports

pytestmark = pytest.mark.slow

# day 59 (3 November 2026) of this province: one transfer, one drop-out and one enrolment; on
# day 58 the census (which lists children before they enrol) holds children who enrol later
SCALE, SEED, DAY = 1200, 76, 58
VN = timezone(timedelta(hours=7))
TRACKED = ("status", "school_code", "class_name", "grade")
SELECTION = ["--select", "+int_learner_movements", "+int_resident_checks"]


def logical_date(day: int) -> str:
    return (generator.TERM_START + timedelta(days=day)).isoformat()


def snapshot_rows(url: str) -> list[tuple]:
    with warehouse.connect(url) as conn:
        return conn.execute("""
            select learner_key, enrolment_status, school_code, class_name, grade,
                   dbt_valid_from, dbt_valid_to
            from snapshots.learner_status_history
            order by learner_key, dbt_valid_from""").fetchall()


def land_day(url: str, sources: dict, drop_dir, batch_id: str) -> None:
    """What the tasks of sync_school_management and sync_pcgd do, called
    directly."""
    def base(conn_id):
        e = sources[conn_id]
        return f"{e.scheme}://{e.host}:{e.port}{e.base_path}", e

    def client(vendor):
        if vendor == "sms_vendor_a":
            address, e = base(settings.SMS_VENDOR_A_CONN_ID)
            return VendorAClient(address, e.login, e.password)
        address, e = base(settings.SMS_VENDOR_B_CONN_ID)
        return VendorBClient(address, e.password)

    land_registry(url, batch_id, sources)
    for vendor in school_management.SOURCES:
        for code in school_management.land_schools(vendor, client(vendor), url, batch_id):
            school_management.land_school(vendor, client(vendor), url, batch_id, code)
    file_exports_pipeline.land_file_drops(drop_dir, url, batch_id)
    address, e = base(settings.PCGD_CONN_ID)
    pcgd = PcgdClient(address, e.password)
    for code in pcgd_pipeline.commune_codes(pcgd):
        pcgd_pipeline.land_commune(pcgd, url, batch_id, code)
    validate_landed(url, batch_id, [*school_management.SOURCES, "file_exports", "pcgd"])


def dbt_build(env: dict, day: int, gate: bool, target) -> None:
    said = dbt(["build", *SELECTION, *transform.SCHEDULED_BUILD_FLAGS, "--target-path", str(target)], env,
               day=logical_date(day), dbt_vars=publish.dbt_vars() if gate else None)
    # the closing time of a deleted record has the versions' time zone (macro
    # postgres__snapshot_get_time): dbt no longer warns of the mismatch
    assert "Data type of snapshot table timestamp columns" not in said


@pytest.fixture(scope="module")
def history(tmp_path_factory, server_url):
    root = tmp_path_factory.mktemp("history")
    url = warehouse.create_database("eduhub_history", server_url, replace=True)
    migrations.upgrade(url)
    transform.ensure_raw_tables(url)
    env = runtime.environment(url)
    data, rows, unenrolled, injected = {}, {}, {}, {}
    for day in (DAY, DAY + 1):
        out = root / f"day{day}"
        manifest = generator.write(generator.generate(scale=SCALE, seed=SEED, day=day), out)
        injected[day] = {d["record"] for d in manifest["defects"]
                         if d["defect"] == "school_age_not_enrolled"}
        data[day] = generator.load(out)
        shutil.rmtree(root / "drops", ignore_errors=True)
        exports.write_class_exports(data[day], root / "drops", seed=SEED)
        with running_simulators(out) as sources:
            land_day(url, sources, root / "drops", f"day{day}")
        publish.prepare(url)
        dbt_build(env, day, gate=True, target=root / "target")
        rows[day] = snapshot_rows(url)
        with warehouse.connect(url) as conn:
            unenrolled[day] = {r[0] for r in conn.execute("""
                select record_key from intermediate.int_resident_checks
                where rule_id = 'DU_PCGD_ENROLLED' and not passed""")}
    # the plain build, as an engineer runs it by hand, on the same day again
    dbt_build(env, DAY + 1, gate=False, target=root / "target")
    return {"url": url, "data": data, "rows": rows, "rebuilt": snapshot_rows(url),
            "unenrolled": unenrolled, "injected": injected}


def by_record(learners: list[dict], vendors: dict[str, str]) -> dict[str, dict]:
    """The warehouse's learner key (source:school|moet) -> the generator's learner."""
    return {f"{vendors[x['school_code']]}:{x['school_code']}|{x['moet_id']}": x
            for x in learners}


def started(x: dict, vendors: dict[str, str], day: int) -> datetime:
    """When the warehouse dates a learner's state: the source's update time, or the run's day
    for the class exports (they carry none)."""
    if vendors[x["school_code"]] == "file_exports":
        return datetime.combine(generator.TERM_START + timedelta(days=day), time(), VN)
    return datetime.fromisoformat(x["updated_at"])


def test_first_day_holds_one_current_version_per_learner(history):
    data = history["data"][DAY]
    vendors = {s["school_code"]: s["vendor"] for s in data["schools"]}
    learners = by_record(data["learners"], vendors)
    rows = history["rows"][DAY]
    assert len(learners) > 1000
    assert {r[0]: r[1:5] for r in rows} == {
        k: tuple(x[f] for f in TRACKED) for k, x in learners.items()}
    assert len(rows) == len(learners)
    assert all(r[6] is None for r in rows)
    assert {r[0]: r[5] for r in rows} == {k: started(x, vendors, DAY) for k, x in learners.items()}


def test_next_day_adds_exactly_its_changes_as_new_versions(history):
    before = by_record(history["data"][DAY]["learners"],
                       {s["school_code"]: s["vendor"] for s in history["data"][DAY]["schools"]})
    vendors = {s["school_code"]: s["vendor"] for s in history["data"][DAY + 1]["schools"]}
    after = by_record(history["data"][DAY + 1]["learners"], vendors)
    changed = {k for k, x in after.items()
               if k in before and any(before[k][f] != x[f] for f in TRACKED)}
    enrolled = set(after) - set(before)
    kinds = Counter(after[k]["status"] for k in changed)
    assert kinds["chuyen_truong"] >= 1 and kinds["bo_hoc"] >= 1 and enrolled  # not vacuous
    assert set(before) <= set(after)  # nothing left the sources on that day

    old, new = set(history["rows"][DAY]), set(history["rows"][DAY + 1])
    versions_before = {(r[0], r[5]) for r in old}
    added = {r for r in new if (r[0], r[5]) not in versions_before}
    closed = {r for r in new if r[6] is not None}
    # every new version is a change or an enrolment of day D+1, in its new state
    assert {r[0]: r[1:5] for r in added} == {
        k: tuple(after[k][f] for f in TRACKED) for k in changed | enrolled}
    assert len(added) == len(changed | enrolled)
    # each change closed the old version when the new one began; nothing else was touched
    assert {r[0]: r[1:5] for r in closed} == {
        k: tuple(before[k][f] for f in TRACKED) for k in changed}
    starts = {r[0]: r[5] for r in added}
    assert {r[0]: r[6] for r in closed} == {k: starts[k] for k in changed}
    assert starts == {k: started(after[k], vendors, DAY + 1) for k in changed | enrolled}
    assert old - new == {(*r[:6], None) for r in closed}


def test_rebuilding_adds_nothing(history):
    assert history["rebuilt"] == history["rows"][DAY + 1]


def test_movements_count_the_terms_transfers_dropouts_and_enrolments(history):
    """Term 1 of 2026-2027, per school: everything the generator's learners went through."""
    data = history["data"][DAY + 1]
    vendors = {s["school_code"]: s["vendor"] for s in data["schools"]}
    first = {x["moet_id"] for x in history["data"][DAY]["learners"]}
    expected: dict[str, Counter] = {}
    for x in data["learners"]:
        counts = expected.setdefault(x["school_code"], Counter())
        if x["status"] != "dang_hoc":
            counts[x["status"]] += 1
        elif vendors[x["school_code"]] == "file_exports":
            # no dates in the exports: an enrolment is a learner who appears after the first load
            counts["nhap_hoc"] += x["moet_id"] not in first
        else:
            counts["nhap_hoc"] += datetime.fromisoformat(x["updated_at"]).date() \
                > generator.TERM_START
    expected = {k: c for k, c in expected.items() if +c}
    with warehouse.connect(history["url"]) as conn:
        got = {r[0]: Counter({"nhap_hoc": r[1], "chuyen_truong": r[2], "bo_hoc": r[3],
                              "tot_nghiep": r[4]})
               for r in conn.execute("""
                   select school_code, enrolled, transferred_out, dropped_out, graduated
                   from intermediate.int_learner_movements
                   where school_year = '2026-2027' and term = 'hk1'""")}
        other = conn.execute("""
            select coalesce(sum(returned + moved_class + removed_from_source), 0)
            from intermediate.int_learner_movements""").fetchone()[0]
    assert all(sum(c[kind] for c in expected.values())
               for kind in ("nhap_hoc", "chuyen_truong", "bo_hoc"))  # not vacuous
    assert {k: +c for k, c in got.items() if +c} == expected
    assert other == 0


def test_census_children_who_enrol_later_are_not_missing_before_the_deadline(history):
    """DU_PCGD_ENROLLED fails exactly the injected school-age children in no school, on both
    days, though on day D the census already lists children the schools enrol later (before
    the term's reporting deadline nothing says they are missing)."""
    for day in (DAY, DAY + 1):
        data = history["data"][day]
        learners = data["learners"]
        ids = {x["personal_id"] for x in learners if x["personal_id"]}
        names = {(x["full_name"], x["date_of_birth"]) for x in learners}
        unmatched = {r["resident_id"] for r in data["pcgd_residents"]
                     if 6 <= 2026 - int(r["date_of_birth"][:4]) <= 14
                     and r["personal_id"] not in ids
                     and (r["full_name"], r["date_of_birth"]) not in names}
        injected = history["injected"][day]
        assert injected and injected <= unmatched
        if day == DAY:
            assert unmatched - injected  # children the census lists before they enrol
        assert history["unenrolled"][day] == injected


def test_retention_purges_the_history_closed_before_the_period_and_keeps_the_rest(history):
    """Run last: it purges the module's warehouse. With one school year kept and the run in the
    next one, every version closed before its opening day goes; the open ones stay."""
    rows = snapshot_rows(history["url"])
    closed = [r for r in rows if r[-1] is not None]
    assert closed  # day D+1 closed some versions
    as_of = date(2027, 10, 1)  # school year 2027-2028: the cutoff is its opening day
    cutoff = retention.cutoff(as_of, 1)
    assert all(r[-1] < datetime.combine(cutoff, time(), tzinfo=UTC) for r in closed)
    done = {p.table: p.rows for p in retention.purge(history["url"], "snapshots-retention",
                                                      as_of, school_years=1)}
    assert done["snapshots.learner_status_history"] == len(closed)
    assert snapshot_rows(history["url"]) == [r for r in rows if r[-1] is None]
