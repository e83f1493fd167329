"""Class files that vanished from the drop folder: since when each has been missing, so that
retention can purge their rows once that is older than the period (their learners stay
current meanwhile: only a newer file of the class withdraws a learner).

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-06
"""

from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.execute("""
        create table if not exists ops.vanished_files (
            source text not null,
            relative_path text not null,
            missing_since timestamptz not null,
            primary key (source, relative_path)
        );
    """)


def downgrade() -> None:
    raise NotImplementedError("the warehouse is upgraded only; restore a backup to go back")
