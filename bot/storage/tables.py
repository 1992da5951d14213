"""SQLAlchemy 2 declarative models: the schema the Alembic migrations create.

These classes stay inside `bot.storage`; the query modules return frozen dataclasses.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    CheckConstraint,
    Date,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    Time,
    UniqueConstraint,
    false,
    text,
    true,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

# Stable constraint names, so later migrations can refer to them on both engines.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

SUBSCRIBER_KINDS = ("private", "group", "supergroup", "channel")
DELIVERIES = ("instant", "digest", "both")
OUTBOX_KINDS = ("alert", "edit", "reply", "digest", "notice")
OUTBOX_STATUSES = ("pending", "sending", "sent", "failed", "dead")


class UTCDateTime(TypeDecorator[datetime]):
    """Aware UTC datetimes in and out, on both engines.

    SQLite has no time zone type: values are stored as naive UTC text (which sorts and
    compares correctly) and come back with `tzinfo=UTC` attached.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to the database; use aware UTC datetimes")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


# JSONB on PostgreSQL (indexable, compact), JSON text on SQLite.
JSONType = JSON().with_variant(JSONB(), "postgresql")
# SQLite only auto-increments an INTEGER PRIMARY KEY; PostgreSQL gets 64-bit ids.
BigId = BigInteger().with_variant(Integer(), "sqlite")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN ({', '.join(repr(v) for v in values)})"


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        datetime: UTCDateTime(),
        date: Date(),
        time: Time(),
        dict[str, Any]: JSONType,
    }


class SourceRow(Base):
    __tablename__ = "sources"
    __table_args__ = (Index("ix_sources_due", "enabled", "next_poll_at"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    url: Mapped[str] = mapped_column(String(2048), unique=True)
    name: Mapped[str] = mapped_column(String(200))
    language: Mapped[str | None] = mapped_column(String(8))
    interval_seconds: Mapped[int | None] = mapped_column(Integer)
    enabled: Mapped[bool] = mapped_column(Boolean, server_default=true())
    etag: Mapped[str | None] = mapped_column(String(512))
    last_modified: Mapped[str | None] = mapped_column(String(128))
    content_hash: Mapped[str | None] = mapped_column(String(128))
    next_poll_at: Mapped[datetime]
    consecutive_failures: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    last_success_at: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    last_error_at: Mapped[datetime | None]
    lease_owner: Mapped[str | None] = mapped_column(String(128))
    lease_until: Mapped[datetime | None]
    # Chat id of the admin who added the feed; NULL for the built-in catalogue.
    added_by: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime]


class StoryRow(Base):
    __tablename__ = "stories"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    title: Mapped[str] = mapped_column(Text)
    first_published_at: Mapped[datetime]
    last_published_at: Mapped[datetime] = mapped_column(index=True)
    facts: Mapped[dict[str, Any]]
    # Indexed: workers catch up with stories other workers grouped (bot/worker.py).
    updated_at: Mapped[datetime] = mapped_column(index=True)


class ItemRow(Base):
    __tablename__ = "items"
    __table_args__ = (UniqueConstraint("source_id", "key"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    source_id: Mapped[int] = mapped_column(ForeignKey("sources.id", ondelete="CASCADE"))
    key: Mapped[str] = mapped_column(String(1024))
    title: Mapped[str] = mapped_column(Text)
    summary: Mapped[str] = mapped_column(Text)
    link: Mapped[str | None] = mapped_column(Text)
    published_at: Mapped[datetime] = mapped_column(index=True)
    language: Mapped[str | None] = mapped_column(String(8))
    signals: Mapped[dict[str, Any] | None]
    story_id: Mapped[str | None] = mapped_column(
        ForeignKey("stories.id", ondelete="SET NULL"), index=True
    )
    fetched_at: Mapped[datetime]


class SubscriberRow(Base):
    __tablename__ = "subscribers"
    __table_args__ = (
        CheckConstraint(_in("kind", SUBSCRIBER_KINDS), name="kind"),
        Index("ix_subscribers_digest", "active", "digest_enabled"),
    )

    chat_id: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    kind: Mapped[str] = mapped_column(String(16))
    language: Mapped[str] = mapped_column(String(8))
    timezone: Mapped[str] = mapped_column(String(64))
    digest_enabled: Mapped[bool] = mapped_column(Boolean, server_default=true())
    digest_time: Mapped[time]
    quiet_start: Mapped[time | None]
    quiet_end: Mapped[time | None]
    active: Mapped[bool] = mapped_column(Boolean, server_default=true())
    paused: Mapped[bool] = mapped_column(Boolean, server_default=false())
    created_at: Mapped[datetime]
    last_digest_on: Mapped[date | None]


class SetupDraftRow(Base):
    """A chat's unfinished guided setup (/start): stored, not kept in one process's memory, so
    a restart or another web process behind the load balancer carries on where it was
    (migration 0004). Deleted when the setup ends, and with the chat."""

    __tablename__ = "setup_drafts"

    chat_id: Mapped[int] = mapped_column(
        ForeignKey("subscribers.chat_id", ondelete="CASCADE"), primary_key=True
    )
    draft: Mapped[dict[str, Any]]
    updated_at: Mapped[datetime]


class RuleRow(Base):
    __tablename__ = "rules"
    __table_args__ = (CheckConstraint(_in("delivery", DELIVERIES), name="delivery"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    chat_id: Mapped[int] = mapped_column(
        ForeignKey("subscribers.chat_id", ondelete="CASCADE"), index=True
    )
    text: Mapped[str] = mapped_column(Text)
    rule: Mapped[dict[str, Any]]
    delivery: Mapped[str] = mapped_column(String(16))
    paused: Mapped[bool] = mapped_column(Boolean, server_default=false())
    created_at: Mapped[datetime]


class AlertRow(Base):
    __tablename__ = "alerts"
    __table_args__ = (UniqueConstraint("chat_id", "story_id"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    chat_id: Mapped[int] = mapped_column(ForeignKey("subscribers.chat_id", ondelete="CASCADE"))
    story_id: Mapped[str] = mapped_column(ForeignKey("stories.id", ondelete="CASCADE"), index=True)
    # Telegram's id of the sent message, known once the sender delivered it (for edits).
    message_id: Mapped[int | None] = mapped_column(BigInteger)
    # Sent inside one message with other alerts that waited for the chat (bot/delivery/
    # bundles.py): that message is not edited for this story; replies still point at it.
    bundled: Mapped[bool] = mapped_column(Boolean, server_default=false())
    # Hash of the facts last alerted, so an escalation (new facts) can be told apart.
    fingerprint: Mapped[str] = mapped_column(String(64))
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]


class OutboxRow(Base):
    __tablename__ = "outbox"
    __table_args__ = (
        CheckConstraint(_in("kind", OUTBOX_KINDS), name="kind"),
        CheckConstraint(_in("status", OUTBOX_STATUSES), name="status"),
        Index("ix_outbox_ready", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    # Not a foreign key: replies and notices may go to chats that never subscribed.
    chat_id: Mapped[int] = mapped_column(BigInteger, index=True)
    kind: Mapped[str] = mapped_column(String(16))
    payload: Mapped[dict[str, Any]]
    dedupe_key: Mapped[str] = mapped_column(String(255), unique=True)
    status: Mapped[str] = mapped_column(String(16), server_default=text("'pending'"))
    attempts: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    next_attempt_at: Mapped[datetime]
    # While `sending`: when the claim lapses, so rows of a crashed sender come back.
    claimed_until: Mapped[datetime | None]
    last_error: Mapped[str | None] = mapped_column(Text)
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]


class PendingMatchRow(Base):
    """A story saved under the grouping lock whose rule matching (alerts, outbox) is still to
    do: written with the story, deleted by the transaction that queues its alerts, so a
    worker that dies in between leaves it for the others (migration 0003, bot/worker.py)."""

    __tablename__ = "pending_matches"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    story_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("stories.id", ondelete="CASCADE"), index=True
    )
    # The grouping outcome (`rules.grouping.UpdateKind` value), for the escalation reply.
    kind: Mapped[str] = mapped_column(String(16))
    # Whether the item was inside ALERT_WINDOW_HOURS, i.e. may raise new alerts.
    fresh: Mapped[bool] = mapped_column(Boolean)
    created_at: Mapped[datetime]


class RuleChangeRow(Base):
    """A chat whose rules or subscription state changed, written by PostgreSQL triggers
    (migration 0002), so every process can refresh that chat in its rule index."""

    __tablename__ = "rule_changes"

    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    chat_id: Mapped[int] = mapped_column(BigInteger)
    # The writing transaction's id (`pg_current_xact_id()`): a watermark on it never skips a
    # change that commits late (see bot/storage/sync.py).
    xid: Mapped[int] = mapped_column(BigInteger, index=True)
    changed_at: Mapped[datetime]
