"""Deletions need proof: how many keys a full read would have withdrawn past the limit, held.

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-03
"""

from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
        alter table ops.source_counts
            add column if not exists held_deletions integer not null default 0
    """)


def downgrade() -> None:
    raise NotImplementedError("the warehouse is upgraded only; restore a backup to go back")
