"""Shared fixtures: a fresh test database, a sandbox province, its simulators, Airflow's env.

Everything is real: PostgreSQL (embedded unless EDUHUB_WAREHOUSE_URL names a server whose
role may create databases), HTTP simulators in their own process, Airflow and dbt as CLIs.
"""

from __future__ import annotations

import contextlib
import hashlib
import itertools
import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import unicodedata
from dataclasses import dataclass
from pathlib import Path

import pytest

# Nothing a test imports may touch the user's ~/airflow.
os.environ.setdefault("AIRFLOW_HOME", tempfile.mkdtemp(prefix="eduhub-airflow-"))

# The suite runs in parallel (pytest-xdist, `make test`): each worker process writes dbt's
# target and logs, the Data Docs and the reports in folders of its own, and names the
# databases it creates after itself. The embedded PostgreSQL server is shared (its start is
# locked).
WORKER = os.environ.get("PYTEST_XDIST_WORKER", "")
_SCRATCH = Path(tempfile.mkdtemp(prefix=f"eduhub-tests-{WORKER or 'main'}-"))
for _variable, _folder in (("DBT_TARGET_PATH", "dbt_target"), ("DBT_LOG_PATH", "dbt_logs"),
                           ("EDUHUB_DATA_DOCS_DIR", "data_docs"),
                           ("EDUHUB_REPORTS_DIR", "reports")):
    os.environ.setdefault(_variable, str(_SCRATCH / _folder))

import email  # noqa: E402
from email import policy  # noqa: E402

import dag_sequence  # noqa: E402
import requests  # noqa: E402
from aiosmtpd.controller import Controller  # noqa: E402
from psycopg import sql  # noqa: E402

from eduhub import airflow_services, migrations, runtime, warehouse  # noqa: E402
from eduhub_sandbox import generator, server  # noqa: E402
from eduhub_sandbox.process import running_simulators  # noqa: E402
from eduhub_sandbox.simulators import file_exports as exports  # noqa: E402

DAG_SEQUENCE = Path(dag_sequence.__file__)

# The modules that take longest, longest first (pytest --durations=0 on a clean clone): the
# parallel run (`make test`: pytest-xdist, a module per worker at a time) starts them first so
# that no worker is left alone with one of them at the end. The rest follow in file order.
LONGEST_MODULES = ("test_live_day", "test_end_to_end", "test_ingestion", "test_models",
                   "test_snapshots", "test_celery", "test_publish_gate", "test_identity_matching",
                   "test_year_end", "test_incremental",
                   "test_school_calendar", "test_privacy", "test_validation")


def pytest_collection_modifyitems(config, items):
    def rank(item) -> int:
        module = item.path.stem
        return LONGEST_MODULES.index(module) if module in LONGEST_MODULES else len(LONGEST_MODULES)

    items.sort(key=rank)  # stable: a module's tests keep their order


# The suite's cost is CPU: on 2 cores its processes keep both busy, so a module's wall time
# depends on what runs beside it. Each module's CPU seconds (the test process, and the
# processes it started and waited for: dbt, Airflow, the simulators) are printed at the end,
# the heaviest first, to show where the suite's time goes (issue 20).
CPU_DIR_ENV = "EDUHUB_TEST_CPU_DIR"


def pytest_configure(config):
    if not os.environ.get(CPU_DIR_ENV):  # the controller: its workers inherit the folder
        os.environ[CPU_DIR_ENV] = tempfile.mkdtemp(prefix="eduhub-tests-cpu-")


def _cpu_seconds() -> tuple[float, float]:
    import resource

    own, waited = (resource.getrusage(who) for who in (resource.RUSAGE_SELF,
                                                       resource.RUSAGE_CHILDREN))
    return own.ru_utime + own.ru_stime, waited.ru_utime + waited.ru_stime


@pytest.fixture(scope="module", autouse=True)
def _module_cpu(request):
    before = _cpu_seconds()
    yield
    own, waited = (after - start for after, start in zip(_cpu_seconds(), before, strict=True))
    with open(Path(os.environ[CPU_DIR_ENV]) / f"{WORKER or 'main'}.tsv", "a",
              encoding="utf-8") as out:
        out.write(f"{request.module.__name__}\t{own:.1f}\t{waited:.1f}\n")


def pytest_terminal_summary(terminalreporter, config):
    if os.environ.get("PYTEST_XDIST_WORKER"):
        return
    rows = [line.split("\t") for path in Path(os.environ[CPU_DIR_ENV]).glob("*.tsv")
            for line in path.read_text(encoding="utf-8").splitlines()]
    if not rows:
        return
    rows.sort(key=lambda r: -(float(r[1]) + float(r[2])))
    terminalreporter.section("CPU seconds per module (test process + processes it waited for)")
    for module, own, waited in rows:
        terminalreporter.write_line(f"{float(own) + float(waited):8.1f}  {module} "
                                    f"({own} + {waited})")
    total = sum(float(r[1]) + float(r[2]) for r in rows)
    terminalreporter.write_line(f"{total:8.1f}  in all")


# Modules that read a session fixture another module builds run on that module's worker, so
# that the fixture is built once in the whole run.
SAME_WORKER = {"tests/test_reports.py": "tests/test_models.py",  # the `modelled` warehouse
               "tests/test_worklists.py": "tests/test_models.py",
               "tests/test_web.py": "tests/test_models.py"}


def pytest_xdist_make_scheduler(config, log):
    if config.getvalue("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadFileScheduling

    class SharedFixtureScheduling(LoadFileScheduling):
        def _split_scope(self, nodeid: str) -> str:
            scope = super()._split_scope(nodeid)
            return SAME_WORKER.get(scope, scope)

    return SharedFixtureScheduling(config, log)


TEST_SCALE = 1500
TEST_SEED = 7


def database_name(base: str) -> str:
    """A database name of this worker's own (PostgreSQL's limit is 63 bytes)."""
    return (f"{base}_{WORKER}" if WORKER else base)[:63]


@pytest.fixture(scope="session")
def server_url() -> str:
    return warehouse.url()


@pytest.fixture(scope="session")
def warehouse_url(server_url) -> str:
    """A database of its own for the test session, re-created from nothing."""
    url = warehouse.create_database(database_name("eduhub_test"), server_url, replace=True)
    migrations.upgrade(url)
    return url


@pytest.fixture(scope="session")
def migrated_template(server_url) -> str:
    """An empty warehouse migrated once, which each fresh database copies."""
    name = database_name("eduhub_migrated_template")
    migrations.upgrade(warehouse.create_database(name, server_url, replace=True))
    return name


@pytest.fixture
def fresh_db(server_url, migrated_template, request) -> str:
    """An empty migrated database for one test (name derived from the test)."""
    name = database_name(
        "eduhub_t_" + request.node.name.lower().replace("[", "_").replace("]", "")[:40])
    url = warehouse.create_database(name, server_url, replace=True, template=migrated_template)
    yield url
    with warehouse.connect(warehouse.WarehouseUrl.parse(server_url).with_dbname("postgres").url(),
                           autocommit=True) as conn:
        conn.execute(f'drop database if exists "{name}" with (force)')


@pytest.fixture(scope="session")
def sandbox_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("sandbox")
    generator.write(generator.generate(scale=TEST_SCALE, seed=TEST_SEED), out)
    return out


# The live platform's tests (real scheduler, Celery): its cost is per school and per task, so a
# smaller province keeps them quick with every kind of school and source in it.
LIVE_SCALE = 400


@pytest.fixture(scope="session")
def live_sandbox_dir(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("live_sandbox")
    generator.write(generator.generate(scale=LIVE_SCALE, seed=TEST_SEED), out)
    return out


@pytest.fixture(scope="session")
def live_ground_truth(live_sandbox_dir) -> dict[str, list[dict]]:
    return generator.load(live_sandbox_dir)


@pytest.fixture(scope="session")
def ground_truth(sandbox_dir) -> dict[str, list[dict]]:
    return generator.load(sandbox_dir)


@pytest.fixture(scope="session")
def simulators(sandbox_dir):
    with running_simulators(sandbox_dir) as endpoints:
        yield endpoints


@pytest.fixture
def vendor_a_server(sandbox_dir):
    """The simulator in a thread of the test process, for client-level tests."""
    credentials = server.Credentials("test-client", "test-secret-value")
    srv = server.SandboxServer(sandbox_dir, credentials)
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv, credentials
    srv.shutdown()
    srv.server_close()


@pytest.fixture(scope="session")
def airflow_home(tmp_path_factory, server_url) -> Path:
    """One Airflow home (metadata database migrated once) for every test that runs DAGs;
    the warehouse and sources of each run come from its environment."""
    home = tmp_path_factory.mktemp("airflow_home")
    env = runtime.environment(server_url, airflow_home=home)
    runtime.ensure_airflow_db(env)
    runtime.ensure_dbt_manifest(env)
    return home


@pytest.fixture(scope="session")
def airflow_env(airflow_home, warehouse_url, simulators, tmp_path_factory) -> dict[str, str]:
    env = runtime.environment(warehouse_url, simulators, airflow_home=airflow_home)
    # an empty drop folder of its own, never the project's
    env["EDUHUB_DROP_DIR"] = str(tmp_path_factory.mktemp("drops"))
    return env


# The day's whole chain of DAGs on a province of its own, built once for every module that
# reads its warehouse (test_models, test_reports): day 140 is 23 January, term-1 results
# were due on 18 January.
MODELLED_SCALE, MODELLED_SEED, MODELLED_DAY = 1200, 31, 140
MODELLED_AS_OF = "2027-01-23"
# the day's chain: the second transformation sees the verified IDs and the linked persons
MODELLED_SEQUENCE = ("sync_school_management", "sync_pcgd", "transform_warehouse",
                     "sync_population", "match_identities", "transform_warehouse")


@dataclass
class DagTestRun:
    dag_id: str
    logical_date: str
    returncode: int
    output: str  # stdout and stderr, interleaved


def dags_test(env: dict[str, str], runs: list[tuple[str, str]], check: bool = True
              ) -> list[DagTestRun]:
    """`airflow dags test` of each (dag_id, logical date), in order, in one Airflow process
    (tests/dag_sequence.py). A failed run does not stop the next; with `check`, it fails the
    test, with its output."""
    proc = subprocess.run([sys.executable, str(DAG_SEQUENCE), *itertools.chain(*runs)],
                          env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    done, rest = [], proc.stdout
    for dag_id, day in runs:
        output, found, rest = rest.partition(f"\n{dag_sequence.MARK} {dag_id} {day} ")
        if not found:  # the process died in this run
            done.append(DagTestRun(dag_id, day, proc.returncode or 1, output))
            break
        code, _, rest = rest.partition("\n")
        done.append(DagTestRun(dag_id, day, int(code), output))
    for run in done if check else ():
        assert run.returncode == 0, f"{run.dag_id} {run.logical_date}:\n{run.output[-6000:]}"
    assert len(done) == len(runs), f"the process died:\n{proc.stdout[-6000:]}"
    return done


@pytest.fixture(scope="session")
def modelled(tmp_path_factory, airflow_home, server_url):
    """The warehouse after the day's DAGs (`airflow dags test`, in order), with the sandbox's
    data and manifest (its ground truth)."""
    root = tmp_path_factory.mktemp("models")
    manifest = generator.write(generator.generate(
        scale=MODELLED_SCALE, seed=MODELLED_SEED, day=MODELLED_DAY), root / "data")
    data = generator.load(root / "data")
    exports.write_class_exports(data, root / "drops", seed=MODELLED_SEED, day=MODELLED_DAY)
    url = warehouse.create_database(database_name("eduhub_models"), server_url, replace=True)
    with running_simulators(root / "data") as sources:
        env = runtime.environment(url, sources, airflow_home=airflow_home)
        env["EDUHUB_DROP_DIR"] = str(root / "drops")
        env["EDUHUB_PSEUDONYM_KEY"] = secrets.token_urlsafe(24)  # the matching's secret
        dags_test(env, [(dag_id, MODELLED_AS_OF) for dag_id in MODELLED_SEQUENCE])
    return {"url": url, "data": data, "manifest": manifest, "env": env, "drops": root / "drops"}


@pytest.fixture(scope="module")
def browser():
    """Debian's chromium driven by Playwright (never a browser download)."""
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium")
    assert chromium, "chromium is missing: `make test` installs Debian's chromium"
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, args=[
            "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update", "--disable-sync", "--no-first-run"])
        yield browser
        browser.close()


@contextlib.contextmanager
def database_logins(url: str, groups: dict[str, str | tuple[str, ...]], prefix: str):
    """A login role per name (`prefix` + name), member of its group role(s), with a random
    password: {name: its URL to the database of `url`}; dropped afterwards. Roles belong to the
    whole server, so each module uses a prefix of its own."""
    w = warehouse.WarehouseUrl.parse(url)
    urls = {}
    with warehouse.connect(url) as conn:
        for name, group in groups.items():
            login, password = prefix + name, secrets.token_urlsafe(18)
            conn.execute(sql.SQL("drop role if exists {}").format(sql.Identifier(login)))
            conn.execute(sql.SQL("create role {} login password {}").format(
                sql.Identifier(login), sql.Literal(password)))
            for one in (group,) if isinstance(group, str) else group:
                conn.execute(sql.SQL("grant {} to {}").format(sql.Identifier(one),
                                                              sql.Identifier(login)))
            urls[name] = warehouse.WarehouseUrl(w.host, w.port, login, password, w.dbname).url()
    try:
        yield urls
    finally:
        with warehouse.connect(url) as conn:
            for name in groups:
                conn.execute(sql.SQL("drop role if exists {}").format(
                    sql.Identifier(prefix + name)))


@contextlib.contextmanager
def dashboard(env: dict, idle_minutes: float = 30):
    """`eduhub web` on a free port, until the block ends."""
    port = airflow_services.free_port()
    base = f"http://127.0.0.1:{port}"
    # its log to a file: a pipe nobody reads fills up, and the server then hangs on a log line
    log = tempfile.NamedTemporaryFile(prefix="eduhub-web-", suffix=".log", delete=False)
    proc = subprocess.Popen([runtime.tool("eduhub"), "web", "--port", str(port),
                             "--idle-minutes", str(idle_minutes)], env=env,
                            stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, Path(log.name).read_text(errors="replace")
            try:
                if requests.get(base + "/dang-nhap", timeout=2).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            assert time.monotonic() < deadline, "eduhub web did not answer in 60 s"
            time.sleep(0.3)
        yield base
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        log.close()
        Path(log.name).unlink()


def credentials(url: str) -> tuple[str, str]:
    w = warehouse.WarehouseUrl.parse(url)
    return w.user, w.password


def dashboard_page(browser, base: str, login: str, password: str):
    """A new browser page signed in to the dashboard at `base`; every request it makes is kept
    in `page.requests`."""
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.requests = []
    page.on("request", lambda r: page.requests.append(r.url))
    page.goto(base + "/")
    assert "/dang-nhap" in page.url  # not signed in: to the sign-in form
    page.get_by_label("Tên đăng nhập").fill(login)
    page.get_by_label("Mật khẩu").fill(password)
    page.get_by_role("button", name="Đăng nhập").click()
    page.wait_for_url(base + "/")
    return page


def table(page, figure_id: str) -> list[list[str]]:
    """The rows of a table on the page, cell texts as shown."""
    return [[unicodedata.normalize("NFC", c.strip()) for c in row] for row in page.eval_on_selector_all(
        f"#{figure_id} tbody tr",
        "rows => rows.map(r => Array.from(r.querySelectorAll('td')).map(td => td.innerText))")]


def assert_local(page, base: str) -> None:
    assert page.requests, "no request recorded"
    outside = [u for u in page.requests if not (u.startswith(base) or u.startswith("data:"))]
    assert outside == []


class Inbox:
    """What the SMTP server received: (envelope recipients, parsed message)."""

    def __init__(self):
        self.mails: list[tuple[list[str], email.message.EmailMessage]] = []

    async def handle_DATA(self, server, session, envelope):
        message = email.message_from_bytes(envelope.original_content or envelope.content,
                                           policy=policy.default)
        self.mails.append((list(envelope.rcpt_tos), message))
        return "250 OK"


@pytest.fixture(scope="session")
def smtp_server():
    """A local SMTP server (aiosmtpd) the alert tests send to: (host, port, inbox)."""
    inbox = Inbox()
    controller = Controller(inbox, hostname="127.0.0.1", port=airflow_services.free_port())
    controller.start()
    yield controller.hostname, controller.port, inbox
    controller.stop()


def validate_landed(url: str, batch_id: str, sources, as_of=None) -> None:
    """What a landing DAG's last task does after tasks a test called directly: every suite of
    the sources on the batch. Fail closed: staging reads only what passed."""
    from eduhub import validation

    validation.raise_on_critical(validation.validate_sources(url, batch_id, sources,
                                                             as_of=as_of))


def land_registry(url: str, batch_id: str, endpoints) -> None:
    """The Sở's registry of units read from the simulator and validated, as
    sync_school_management's first task does: the drop folders are checked against it."""
    from eduhub import settings
    from eduhub.pipelines import school_registry
    from eduhub.sources.school_registry import SchoolRegistryClient

    e = endpoints[settings.SCHOOL_REGISTRY_CONN_ID]
    client = SchoolRegistryClient(f"{e.scheme}://{e.host}:{e.port}{e.base_path}", e.password)
    school_registry.land_units(client, url, batch_id)
    validate_landed(url, batch_id, ["school_registry"])


def is_id_shaped(value: str | None) -> bool:
    """What the rules take for a personal ID (DUNG_ID_FORMAT): exactly twelve digits. A
    malformed ID is not one the population database can know."""
    return bool(value) and re.fullmatch(r"[0-9]{12}", value) is not None


def text_of(message) -> str:
    return message.get_body(("html", "plain")).get_content()


def dbt(command: list[str], env: dict[str, str], day: str | None = None,
        dbt_vars: dict | None = None, project: Path | None = None) -> str:
    """A dbt command as the DAG gives it the run's day: in the environment, not as a var, so
    that the next command with the same vars re-parses only the models that read the day.
    Returns what dbt printed."""
    from eduhub import settings, transform

    project = str(project or settings.DBT_PROJECT_DIR)
    args = [runtime.tool("dbt"), *command, "--project-dir", project, "--profiles-dir", project]
    if dbt_vars:
        args += ["--vars", json.dumps(dbt_vars)]
    if "--target-path" not in command:
        # dbt parses the whole project again when the vars differ from its last command's (6 s):
        # a target folder per set of vars keeps each set's partial parse
        key = hashlib.sha256(json.dumps(dbt_vars or {}, sort_keys=True).encode()).hexdigest()[:8]
        target = Path(env.get("DBT_TARGET_PATH") or os.environ["DBT_TARGET_PATH"])
        args += ["--target-path", str(target / f"vars-{key}")]
    proc = subprocess.run(args, capture_output=True, text=True,
                          env={**env, **({transform.AS_OF_DATE_ENV: day} if day else {})})
    # dbt's own account of what failed, in the test's failure
    assert proc.returncode == 0, f"{' '.join(command)}:\n{proc.stdout[-6000:]}{proc.stderr[-2000:]}"
    return proc.stdout


def suppressed_as_the_rule_says(truth: dict[tuple, int], threshold: int, margin: int = 3
                                ) -> tuple[dict, int]:
    """cell -> (count or None, suppressed) as published, from the real counts of cells whose
    first `margin` keys are a group with a known total (unit, level, grade): a small cell is
    suppressed; so is, in a group whose small cells add up to fewer than the threshold, the
    smallest other cell (complementary suppression); a group all of whose cells are suppressed
    is not published. Also: how many complements."""
    groups: dict[tuple, list] = {}
    for cell, n in truth.items():
        groups.setdefault(cell[:margin], []).append((n, cell[margin:], cell))
    expected, complements = {}, 0
    for members in groups.values():
        small = sum(n for n, _, _ in members if n < threshold)
        others = sorted((n, rest, cell) for n, rest, cell in members if n >= threshold)
        extra = {others[0][2]} if 0 < small < threshold and others else set()
        complements += len(extra)
        cells = {cell: (None, True) if n < threshold or cell in extra else (n, False)
                 for n, _, cell in members}
        if not all(hidden for _, hidden in cells.values()):
            expected |= cells
    return expected, complements
