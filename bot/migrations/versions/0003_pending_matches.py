"""Pending matches: a story saved under the grouping lock is marked here in the same
transaction and matched against the rules after the lock is released; a marker left by a
worker that died between the two steps is picked up by the next cycle of any worker.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-04 10:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

UTC_DATETIME = sa.DateTime(timezone=True)
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "pending_matches",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("story_id", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("fresh", sa.Boolean(), nullable=False),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["story_id"],
            ["stories.id"],
            name=op.f("fk_pending_matches_story_id_stories"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_pending_matches")),
    )
    op.create_index(
        op.f("ix_pending_matches_story_id"), "pending_matches", ["story_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_pending_matches_story_id"), table_name="pending_matches")
    op.drop_table("pending_matches")
