"""The warehouse's own tables, created and changed only by versioned migrations (Alembic).

Every table outside dbt's models is owned here: `ops` (landing bookkeeping, batches,
quarantine, files, publications, purges, re-identifications, inspection samples and visits),
`quality`, `pii`, `access`, the group roles, and the layout every `raw.<source>__<entity>`
table takes (`ops.raw_table_layout`, which landing copies for a new source entity). dbt
builds only its models on top; no module and no dbt hook writes DDL for these.

`upgrade()` (`eduhub warehouse migrate`, and each DAG's first task) brings a warehouse of any
earlier release to the newest revision, keeping its rows. Concurrent callers are serialised
by an advisory lock, and a warehouse already at the newest revision costs one query.
The applied revision is kept in `ops.alembic_version`.

A new change is a new file in `versions/` (`down_revision` naming the previous head): never
edit one that has been released.
"""

from __future__ import annotations

import logging
from pathlib import Path

from eduhub import warehouse

log = logging.getLogger(__name__)

SCRIPT_LOCATION = Path(__file__).parent
VERSION_SCHEMA = "ops"
VERSION_TABLE = "alembic_version"


class WarehouseNotMigrated(RuntimeError):
    """The warehouse lacks tables the platform's migrations create."""

    def __init__(self, what: str):
        super().__init__(f"{what} is not in the warehouse: run `eduhub warehouse migrate` "
                         "(each DAG's first task does)")


def _config(conninfo: str):
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(SCRIPT_LOCATION))
    # not a main option: those are %-interpolated, and a password may hold a '%'
    config.attributes["url"] = conninfo
    return config


def head() -> str:
    # a line per plugin Alembic sets up when first imported: noise for an operator
    logging.getLogger("alembic.runtime.plugins").setLevel(logging.WARNING)
    from alembic.script import ScriptDirectory

    return ScriptDirectory(str(SCRIPT_LOCATION)).get_current_head()


def current(conninfo: str | None = None) -> str | None:
    """The revision the warehouse is at; None for a warehouse never migrated."""
    with warehouse.connect(conninfo, autocommit=True) as conn:
        if conn.execute("select to_regclass(%s)",
                        (f"{VERSION_SCHEMA}.{VERSION_TABLE}",)).fetchone()[0] is None:
            return None
        row = conn.execute(f"select version_num from {VERSION_SCHEMA}.{VERSION_TABLE}"
                           ).fetchone()
        return row[0] if row else None


def upgrade(conninfo: str | None = None) -> tuple[str | None, str]:
    """Apply the migrations the warehouse lacks; returns (revision before, revision after)."""
    conninfo = conninfo or warehouse.url()
    before, newest = current(conninfo), head()
    if before != newest:
        from alembic import command

        command.upgrade(_config(conninfo), "head")
        log.info("warehouse migrated from %s to %s", before or "(none)", newest)
    return before, current(conninfo)
