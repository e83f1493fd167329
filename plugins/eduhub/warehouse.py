"""The warehouse: which PostgreSQL, and the embedded one when none is configured.

`url()` is the single source of the warehouse location. dbt's profile, the Airflow
connection `eduhub_warehouse` and the Python code are all derived from it.

With no EDUHUB_WAREHOUSE_URL, an embedded PostgreSQL 16 (the server binaries that the
`pgserver` package bundles) runs from `.eduhub/warehouse/` on 127.0.0.1 and a free
port. pgserver's own launcher only listens on a Unix socket, which Great Expectations
and cosmos reject, so it is started here with pg_ctl on TCP instead.
"""

from __future__ import annotations

import contextlib
import fcntl
import importlib.util
import json
import logging
import os
import pwd
import secrets
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

import psycopg

from eduhub import settings

log = logging.getLogger(__name__)

DATABASE = "eduhub"
SUPERUSER = "eduhub"
# PostgreSQL refuses to run as root; pgserver's convention is a system user of this name.
SERVER_OS_USER = "pgserver"


@dataclass(frozen=True)
class WarehouseUrl:
    host: str
    port: int
    user: str
    password: str
    dbname: str

    @classmethod
    def parse(cls, url: str) -> WarehouseUrl:
        parts = urlsplit(url)
        if parts.scheme.split("+")[0] not in ("postgresql", "postgres"):
            raise ValueError(f"not a PostgreSQL URL (scheme {parts.scheme!r})")
        if not parts.hostname:
            raise ValueError("the warehouse URL must name a TCP host (a Unix socket is not enough)")
        return cls(
            host=parts.hostname,
            port=parts.port or 5432,
            user=unquote(parts.username or ""),
            password=unquote(parts.password or ""),
            dbname=parts.path.lstrip("/") or "postgres",
        )

    def url(self, driver: str | None = None) -> str:
        scheme = f"postgresql+{driver}" if driver else "postgresql"
        auth = quote(self.user, safe="")
        if self.password:
            auth += ":" + quote(self.password, safe="")
        return f"{scheme}://{auth}@{self.host}:{self.port}/{quote(self.dbname, safe='')}"

    def masked(self) -> str:
        return self.url().replace(":" + quote(self.password, safe="") + "@", ":***@", 1) \
            if self.password else self.url()

    def with_dbname(self, dbname: str) -> WarehouseUrl:
        return WarehouseUrl(self.host, self.port, self.user, self.password, dbname)


def url() -> str:
    """The warehouse in use: EDUHUB_WAREHOUSE_URL, else the Airflow connection given in the
    environment (a deployment's containers: `eduhub warehouse migrate` and `grant` there need
    nothing more), else the embedded server (started if needed)."""
    configured = os.environ.get(settings.WAREHOUSE_URL_ENV)
    if configured:
        WarehouseUrl.parse(configured)  # fail early and clearly on a malformed URL
        return configured
    connection = os.environ.get(f"AIRFLOW_CONN_{settings.WAREHOUSE_CONN_ID.upper()}")
    if connection:
        return _url_of_connection(connection)
    return EmbeddedPostgres(settings.STATE_DIR / "warehouse").ensure_running()


def _url_of_connection(value: str) -> str:
    """An Airflow connection as JSON or as a URI (`postgres://…`), as a warehouse URL."""
    value = value.strip()
    if not value.startswith("{"):
        return WarehouseUrl.parse(urlsplit(value)._replace(scheme="postgresql").geturl()).url()
    fields = json.loads(value)
    return WarehouseUrl(fields.get("host") or "", int(fields.get("port") or 5432),
                        fields.get("login") or "", fields.get("password") or "",
                        fields.get("schema") or DATABASE).url()


def connect(conninfo: str | None = None, **kwargs) -> psycopg.Connection:
    """Autocommit by default: each `with conn.transaction()` block is then a real transaction
    (not a savepoint inside an implicit one), which is what makes a landing atomic."""
    kwargs.setdefault("autocommit", True)
    return psycopg.connect(conninfo or url(), **kwargs)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _port_accepts(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


class EmbeddedPostgres:
    """A PostgreSQL cluster in a project folder, on 127.0.0.1, reused across calls."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self.pgdata = self.root / "pgdata"
        self.password_file = self.root / "password"
        self.port_file = self.root / "port"
        self.log_file = self.root / "server.log"

    @property
    def bin_dir(self) -> Path:
        # Located without importing pgserver: its import has side effects we do not need.
        spec = importlib.util.find_spec("pgserver")
        if spec is None or not spec.submodule_search_locations:
            raise RuntimeError("the pgserver package is not installed: pip install -r requirements.txt")
        return Path(spec.submodule_search_locations[0]) / "pginstall" / "bin"

    def _run_as_server_user(self, args: list[str], **kwargs) -> subprocess.CompletedProcess:
        kwargs.setdefault("check", True)
        kwargs.setdefault("capture_output", True)
        kwargs.setdefault("text", True)
        if os.geteuid() == 0:
            kwargs["user"] = SERVER_OS_USER
        try:
            return subprocess.run(args, **kwargs)
        except subprocess.CalledProcessError as exc:
            raise RuntimeError(
                f"embedded PostgreSQL: {Path(args[0]).name} failed: {exc.stderr or exc.stdout}"
            ) from exc

    def _prepare_os_user(self) -> None:
        if os.geteuid() != 0:
            return
        try:
            entry = pwd.getpwnam(SERVER_OS_USER)
        except KeyError:
            subprocess.run(["useradd", "--system", "--no-create-home", SERVER_OS_USER], check=True)
            entry = pwd.getpwnam(SERVER_OS_USER)
        # the server user must be able to traverse down to its data folder
        for folder in [self.root, *self.root.parents]:
            folder.chmod(folder.stat().st_mode | 0o005 | 0o050)
        os.chown(self.root, entry.pw_uid, entry.pw_gid)
        if self.pgdata.exists():
            os.chown(self.pgdata, entry.pw_uid, entry.pw_gid)

    def _initdb(self) -> None:
        password = secrets.token_urlsafe(24)
        self.root.mkdir(parents=True, exist_ok=True)
        self._prepare_os_user()
        pwfile = self.root / ".initdb-pw"
        pwfile.write_text(password + "\n")
        try:
            if os.geteuid() == 0:
                shutil.chown(pwfile, SERVER_OS_USER)
            pwfile.chmod(0o600)
            self._run_as_server_user([
                str(self.bin_dir / "initdb"), "-D", str(self.pgdata), "-U", SUPERUSER,
                "--auth=scram-sha-256", f"--pwfile={pwfile}", "-E", "UTF8",
                # C.UTF-8: byte order for sorting, but Unicode-aware lower()/upper() for Vietnamese.
                "--locale=C.UTF-8",
            ])
        finally:
            pwfile.unlink(missing_ok=True)
        self.password_file.write_text(password)
        self.password_file.chmod(0o600)

    def _status_running(self) -> bool:
        result = self._run_as_server_user(
            [str(self.bin_dir / "pg_ctl"), "-D", str(self.pgdata), "status"], check=False
        )
        return result.returncode == 0

    def _start(self) -> int:
        port = int(self.port_file.read_text()) if self.port_file.exists() else free_port()
        if _port_accepts(port):
            port = free_port()
        self._prepare_os_user()
        self._run_as_server_user([
            str(self.bin_dir / "pg_ctl"), "-D", str(self.pgdata), "-l", str(self.log_file),
            "-w", "-t", "60", "start",
            "-o", f"-c listen_addresses=127.0.0.1 -p {port} -c unix_socket_directories=''",
        ])
        self.port_file.write_text(str(port))
        return port

    def _url(self, port: int, dbname: str = DATABASE) -> WarehouseUrl:
        return WarehouseUrl("127.0.0.1", port, SUPERUSER, self.password_file.read_text().strip(),
                            dbname)

    def ensure_running(self) -> str:
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / ".lock", "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)  # tests, Airflow and the CLI may race to start it
            if not (self.pgdata / "PG_VERSION").exists():
                log.info("initialising the embedded warehouse in %s", self.pgdata)
                self._initdb()
            if self._status_running() and self.port_file.exists():
                port = int(self.port_file.read_text())
            else:
                port = self._start()
            self._wait_ready(port)
            self._ensure_database(port)
            return self._url(port).url()

    def _wait_ready(self, port: int, timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while True:
            try:
                with psycopg.connect(self._url(port, "postgres").url(), connect_timeout=2):
                    return
            except psycopg.OperationalError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)

    def _ensure_database(self, port: int) -> None:
        with psycopg.connect(self._url(port, "postgres").url(), autocommit=True) as conn:
            exists = conn.execute("select 1 from pg_database where datname = %s",
                                  (DATABASE,)).fetchone()
            if not exists:
                conn.execute(f'create database "{DATABASE}"')

    def stop(self) -> None:
        if (self.pgdata / "PG_VERSION").exists() and self._status_running():
            self._run_as_server_user(
                [str(self.bin_dir / "pg_ctl"), "-D", str(self.pgdata), "-m", "fast", "-w", "stop"]
            )


def create_database(name: str, conninfo: str | None = None, *, replace: bool = False,
                    template: str | None = None) -> str:
    """Create (or re-create) a database on the warehouse server; returns its URL. A
    `template` database is copied file by file (nobody may be connected to it)."""
    base = WarehouseUrl.parse(conninfo or url())
    with psycopg.connect(base.with_dbname("postgres").url(), autocommit=True) as conn:
        if replace:
            conn.execute(f'drop database if exists "{name}" with (force)')
        copy = f' template "{template}"' if template else ""
        with contextlib.suppress(psycopg.errors.DuplicateDatabase):
            conn.execute(f'create database "{name}"{copy}')
    return base.with_dbname(name).url()
