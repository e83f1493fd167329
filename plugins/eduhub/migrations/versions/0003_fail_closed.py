"""Fail closed: the watermark a batch reached waits for its validation, and an operator's
acceptance of a rejected partition is recorded with who, when and why.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03
"""

from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
        -- the highest stamp the partition's read reached: ops.watermarks moves to it once the
        -- batch is validated or accepted, never before
        alter table ops.batches add column if not exists high_water text;
        create table if not exists ops.batch_acceptances (
            batch_id text not null,
            source text not null,
            entity text not null,
            partition text not null,
            accepted_by text not null,
            reason text not null check (length(trim(reason)) > 0),
            accepted_at timestamptz not null,
            primary key (batch_id, source, entity, partition)
        );
    """)


def downgrade() -> None:
    raise NotImplementedError("the warehouse is upgraded only; restore a backup to go back")
