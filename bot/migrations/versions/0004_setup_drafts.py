"""Setup drafts: a chat's unfinished guided /start setup, stored so that a restart, or a
second web process behind the load balancer, carries on where the person was.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-26 17:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

UTC_DATETIME = sa.DateTime(timezone=True)
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "setup_drafts",
        sa.Column("chat_id", sa.BigInteger(), nullable=False),
        sa.Column("draft", JSON, nullable=False),
        sa.Column("updated_at", UTC_DATETIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["chat_id"],
            ["subscribers.chat_id"],
            name=op.f("fk_setup_drafts_chat_id_subscribers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("chat_id", name=op.f("pk_setup_drafts")),
    )


def downgrade() -> None:
    op.drop_table("setup_drafts")
