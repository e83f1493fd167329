"""Privacy and access against a real warehouse, logged in as each role.

One warehouse is built for the module the way `transform_warehouse` builds it (dbt into
`marts_next`, the marts suite, the swap, `eduhub warehouse grant`). Test logins (LOGIN, a
password generated here, members of the project's group roles) then connect over TCP like an
analyst's BI tool would.
"""

from __future__ import annotations

import os
import re
import subprocess
import time
from datetime import date

import psycopg
import pytest
import yaml
from conftest import database_logins, dbt, suppressed_as_the_rule_says, validate_landed

from eduhub import access, migrations, publish, runtime, settings, transform, validation, warehouse
from eduhub.identity import person
from eduhub.pipelines import pcgd as pcgd_pipeline
from eduhub.pipelines import school_management
from eduhub.sources.pcgd import PcgdClient
from eduhub.sources.sms_vendor_a import VendorAClient
from eduhub.sources.sms_vendor_b import VendorBClient

pytestmark = pytest.mark.slow

DATABASE = "eduhub_privacy"
DAY = "2026-11-22"
AS_OF = date(2026, 11, 22)
PERSONAL_ID = re.compile(r"(?<![0-9])[0-9]{12}(?![0-9])")
# test logins, one per role (dropped at the end)
LOGINS = {"analyst": access.ANALYST, "provincial": access.PROVINCIAL}
# ... and the two sides of the re-identification door: a data engineer allowed to re-identify,
# the DAGs' login (a member of the loader)
DOOR_LOGINS = {"engineer": access.REIDENTIFIER, "dags": access.LOADER}


def base_url(e) -> str:
    return f"{e.scheme}://{e.host}:{e.port}{e.base_path}"


def build_and_publish(url: str, env: dict, run_id: str, before_swap=lambda: None) -> None:
    """What transform_warehouse does: build into the staging schemas, check, swap."""
    publish.prepare(url)
    dbt(["build", "--quiet", *transform.SCHEDULED_BUILD_FLAGS], env, day=DAY, dbt_vars=publish.dbt_vars())
    validation.raise_on_critical(validation.validate_publication(url, run_id, as_of=AS_OF))
    before_swap()
    assert publish.swap(url, run_id).published


def assert_denied_to_readers(built, tables: tuple[str, ...]) -> None:
    with warehouse.connect(built["url"]) as conn:  # the tables are there to be refused
        assert all(conn.execute("select to_regclass(%s)", (t,)).fetchone()[0] for t in tables)
    for name, url in built["urls"].items():
        for table in tables:
            assert denied(url, f"select * from {table} limit 1"), (name, table)


@pytest.fixture(scope="module")
def built(simulators, airflow_home, server_url, tmp_path_factory):
    docs = tmp_path_factory.mktemp("data_docs") / "site"
    settings_docs, settings.DATA_DOCS_DIR = settings.DATA_DOCS_DIR, docs
    url = warehouse.create_database(DATABASE, server_url, replace=True)
    migrations.upgrade(url)
    a, b = simulators["sms_vendor_a"], simulators["sms_vendor_b"]
    clients = {"sms_vendor_a": VendorAClient(base_url(a), a.login, a.password),
               "sms_vendor_b": VendorBClient(base_url(b), b.password)}
    for vendor, client in clients.items():
        for code in school_management.land_schools(vendor, client, url, "day1"):
            school_management.land_school(vendor, client, url, "day1", code)
    pcgd = PcgdClient(base_url(simulators["pcgd"]), simulators["pcgd"].password)
    for commune in pcgd_pipeline.commune_codes(pcgd):
        pcgd_pipeline.land_commune(pcgd, url, "day1", commune)
    validate_landed(url, "day1", [*clients, "pcgd"], as_of=AS_OF)
    env = runtime.environment(url, simulators, airflow_home=airflow_home)
    env["EDUHUB_DROP_DIR"] = str(tmp_path_factory.mktemp("drops"))
    env["EDUHUB_DATA_DOCS_DIR"] = str(docs)
    transform.ensure_raw_tables(url)
    build_and_publish(url, env, "day1")
    summary = access.grant(url)

    w = warehouse.WarehouseUrl.parse(url)
    with warehouse.connect(url) as conn:
        commune = conn.execute("""
            select managing_unit from intermediate.int_schools where managing_unit <> 'SO'
            group by 1 order by count(*) desc, 1 limit 1""").fetchone()[0]
    logins = {**LOGINS, "commune": access.commune_role(commune), **DOOR_LOGINS}
    with database_logins(url, logins, "eduhub_test_") as urls:
        door = {name: urls.pop(name) for name in DOOR_LOGINS}
        yield {"url": url, "env": env, "urls": urls, "door": door, "commune": commune,
               "summary": summary}
    settings.DATA_DOCS_DIR = settings_docs
    with warehouse.connect(w.with_dbname("postgres").url()) as conn:
        conn.execute(f'drop database if exists "{DATABASE}" with (force)')


# The rows of a published table that belong to a unit (a school, else a commune), written out
# table by table: the specification the row policies are checked against.
UNIT_OF_ROW = {
    "audit.quality_failures": "coalesce(school_code, commune_code)",
    "marts.completeness": "unit_code",
    "marts.completeness_levels": "unit_code",
    "marts.completeness_trend": "unit_code",
    "marts.data_freshness": "coalesce(school_code, commune_code)",
    "marts.exam_readiness": "school_code",
    "marts.inspection_sample": "school_code",
    "marts.inspection_sample_draft": "school_code",
    "marts.pcgd_discrepancies": "coalesce(school_code, commune_code)",
    "marts.pcgd_reconciliation": "commune_code",
    "marts.quality_scorecard": "unit_code",
    "marts.quality_scorecard_levels": "unit_code",
    "marts.quality_trend": "unit_code",
    "marts.quality_rule_priorities": "unit_code",
    "marts.school_learner_id_coverage": "school_code",
    "marts.statistics_health": "unit_code",
    "marts.statistics_snapshots": "unit_code",
    "marts.statistics_learners": "unit_code",
    "marts.statistics_school_learners": "unit_code",
    "marts.statistics_schools": "unit_code",
    "marts.statistics_year_end": "unit_code",
    "marts.statistics_year_end_rates": "unit_code",
    "marts.transcript_status": "unit_code",
    "marts.unit_directory": "unit_code",
}
# No health check has happened on the sandbox's first day of the term (its suppression is a dbt
# unit test, statistics_health_suppresses_small_cells).
EMPTY_ON_THE_FIRST_DAY = {"marts.statistics_health"}


def published_tables(url: str) -> dict[str, list[str]]:
    with warehouse.connect(url) as conn:
        return {f"{s}.{t}": cols for s, t, cols in conn.execute("""
            select n.nspname, c.relname, array(select attname::text from pg_attribute
                where attrelid = c.oid and attnum > 0 and not attisdropped order by attnum)
            from pg_class as c join pg_namespace as n on n.oid = c.relnamespace
            where n.nspname in ('marts', 'audit') and c.relkind = 'r' order by 1, 2""")}


def tables_of(url: str, schemas: tuple[str, ...]) -> list[str]:
    with warehouse.connect(url) as conn:
        return [r[0] for r in conn.execute("""
            select quote_ident(n.nspname) || '.' || quote_ident(c.relname)
            from pg_class as c join pg_namespace as n on n.oid = c.relnamespace
            where n.nspname = any(%s) and c.relkind in ('r', 'v', 'm', 'p') order by 1""",
            (list(schemas),))]


def denied(url: str, query: str) -> bool:
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(query).fetchall()
    except psycopg.errors.InsufficientPrivilege:
        return True
    return False


def rows(url: str, query: str, params=None) -> list:
    with psycopg.connect(url, autocommit=True) as conn:
        return sorted(map(repr, conn.execute(query, params).fetchall()))


def analyst_columns(columns: list[str]) -> str:
    return ", ".join(f'"{c}"' for c in columns if c not in access.personal_columns())


def commune_units(url: str, commune: str) -> list[str]:
    """The commune and the schools it manages, from the school records (not from access.*)."""
    with warehouse.connect(url) as conn:
        return [commune] + [r[0] for r in conn.execute(
            "select school_code from intermediate.int_schools where managing_unit = %s",
            (commune,))]


def personal_values_in(readable: list, url: str, table: str, columns: list[str]) -> set:
    """The values of the table's personal columns found inside what the analyst reads (a key
    built from a record key carries it whole)."""
    personal = sorted(set(columns) & access.personal_columns())
    if not personal:
        return set()
    values = {str(v) for row in rows(url, "select " + ", ".join(f'"{c}"' for c in personal)
                                     + f" from {table}") for v in row if v is not None}
    text = "\n".join(str(cell) for row in readable for cell in row if cell is not None)
    return {v for v in values if len(v) >= 8 and v in text}


def check_roles_read_what_they_should(built) -> None:
    """The analyst, provincial and commune logins against every published table."""
    url, urls = built["url"], built["urls"]
    tables = published_tables(url)
    assert set(tables) == set(UNIT_OF_ROW), "a new published table: say how its rows are owned"
    units = commune_units(url, built["commune"])
    assert len(units) > 1  # the commune manages schools
    seen_by_commune = 0
    for table, columns in tables.items():
        everything = rows(url, f"select * from {table}")
        if table in EMPTY_ON_THE_FIRST_DAY:
            assert everything == []
            continue
        assert everything, f"{table} is empty: nothing to check"
        # the analyst: every row, the columns that name no person's record
        cols = analyst_columns(columns)
        assert rows(urls["analyst"], f"select {cols} from {table}") == \
            rows(url, f"select {cols} from {table}"), table
        for column in set(columns) & access.personal_columns():
            assert denied(urls["analyst"], f'select "{column}" from {table}'), (table, column)
        assert not personal_values_in(rows(urls["analyst"], f"select {cols} from {table}"),
                                      url, table, columns), table
        # the province: everything
        assert rows(urls["provincial"], f"select * from {table}") == everything, table
        # a commune: exactly the rows of its units
        mine = rows(url, f"select * from {table} where {UNIT_OF_ROW[table]} = any(%s)",
                    (units,))
        assert rows(urls["commune"], f"select * from {table}") == mine, table
        assert len(mine) < len(everything), table
        seen_by_commune += len(mine)
    assert seen_by_commune > 0


def test_analyst_cannot_read_raw_pii_or_any_raw_id(built):
    url, analyst = built["url"], built["urls"]["analyst"]
    # run the matching once so that pii holds the person table with its personal IDs
    person.build(url, "privacy", key=b"test-key-for-privacy-tests-0001")
    hidden = tables_of(url, ("raw", "pii", "staging", "intermediate", "ops", "access"))
    assert {"raw.sms_vendor_a__learners", "pii.persons", "staging.stg_sms_vendor_a__learners",
            "intermediate.int_learners", "ops.batches"} <= set(hidden)
    for table in hidden:
        assert denied(analyst, f"select * from {table} limit 1"), table
    # every column holding a raw personal ID, wherever it is
    with warehouse.connect(url) as conn:
        id_columns = conn.execute("""
            select quote_ident(table_schema) || '.' || quote_ident(table_name), column_name
            from information_schema.columns
            where column_name in ('personal_id', 'national_id', 'so_dinh_danh', 'payload')
              and table_schema not in ('pg_catalog', 'information_schema')""").fetchall()
    assert len(id_columns) > 10
    for table, column in id_columns:
        assert denied(analyst, f'select "{column}" from {table} limit 1'), (table, column)
    # and what the analyst does read: the validation results and the public reference data
    # (the dashboard's labels and the rule catalogue's advice, issue 19)
    assert len(tables_of(url, ("reference",))) >= 5
    for table in tables_of(url, ("quality", "reference")):
        assert not denied(analyst, f"select * from {table} limit 1"), table


def test_each_role_reads_what_it_should_and_nothing_more(built):
    check_roles_read_what_they_should(built)
    commune = built["urls"]["commune"]
    for table in ("raw.sms_vendor_a__learners", "pii.persons", "quality.validation_results"):
        assert denied(commune, f"select * from {table} limit 1"), table


def test_roles_are_nologin_groups_and_grant_is_idempotent(built):
    url = built["url"]
    with warehouse.connect(url) as conn:
        groups = conn.execute("""
            select rolname, rolcanlogin, rolpassword is not null from pg_authid
            where rolname = any(%s) or rolname like 'eduhub_commune_%%'""",
            (list(access.GROUP_ROLES),)).fetchall()
    assert {r[0] for r in groups} >= set(access.GROUP_ROLES)
    assert len(groups) >= len(access.GROUP_ROLES) + 96  # a role per commune of Tây Ninh
    assert not any(login or password for _, login, password in groups)

    def privileges():
        with warehouse.connect(url) as conn:
            return conn.execute("""
                select n.nspname, c.relname, c.relacl::text, c.relrowsecurity,
                       array(select attname || coalesce(attacl::text, '') from pg_attribute
                             where attrelid = c.oid and attacl is not null order by 1),
                       array(select polname from pg_policy where polrelid = c.oid order by 1)
                from pg_class as c join pg_namespace as n on n.oid = c.relnamespace
                where n.nspname in ('marts', 'audit', 'quality', 'raw', 'pii', 'access')
                union all
                select nspname, null, nspacl::text || nspowner::regrole::text, null, null, null
                from pg_namespace
                order by 1, 2""").fetchall()

    before = privileges()
    assert access.grant(url).roles_created == []
    assert privileges() == before


def test_no_personal_id_in_any_mart(built):
    url = built["url"]
    with warehouse.connect(url) as conn:
        text_columns = conn.execute("""
            select quote_ident(table_schema) || '.' || quote_ident(table_name), column_name
            from information_schema.columns
            where table_schema in ('marts', 'audit')
              and data_type in ('text', 'character varying', 'jsonb', 'json')""").fetchall()
        assert len(text_columns) > 30
        leaks = [(t, c) for t, c in text_columns if conn.execute(
            f'select count(*) from {t} where "{c}"::text ~ %s',
            # 12 digits, or 11: an ID with a digit lost in typing
            (r"(^|[^0-9])[0-9]{11,12}([^0-9]|$)",)).fetchone()[0]]
    assert leaks == []


def test_sensitive_data_only_as_suppressed_counts(built):
    url = built["url"]
    tables = published_tables(url)
    sensitive = {"ethnicity", "nutrition_status", "height_cm", "weight_kg", "health_status"}
    holding = sorted(t for t, cols in tables.items() if sensitive & set(cols))
    assert holding == ["marts.statistics_health", "marts.statistics_learners",
                       "marts.statistics_snapshots"]
    threshold = 5
    with warehouse.connect(url) as conn:
        # the figures frozen at the data dates, as published: no small count, none behind a
        # suppressed cell
        frozen = conn.execute(f"""
            select count(*) filter (where figure < {threshold}),
                   count(*) filter (where is_suppressed and figure is not null),
                   count(*) filter (where is_suppressed), count(*)
            from marts.statistics_snapshots where form = 'hoc_sinh'""").fetchone()
        assert frozen[:2] == (0, 0) and 0 < frozen[2] < frozen[3]
        for table in sorted(set(holding) - EMPTY_ON_THE_FIRST_DAY
                            - {"marts.statistics_snapshots"}):
            group = "school_level, sex, nutrition_status" if "health" in table else \
                "school_level, grade, sex, ethnicity"
            counts = conn.execute(f"""
                select count(*) filter (where learners < {threshold}),
                       count(*) filter (where is_suppressed and learners is not null),
                       count(*) filter (where is_suppressed), count(*)
                from {table}""").fetchone()
            assert counts[0] == 0 and counts[1] == 0, table  # no small count published
            assert 0 < counts[2] < counts[3], table  # some cells were small, not all
            # a published province cell is the sum of its published communes: the province
            # minus the communes tells nothing
            residues = conn.execute(f"""
                with province as (
                    select {group}, learners from {table} where aggregation_level = 'tinh'
                        and not is_suppressed),
                communes as (
                    select {group}, sum(learners) as published,
                           bool_or(is_suppressed) as hides
                    from {table} where aggregation_level = 'xa' group by {group})
                select province.learners - coalesce(communes.published, 0), communes.hides
                from province left join communes using ({group})""").fetchall()
            assert residues and not [r for r, hides in residues if r != 0 or hides], table
        # the commune cells are the real counts of learners studying (persons, each once:
        # test_models), or suppressed
        truth = dict(((c, lvl, g, s, e), n) for c, lvl, g, s, e, n in conn.execute("""
            select commune_code, coalesce(school_level, 'chua_xac_dinh'), grade,
                   coalesce(sex, 'chua_xac_dinh'), coalesce(ethnicity, 'chua_xac_dinh'),
                   count(*)
            from intermediate.int_counted_learners
            where commune_code is not null and enrolment_status = 'dang_hoc'
            group by 1, 2, 3, 4, 5"""))
        published = {(c, lvl, g, s, e): (n, sup) for c, lvl, g, s, e, n, sup in conn.execute("""
            select unit_code, school_level, grade, sex, ethnicity, learners, is_suppressed
            from marts.statistics_learners where aggregation_level = 'xa'""")}
    expected, complements = suppressed_as_the_rule_says(truth, threshold)
    assert published == expected
    # the sandbox has complements (a group withheld whole: the dbt unit test
    # statistics_health_suppresses_small_cells)
    assert complements > 0


def test_a_school_s_learners_are_published_by_grade_and_sex_with_small_cells_suppressed(built):
    """A school's own statistics (Thông tư 25/2024): its learners studying by level, grade and
    sex, never by ethnicity; the small cells and their complements within each grade hidden."""
    threshold = 5
    with warehouse.connect(built["url"]) as conn:
        truth = dict(((school, lvl, g, s), n) for school, lvl, g, s, n in conn.execute("""
            select school_code, coalesce(school_level, 'chua_xac_dinh'), grade,
                   coalesce(sex, 'chua_xac_dinh'), count(*)
            from intermediate.int_counted_learners where enrolment_status = 'dang_hoc'
            group by 1, 2, 3, 4"""))
        published = {(school, lvl, g, s): (n, hidden) for school, lvl, g, s, n, hidden in
                     conn.execute("""
            select unit_code, school_level, grade, sex, learners, is_suppressed
            from marts.statistics_school_learners""")}
    expected, _ = suppressed_as_the_rule_says(truth, threshold)
    assert published == expected
    # the sandbox's schools have small cells (a sex of a grade of a small school), not only
    assert 0 < sum(hidden for _, hidden in published.values()) < len(published)


def test_no_suppressed_count_is_recovered_by_differencing(built):
    """As the analyst, the differencing attack across marts: a commune's learners of grade 5,
    9 or 12 (exam_readiness, per school) minus the published cells of statistics_learners
    leaves either nothing hidden, or at least two suppressed cells adding up to the threshold
    or more: no suppressed count comes out (a group all of whose cells would be suppressed is
    not published, so its total tells no breakdown). (Coarser totals, a commune's level or the whole
    commune, are sums of these groups; the province against its communes is checked in
    test_sensitive_data_only_as_suppressed_counts.)"""
    url = built["urls"]["analyst"]
    threshold = 5
    with psycopg.connect(url, autocommit=True) as conn:
        cells = conn.execute("""
            select unit_code, school_level, grade, sex, ethnicity, learners, is_suppressed
            from marts.statistics_learners where aggregation_level = 'xa'""").fetchall()
        by_grade = dict(((c, g), n) for c, g, n in conn.execute("""
            select commune_code, grade, sum(learners) from marts.exam_readiness
            where commune_code is not null group by 1, 2"""))
    agreeing, attacked = 0, 0
    for (commune, grade), total in by_grade.items():
        group = [c for c in cells if c[0] == commune and c[2] == grade]
        hidden = [c for c in group if c[6]]
        left = total - sum(c[5] for c in group if not c[6])
        if not hidden:
            agreeing += left == 0  # the marts' totals agree: the attack is a real one
            continue
        attacked += 1
        assert len(hidden) >= 2 and left >= threshold, (commune, grade, len(hidden), left)
    assert agreeing > 0 and attacked > 0


def plain_ids(url: str) -> dict[str, str]:
    """personal ID -> pseudonym, as the vault holds them (read as the administrator)."""
    with warehouse.connect(url) as conn:
        return dict(conn.execute("select personal_id, id_pseudonym from vault.personal_ids"
                                 ).fetchall())


REASON = "Công văn 12/THCS đề nghị sửa hồ sơ"


def test_pseudonyms_are_keyed_stable_and_revealed_only_with_a_recorded_reason(built):
    url = built["url"]
    key, other = b"test-key-for-privacy-tests-0001", b"another-key-for-privacy-tests-02"
    person.build(url, "privacy-1", key=key)
    first = plain_ids(url)
    person.build(url, "privacy-2", key=key, full=True)
    assert plain_ids(url) == first and len(first) > 100  # stable between runs
    assert all(p == person.pseudonym(i, key) for i, p in first.items())
    assert all(len(p) == 64 and i not in p for i, p in first.items())
    person.build(url, "privacy-3", key=other, full=True)
    changed = plain_ids(url)
    assert set(changed) == set(first)
    assert not [i for i in first if changed[i] == first[i]]  # every one differs

    # re-identification as the data engineer's own login: the ID on stdout only, the request
    # recorded without it, under the login (there is no way to state another name)
    personal_id, pseudonym = sorted(changed.items())[0]  # what the vault holds now
    env = {**os.environ, settings.WAREHOUSE_URL_ENV: built["door"]["engineer"]}
    cli = [runtime.tool("eduhub"), "id", "reveal", pseudonym]
    shown = subprocess.run([*cli, "--reason", REASON], env=env, capture_output=True, text=True)
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.strip() == personal_id
    assert personal_id not in shown.stderr
    refused = subprocess.run([*cli, "--reason", "xem"], env=env, capture_output=True, text=True)
    assert refused.returncode == 2 and refused.stdout == ""
    stated = subprocess.run([*cli, "--reason", REASON, "--by", "ai-do"], env=env,
                            capture_output=True, text=True)
    assert stated.returncode == 2 and stated.stdout == ""  # no flag names the requester
    # an analyst's login is refused, and the refusal says why
    analyst_env = {**os.environ, settings.WAREHOUSE_URL_ENV: built["urls"]["analyst"]}
    other_login = subprocess.run([*cli, "--reason", REASON], env=analyst_env,
                                 capture_output=True, text=True)
    assert other_login.returncode == 2 and other_login.stdout == ""
    assert access.REIDENTIFIER in other_login.stderr
    with warehouse.connect(url) as conn:
        audit = conn.execute("""select requested_by, pseudonym, reason, found
                                from vault.reidentifications""").fetchall()
    assert audit == [("eduhub_test_engineer", pseudonym, REASON, True)]
    assert personal_id not in repr(audit)
    assert denied(built["urls"]["analyst"], "select * from vault.reidentifications")


def test_plain_ids_only_through_the_audited_door(built):
    """The loader writes the plain IDs but cannot read them back; nobody reads them but
    through vault.reveal, which only re-identifiers may call and which records the session's
    login; nobody but the vault changes the trail."""
    url, dags, engineer = built["url"], built["door"]["dags"], built["door"]["engineer"]
    key = b"test-key-for-privacy-tests-0001"
    # the matching run as the DAGs' login: it rewrites the vault without reading it
    person.build(dags, "privacy-door", key=key, full=True)
    ids = plain_ids(url)
    assert len(ids) > 100 and all(p == person.pseudonym(i, key) for i, p in ids.items())
    with warehouse.connect(url) as conn:
        assert conn.execute("""select count(*) from information_schema.columns
                               where table_schema = 'pii' and column_name = 'personal_id'
                            """).fetchone()[0] == 0  # no plain ID left in the loader's pii
    for query in ("select personal_id from vault.personal_ids limit 1",
                  "select * from vault.personal_ids limit 1",
                  "delete from vault.personal_ids where personal_id like '0%' returning 1",
                  "select * from vault.reidentifications"):
        assert denied(dags, query), query
    assert rows(dags, "select count(person_id) from vault.personal_ids") == [repr((len(ids),))]

    personal_id, pseudonym = sorted(ids.items())[0]
    reveal = f"select vault.reveal('{pseudonym}', '{REASON}')"
    for name, login in {**built["urls"], "dags": dags}.items():
        assert denied(login, reveal), name
    assert denied(engineer, "select personal_id from vault.personal_ids limit 1")
    with psycopg.connect(engineer, autocommit=True) as conn:
        assert conn.execute(reveal).fetchone()[0] == personal_id
        assert conn.execute(f"select vault.reveal('{'0' * 64}', '{REASON}')"
                            ).fetchone()[0] is None  # not found, recorded all the same
        with pytest.raises(psycopg.errors.InvalidParameterValue):  # the database asks why too
            conn.execute(f"select vault.reveal('{pseudonym}', 'xem')")
    with warehouse.connect(url) as conn:
        trail = conn.execute("""select requested_by, pseudonym, found from vault.reidentifications
                                where pseudonym in (%s, %s) order by reidentification_id""",
                             (pseudonym, "0" * 64)).fetchall()
    assert trail[-2:] == [("eduhub_test_engineer", pseudonym, True),
                          ("eduhub_test_engineer", "0" * 64, False)]

    # append-only for every role but its owner
    for name, login in {**built["urls"], **built["door"]}.items():
        for query in ("update vault.reidentifications set reason = 'sửa lại lý do'",
                      "delete from vault.reidentifications",
                      "insert into vault.reidentifications (requested_at, requested_by, "
                      "pseudonym, reason, found) values (now(), 'ai-do', 'x', 'lý do giả', false)",
                      "truncate vault.reidentifications"):
            assert denied(login, query), (name, query)
    with warehouse.connect(url) as conn:  # the owner of the trail is no login
        assert conn.execute("""select rolcanlogin from pg_roles where oid = (
            select relowner from pg_class where oid = 'vault.reidentifications'::regclass)
            """).fetchone()[0] is False


def test_grants_survive_a_dbt_build_and_a_swap(built):
    """The next day's transformation, without `eduhub warehouse grant`: the new tables carry
    the same privileges (dbt grants and post-hooks, the gate's copy)."""
    url = built["url"]
    with warehouse.connect(url) as conn:
        before = dict(conn.execute("select relname, oid::bigint from pg_class "
                                   "where relnamespace = 'marts'::regnamespace").fetchall())
    started = time.monotonic()
    build_and_publish(url, built["env"], "day2", before_swap=lambda: [
        # the build waits unread until it is validated and swapped in
        assert_denied_to_readers(built, ("marts_next.completeness",
                                         "audit_next.quality_failures"))])
    print(f"rebuild and swap: {time.monotonic() - started:.0f} s")
    # yesterday's publication stays for the engineers, not for the readers
    assert_denied_to_readers(built, ("marts_previous.completeness",
                                     "audit_previous.quality_failures"))
    with warehouse.connect(url) as conn:
        after = dict(conn.execute("select relname, oid::bigint from pg_class "
                                  "where relnamespace = 'marts'::regnamespace").fetchall())
    assert set(after) == set(before) and not set(after.values()) & set(before.values())
    check_roles_read_what_they_should(built)


def test_a_view_in_the_marts_is_read_under_the_row_policies_or_not_at_all(built):
    """A view runs with its owner's rights, past the row policies of what it reads: `grant`
    refuses it to every reader, unless it runs with the reader's (security_invoker), and then
    a commune reads exactly its own rows through it."""
    url, urls = built["url"], built["urls"]
    units = commune_units(url, built["commune"])
    readers = ", ".join(access.READER_ROLES)
    with warehouse.connect(url) as conn:
        conn.execute(f"""
            create view marts.coverage_by_owner as
                select school_code, learner_count from marts.school_learner_id_coverage;
            create view marts.coverage_by_reader with (security_invoker = true) as
                select school_code, learner_count from marts.school_learner_id_coverage;
            grant select on marts.coverage_by_owner, marts.coverage_by_reader to {readers}""")
    try:
        summary = access.grant(url)
        assert "marts.coverage_by_owner" in summary.refused_tables
        assert "marts.coverage_by_reader" not in summary.refused_tables
        for login in ("analyst", "provincial", "commune"):
            assert denied(urls[login], "select * from marts.coverage_by_owner"), login
        mine = rows(url, "select school_code, learner_count from "
                         "marts.school_learner_id_coverage where school_code = any(%s)", (units,))
        assert mine and rows(urls["commune"], "select * from marts.coverage_by_reader") == mine
    finally:
        with warehouse.connect(url) as conn:
            conn.execute("drop view marts.coverage_by_owner, marts.coverage_by_reader")


def test_dbt_names_the_project_roles():
    project = yaml.safe_load((settings.DBT_PROJECT_DIR / "dbt_project.yml").read_text())
    granted = set()

    def walk(node):
        for key, value in node.items():
            if key == "+grants":
                granted.update(*value.values())
            elif isinstance(value, dict):
                walk(value)
    walk(project["models"])
    # the readers, and the loader group, whose worklist door reads the intermediate views and
    # the audit tables (migration 0007)
    assert granted == {*access.READER_ROLES, access.LOADER}
