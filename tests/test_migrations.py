"""Migrations: a warehouse of the previous release, built before migrations existed (commit
6b02968: its demo run at scale 60, the warehouse's own schemas dumped to
tests/fixtures/warehouse_6b02968.sql.gz), upgraded by `eduhub warehouse migrate` with every
row kept, to the layout a new warehouse gets, and landing on it carries on where it stopped."""

from __future__ import annotations

import gzip
import subprocess
from pathlib import Path

import pytest
from psycopg import sql

from eduhub import migrations, runtime, settings, warehouse
from eduhub.landing import current_versions_query, land_partition
from eduhub.sources import sms_vendor_a

FIXTURE = Path(__file__).parent / "fixtures" / "warehouse_6b02968.sql.gz"
OWN_SCHEMAS = ("raw", "ops", "quality", "pii", "access", "vault")
# what migration 0004 moves into the vault: the plain IDs of pii.persons, the audit trail
MOVED_COLUMNS = {("pii.persons", "personal_id")}
MOVED_TABLES = {"ops.reidentifications"}
PLAIN_IDS = "select person_id, personal_id, id_pseudonym from {} where personal_id is not null"


def _restore(url: str) -> None:
    """The dump into the database, by psql, as an administrator restores one."""
    parts = warehouse.WarehouseUrl.parse(url)
    psql = warehouse.EmbeddedPostgres(settings.STATE_DIR / "warehouse").bin_dir / "psql"
    subprocess.run([str(psql), "-q", "-v", "ON_ERROR_STOP=1", "-h", parts.host,
                    "-p", str(parts.port), "-U", parts.user, "-d", parts.dbname],
                   input=gzip.decompress(FIXTURE.read_bytes()), check=True,
                   env={"PGPASSWORD": parts.password, "PATH": "/usr/bin:/bin"},
                   stdout=subprocess.DEVNULL)


def _tables(conn) -> dict[str, list[str]]:
    """Each table of the warehouse's own schemas, with its columns."""
    rows = conn.execute("""
        select table_schema || '.' || table_name, array_agg(column_name::text order by
                                                            ordinal_position)
        from information_schema.columns
        where table_schema = any(%s) and table_name in (
            select table_name from information_schema.tables as t
            where t.table_schema = columns.table_schema and t.table_type = 'BASE TABLE')
        group by 1 order by 1""", (list(OWN_SCHEMAS),)).fetchall()
    return dict(rows)


def _contents(conn, tables: dict[str, list[str]]) -> dict[str, tuple[int, str]]:
    """Rows and a digest of every row of each table, over the columns given."""
    found = {}
    for table, columns in tables.items():
        schema, name = table.split(".")
        cols = sql.SQL(", ").join(sql.Identifier(c) for c in columns)
        found[table] = conn.execute(sql.SQL(
            "select count(*), md5(coalesce(string_agg(r::text, '|' order by r::text), '')) "
            "from (select {} from {}) as r").format(cols, sql.Identifier(schema, name))
        ).fetchone()
    return found


def _layout(conn) -> set[tuple]:
    """(table, column, type, nullable) of the warehouse's own tables; every raw table as
    the layout it is made from."""
    rows = conn.execute("""
        select case when table_schema = 'raw' then 'ops.raw_table_layout'
                    else table_schema || '.' || table_name end,
               column_name, data_type, is_nullable
        from information_schema.columns
        where table_schema = any(%s) and table_name in (
            select table_name from information_schema.tables as t
            where t.table_schema = columns.table_schema and t.table_type = 'BASE TABLE')
        """, (list(OWN_SCHEMAS),)).fetchall()
    return set(rows)


@pytest.fixture(scope="module")
def previous_release(server_url):
    url = warehouse.create_database("eduhub_previous_release", server_url, replace=True)
    _restore(url)
    with warehouse.connect(url) as conn:
        tables = {t: [c for c in columns if (t, c) not in MOVED_COLUMNS]
                  for t, columns in _tables(conn).items() if t not in MOVED_TABLES}
        before = _contents(conn, tables)
        before["plain IDs"] = sorted(conn.execute(PLAIN_IDS.format("pii.persons")).fetchall())
    return url, tables, before


def test_the_previous_release_is_upgraded_with_every_row_kept(previous_release, server_url):
    url, tables, before = previous_release
    assert migrations.current(url) is None
    # the data the dump holds: every source landed, matched, validated, published
    assert all(before[t][0] > 0 for t in ("raw.sms_vendor_a__learners", "raw.pcgd__households",
                                          "raw.population__verifications", "ops.batches",
                                          "ops.partition_versions", "pii.persons",
                                          "quality.validation_results", "ops.publications"))

    env = runtime.environment(url)
    first = subprocess.run([runtime.tool("eduhub"), "warehouse", "migrate"], env=env,
                           check=True, capture_output=True, text=True).stdout
    again = subprocess.run([runtime.tool("eduhub"), "warehouse", "migrate"], env=env,
                           check=True, capture_output=True, text=True).stdout
    assert f"migrated from a warehouse without migrations to {migrations.head()}" in first
    assert f"at {migrations.head()}, the newest revision" in again
    assert migrations.current(url) == migrations.head()

    with warehouse.connect(url) as conn:
        after = _contents(conn, tables)
        after["plain IDs"] = sorted(conn.execute(PLAIN_IDS.format("vault.personal_ids")
                                                 ).fetchall())
        assert after == before  # every row of every table, unchanged; the plain IDs moved
        assert len(before["plain IDs"]) > 50
        # and the layout is the one a new warehouse gets
        upgraded = _layout(conn)
    fresh = warehouse.create_database("eduhub_fresh_release", server_url, replace=True)
    migrations.upgrade(fresh)
    with warehouse.connect(fresh) as conn:
        assert upgraded == _layout(conn)


def test_landing_carries_on_where_the_previous_release_stopped(previous_release):
    """Each school's current learners served again to this release's landing: nothing new
    lands, nothing is withdrawn (the latest versions it kept are the baseline)."""
    url, _, _ = previous_release
    migrations.upgrade(url)
    spec = sms_vendor_a.LEARNERS
    with warehouse.connect(url) as conn:
        current = conn.execute(sql.SQL("select partition, payload from ({}) as c").format(
            current_versions_query(spec.table, validated_only=False))).fetchall()
        schools: dict[str, list[dict]] = {}
        for partition, payload in current:
            schools.setdefault(partition, []).append(payload)
        assert len(schools) > 1
        results = [land_partition(conn, spec, records, batch_id="after-upgrade",
                                  partition=school, extracted_at=conn.execute(
                                      "select now()").fetchone()[0], full=True)
                   for school, records in schools.items()]
    assert sum(r.received for r in results) == len(current)
    assert [(r.landed, r.deleted, r.quarantined) for r in results] == [(0, 0, 0)] * len(schools)


def test_dbt_refuses_a_warehouse_never_migrated(server_url):
    url = warehouse.create_database("eduhub_never_migrated", server_url, replace=True)
    proc = subprocess.run(runtime.dbt_args(["run", "--select", "int_school_years"]),
                          env=runtime.environment(url), capture_output=True, text=True)
    assert proc.returncode != 0
    assert "the warehouse is not migrated: run `eduhub warehouse migrate`" in proc.stdout


def test_rejected_batches_leave_the_baselines_of_an_upgraded_warehouse(server_url):
    """Before fail-closed validation a rejected batch stayed in its partition's baseline, with
    the watermark past it, so its corrected re-read landed nothing. Migration 0006 rebuilds
    those baselines without it and drops the watermark: the re-read lands again."""
    from alembic import command

    url = warehouse.create_database("eduhub_rebaseline", server_url, replace=True)
    command.upgrade(migrations._config(url), "0005")
    spec = sms_vendor_a.LEARNERS
    learner = {"school_code": "80000001", "learner_id": "1000000001", "full_name": "An",
               "updated_at": "2026-10-01T08:00:00+07:00"}
    changed = {**learner, "full_name": "An (sửa)", "updated_at": "2026-10-02T08:00:00+07:00"}
    with warehouse.connect(url) as conn:
        for batch, record in (("b1", learner), ("b2", changed)):
            land_partition(conn, spec, [record], batch_id=batch, partition="80000001",
                           extracted_at=conn.execute("select now()").fetchone()[0], full=True)
        # what the earlier release left: b2 rejected, in the baseline, the watermark past it
        conn.execute("update ops.batches set status = case batch_id when 'b2' then 'rejected' "
                     "else 'validated' end")
        conn.execute("""insert into ops.watermarks (source, entity, partition, high_water,
                        batch_id, updated_at) values ('sms_vendor_a', 'learners', '80000001',
                        '2026-10-02T08:00:00+07:00', 'b2', now())""")
    migrations.upgrade(url)
    with warehouse.connect(url) as conn:
        watermarks = conn.execute("select count(*) from ops.watermarks").fetchone()[0]
        again = land_partition(conn, spec, [changed], batch_id="b3", partition="80000001",
                               extracted_at=conn.execute("select now()").fetchone()[0],
                               full=True)
    assert watermarks == 0
    assert again.landed == 1  # compared with b1, not with the rejected b2
