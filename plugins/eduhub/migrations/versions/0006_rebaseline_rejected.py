"""A warehouse upgraded from before fail-closed validation (0003) may hold rejected batches in
its comparison baselines (`ops.partition_versions`) and watermarks advanced past them: the
corrected re-read of such a partition would then land nothing. Once, for every partition whose
latest batch is rejected: its baseline made anew from the batches that count, and its
watermark dropped, so its next read is a full one (what validation does for a rejection now).

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06
"""

from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

# partitions whose most recent batch was rejected (and not accepted since)
STILL_REJECTED = """
    select source, entity, partition from (
        select distinct on (source, entity, partition) source, entity, partition, status
        from ops.batches order by source, entity, partition, extracted_at desc, batch_id desc
    ) as latest
    where status = 'rejected'
    order by 1, 2, 3
"""


def upgrade() -> None:
    # landing's own rebuild (the baseline's layout is landing's to define); run inside this
    # migration's transaction, on its connection
    from eduhub.landing.versions import rebuild_latest_versions

    conn = op.get_bind().connection.driver_connection
    by_table: dict[str, list[str]] = {}
    for source, entity, partition in conn.execute(STILL_REJECTED).fetchall():
        by_table.setdefault(f"{source}__{entity}", []).append(partition)
        conn.execute("delete from ops.watermarks where source = %s and entity = %s "
                     "and partition = %s", (source, entity, partition))
    for table, partitions in by_table.items():
        if conn.execute("select to_regclass(%s)", (f"raw.{table}",)).fetchone()[0]:
            rebuild_latest_versions(conn, table, partitions)


def downgrade() -> None:
    raise NotImplementedError("the warehouse is upgraded only; restore a backup to go back")
