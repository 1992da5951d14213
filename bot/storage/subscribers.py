"""Chats that talk to the bot: language, time zone, digest and quiet hours, and their lifecycle.

`deactivate_subscriber` keeps a chat's rules (it blocked the bot, it may come back);
`forget_subscriber` deletes everything of the chat (the user asked us to).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from sqlalchemy import delete, select, true, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.storage.db import KEEP, Keep, insert_for, utc_now
from bot.storage.tables import SUBSCRIBER_KINDS, OutboxRow, SubscriberRow

_COLUMNS = tuple(SubscriberRow.__table__.c)


@dataclass(frozen=True, slots=True)
class Subscriber:
    chat_id: int
    kind: str
    language: str
    timezone: str
    digest_enabled: bool
    digest_time: time
    quiet_start: time | None
    quiet_end: time | None
    active: bool
    paused: bool
    created_at: datetime
    last_digest_on: date | None

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)

    def in_quiet_hours(self, now: datetime) -> bool:
        """True when `now` falls in the chat's quiet hours (which may span midnight)."""
        if self.quiet_start is None or self.quiet_end is None:
            return False
        local = now.astimezone(self.zone).time().replace(tzinfo=None)
        start, end = self.quiet_start, self.quiet_end
        if start <= end:
            return start <= local < end
        return local >= start or local < end

    def digest_due(self, now: datetime) -> bool:
        """True when today's digest (local time) is due and not yet sent."""
        if not (self.active and self.digest_enabled and not self.paused):
            return False
        local = now.astimezone(self.zone)
        return local.time().replace(tzinfo=None) >= self.digest_time and (
            self.last_digest_on is None or self.last_digest_on < local.date()
        )


def _stored(mapping: Mapping[Any, Any]) -> Subscriber:
    return Subscriber(**mapping)


def _check_kind(kind: str) -> None:
    if kind not in SUBSCRIBER_KINDS:
        raise ValueError(f"unknown chat kind {kind!r}; expected one of {SUBSCRIBER_KINDS}")


def _check_timezone(name: str) -> None:
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name!r}") from None


async def upsert_subscriber(
    session: AsyncSession,
    *,
    chat_id: int,
    kind: str,
    language: str,
    timezone: str,
    digest_time: time,
    now: datetime | None = None,
) -> Subscriber:
    """Register a chat, or reactivate a known one keeping its preferences (e.g. on /start)."""
    _check_kind(kind)
    _check_timezone(timezone)
    now = now or utc_now()
    insert = insert_for(session)
    stmt = insert(SubscriberRow).values(
        chat_id=chat_id,
        kind=kind,
        language=language,
        timezone=timezone,
        digest_time=digest_time,
        created_at=now,
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=["chat_id"],
        set_={"active": true(), "kind": stmt.excluded.kind},
    ).returning(*_COLUMNS)
    return _stored((await session.execute(stmt)).one()._mapping)


async def get_subscriber(session: AsyncSession, *, chat_id: int) -> Subscriber | None:
    stmt = select(*_COLUMNS).where(SubscriberRow.chat_id == chat_id)
    row = (await session.execute(stmt)).first()
    return _stored(row._mapping) if row else None


async def update_subscriber(
    session: AsyncSession,
    *,
    chat_id: int,
    kind: str | Keep = KEEP,
    language: str | Keep = KEEP,
    timezone: str | Keep = KEEP,
    digest_enabled: bool | Keep = KEEP,
    digest_time: time | Keep = KEEP,
    quiet_start: time | Keep | None = KEEP,
    quiet_end: time | Keep | None = KEEP,
    paused: bool | Keep = KEEP,
    active: bool | Keep = KEEP,
) -> Subscriber | None:
    """Change the given preferences; returns the updated chat, None when it is unknown."""
    if not isinstance(kind, Keep):
        _check_kind(kind)
    if not isinstance(timezone, Keep):
        _check_timezone(timezone)
    changes = {
        name: value
        for name, value in (
            ("kind", kind),
            ("language", language),
            ("timezone", timezone),
            ("digest_enabled", digest_enabled),
            ("digest_time", digest_time),
            ("quiet_start", quiet_start),
            ("quiet_end", quiet_end),
            ("paused", paused),
            ("active", active),
        )
        if not isinstance(value, Keep)
    }
    if not changes:
        return await get_subscriber(session, chat_id=chat_id)
    stmt = (
        update(SubscriberRow)
        .where(SubscriberRow.chat_id == chat_id)
        .values(**changes)
        .returning(*_COLUMNS)
        .execution_options(synchronize_session=False)
    )
    row = (await session.execute(stmt)).first()
    return _stored(row._mapping) if row else None


async def deactivate_subscriber(session: AsyncSession, *, chat_id: int) -> bool:
    """Stop sending to a chat (it blocked the bot or left); its rules are kept."""
    result = await session.execute(
        update(SubscriberRow)
        .where(SubscriberRow.chat_id == chat_id)
        .values(active=False)
        .returning(SubscriberRow.chat_id)
        .execution_options(synchronize_session=False)
    )
    return result.first() is not None


async def forget_subscriber(session: AsyncSession, *, chat_id: int) -> bool:
    """Delete everything of a chat: the chat, its rules, its alerts and its queued messages.

    Rules and alerts go by ON DELETE CASCADE; outbox rows are not tied to subscribers
    (replies may go to chats that never subscribed), so they are deleted here.
    """
    await session.execute(
        delete(OutboxRow)
        .where(OutboxRow.chat_id == chat_id)
        .execution_options(synchronize_session=False)
    )
    result = await session.execute(
        delete(SubscriberRow)
        .where(SubscriberRow.chat_id == chat_id)
        .returning(SubscriberRow.chat_id)
        .execution_options(synchronize_session=False)
    )
    return result.first() is not None


async def active_subscribers(session: AsyncSession) -> list[Subscriber]:
    stmt = select(*_COLUMNS).where(SubscriberRow.active.is_(True)).order_by(SubscriberRow.chat_id)
    return [_stored(row._mapping) for row in await session.execute(stmt)]


async def subscribers_due_for_digest(session: AsyncSession, *, now: datetime) -> list[Subscriber]:
    """Active chats whose local digest time has passed today and that have no digest yet."""
    stmt = (
        select(*_COLUMNS)
        .where(
            SubscriberRow.active.is_(True),
            SubscriberRow.digest_enabled.is_(True),
            SubscriberRow.paused.is_(False),
        )
        .order_by(SubscriberRow.chat_id)
    )
    # Local time differs per chat, so the final test runs here rather than in SQL.
    chats = [_stored(row._mapping) for row in await session.execute(stmt)]
    return [chat for chat in chats if chat.digest_due(now)]


async def mark_digest_sent(session: AsyncSession, *, chat_id: int, on: date) -> None:
    """Record the local date of the digest just queued, so it is not queued twice."""
    await session.execute(
        update(SubscriberRow)
        .where(SubscriberRow.chat_id == chat_id)
        .values(last_digest_on=on)
        .execution_options(synchronize_session=False)
    )
