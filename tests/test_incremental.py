"""Incremental staging (issue 20): a sequence of days landed into one warehouse, each followed
by a build that recomputes only the staging keys that changed (macros/incremental_staging.sql),
gives the same staging, intermediate, marts and audit rows as one full build of the same raw
data.

The days, as the sync's tasks land them (called directly, as test_snapshots does): a Monday's
first landing, the next day's changes, a day where a renamed field gets some schools' learners
rejected by validation, an operator's acceptance of one of them (`eduhub batch accept`: no
new raw record, only its batch status changes), a Sunday's full read (the records schools
deleted meanwhile go), and a backfill of the Thursday that was missed (a full read of that
day, landed last, which changes and withdraws records again). After the last build, the
warehouse is copied (raw, ops, snapshots as they are) and its models built again from
nothing; every relation of the built schemas must hold the same rows. Each incremental build
must also take only the changed keys
(dbt's rows affected), and a build with nothing new changes nothing.
"""

from __future__ import annotations

import json
import shutil
import time
from datetime import timedelta

import pytest
from conftest import database_name, dbt, land_registry

from eduhub import migrations, runtime, transform, validation, warehouse
from eduhub.pipelines import file_exports as file_exports_pipeline
from eduhub.pipelines import pcgd as pcgd_pipeline
from eduhub.pipelines import school_management
from eduhub.sources.pcgd import PcgdClient
from eduhub.sources.sms_vendor_a import VendorAClient
from eduhub.sources.sms_vendor_b import VendorBClient
from eduhub_sandbox import generator
from eduhub_sandbox.process import running_simulators
from eduhub_sandbox.simulators import file_exports as exports

pytestmark = pytest.mark.slow

SCALE, SEED = 500, 23
# offsets from the term's start (Saturday 5 September 2026): Monday 24 May 2027 to Sunday 30,
# when schools delete records without a departure (the sandbox's `silently_removed`, more
# often here than by default, so that the week holds some)
MONDAY, TUESDAY, WEDNESDAY, THURSDAY, SUNDAY = 261, 262, 263, 264, 267
DEFECT_RATES = {"silently_removed": 0.03}
# only the renamed field, the same on every request: those schools' learners are rejected
RENAMED_ONLY = ("hostile:share_5xx=0,share_429=0,share_timeout=0,share_slow=0,"
                "share_malformed_page=0,share_added_field=0,share_malformed_records=0,"
                "share_shifting_listings=0")
BUILT_SCHEMAS = ("staging", "intermediate", "marts", "audit")
# read by the matching between two builds (dbt_project.yml): a view, always current
STAGING_VIEWS = {"stg_population__verifications"}
SOURCES = [*school_management.SOURCES, "file_exports", "pcgd"]


def logical_date(day: int) -> str:
    return (generator.TERM_START + timedelta(days=day)).isoformat()


def land_day(url: str, root, day: int, batch_id: str, *, faults: str = "none",
             full: bool = False) -> None:
    """The sandbox's `day` landed as sync_school_management and sync_pcgd do (`full`: a full
    read, as on Sundays), and validated, without stopping at a rejection."""
    out = root / f"day{day}"
    if not out.exists():
        generator.write(generator.generate(scale=SCALE, seed=SEED, day=day,
                                           defect_rates=DEFECT_RATES), out)
    drops = root / "drops"
    shutil.rmtree(drops, ignore_errors=True)
    exports.write_class_exports(generator.load(out), drops, seed=SEED, day=day)
    with running_simulators(out, faults=faults, seed=SEED) as sources:
        def endpoint(conn_id):
            e = sources[conn_id]
            return f"{e.scheme}://{e.host}:{e.port}{e.base_path}", e

        address, e = endpoint("sms_vendor_a")
        clients = {"sms_vendor_a": VendorAClient(address, e.login, e.password)}
        address, e = endpoint("sms_vendor_b")
        clients["sms_vendor_b"] = VendorBClient(address, e.password)
        land_registry(url, batch_id, sources)
        for vendor in school_management.SOURCES:
            for code in school_management.land_schools(vendor, clients[vendor], url, batch_id):
                school_management.land_school(vendor, clients[vendor], url, batch_id, code,
                                              full_refresh=full)
        file_exports_pipeline.land_file_drops(drops, url, batch_id)
        address, e = endpoint("pcgd")
        pcgd = PcgdClient(address, e.password)
        for code in pcgd_pipeline.commune_codes(pcgd):
            pcgd_pipeline.land_commune(pcgd, url, batch_id, code, full_refresh=full)
    validation.validate_sources(url, batch_id, SOURCES, as_of=generator.TERM_START
                                + timedelta(days=day))


def build(url: str, day: int, target, *extra: str) -> tuple[dict[str, int], float]:
    """The day's build as the transformation runs it (the operators' decisions applied
    first); returns the rows each staging model inserted and how long dbt took."""
    validation.apply_batch_decisions(url)
    env = runtime.environment(url)
    started = time.monotonic()
    dbt(["build", *extra, *transform.SCHEDULED_BUILD_FLAGS, "--target-path", str(target)],
        env, day=logical_date(day))
    took = time.monotonic() - started
    results = json.loads((target / "run_results.json").read_text())["results"]
    inserted = {r["unique_id"].split(".")[-1]: r["adapter_response"].get("rows_affected")
                for r in results if r["unique_id"].startswith("model.eduhub.stg_")
                and r["unique_id"].split(".")[-1] not in STAGING_VIEWS}
    assert len(inserted) == 20
    return inserted, took


def staging_rows(url: str) -> dict[str, int]:
    with warehouse.connect(url) as conn:
        names = [r[0] for r in conn.execute(
            "select relname from pg_class where relnamespace = 'staging'::regnamespace "
            "and relkind = 'r' and relname like 'stg%%' order by 1")]
        return {n: conn.execute(f'select count(*) from staging."{n}"').fetchone()[0]
                for n in names}


def digests(url: str) -> dict[str, tuple[int, str]]:
    """Rows and a digest of every row of every table and view of the built schemas."""
    with warehouse.connect(url) as conn:
        relations = conn.execute("""
            select n.nspname, c.relname from pg_class as c
            join pg_namespace as n on n.oid = c.relnamespace
            where n.nspname = any(%s) and c.relkind in ('r', 'v', 'm', 'p')
            order by 1, 2""", (list(BUILT_SCHEMAS),)).fetchall()
        return {f"{s}.{t}": conn.execute(
            f"select count(*), md5(coalesce(string_agg(t::text, '|' order by t::text), '')) "
            f'from "{s}"."{t}" as t').fetchone() for s, t in relations}


def learner_keys(url: str, batch: str, source: str, partition: str) -> int:
    with warehouse.connect(url) as conn:
        return conn.execute(f"""
            select count(distinct natural_key) from raw.{source}__learners
            where batch_id = %s and partition = %s and not is_deleted""",
                            (batch, partition)).fetchone()[0]


@pytest.fixture(scope="module")
def days(tmp_path_factory, server_url):
    root = tmp_path_factory.mktemp("incremental")
    name = database_name("eduhub_incremental")
    url = warehouse.create_database(name, server_url, replace=True)
    migrations.upgrade(url)
    transform.ensure_raw_tables(url)
    target = root / "target"
    seen = {"url": url}

    land_day(url, root, MONDAY, "monday", full=True)
    seen["first"] = build(url, MONDAY, target)
    seen["first_rows"] = staging_rows(url)

    land_day(url, root, TUESDAY, "tuesday")
    seen["tuesday"] = build(url, TUESDAY, target)
    seen["tuesday_rows"] = staging_rows(url)

    # a renamed field: those schools' learners land, rejected; staging skips them
    land_day(url, root, WEDNESDAY, "wednesday", faults=RENAMED_ONLY)
    with warehouse.connect(url) as conn:
        rejected = conn.execute("""
            select batch_id, source, entity, partition from ops.batches
            where status = 'rejected' and entity = 'learners' order by source, partition
            """).fetchall()
    seen["rejected"] = rejected
    seen["wednesday"] = build(url, WEDNESDAY, target)

    # an operator accepts the first (`eduhub batch accept`): the partition's learners become
    # current without any new raw record
    batch, source, entity, partition = rejected[0]
    validation.accept_partitions(url, batch, source, entity, partitions=[partition],
                                 reason="Nhà cung cấp xác nhận đổi tên trường",
                                 accepted_by="operator")
    seen["accepted"] = (source, learner_keys(url, batch, source, partition))
    seen["acceptance"] = build(url, WEDNESDAY, target)

    land_day(url, root, SUNDAY, "sunday", full=True)
    seen["sunday"] = build(url, SUNDAY, target)
    with warehouse.connect(url) as conn:
        seen["deleted"] = conn.execute("""
            select count(*) from raw.sms_vendor_a__learners where is_deleted
            union all select count(*) from raw.sms_vendor_b__learners where is_deleted
            union all select count(*) from raw.file_exports__learners where is_deleted
            """).fetchall()
    seen["sunday_rows"] = staging_rows(url)

    # the missed Thursday, backfilled: its full read lands after Sunday's
    land_day(url, root, THURSDAY, "thursday-backfill", full=True)
    seen["backfill"] = build(url, THURSDAY, target)
    seen["backfill_digests"] = digests(url)
    seen["again"] = build(url, THURSDAY, target)
    seen["again_digests"] = digests(url)

    # a purge by retention (eduhub.pipelines.retention): every version of a learner deleted
    # from raw, and the raw table's watermarks with them; the next build recomputes every key
    with warehouse.connect(url) as conn:
        purged = conn.execute("select min(learner_record_key) from "
                              "staging.stg_sms_vendor_a__learners").fetchone()[0]
        conn.execute("delete from raw.sms_vendor_a__learners where natural_key = %s", (purged,))
        conn.execute("delete from ops.staging_watermarks "
                     "where raw_table = 'raw.sms_vendor_a__learners'")
    seen["purged"] = purged
    seen["purge"] = build(url, THURSDAY, target)
    seen["purge_rows"] = staging_rows(url)
    seen["incremental"] = digests(url)

    # the same raw data, every model built from nothing: the warehouse copied (the idle
    # connections validation's engine keeps to it closed first)
    admin = warehouse.WarehouseUrl.parse(server_url).with_dbname("postgres").url()
    with warehouse.connect(admin, autocommit=True) as conn:
        conn.execute("select pg_terminate_backend(pid) from pg_stat_activity "
                     "where datname = %s and pid <> pg_backend_pid()", (name,))
    copy = warehouse.create_database(database_name("eduhub_incremental_full"), server_url,
                                     replace=True, template=name)
    with warehouse.connect(copy) as conn:
        conn.execute("drop schema staging cascade")
        conn.execute("delete from ops.staging_watermarks")
    seen["full"] = build(copy, THURSDAY, root / "target_full", "--full-refresh")
    seen["full_digests"] = digests(copy)
    print(f"\nstaging rows inserted: first {sum(seen['first'][0].values())}, tuesday "
          f"{sum(seen['tuesday'][0].values())}, acceptance "
          f"{sum(seen['acceptance'][0].values())}, sunday {sum(seen['sunday'][0].values())}, "
          f"backfill {sum(seen['backfill'][0].values())}, again "
          f"{sum(seen['again'][0].values())}, full {sum(seen['full'][0].values())}; "
          f"deleted {seen['deleted']}; rejected {len(seen['rejected'])}")
    print(f"incremental builds: tuesday {seen['tuesday'][1]:.1f}s, acceptance "
          f"{seen['acceptance'][1]:.1f}s, nothing new {seen['again'][1]:.1f}s; first "
          f"{seen['first'][1]:.1f}s, full rebuild {seen['full'][1]:.1f}s")
    yield seen
    with warehouse.connect(admin, autocommit=True) as conn:
        for db in (name, database_name("eduhub_incremental_full")):
            conn.execute(f'drop database if exists "{db}" with (force)')


def test_the_incremental_builds_give_what_one_full_build_gives(days):
    incremental, full = days["incremental"], days["full_digests"]
    assert set(incremental) == set(full)
    assert sum(n for n, _ in incremental.values()) > 10000
    differing = {t: (incremental[t], full[t]) for t in full if incremental[t] != full[t]}
    assert differing == {}


def test_the_sequence_changed_deleted_rejected_and_accepted_records(days):
    first, tuesday = days["first_rows"], days["tuesday_rows"]
    assert first != tuesday  # the day's changes
    assert days["rejected"]  # some schools' learners rejected on Wednesday
    assert any(n for (n,) in days["deleted"])  # the Sunday's full read withdrew records


def test_a_day_after_recomputes_only_the_changed_keys(days):
    inserted, _ = days["tuesday"]
    first_inserted, _ = days["first"]
    total = sum(days["tuesday_rows"].values())
    # the first build computed every key; Tuesday's only the few that changed
    assert sum(first_inserted.values()) == sum(days["first_rows"].values())
    assert 0 < sum(inserted.values()) < total / 10


def test_an_acceptance_recomputes_only_the_accepted_partitions_keys(days):
    source, keys = days["accepted"]
    inserted, _ = days["acceptance"]
    assert keys > 0
    assert inserted[f"stg_{source}__learners"] == keys
    # nothing else landed or changed status
    assert {m: n for m, n in inserted.items() if n and m != f"stg_{source}__learners"} == {}


def test_a_build_with_nothing_new_changes_nothing(days):
    inserted, _ = days["again"]
    assert set(inserted.values()) == {0}
    assert days["again_digests"] == days["backfill_digests"]


def test_a_purge_by_retention_recomputes_every_key_of_its_raw_table(days):
    inserted, _ = days["purge"]
    rows = days["purge_rows"]["stg_sms_vendor_a__learners"]
    assert inserted == {**{m: 0 for m in inserted}, "stg_sms_vendor_a__learners": rows}
    with warehouse.connect(days["url"]) as conn:
        assert conn.execute("select count(*) from staging.stg_sms_vendor_a__learners "
                            "where learner_record_key = %s", (days["purged"],)).fetchone() == (0,)
