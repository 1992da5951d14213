"""Initial schema: sources, items, stories, subscribers, rules, alerts and the outbox.

Revision ID: 0001
Revises:
Create Date: 2026-11-26 14:09:57.816003
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

# The column types as the first revision created them (not imported from the models, which change).
UTC_DATETIME = sa.DateTime(timezone=True)
JSON = sa.JSON().with_variant(postgresql.JSONB(), "postgresql")
BIG_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    op.create_table(
        "outbox",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("chat_id", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("payload", JSON, nullable=False),
        sa.Column("dedupe_key", sa.String(length=255), nullable=False),
        sa.Column(
            "status", sa.String(length=16), server_default=sa.text("'pending'"), nullable=False
        ),
        sa.Column("attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("next_attempt_at", UTC_DATETIME, nullable=False),
        sa.Column("claimed_until", UTC_DATETIME, nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.Column("sent_at", UTC_DATETIME, nullable=True),
        sa.CheckConstraint(
            "kind IN ('alert', 'edit', 'reply', 'digest', 'notice')", name=op.f("ck_outbox_kind")
        ),
        sa.CheckConstraint(
            "status IN ('pending', 'sending', 'sent', 'failed', 'dead')",
            name=op.f("ck_outbox_status"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_outbox")),
        sa.UniqueConstraint("dedupe_key", name=op.f("uq_outbox_dedupe_key")),
    )
    op.create_index(op.f("ix_outbox_chat_id"), "outbox", ["chat_id"], unique=False)
    op.create_index("ix_outbox_ready", "outbox", ["status", "next_attempt_at"], unique=False)

    op.create_table(
        "sources",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("url", sa.String(length=2048), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("language", sa.String(length=8), nullable=True),
        sa.Column("interval_seconds", sa.Integer(), nullable=True),
        sa.Column("enabled", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("etag", sa.String(length=512), nullable=True),
        sa.Column("last_modified", sa.String(length=128), nullable=True),
        sa.Column("content_hash", sa.String(length=128), nullable=True),
        sa.Column("next_poll_at", UTC_DATETIME, nullable=False),
        sa.Column(
            "consecutive_failures", sa.Integer(), server_default=sa.text("0"), nullable=False
        ),
        sa.Column("last_success_at", UTC_DATETIME, nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("last_error_at", UTC_DATETIME, nullable=True),
        sa.Column("lease_owner", sa.String(length=128), nullable=True),
        sa.Column("lease_until", UTC_DATETIME, nullable=True),
        sa.Column("added_by", sa.BigInteger(), nullable=True),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_sources")),
        sa.UniqueConstraint("url", name=op.f("uq_sources_url")),
    )
    op.create_index("ix_sources_due", "sources", ["enabled", "next_poll_at"], unique=False)

    op.create_table(
        "stories",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("first_published_at", UTC_DATETIME, nullable=False),
        sa.Column("last_published_at", UTC_DATETIME, nullable=False),
        sa.Column("facts", JSON, nullable=False),
        sa.Column("updated_at", UTC_DATETIME, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stories")),
    )
    op.create_index(
        op.f("ix_stories_last_published_at"), "stories", ["last_published_at"], unique=False
    )

    op.create_table(
        "subscribers",
        sa.Column("chat_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("language", sa.String(length=8), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("digest_enabled", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("digest_time", sa.Time(), nullable=False),
        sa.Column("quiet_start", sa.Time(), nullable=True),
        sa.Column("quiet_end", sa.Time(), nullable=True),
        sa.Column("active", sa.Boolean(), server_default=sa.true(), nullable=False),
        sa.Column("paused", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.Column("last_digest_on", sa.Date(), nullable=True),
        sa.CheckConstraint(
            "kind IN ('private', 'group', 'supergroup', 'channel')",
            name=op.f("ck_subscribers_kind"),
        ),
        sa.PrimaryKeyConstraint("chat_id", name=op.f("pk_subscribers")),
    )
    op.create_index(
        "ix_subscribers_digest", "subscribers", ["active", "digest_enabled"], unique=False
    )

    op.create_table(
        "alerts",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("chat_id", sa.BigInteger(), nullable=False),
        sa.Column("story_id", sa.String(length=64), nullable=False),
        sa.Column("message_id", sa.BigInteger(), nullable=True),
        sa.Column("fingerprint", sa.String(length=64), nullable=False),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.Column("sent_at", UTC_DATETIME, nullable=True),
        sa.ForeignKeyConstraint(
            ["chat_id"],
            ["subscribers.chat_id"],
            name=op.f("fk_alerts_chat_id_subscribers"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["story_id"],
            ["stories.id"],
            name=op.f("fk_alerts_story_id_stories"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alerts")),
        sa.UniqueConstraint("chat_id", "story_id", name=op.f("uq_alerts_chat_id_story_id")),
    )
    op.create_index(op.f("ix_alerts_story_id"), "alerts", ["story_id"], unique=False)

    op.create_table(
        "items",
        sa.Column("id", BIG_ID, nullable=False),
        sa.Column("source_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=1024), nullable=False),
        sa.Column("title", sa.Text(), nullable=False),
        sa.Column("summary", sa.Text(), nullable=False),
        sa.Column("link", sa.Text(), nullable=True),
        sa.Column("published_at", UTC_DATETIME, nullable=False),
        sa.Column("language", sa.String(length=8), nullable=True),
        sa.Column("signals", JSON, nullable=True),
        sa.Column("story_id", sa.String(length=64), nullable=True),
        sa.Column("fetched_at", UTC_DATETIME, nullable=False),
        sa.ForeignKeyConstraint(
            ["source_id"],
            ["sources.id"],
            name=op.f("fk_items_source_id_sources"),
            ondelete="CASCADE",
        ),
        sa.ForeignKeyConstraint(
            ["story_id"],
            ["stories.id"],
            name=op.f("fk_items_story_id_stories"),
            ondelete="SET NULL",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_items")),
        sa.UniqueConstraint("source_id", "key", name=op.f("uq_items_source_id_key")),
    )
    op.create_index(op.f("ix_items_published_at"), "items", ["published_at"], unique=False)
    op.create_index(op.f("ix_items_story_id"), "items", ["story_id"], unique=False)

    op.create_table(
        "rules",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("chat_id", sa.BigInteger(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("rule", JSON, nullable=False),
        sa.Column("delivery", sa.String(length=16), nullable=False),
        sa.Column("paused", sa.Boolean(), server_default=sa.false(), nullable=False),
        sa.Column("created_at", UTC_DATETIME, nullable=False),
        sa.CheckConstraint(
            "delivery IN ('instant', 'digest', 'both')", name=op.f("ck_rules_delivery")
        ),
        sa.ForeignKeyConstraint(
            ["chat_id"],
            ["subscribers.chat_id"],
            name=op.f("fk_rules_chat_id_subscribers"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_rules")),
    )
    op.create_index(op.f("ix_rules_chat_id"), "rules", ["chat_id"], unique=False)


def downgrade() -> None:
    op.drop_index(op.f("ix_rules_chat_id"), table_name="rules")

    op.drop_table("rules")
    op.drop_index(op.f("ix_items_story_id"), table_name="items")
    op.drop_index(op.f("ix_items_published_at"), table_name="items")

    op.drop_table("items")
    op.drop_index(op.f("ix_alerts_story_id"), table_name="alerts")

    op.drop_table("alerts")
    op.drop_index("ix_subscribers_digest", table_name="subscribers")

    op.drop_table("subscribers")
    op.drop_index(op.f("ix_stories_last_published_at"), table_name="stories")

    op.drop_table("stories")
    op.drop_index("ix_sources_due", table_name="sources")

    op.drop_table("sources")
    op.drop_index("ix_outbox_ready", table_name="outbox")
    op.drop_index(op.f("ix_outbox_chat_id"), table_name="outbox")

    op.drop_table("outbox")
