"""Where the warehouse is: the configured URL, else the embedded server, reused."""

from __future__ import annotations

import subprocess
import sys

import pytest

from eduhub import warehouse
from eduhub.warehouse import WarehouseUrl


def test_url_round_trip_and_masking():
    w = WarehouseUrl.parse("postgresql://ana%40so:p%2Fss@db.example:6543/kho")
    assert (w.host, w.port, w.user, w.password, w.dbname) == ("db.example", 6543, "ana@so",
                                                            "p/ss", "kho")
    assert WarehouseUrl.parse(w.url()) == w
    assert w.url("psycopg2").startswith("postgresql+psycopg2://")
    assert "p%2Fss" not in w.masked() and ":***@" in w.masked()


def test_the_cli_hides_the_password_unless_asked(monkeypatch, capsys):
    from eduhub import cli

    monkeypatch.setenv("EDUHUB_WAREHOUSE_URL", "postgresql://u:s3cret-pw@10.0.0.5:5432/kho")
    assert cli.main(["warehouse", "url"]) == 0
    assert capsys.readouterr().out.strip() == "postgresql://u:***@10.0.0.5:5432/kho"
    assert cli.main(["warehouse", "url", "--show-password"]) == 0
    assert capsys.readouterr().out.strip() == "postgresql://u:s3cret-pw@10.0.0.5:5432/kho"


@pytest.mark.parametrize("bad", ["mysql://a@b/c", "postgresql:///db?host=/tmp"])
def test_rejects_non_postgres_and_socket_urls(bad):
    with pytest.raises(ValueError):
        WarehouseUrl.parse(bad)


def test_configured_url_wins(monkeypatch):
    monkeypatch.setenv("EDUHUB_WAREHOUSE_URL", "postgresql://u:p@10.0.0.5:5432/kho")
    assert warehouse.url() == "postgresql://u:p@10.0.0.5:5432/kho"


def test_server_answers_on_tcp_and_is_reused(server_url):
    w = WarehouseUrl.parse(server_url)
    assert w.host not in ("", "localhost") or w.port
    again = subprocess.run([sys.executable, "-c", "from eduhub import warehouse; "
                            "print(warehouse.url())"], capture_output=True, text=True, check=True)
    assert again.stdout.strip() == server_url
    with warehouse.connect(server_url) as conn:
        version, encoding = conn.execute(
            "select current_setting('server_version_num')::int, "
            "pg_encoding_to_char(encoding) from pg_database where datname = current_database()"
        ).fetchone()
        assert version >= 160000 and encoding == "UTF8"
        # Vietnamese case mapping needs a Unicode-aware locale
        assert conn.execute("select lower('ĐẶNG THỊ HẠ')").fetchone()[0] == "đặng thị hạ"


def test_schemas_exist(warehouse_url):
    with warehouse.connect(warehouse_url) as conn:
        names = {r[0] for r in conn.execute("select schema_name from information_schema.schemata")}
    assert {"raw", "staging", "intermediate", "snapshots", "marts", "audit", "ops", "quality",
            "pii", "access"} <= names


@pytest.mark.parametrize("connection", [
    '{"conn_type": "postgres", "host": "wh.so.internal", "port": 5433, "login": "eduhub",'
    ' "password": "p@ss/w", "schema": "eduhub"}',
    "postgres://eduhub:p%40ss%2Fw@wh.so.internal:5433/eduhub?__extra__=%7B%7D",
])
def test_a_container_finds_the_warehouse_in_its_airflow_connection(monkeypatch, connection):
    """In a deployment's container the warehouse is the Airflow connection given in the
    environment (JSON or URI): `eduhub warehouse migrate` there needs nothing more."""
    monkeypatch.delenv("EDUHUB_WAREHOUSE_URL", raising=False)
    monkeypatch.setenv("AIRFLOW_CONN_EDUHUB_WAREHOUSE", connection)
    assert warehouse.url() == "postgresql://eduhub:p%40ss%2Fw@wh.so.internal:5433/eduhub"
