"""The platform's day under the real Airflow components, as the Sở runs it.

Scheduler, DAG processor, triggerer and API server run as separate processes over a PostgreSQL
metadata database, with the LocalExecutor and the sandbox simulators. The DAGs are unpaused and
left to their schedules and assets: no `dags test`, no manual trigger. The sources are down for
the first scheduled day (its syncs fail, visibly); they come back, the clock reaches the next
slot, and that day's whole chain runs on its own and leaves exactly the sandbox's ground truth.
"""

from __future__ import annotations

import json
import re
import shutil
import textwrap
from pathlib import Path

import pendulum
import pytest
from conftest import (
    assert_local,
    credentials,
    dashboard,
    dashboard_page,
    database_logins,
    is_id_shaped,
    text_of,
)

from eduhub import (
    access,
    airflow_services,
    alerts,
    dag_support,
    live_day,
    log_masking,
    migrations,
    reports,
    runtime,
    settings,
    transform,
    warehouse,
)
from eduhub.identity.person import PSEUDONYM_KEY_ENV
from eduhub_sandbox.process import running_simulators
from eduhub_sandbox.simulators.sms_vendor_a import VendorA

pytestmark = pytest.mark.slow

PSEUDONYM_KEY = "live-test-pseudonym-key-0123456789"
# A DAG beside the platform's that logs a personal ID and the pseudonym key when the DAG
# processor parses it and when its task runs: the masking must hide them in both logs.
LEAKING_DAG = textwrap.dedent('''
    """Logs a personal ID and a secret on purpose (tests/test_live_day.py)."""
    import logging
    import os

    import pendulum
    from airflow.sdk import dag, task

    logging.getLogger("eduhub.probe").warning(
        "probe-parse learner 072201512345 key %s", os.environ.get("EDUHUB_PSEUDONYM_KEY"))


    @dag(schedule=None, start_date=pendulum.datetime(2026, 9, 1), catchup=False, tags=["probe"])
    def leaking_probe():
        @task
        def leak():
            logging.getLogger("eduhub.probe").warning(
                "probe-task learner 079301000123 key %s", os.environ["EDUHUB_PSEUDONYM_KEY"])
            print("probe-print learner 079301000123")

        leak()


    leaking_probe()
''')


def context(text: str, match: re.Match) -> str:
    """The text around a match, its digits hidden: enough to find the line that leaked."""
    before = text[max(0, match.start() - 120):match.start()]
    after = text[match.end():match.end() + 60]
    return f"{before}<{len(match.group())} chars>{after}"


def vendor_a_truth(live_ground_truth):
    codes = {s["school_code"] for s in live_ground_truth["schools"] if s["vendor"] == "sms_vendor_a"}
    return codes, [VendorA.learner_view(x) for x in live_ground_truth["learners"]
                   if x["school_code"] in codes]


@pytest.fixture(scope="module")
def live(server_url, live_sandbox_dir, tmp_path_factory, smtp_server):
    """Runs the two days; yields the services (stopped afterwards) and what they did."""
    url = warehouse.create_database("eduhub_live", server_url, replace=True)
    migrations.upgrade(url)
    home = tmp_path_factory.mktemp("airflow_live")
    env = runtime.environment(url, airflow_home=home)
    port = airflow_services.free_port()
    credentials = ("live-client", "live-secret-" + home.name)
    # the endpoints the connections name, before anything listens there
    with running_simulators(live_sandbox_dir, port=port, credentials=credentials) as sources:
        pass
    env = runtime.environment(url, sources, airflow_home=home)
    env[PSEUDONYM_KEY_ENV] = PSEUDONYM_KEY
    # the platform's DAGs and the leaking probe
    dags = tmp_path_factory.mktemp("live_dags")
    for dag_file in settings.DAGS_DIR.glob("*.py"):
        shutil.copy(dag_file, dags / dag_file.name)
    (dags / "leaking_probe.py").write_text(LEAKING_DAG)
    env["AIRFLOW__CORE__DAGS_FOLDER"] = str(dags)
    env["EDUHUB_DROP_DIR"] = str(tmp_path_factory.mktemp("live_drops"))
    env["EDUHUB_REPORTS_DIR"] = str(tmp_path_factory.mktemp("live_reports"))
    env["EDUHUB_RETRY_DELAY_SECONDS"] = "2"
    host, smtp_port, inbox = smtp_server
    mails_before = len(inbox.mails)  # the server is shared: other tests' mails come first
    env.update(alerts.smtp_env(host, smtp_port, "van-hanh@sogddt.example"))
    config = airflow_services.ServicesConfig(
        airflow_home=home, api_port=airflow_services.free_port(), dag_scan_interval=10,
            dag_reparse_interval=120,
        metadata_url=airflow_services.metadata_url(server_url, "airflow_live", replace=True))
    services = airflow_services.AirflowServices(config, env)
    lines: list[str] = []
    try:
        services.init()
        services.start()
        services.wait_dags_registered([*live_day.ALL_DAGS, "leaking_probe"])
        services.unpause(["leaking_probe"])
        services.trigger("leaking_probe")
        # yesterday first, with every source down: the syncs fail
        live_day.start_with_yesterday(services, live_day.SYNC_DAGS)
        services.unpause(live_day.DAILY_DAGS)
        failed = services.wait_finished(live_day.SYNC_DAGS)
        # the sources answer again; today's slot, the next scheduled day, runs on its own
        with running_simulators(live_sandbox_dir, port=port, credentials=credentials):
            expected = {**live_day.A_DAY, **{d: 2 for d in live_day.SYNC_DAGS}}
            runs = live_day.run_day(services, expected=expected, write=lines.append)
        yield {"services": services, "url": url, "day1": failed, "runs": runs, "lines": lines,
               "mails": lambda: [m for _, m in inbox.mails[mails_before:]],
               "live_sandbox_dir": live_sandbox_dir, "port": port, "credentials": credentials,
               "reports": Path(env["EDUHUB_REPORTS_DIR"])}
    finally:
        print("\n".join(lines))
        services.stop()


def test_a_failing_source_fails_its_run_visibly(live):
    day1 = [r for r in live["day1"] if r["dag_id"] in live_day.SYNC_DAGS]
    assert {(r["dag_id"], r["run_type"], r["state"]) for r in day1} == {
        (d, "manual", "failed") for d in live_day.SYNC_DAGS}
    services = live["services"]
    run = next(r for r in day1 if r["dag_id"] == "sync_school_management")
    states = {t["task_id"]: t["state"] for t in services.task_instances(run["dag_id"],
                                                                        run["run_id"])}
    assert states["list_sms_vendor_a_schools"] == "failed"
    assert states["validate_batch"] == "upstream_failed"


def test_the_operators_were_mailed_about_the_failed_day(live):
    mails = live["mails"]()
    about = {(m["X-EduHub-Dag"], m["X-EduHub-Task"]) for m in mails}
    assert ("sync_school_management", "list_sms_vendor_a_schools") in about
    assert ("sync_pcgd", "list_communes") in about
    # the recovered day sent nothing
    assert all(m["X-EduHub-Dag"] in live_day.SYNC_DAGS for m in mails)
    body = text_of(next(m for m in mails if m["X-EduHub-Task"] == "list_sms_vendor_a_schools"))
    assert "sync_school_management" in body and "ConnectionError" in body


def test_the_next_scheduled_day_runs_the_whole_chain_on_its_own(live):
    runs = [r for r in live["runs"] if (r["dag_id"], r["run_id"]) not in
            {(d["dag_id"], d["run_id"]) for d in live["day1"]}]
    by_dag: dict[str, list[dict]] = {}
    for run in runs:
        by_dag.setdefault(run["dag_id"], []).append(run)
    assert [r["state"] for r in runs if r["state"] != "success"] == []
    for dag_id, n in live_day.A_DAY.items():
        assert len(by_dag.get(dag_id, [])) >= n, dag_id
    # nothing was triggered by hand: the schedule, then the assets
    assert {r["run_type"] for r in by_dag["sync_school_management"]} == {"scheduled"}
    for dag_id in ("transform_warehouse", "sync_population", "match_identities"):
        assert {r["run_type"] for r in by_dag[dag_id]} == {"asset_triggered"}, dag_id
    # the reports after each publication; the morning check of the deadlines wrote nothing
    # (unpaused before the first publication, or outside a deadline's week)
    kinds = {r["run_type"] for r in by_dag["publish_reports"]}
    assert "asset_triggered" in kinds and kinds <= {"asset_triggered", "scheduled"}
    services = live["services"]
    for run in (r for r in live["runs"] if r["dag_id"] == "publish_reports"
                and r["run_type"] == "scheduled"):
        states = {t["task_id"]: t["state"] for t in services.task_instances(
            "publish_reports", run["run_id"])}
        day = pendulum.instance(run["logical_date"]).in_timezone(dag_support.TIMEZONE).date()
        assert states == {"write_reports": "skipped"} or (
            reports.deadline_ahead(day) and states == {"write_reports": "success"}), run
    # the second day's syncs stand for the day after the failed ones
    day1 = {r["dag_id"]: r["logical_date"] for r in live["day1"]}
    for dag_id in live_day.SYNC_DAGS:
        day2 = by_dag[dag_id][0]["logical_date"]
        assert (day2.date() - day1[dag_id].date()).days == 1, dag_id


def test_the_published_marts_became_the_reports_of_the_province_and_its_communes(live):
    """Statistics and quality review of the province and each commune, the statistics of each
    school (the day froze the start-of-year figures), the inspection plan and summary, and a
    visit record per sampled school: what `publish_reports` writes."""
    with warehouse.connect(live["url"]) as conn:
        communes = {r[0] for r in conn.execute(
            "select unit_code from marts.statistics_schools where aggregation_level = 'xa'")}
        schools = {r[0] for r in conn.execute(
            "select unit_code from marts.statistics_schools"
            " where aggregation_level = 'truong'")}
        sampled = {r[0] for r in conn.execute(
            "select school_code from marts.inspection_sample where school_year ="
            " (select max(school_year) from marts.quality_scorecard)")}
    listed = reports.manifest(live["reports"])
    assert communes and schools
    assert {e["unit_code"] for e in listed if e["kind"] == "chat-luong"} == {"80", *communes}
    assert {e["unit_code"] for e in listed if e["kind"] == "thong-ke"} == {
        "80", *communes, *schools}
    assert {e["term"] for e in listed if e["kind"] == "thong-ke"} == {"dau_nam"}
    for kind in ("ke-hoach-kiem-tra", "tong-hop-kiem-tra"):
        assert {e["unit_code"] for e in listed if e["kind"] == kind} == {"80"}, kind
    # the visit record of every school of the year's sample
    assert sampled and {e["unit_code"] for e in listed
                        if e["kind"] == "bien-ban-kiem-tra"} == sampled
    for entry in listed:
        assert (live["reports"] / entry["pdf"]).read_bytes().startswith(b"%PDF")
        assert (live["reports"] / entry["docx"]).stat().st_size > 0


def test_mapped_tasks_ran_in_parallel(live):
    services = live["services"]
    run = next(r for r in live["runs"] if r["dag_id"] == "sync_school_management"
               and r["state"] == "success")
    mapped = [t for t in services.task_instances(run["dag_id"], run["run_id"])
              if t["task_id"] == "sync_sms_vendor_a_school"]
    assert len(mapped) > 2 and all(t["state"] == "success" for t in mapped)
    overlap = max(sum(1 for o in mapped if o["start_date"] < t["end_date"]
                      and t["start_date"] < o["end_date"]) for t in mapped)
    assert overlap >= 2


def test_the_warehouse_holds_the_ground_truth(live, live_ground_truth):
    codes, expected = vendor_a_truth(live_ground_truth)
    with warehouse.connect(live["url"]) as conn:
        landed = dict(conn.execute("select natural_key, payload from raw.sms_vendor_a__learners"
                                   ).fetchall())
        quarantined = conn.execute("select count(*) from ops.quarantine").fetchone()[0]
        mart = {row[0]: row for row in conn.execute(
            "select school_code, learner_count, learners_with_personal_id"
            " from marts.school_learner_id_coverage").fetchall()}
        persons = conn.execute("select count(*) from pii.persons").fetchone()[0]
        verified = conn.execute("select count(*) from raw.population__verifications"
                                ).fetchone()[0]
    assert landed == {f"{x['school_code']}|{x['learner_id']}": x for x in expected}
    assert quarantined == 0
    assert set(mart) == codes
    for code in codes:
        rows = [x for x in expected if x["school_code"] == code]
        assert mart[code][1:] == (len(rows), sum(is_id_shaped(x["national_id"]) for x in rows))
    assert persons > 0 and verified > 0


def test_no_component_died_and_no_personal_id_or_secret_reached_a_log(live, live_ground_truth):
    services = live["services"]
    services.check_alive()
    probe = [r for r in services.dag_runs(["leaking_probe"])]
    assert [r["state"] for r in probe] == ["success"]
    logs = services.config.airflow_home / "logs"
    files = [p for p in logs.rglob("*") if p.is_file()]
    text = {p: p.read_text(errors="replace") for p in files}
    # what leaked on purpose reached the DAG processor's and the task's logs, masked
    parsed = [p for p, t in text.items() if "probe-parse learner *** key ***" in t]
    assert any("dag_processor" in str(p) for p in parsed), "the parse-time probe never logged"
    task_log = "".join(t for p, t in text.items() if "leaking_probe" in str(p))
    assert "probe-task learner *** key ***" in task_log
    assert "probe-print learner ***" in task_log
    # every personal number the sandbox holds, and anything shaped like one (by the masking's
    # own definition: a decimal fraction is not an ID); the leak is named, its digits hidden
    known = {x[field] for kind in ("learners", "staff", "registry", "pcgd_residents")
             for x in live_ground_truth[kind] for field in ("personal_id", "phone")
             if x.get(field)}
    secrets = [PSEUDONYM_KEY, live["credentials"][1]]
    leaks = []
    for path, t in text.items():
        for number in re.finditer(r"(?<![0-9])[0-9]{9,12}(?![0-9])", t):
            if number.group() in known:
                leaks.append((str(path), "a sandbox person's number", context(t, number)))
        for shaped in log_masking.PERSONAL_ID.finditer(t):
            leaks.append((str(path), "an ID-shaped number", context(t, shaped)))
        leaks += [(str(path), "a secret", "") for secret in secrets if secret in t]
    assert leaks == []
    assert not any("cache_clear" in t for t in text.values())


def test_the_transform_shows_each_model_and_test_it_built(live):
    """One `dbt build` of the whole project in one task (issue 20), each node still in sight:
    every model, seed, snapshot and data test with dbt's status, in the task's XCom and at
    the end of its log. dbt's unit tests are left to the test suite (test_end_to_end)."""
    services = live["services"]
    run = next(r for r in reversed(live["runs"]) if r["dag_id"] == "transform_warehouse")
    with services.metadata() as conn:
        value = conn.execute(
            "select value from xcom where dag_id = %s and run_id = %s and task_id = %s"
            " and key = 'nodes'", (run["dag_id"], run["run_id"], transform.BUILD_TASK_ID)
        ).fetchone()[0]
    rows = json.loads(value) if isinstance(value, str) else value
    by_kind: dict[str, set[str]] = {}
    for row in rows:
        kind, name = row["node"].split(" ", 1)
        by_kind.setdefault(kind, set()).add(name)
    project = settings.DBT_PROJECT_DIR
    assert by_kind["model"] == {p.stem for p in (project / "models").rglob("*.sql")}
    assert by_kind["seed"] == {p.stem for p in (project / "seeds").rglob("*.csv")}
    assert by_kind["snapshot"] == {"learner_status_history"}
    assert len(by_kind["test"]) > len(by_kind["model"])
    assert {(row["node"].split(" ")[0], row["status"]) for row in rows} <= {
        ("model", "success"), ("seed", "success"), ("snapshot", "success"),
        ("operation", "success"), ("test", "pass")}
    log = "".join(p.read_text(errors="replace") for p in
                  (services.config.airflow_home / "logs" / f"dag_id={run['dag_id']}"
                   / f"run_id={run['run_id']}" / f"task_id={transform.BUILD_TASK_ID}").glob("*"))
    assert f"dbt: {len(rows)} nút" in log and "model int_learners" in log


def _page(browser, live, path: str):
    page = browser.new_page(viewport={"width": 1400, "height": 900}, locale="vi-VN")
    page.goto(live["services"].config.api_url + path, wait_until="networkidle")
    return page


def test_the_ui_lists_every_dag_by_its_vietnamese_title(live, browser, tmp_path):
    from eduhub.dag_support import DISPLAY_NAMES

    page = _page(browser, live, "/dags?limit=50")
    for title in DISPLAY_NAMES.values():
        page.get_by_text(title, exact=True).first.wait_for(timeout=30000)
    page.screenshot(path=str(tmp_path / "dags.png"), full_page=True)
    assert set(DISPLAY_NAMES) == set(live_day.ALL_DAGS)


def test_a_finished_runs_tasks_are_all_green(live, browser, tmp_path):
    run = next(r for r in reversed(live["runs"]) if r["dag_id"] == "sync_school_management"
               and r["state"] == "success")
    tasks = live["services"].task_instances(run["dag_id"], run["run_id"])
    page = _page(browser, live, f"/dags/{run['dag_id']}/runs/{run['run_id']}")
    page.get_by_text(f"{len(tasks)} Task Instances").wait_for(timeout=30000)
    page.screenshot(path=str(tmp_path / "run.png"), full_page=True)
    table = page.locator("table")
    assert table.get_by_text("Success", exact=True).count() == len(tasks)
    assert table.get_by_text("Failed", exact=True).count() == 0


def test_a_dags_docs_render(live, browser, tmp_path):
    page = _page(browser, live, "/dags/sync_school_management")
    page.get_by_role("button", name="Dag Docs").click()
    # words of the DAG's doc_md only, not of its title
    page.get_by_text("school management systems", exact=False).first.wait_for(timeout=30000)
    page.get_by_text("Incremental", exact=False).first.wait_for(timeout=30000)
    page.screenshot(path=str(tmp_path / "docs.png"), full_page=True)


def _last_runs(services) -> dict[str, tuple[str, int]]:
    """Each DAG's last run's state and how many runs it has, from the metadata database."""
    with services.metadata() as conn:
        return {dag: (state, n) for dag, state, n in conn.execute("""
            select distinct on (dag_id) dag_id, state, count(*) over (partition by dag_id)
            from dag_run order by dag_id, id desc""")}


def test_the_dashboards_operations_page_shows_each_dags_last_run_from_airflows_api(
        live, browser, tmp_path):
    """`eduhub web` told where Airflow's API is (as `eduhub up` tells it): an operator sees
    every DAG with its Vietnamese title and the state of its last runs, as the metadata
    database holds them, each linked to the Airflow UI."""
    from eduhub.dag_support import DISPLAY_NAMES
    from eduhub.web import airflow_runs

    services = live["services"]
    env = {**runtime.environment(live["url"]), airflow_runs.API_URL_ENV: services.config.api_url}
    operator = {"operator": (access.PROVINCIAL, access.OPERATOR)}  # signs in as a reader
    with database_logins(live["url"], operator, "eduhub_live_") as urls, \
            dashboard(env) as base:
        page = dashboard_page(browser, base, *credentials(urls["operator"]))
        for _ in range(3):  # a run the scheduler starts meanwhile: read both sides again
            before = _last_runs(services)
            page.goto(base + "/van-hanh")
            shown = {row.get_attribute("data-dag"): row for row in
                     page.locator("#lan-chay tbody tr").all()}
            if _last_runs(services) == before:
                break
        assert_local(page, base)
        page.screenshot(path=str(tmp_path / "van-hanh.png"), full_page=True)
        assert set(DISPLAY_NAMES) <= set(shown)
        for dag_id, row in shown.items():
            state, runs = before.get(dag_id, ("", 0))
            assert row.get_attribute("data-state") == state, dag_id
            if runs:  # the runs before the last, up to four
                assert row.locator("td").nth(5).locator(".state").count() == min(runs, 5) - 1
            link = row.locator("td").first.locator("a")
            assert link.get_attribute("href") == f"{services.config.api_url}/dags/{dag_id}"
            if dag_id in DISPLAY_NAMES:
                assert link.inner_text() == DISPLAY_NAMES[dag_id]
        assert shown["sync_school_management"].locator("td").nth(1).inner_text() == "Thành công"
        page.context.close()


@pytest.fixture(scope="module")
def backfill(live):
    """`airflow backfill create` of two past days of the school sync, with the sources up:
    each day's landing starts a transform that stands for that day. What the transforms start
    downstream (verification, matching, reports) is paused: it is the day's chain, tested
    above, and under the other workers' load it doubled the backfill's time."""
    services = live["services"]
    services.pause(BACKFILL_PAUSED)
    before = {(r["dag_id"], r["run_id"]) for r in services.dag_runs()}
    with running_simulators(live["live_sandbox_dir"], port=live["port"],
                            credentials=live["credentials"]):
        services.airflow("backfill", "create", "--dag-id", "sync_school_management",
                         "--max-active-runs", "1",
                         "--from-date", BACKFILL_DAYS[0] + "T00:00:00+07:00",
                         "--to-date", BACKFILL_DAYS[-1] + "T23:00:00+07:00")
        expected = {"sync_school_management": 2 + len(BACKFILL_DAYS),
                    "transform_warehouse": len([r for r in live["runs"]
                                                if r["dag_id"] == "transform_warehouse"])
                    + len(BACKFILL_DAYS)}
        runs = services.wait_quiet(expected, expected=expected, timeout=1500)
    return [r for r in runs if (r["dag_id"], r["run_id"]) not in before]


BACKFILL_DAYS = ("2026-11-20", "2026-11-21")
BACKFILL_PAUSED = ("sync_pcgd", "sync_population", "match_identities", "publish_reports")


def test_a_backfill_gives_each_day_its_own_figures(live, backfill):
    services = live["services"]
    syncs = [r for r in backfill if r["dag_id"] == "sync_school_management"]
    assert [(r["run_type"], r["state"]) for r in syncs if r["run_type"] != "scheduled"] \
        == [("backfill", "success")] * 2
    # a cron tick of a daily sync (01:00 in Vietnam for this one) may fall inside the module's
    # window: the scheduler then runs that day too, as it should, and its transform follows
    ticks = [r for r in backfill if r["run_type"] == "scheduled"]
    assert all(r["state"] == "success" for r in ticks)
    transforms = [r for r in backfill if r["dag_id"] == "transform_warehouse"]
    assert [r["state"] for r in transforms] == ["success"] * len(transforms)
    with services.metadata() as conn:
        days = [conn.execute(
            "select rendered_fields -> 'env' ->> 'EDUHUB_AS_OF_DATE'"
            " from rendered_task_instance_fields"
            " where dag_id = %s and run_id = %s and task_id = 'dbt_build'",
            (r["dag_id"], r["run_id"])).fetchone()[0] for r in transforms]
    assert [d for d in days if d in BACKFILL_DAYS] == list(BACKFILL_DAYS)
    assert len(days) <= len(BACKFILL_DAYS) + len(ticks)


def test_the_failing_day_is_not_started_near_a_slot_boundary():
    """The scheduler creates the recovering day's run once the failing day has finished: a
    slot boundary between the two would make it skip a day (catch-up off)."""
    utc = pendulum.timezone("UTC")
    latest = [pendulum.datetime(2026, 12, 6, 18, 0, tz=utc), pendulum.datetime(2026, 12, 6, 17, 30, tz=utc)]
    margin = live_day.BOUNDARY_MARGIN
    assert live_day.clear_of_boundary(latest, pendulum.datetime(2026, 12, 7, 17, 0, tz=utc), margin)
    # 17:25: sync_pcgd's next slot (17:30) is five minutes away
    assert not live_day.clear_of_boundary(latest, pendulum.datetime(2026, 12, 7, 17, 25, tz=utc),
                                          margin)
    assert not live_day.clear_of_boundary(latest, pendulum.datetime(2026, 12, 7, 17, 55, tz=utc),
                                          margin)
    # past both boundaries with the slots not yet moved on: still not clear
    assert not live_day.clear_of_boundary(latest, pendulum.datetime(2026, 12, 7, 18, 1, tz=utc),
                                          margin)
    moved = [slot.add(days=1) for slot in latest]
    assert live_day.clear_of_boundary(moved, pendulum.datetime(2026, 12, 7, 18, 1, tz=utc), margin)
