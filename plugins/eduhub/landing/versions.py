"""The latest version each partition landed of each key (`ops.partition_versions`), the raw
tables they describe, and what a key currently is (the staging macro `latest_version`)."""

from __future__ import annotations

import functools
from collections.abc import Iterable
from dataclasses import dataclass

import orjson
import psycopg
from psycopg import sql

from eduhub.landing.records import raw_table_name
from eduhub.migrations import WarehouseNotMigrated

# whether the raw table exists, and has latest versions
TABLE_STATUS = """
    select to_regclass(%(t)s) is not null,
           exists (select 1 from ops.partition_versions where table_name = %(n)s)"""


# the latest version of each (partition, key) of a raw table {t} that a later read compares
# with: a rejected batch's rows are not (the source's next read of them lands again, to be
# validated again); a batch still pending validation's are
_LATEST_PER_PARTITION = """
    select distinct on (partition, natural_key) partition, natural_key, record_id,
           payload_hash, is_deleted
    from {t} as landed
    where not exists (
        select 1 from ops.batches as rejected
        where rejected.batch_id = landed.batch_id and rejected.source = %(source)s
            and rejected.entity = %(entity)s and rejected.partition = landed.partition
            and rejected.status = 'rejected') {where}
    order by partition, natural_key, record_id desc"""


@dataclass
class Versions:
    """The latest version a partition landed of each key (record id, payload hash), and the
    keys whose latest version there is a deletion: its document in ops.partition_versions."""

    heads: dict[str, tuple[int, str]]
    deleted: set[str]

    @classmethod
    def parse(cls, row: tuple[str] | None) -> Versions:
        if row is None:
            return cls({}, set())
        doc = orjson.loads(row[0])
        return cls(dict(zip(doc["keys"], zip(doc["record_ids"], doc["hashes"], strict=True),
                            strict=True)), set(doc["deleted"]))

    def land(self, newest: dict[str, tuple[int, str]], withdrawn: dict[str, int]) -> None:
        """The versions just landed (live), and the tombstones (record id) of keys withdrawn."""
        self.heads.update(newest)
        self.deleted.difference_update(newest)
        for key, record_id in withdrawn.items():
            self.heads[key] = (record_id, self.heads[key][1])
        self.deleted.update(withdrawn)

    def document(self) -> str:
        keys = sorted(self.heads)
        heads = self.heads
        return orjson.dumps({"keys": keys, "record_ids": [heads[k][0] for k in keys],
                             "hashes": [heads[k][1] for k in keys],
                             "deleted": sorted(self.deleted)}).decode("utf-8")


def read_versions(conn, name: str, partition: str):
    # never a prepared statement: psycopg prepares a statement run five times on a connection,
    # and a generic plan made while ops was small could scan every partition's document
    return conn.execute("select versions from ops.partition_versions "
                        "where table_name = %s and partition = %s", (name, partition),
                        prepare=False)


def write_versions(conn, name: str, partition: str, document: str, keys: int) -> None:
    conn.execute("""
        insert into ops.partition_versions (table_name, partition, versions, keys, updated_at)
        values (%s, %s, %s, %s, clock_timestamp())
        on conflict (table_name, partition) do update set
            versions = excluded.versions, keys = excluded.keys,
            updated_at = excluded.updated_at""", (name, partition, document, keys))


class _RawRelation:
    """What the macro `latest_version` reads of a dbt relation, for a raw table."""

    def __init__(self, name: str):
        source, entity = name.split("__", 1)
        self.identifier = raw_table_name(source, entity)  # checked: safe to quote as is

    def __str__(self) -> str:
        return f'"raw"."{self.identifier}"'


@functools.cache
def _latest_version_macro():
    import jinja2

    from eduhub import settings

    text = (settings.DBT_PROJECT_DIR / "macros" / "landing.sql").read_text(encoding="utf-8")
    return jinja2.Environment().from_string(text).module.latest_version


def current_versions_query(name: str, *, validated_only: bool = True) -> sql.SQL:
    """What each key of the raw table `name` (`<source>__<entity>`) currently is: as staging
    reads them (validated or accepted batches only), or, with `validated_only` false, as they
    landed. The rule is the staging macro
    `latest_version` (dbt_project/macros/landing.sql), rendered here, so it is written once."""
    return sql.SQL(str(_latest_version_macro()(_RawRelation(name), validated_only)))


def ensure_raw_table(conn: psycopg.Connection, name: str,
                     status: tuple[bool, bool] | None = None) -> bool:
    """The raw table, made from the layout the migrations keep (`ops.raw_table_layout`) when
    the entity has none yet, and the latest versions of its partitions in
    `ops.partition_versions`. Returns whether any version has landed. `status` is what
    `TABLE_STATUS` returned, when the caller has just read it."""
    exists, has_heads = status or conn.execute(
        TABLE_STATUS, {"t": f"raw.{name}", "n": name}).fetchone()
    if exists and has_heads:
        return True
    if not exists:
        if conn.execute("select to_regclass('ops.raw_table_layout')").fetchone()[0] is None:
            raise WarehouseNotMigrated("ops.raw_table_layout")
        conn.execute(sql.SQL("create table if not exists {t} "
                             "(like ops.raw_table_layout including all)").format(
            t=sql.Identifier("raw", name)))
        # versions kept for a table of that name that was dropped are not this table's
        conn.execute("delete from ops.partition_versions where table_name = %s", (name,))
        return False
    # a table landed before the latest versions were kept: take them from the table once
    return rebuild_latest_versions(conn, name) > 0


def rebuild_latest_versions(conn: psycopg.Connection, name: str,
                            partitions: Iterable[str] | None = None) -> int:
    """The documents of the raw table's partitions (all, or those given) made anew from what
    the table holds, rejected batches left out: after rows were deleted from it (retention),
    after a validation rejected a batch or an operator accepted one, or for a table landed
    before the latest versions were kept. A partition left without rows loses its document.
    Returns how many documents were written. Run under the table's landing lock
    (`rebaseline` takes it)."""
    table = sql.Identifier("raw", name)
    chosen = None if partitions is None else sorted(set(partitions))
    where = sql.SQL("") if chosen is None else sql.SQL("and partition = any(%(chosen)s)")
    source, entity = name.split("__", 1)
    versions: dict[str, Versions] = {}
    for partition, key, record_id, digest, is_deleted in conn.execute(
            sql.SQL(_LATEST_PER_PARTITION).format(t=table, where=where),
            {"source": source, "entity": entity, "chosen": chosen}):
        if (part := versions.get(partition)) is None:
            part = versions[partition] = Versions({}, set())
        part.heads[key] = (record_id, digest)
        if is_deleted:
            part.deleted.add(key)
    if chosen is None:
        conn.execute("delete from ops.partition_versions where table_name = %s", (name,))
    else:
        conn.execute("delete from ops.partition_versions where table_name = %s "
                     "and partition = any(%s)", (name, chosen))
    with conn.pipeline():
        for partition, part in versions.items():
            write_versions(conn, name, partition, part.document(), len(part.heads))
    return len(versions)


def rebaseline(conn: psycopg.Connection, name: str, partitions: Iterable[str]) -> int:
    """`rebuild_latest_versions` of these partitions under the table's landing lock: what the
    next read of each is compared with after its batch was rejected or accepted."""
    if conn.execute("select to_regclass(%s)", (f"raw.{name}",)).fetchone()[0] is None:
        return 0
    with conn.transaction():
        conn.execute("select pg_advisory_xact_lock(hashtext(%s))", (f"raw.{name}",))
        return rebuild_latest_versions(conn, name, partitions)
