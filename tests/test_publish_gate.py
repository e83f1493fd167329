"""The publish gate, against the simulators: analysts' marts change only when a run's critical
checks passed; a batch that fails them stays landed and marked, out of the models.

Yesterday's marts are published first (dbt into `marts_next`, the marts suite, the swap: the
library calls the DAG's tasks make), with grants, a row-level policy, default privileges and a
view outside `marts` on them. Then, through Airflow: a sync whose source renamed a field fails
its validation (the batch lands, is marked rejected, the task names the expectation), and the
transformation that follows builds, checks and swaps in marts equal to yesterday's, privileges
kept. Last, a build whose marts fail the suite is never published.
"""

from __future__ import annotations

from datetime import UTC, date, datetime

import psycopg
import pytest
import requests
from conftest import (
    assert_local,
    credentials,
    dags_test,
    dashboard,
    dashboard_page,
    database_logins,
    dbt,
    land_registry,
    table,
)

from eduhub import (
    access,
    migrations,
    publish,
    runtime,
    settings,
    transform,
    validation,
    warehouse,
)
from eduhub.landing import land_partition
from eduhub.pipelines import pcgd as pcgd_pipeline
from eduhub.pipelines import school_management
from eduhub.reports.document import integer, nfc
from eduhub.reports.labels import ENTITIES, SOURCES
from eduhub.sources import sms_vendor_a
from eduhub.sources.pcgd import PcgdClient
from eduhub.sources.sms_vendor_a import VendorAClient
from eduhub.sources.sms_vendor_b import VendorBClient
from eduhub.web import airflow_runs
from eduhub_sandbox import faults
from eduhub_sandbox.process import running_simulators

pytestmark = pytest.mark.slow

DAY = "2026-11-22"  # a Sunday: the sync reads everything again (full refresh)
AS_OF = date(2026, 11, 22)
RENAMED_ONLY = ("hostile:share_5xx=0,share_429=0,share_timeout=0,share_slow=0,"
                "share_malformed_page=0,share_added_field=0,share_malformed_records=0,"
                "share_shifting_listings=0")
FAULT_SEED = 11
READER = "eduhub_gate_reader"  # given grants on the tables, a column grant, a row policy
LATECOMER = "eduhub_gate_latecomer"  # given only default privileges on the schema


def base_url(e) -> str:
    return f"{e.scheme}://{e.host}:{e.port}{e.base_path}"


def snapshot(url: str) -> dict:
    """Every row of every published table, and the tables' object ids."""
    with warehouse.connect(url) as conn:
        tables = conn.execute("""
            select n.nspname, c.relname, c.oid::bigint from pg_class as c
            join pg_namespace as n on n.oid = c.relnamespace
            where n.nspname in ('marts', 'audit') and c.relkind = 'r' order by 1, 2""").fetchall()
        rows = {f"{s}.{t}": sorted(map(repr, conn.execute(f'select * from "{s}"."{t}"')))
                for s, t, _ in tables}
    return {"rows": rows, "oids": {f"{s}.{t}": oid for s, t, oid in tables}}


def staging_learners(url: str) -> list:
    with warehouse.connect(url) as conn:
        return sorted(map(repr, conn.execute(
            "select * from staging.stg_sms_vendor_a__learners union all "
            "select * from staging.stg_sms_vendor_b__learners")))


def dbt_build_to_staging_schemas(env: dict) -> None:
    dbt(["build", "--quiet", *transform.SCHEDULED_BUILD_FLAGS], env, day=DAY, dbt_vars=publish.dbt_vars())


@pytest.fixture(scope="module")
def gate(simulators, airflow_home, server_url, tmp_path_factory):
    """Yesterday: everything landed and validated, marts published, privileges given."""
    docs = tmp_path_factory.mktemp("data_docs") / "site"
    settings_docs, settings.DATA_DOCS_DIR = settings.DATA_DOCS_DIR, docs
    url = warehouse.create_database("eduhub_gate", server_url, replace=True)
    migrations.upgrade(url)
    a = simulators["sms_vendor_a"]
    b = simulators["sms_vendor_b"]
    clients = {"sms_vendor_a": VendorAClient(base_url(a), a.login, a.password),
               "sms_vendor_b": VendorBClient(base_url(b), b.password)}
    for vendor, client in clients.items():
        for code in school_management.land_schools(vendor, client, url, "yesterday"):
            school_management.land_school(vendor, client, url, "yesterday", code)
    pcgd = PcgdClient(base_url(simulators["pcgd"]), simulators["pcgd"].password)
    for commune in pcgd_pipeline.commune_codes(pcgd):
        pcgd_pipeline.land_commune(pcgd, url, "yesterday", commune)
    land_registry(url, "yesterday", simulators)
    validation.raise_on_critical(validation.validate_sources(
        url, "yesterday", ["sms_vendor_a", "sms_vendor_b", "pcgd"], as_of=AS_OF))

    env = runtime.environment(url, simulators, airflow_home=airflow_home)
    env["EDUHUB_DROP_DIR"] = str(tmp_path_factory.mktemp("drops"))
    env["EDUHUB_DATA_DOCS_DIR"] = str(docs)
    from eduhub import transform

    transform.ensure_raw_tables(url)
    publish.prepare(url)
    dbt_build_to_staging_schemas(env)
    result = validation.validate_publication(url, "yesterday", as_of=AS_OF)
    validation.raise_on_critical(result)
    first = publish.swap(url, "yesterday")
    again = publish.swap(url, "yesterday")  # re-running the swap changes nothing
    assert first.published and not again.published

    with warehouse.connect(url) as conn:
        for role in (READER, LATECOMER):
            if not conn.execute("select 1 from pg_roles where rolname = %s", (role,)).fetchone():
                conn.execute(f"create role {role} nologin")
        conn.execute(f"""
            grant usage on schema marts to {READER}, {LATECOMER};
            grant select on all tables in schema marts to {READER};
            revoke select on marts.exam_readiness from {READER};
            grant select (school_code, learners) on marts.exam_readiness to {READER};
            alter default privileges in schema marts grant select on tables to {LATECOMER};
            alter table marts.school_learner_id_coverage enable row level security;
            create policy own_commune on marts.school_learner_id_coverage for select
                to {READER} using (commune_code = current_setting('eduhub.commune', true));
            create schema if not exists reports;
            create view reports.coverage with (security_invoker = true,
                                               security_barrier = true) as
                select school_code, learner_count from marts.school_learner_id_coverage;""")
    yield {"url": url, "env": env, "docs": docs, "before": snapshot(url)}
    settings.DATA_DOCS_DIR = settings_docs
    with warehouse.connect(warehouse.WarehouseUrl.parse(server_url).with_dbname("postgres").url(),
                           autocommit=True) as conn:
        conn.execute('drop database if exists "eduhub_gate" with (force)')
        conn.execute(f"drop role if exists {READER}")
        conn.execute(f"drop role if exists {LATECOMER}")


def test_a_rejected_batch_stays_landed_and_marked_and_the_marts_stay_as_before(
        gate, sandbox_dir, ground_truth):
    url, env = gate["url"], gate["env"]
    staging_before = staging_learners(url)
    renamed = faults.persistent_faults(ground_truth, FAULT_SEED, RENAMED_ONLY).renamed_fields
    schools = {f["school_code"]: f for f in renamed}
    with running_simulators(sandbox_dir, faults=RENAMED_ONLY, seed=FAULT_SEED) as hostile:
        sync_env = {**env, **runtime.environment(url, hostile, airflow_home=env["AIRFLOW_HOME"])}
        sync_env["EDUHUB_DROP_DIR"] = env["EDUHUB_DROP_DIR"]
        sync_env["EDUHUB_DATA_DOCS_DIR"] = env["EDUHUB_DATA_DOCS_DIR"]
        # the day's landing, then its transform, in one Airflow process: the transform reads
        # no source
        sync, transform = dags_test(sync_env, [("sync_school_management", DAY),
                                               ("transform_warehouse", DAY)], check=False)
    output = sync.output
    # the task failed, naming the expectation and what it observed
    assert sync.returncode != 0
    assert "CriticalExpectationFailed" in output
    assert "expect_column_values_to_not_be_null(birth_date__json): " in output
    assert "expect_column_values_to_not_be_null(so_dinh_danh__json): " in output
    assert "rows unexpected" in output

    with warehouse.connect(url) as conn:
        batch = conn.execute("select distinct batch_id from ops.batches where batch_id "
                             "not in ('yesterday')").fetchone()[0]
        marked = conn.execute("""
            select source, partition, status from ops.batches
            where batch_id = %s and entity = 'learners' order by 1, 2""", (batch,)).fetchall()
        landed = conn.execute("""
            select 'sms_vendor_a', partition, count(*) from raw.sms_vendor_a__learners
            where batch_id = %(b)s group by partition
            union all
            select 'sms_vendor_b', partition, count(*) from raw.sms_vendor_b__learners
            where batch_id = %(b)s group by partition""", {"b": batch}).fetchall()
        reasons = dict(conn.execute("select partition, reasons from ops.batch_rejections "
                                    "where batch_id = %s", (batch,)).fetchall())
    rejected = {p for _, p, s in marked if s == "rejected"}
    assert rejected == set(schools)
    assert {s for _, p, s in marked if p not in schools} == {"validated"}
    # the renamed schools' learners landed (their payloads changed) and stay visible in raw
    assert {p for _, p, n in landed if n} == set(schools)
    assert reasons == {code: f"expect_column_values_to_not_be_null({f['field']}__json)"
                       for code, f in schools.items()}
    # the models skip them: staging is what it was
    assert staging_learners(url) == staging_before

    assert transform.returncode == 0, transform.output[-6000:]
    after = snapshot(url)
    assert after["rows"] == gate["before"]["rows"]  # the same marts, freshly built
    assert after["oids"] != gate["before"]["oids"]  # ... and swapped in

    with warehouse.connect(url) as conn:
        publications = conn.execute("select run_id from ops.publications order by 1").fetchall()
        marts_checked = conn.execute("""
            select target, success, critical_failures from quality.validation_runs
            where suite = 'marts' order by validated_at""").fetchall()
        privileges = conn.execute(f"""
            select bool_and(has_table_privilege('{READER}', c.oid, 'SELECT'))
                filter (where c.relname <> 'exam_readiness'),
                has_schema_privilege('{READER}', 'marts', 'USAGE'),
                has_table_privilege('{READER}', 'marts.exam_readiness', 'SELECT'),
                has_column_privilege('{READER}', 'marts.exam_readiness', 'learners', 'SELECT'),
                bool_and(has_table_privilege('{LATECOMER}', c.oid, 'SELECT'))
            from pg_class as c where c.relnamespace = 'marts'::regnamespace
              and c.relkind = 'r'""").fetchone()
        policy = conn.execute("""
            select c.relrowsecurity, p.polname from pg_class as c
            join pg_policy as p on p.polrelid = c.oid
            where c.oid = 'marts.school_learner_id_coverage'::regclass
              and p.polname = 'own_commune'""").fetchall()
        defaults = conn.execute("""
            select count(*) from pg_default_acl
            where defaclnamespace = 'marts'::regnamespace""").fetchone()[0]
        view_reads = conn.execute("""
            select distinct d.refobjid = 'marts.school_learner_id_coverage'::regclass
            from pg_depend as d join pg_rewrite as w on w.oid = d.objid
            where w.ev_class = 'reports.coverage'::regclass
              and d.refobjid <> 'reports.coverage'::regclass""").fetchall()
        view_options = conn.execute("select reloptions from pg_class "
                                    "where oid = 'reports.coverage'::regclass").fetchone()[0]
        schemas = {r[0] for r in conn.execute(
            "select nspname from pg_namespace where nspname like 'marts%%'")}
    assert len(publications) == 2
    assert marts_checked[-1] == ("marts_next,audit_next", True, 0)
    assert privileges == (True, True, False, True, True)
    assert policy == [(True, "own_commune")]
    assert defaults == 1
    assert view_reads == [(True,)]
    # ... with its options: it still reads with its reader's rights, under the row policies
    assert sorted(view_options) == ["security_barrier=true", "security_invoker=true"]
    assert schemas == {"marts", "marts_previous"}
    # Data Docs of the landing suites and of the marts
    pages = {p.relative_to(gate["docs"] / "validations").parts[0]
             for p in (gate["docs"] / "validations").rglob("*.html")}
    assert {"sms_vendor_a__learners", "marts"} <= pages


def _rejected(url: str) -> list[tuple]:
    with warehouse.connect(url) as conn:
        return conn.execute("""
            select b.batch_id, b.source, b.entity, b.partition, r.reasons from ops.batches as b
            join ops.batch_rejections as r using (batch_id, source, entity, partition)
            where b.status = 'rejected' order by b.source, b.partition""").fetchall()


def _last_arrival(url: str, source: str, school: str):
    with warehouse.connect(url) as conn:
        return conn.execute(f"select max(extracted_at) from staging.stg_{source}__learners "
                            "where school_code = %s", (school,)).fetchone()[0]


def _decide(page, partition: str, decision: str, reason: str) -> None:
    batch = page.locator(f"article.batch[data-partition='{partition}']")
    batch.get_by_label(decision).check()
    batch.get_by_label("Lý do (ít nhất 10 ký tự)").fill(reason)
    batch.get_by_role("button", name="Ghi quyết định").click()
    page.wait_for_url("**/van-hanh?da_ghi=*")


def test_an_operator_accepts_a_rejected_school_on_the_dashboard_and_the_next_transform_applies_it(
        gate, browser, tmp_path):
    """The operations page lists what validation rejected, with the failed expectations; an
    operator accepts one school and keeps another rejected, each with a reason; the next
    `transform_warehouse` applies the acceptance (who and why are the operator's) and the
    school's new records reach staging; the kept one stays out."""
    url, env = gate["url"], gate["env"]
    rejected = _rejected(url)
    assert len(rejected) >= 2  # the renamed-field schools of the sync above
    (batch, source, entity, accepted, _), (_, kept_source, _, kept, _) = rejected[:2]
    extracted = {p: _last_arrival(url, s, p) for _, s, _, p, _ in rejected[:2]}
    with warehouse.connect(url) as conn:
        # two records of a school's export without their key: quarantined, counted on the page
        land_partition(conn, sms_vendor_a.LEARNERS, [{"full_name": "Không có mã"}, [1, 2]],
                       batch_id="quarantine", partition="80009999",
                       extracted_at=datetime.now(UTC))
        landed_at = dict(conn.execute("""
            select partition, extracted_at from ops.batches
            where batch_id = %s and entity = %s and partition = any(%s)""",
                                      (batch, entity, [accepted, kept])).fetchall())
        quarantined = conn.execute("""
            select source, entity, partition, count(*) filter (where resolved_at is null)
            from ops.quarantine group by 1, 2, 3 order by 4 desc, 1, 2, 3""").fetchall()
    assert all(extracted[p] < landed_at[p] for p in extracted)  # not in staging yet

    groups = {"operator": (access.PROVINCIAL, access.OPERATOR), "provincial": access.PROVINCIAL}
    web_env = {k: v for k, v in env.items() if k != airflow_runs.API_URL_ENV}
    with database_logins(url, groups, "eduhub_gate_") as urls, dashboard(web_env) as base:
        operator, password = credentials(urls["operator"])
        page = dashboard_page(browser, base, operator, password)
        page.goto(base + "/van-hanh")
        assert_local(page, base)
        shown = {a.get_attribute("data-partition"): [
            nfc(li.inner_text()) for li in a.locator("ul.reasons li").all()]
            for a in page.locator("article.batch").all()}
        assert shown == {p: [r.strip() for r in reasons.split(";")]
                         for _, _, _, p, reasons in rejected}
        assert ("sms_vendor_a", "learners", "80009999", 2) in quarantined
        assert [(c[0], c[1], c[2].split()[0], c[3]) for c in table(page, "cach-ly")] == [
            (SOURCES[s], ENTITIES[e], p, integer(n)) for s, e, p, n in quarantined]
        # no Airflow named to this dashboard: said, and the rest of the page works
        assert "chưa cấu hình địa chỉ Airflow" in page.locator("#lan-chay").inner_text()

        _decide(page, accepted, "Chấp nhận lô", "Trường xác nhận đổi tên trường dữ liệu, đã đối chiếu")
        assert "Đã ghi quyết định (Chấp nhận lô)" in page.get_by_role("status").inner_text()
        _decide(page, kept, "Giữ từ chối", "Chờ nhà cung cấp sửa lại tên trường dữ liệu")
        article = page.locator(f"article.batch[data-partition='{accepted}']")
        assert "Chờ lần biến đổi kho tiếp theo" in article.inner_text()
        assert article.locator("form").count() == 0  # decided, not yet applied
        page.screenshot(path=str(tmp_path / "van-hanh.png"), full_page=True)

        # a form without its token changes nothing; a short reason is refused by the database
        http = requests.Session()
        for cookie in page.context.cookies():
            http.cookies.set(cookie["name"], cookie["value"])
        form = {"batch_id": batch, "source": kept_source, "entity": entity, "partition": kept,
                "decision": "accept", "reason": "Không có mã CSRF nên không được ghi"}
        assert http.post(base + "/van-hanh", data=form, allow_redirects=False).status_code == 403
        token = page.locator("form.who input[name=csrf]").get_attribute("value")
        short = http.post(base + "/van-hanh", data={**form, "csrf": token, "reason": "ngắn"},
                          allow_redirects=False)
        assert short.status_code == 400 and "ít nhất 10 ký tự" in short.text
        # the Sở's login without the operators' group: neither the page nor the door
        provincial, secret = credentials(urls["provincial"])
        other = dashboard_page(browser, base, provincial, secret)
        other.goto(base + "/van-hanh")
        assert "chỉ dành cho cán bộ vận hành" in other.locator("main").inner_text()
        with warehouse.connect(urls["provincial"]) as conn, pytest.raises(
                psycopg.errors.InsufficientPrivilege):
            conn.execute("select * from operations.rejected_partitions()")
        other.context.close()

        with warehouse.connect(url) as conn:
            decisions = conn.execute("""
                select partition, decision, reason, decided_by, applied_at from ops.batch_decisions
                order by partition""").fetchall()
        assert sorted(decisions) == sorted([
            (accepted, "accept", "Trường xác nhận đổi tên trường dữ liệu, đã đối chiếu", operator,
             None),
            (kept, "keep_rejected", "Chờ nhà cung cấp sửa lại tên trường dữ liệu", operator,
             None)])
        assert _rejected(url) == rejected  # nothing applied before the transform

        transform = dags_test(env, [("transform_warehouse", DAY)])[0]
        assert transform.returncode == 0, transform.output[-6000:]
        with warehouse.connect(url) as conn:
            status = dict(conn.execute("""
                select b.partition, b.status from ops.batches as b join ops.batch_decisions
                    using (batch_id, source, entity, partition)""").fetchall())
            acceptance = conn.execute("select partition, accepted_by, reason from "
                                      "ops.batch_acceptances").fetchall()
            applied = dict(conn.execute("select partition, outcome from ops.batch_decisions "
                                        "where applied_at is not null").fetchall())
        assert status == {accepted: "accepted", kept: "rejected"}
        assert acceptance == [(accepted, operator,
                               "Trường xác nhận đổi tên trường dữ liệu, đã đối chiếu")]
        assert applied == {accepted: "accepted", kept: "kept_rejected"}
        # the accepted school's records of that batch reach staging; the kept one's do not
        assert _last_arrival(url, source, accepted) == landed_at[accepted]
        assert _last_arrival(url, kept_source, kept) == extracted[kept]
        assert validation.apply_batch_decisions(url) == []  # applied once

        page.goto(base + "/van-hanh")
        done = page.locator(f"article.batch[data-partition='{accepted}']").inner_text()
        assert "Đã chấp nhận" in done
        still = page.locator(f"article.batch[data-partition='{kept}']")
        assert "Giữ từ chối" in still.inner_text() and still.locator("form").count() == 1
        page.context.close()


def test_a_critical_failure_on_the_marts_keeps_yesterdays_marts(gate, simulators):
    url, env = gate["url"], gate["env"]
    before = snapshot(url)
    # a school's name with a personal ID typed into it: the landing contract accepts the name,
    # the marts suite refuses to publish it
    a = simulators["sms_vendor_a"]
    schools = VendorAClient(base_url(a), a.login, a.password).schools_listing()
    leaked = [dict(s) for s in schools.records]
    leaked[0]["school_name"] = "Trường THCS 072201512345"
    with warehouse.connect(url) as conn:
        land_partition(conn, sms_vendor_a.SCHOOLS, leaked, batch_id="leak", partition="all",
                       extracted_at=datetime.now(UTC), reported_total=schools.total)
    landing = validation.validate_batch("sms_vendor_a__schools", url, "leak", as_of=AS_OF)
    assert landing.critical_failures == []

    publish.prepare(url)
    dbt_build_to_staging_schemas(env)
    result = validation.validate_publication(url, "leak-run", as_of=AS_OF)
    failed = result.failed("critical")
    assert ("marts.school_learner_id_coverage", "expect_column_values_to_not_match_regex",
            "school_name") in failed
    assert {t for _, t, _ in failed} == {"expect_column_values_to_not_match_regex"}
    with pytest.raises(validation.CriticalExpectationFailed) as err:
        validation.raise_on_critical(result)
    assert "expect_column_values_to_not_match_regex(school_name) on " \
           "marts.school_learner_id_coverage: 1 of " in str(err.value)
    assert "072201512345" not in str(err.value)
    with pytest.raises(publish.PublishError, match="not validated"):
        publish.swap(url, "leak-run")
    assert snapshot(url) == before  # yesterday's marts, the very same tables
    with warehouse.connect(url) as conn:
        kept = conn.execute("select count(*) from marts_next.school_learner_id_coverage "
                            "where school_name like '%%072201512345'").fetchone()[0]
    assert kept == 1  # the refused build stays for inspection until the next run
