"""Alembic's entry point for the warehouse migrations (see eduhub.migrations)."""

from __future__ import annotations

from alembic import context
from sqlalchemy import create_engine, pool, text

from eduhub.migrations import VERSION_SCHEMA, VERSION_TABLE


def _engine_url(conninfo: str) -> str:
    scheme, rest = conninfo.split("://", 1)
    return f"postgresql+psycopg://{rest}" if scheme in ("postgresql", "postgres") else conninfo


def run_migrations_online() -> None:
    url = context.config.attributes["url"]
    engine = create_engine(_engine_url(url), poolclass=pool.NullPool)
    with engine.connect() as connection:
        context.configure(connection=connection, version_table=VERSION_TABLE,
                          version_table_schema=VERSION_SCHEMA)
        with context.begin_transaction():
            # one migrating process at a time (the DAGs' first tasks may start together); the
            # revision is read after the lock, so the second finds the work done
            connection.execute(text("select pg_advisory_xact_lock(hashtext('eduhub.migrations'))"))
            # the version table's schema must exist before Alembic looks for the table
            connection.execute(text(f"create schema if not exists {VERSION_SCHEMA}"))
            context.run_migrations()
    engine.dispose()


if context.is_offline_mode():
    raise SystemExit("the warehouse migrations run online only (eduhub warehouse migrate)")
run_migrations_online()
