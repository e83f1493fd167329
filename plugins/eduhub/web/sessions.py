"""Signed-in sessions of the dashboard: each holds a PostgreSQL connection opened as the person's
own login, so every query of their pages runs as their role and the warehouse's grants and row
policies decide what they see.

The password is used once, to open that connection, and kept nowhere. A session ends when it
has been idle for `idle_seconds`, or `max_seconds` after sign-in, or on sign-out; its
connection is closed then. Sessions live in this process's memory: a restart signs everyone
out (the dashboard runs as one process).
"""

from __future__ import annotations

import logging
import secrets
import threading
import time
from dataclasses import dataclass, field

import psycopg

from eduhub import access, warehouse

log = logging.getLogger(__name__)


class SignInRefused(ValueError):
    """Wrong login or password, or a login the dashboard does not serve (the message says)."""


@dataclass
class Session:
    login: str
    conn: psycopg.Connection
    # the reader groups the login belongs to: what the pages offer (the database decides)
    roles: frozenset[str]
    csrf: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    token: str = field(default_factory=lambda: secrets.token_urlsafe(32))
    started: float = field(default_factory=time.monotonic)
    last_seen: float = field(default_factory=time.monotonic)
    # one query at a time on the connection, whatever the server's threads
    lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def provincial(self) -> bool:
        return access.PROVINCIAL in self.roles


class SessionStore:
    def __init__(self, warehouse_url: str, idle_seconds: float = 1800,
                 max_seconds: float = 8 * 3600):
        self._where = warehouse.WarehouseUrl.parse(warehouse_url)
        self.idle_seconds = idle_seconds
        self.max_seconds = max_seconds
        self._sessions: dict[str, Session] = {}
        self._lock = threading.Lock()

    def sign_in(self, login: str, password: str) -> Session:
        login = login.strip()
        if not login or not password:
            raise SignInRefused("Nhập tên đăng nhập và mật khẩu.")
        try:
            conn = psycopg.connect(
                host=self._where.host, port=self._where.port, dbname=self._where.dbname,
                user=login, password=password, connect_timeout=10, autocommit=True,
                application_name="eduhub-web")
        except psycopg.OperationalError as exc:
            log.info("web: sign-in refused for a login (%s)", type(exc).__name__)
            raise SignInRefused("Sai tên đăng nhập hoặc mật khẩu.") from None
        try:
            superuser, bypass = conn.execute(
                "select rolsuper, rolbypassrls from pg_roles where rolname = session_user"
            ).fetchone()
            roles = frozenset(r for r in access.READER_ROLES if conn.execute(
                "select pg_has_role(session_user, %s, 'MEMBER')", (r,)).fetchone()[0])
        except Exception:
            conn.close()
            raise
        if superuser or bypass or not roles:
            conn.close()
            # a superuser reads past the row policies: the dashboard is for the reader roles
            raise SignInRefused("Tài khoản này không dùng được trang tổng hợp: cần là thành viên "
                                "của một nhóm người đọc (" + ", ".join(access.READER_ROLES)
                                + ") và không phải tài khoản quản trị.")
        session = Session(login, conn, roles)
        with self._lock:
            self._sessions[session.token] = session
        log.info("web: %s signed in (%s)", login, ", ".join(sorted(roles)))
        return session

    def get(self, token: str | None) -> Session | None:
        """The live session of this cookie, its idle clock restarted; None once expired."""
        if not token:
            return None
        now = time.monotonic()
        with self._lock:
            session = self._sessions.get(token)
            if session is None:
                return None
            if (now - session.last_seen > self.idle_seconds
                    or now - session.started > self.max_seconds or session.conn.closed):
                self._end(token)
                return None
            session.last_seen = now
            return session

    def end(self, token: str | None) -> None:
        with self._lock:
            self._end(token)

    def _end(self, token: str | None) -> None:
        session = self._sessions.pop(token, None) if token else None
        if session is not None:
            session.conn.close()
            log.info("web: %s signed out", session.login)

    def reap(self) -> None:
        """Close the connections of expired sessions (called on every request)."""
        now = time.monotonic()
        with self._lock:
            for token, session in list(self._sessions.items()):
                if (now - session.last_seen > self.idle_seconds
                        or now - session.started > self.max_seconds):
                    self._end(token)

    def close_all(self) -> None:
        with self._lock:
            for token in list(self._sessions):
                self._end(token)
