"""Alerts sent: at most one per (chat, story), with the facts fingerprint for escalations."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.storage.db import KEEP, Keep, chunked, insert_for, utc_now
from bot.storage.tables import AlertRow

_COLUMNS = tuple(AlertRow.__table__.c)


@dataclass(frozen=True, slots=True)
class Alert:
    id: int
    chat_id: int
    story_id: str
    message_id: int | None
    fingerprint: str
    created_at: datetime
    sent_at: datetime | None


def _stored(mapping: Mapping[Any, Any]) -> Alert:
    return Alert(**mapping)


async def record_alert(
    session: AsyncSession,
    *,
    chat_id: int,
    story_id: str,
    fingerprint: str,
    now: datetime | None = None,
) -> bool:
    """Claim the one alert of this chat for this story; False when it was already claimed.

    Queue the outbox message in the same transaction, so either both exist or neither.
    """
    insert = insert_for(session)
    result = await session.execute(
        insert(AlertRow)
        .values(
            chat_id=chat_id, story_id=story_id, fingerprint=fingerprint, created_at=now or utc_now()
        )
        .on_conflict_do_nothing(index_elements=["chat_id", "story_id"])
        .returning(AlertRow.id)
    )
    return result.first() is not None


async def record_alerts(
    session: AsyncSession,
    *,
    story_id: str,
    chat_ids: Sequence[int],
    fingerprint: str,
    now: datetime | None = None,
) -> set[int]:
    """`record_alert` for many chats in a few multi-row INSERTs; returns the chats whose alert
    was claimed now (a chat alerted about the story before is left out).

    Queue their outbox messages (`outbox.enqueue_many`) in the same transaction.
    """
    now = now or utc_now()
    rows = [
        {"chat_id": chat_id, "story_id": story_id, "fingerprint": fingerprint, "created_at": now}
        for chat_id in dict.fromkeys(chat_ids)
    ]
    insert = insert_for(session)
    claimed: set[int] = set()
    for chunk in chunked(rows):
        result = await session.execute(
            insert(AlertRow)
            .values(list(chunk))
            .on_conflict_do_nothing(index_elements=["chat_id", "story_id"])
            .returning(AlertRow.chat_id)
        )
        claimed.update(int(chat_id) for chat_id in result.scalars())
    return claimed


async def get_alert(session: AsyncSession, *, chat_id: int, story_id: str) -> Alert | None:
    stmt = select(*_COLUMNS).where(AlertRow.chat_id == chat_id, AlertRow.story_id == story_id)
    row = (await session.execute(stmt)).first()
    return _stored(row._mapping) if row else None


async def set_fingerprints(
    session: AsyncSession, *, story_id: str, chat_ids: Sequence[int], fingerprint: str
) -> int:
    """Record one escalation of a story for many chats at once; returns the rows changed."""
    changed = 0
    for chunk in chunked(sorted(set(chat_ids))):
        result = await session.execute(
            update(AlertRow)
            .where(AlertRow.story_id == story_id, AlertRow.chat_id.in_(list(chunk)))
            .values(fingerprint=fingerprint)
            .execution_options(synchronize_session=False)
        )
        changed += int(getattr(result, "rowcount", 0) or 0)
    return changed


async def update_alert(
    session: AsyncSession,
    *,
    chat_id: int,
    story_id: str,
    fingerprint: str | Keep = KEEP,
    message_id: int | Keep | None = KEEP,
    sent_at: datetime | Keep | None = KEEP,
) -> bool:
    """Record delivery (Telegram's message id) or an escalation (a new fingerprint)."""
    changes = {
        name: value
        for name, value in (
            ("fingerprint", fingerprint),
            ("message_id", message_id),
            ("sent_at", sent_at),
        )
        if not isinstance(value, Keep)
    }
    if not changes:
        return await get_alert(session, chat_id=chat_id, story_id=story_id) is not None
    result = await session.execute(
        update(AlertRow)
        .where(AlertRow.chat_id == chat_id, AlertRow.story_id == story_id)
        .values(**changes)
        .returning(AlertRow.id)
        .execution_options(synchronize_session=False)
    )
    return result.first() is not None


async def alerts_for_story(session: AsyncSession, *, story_id: str) -> list[Alert]:
    """Every chat alerted about a story (to edit their messages when it escalates)."""
    stmt = select(*_COLUMNS).where(AlertRow.story_id == story_id).order_by(AlertRow.chat_id)
    return [_stored(row._mapping) for row in await session.execute(stmt)]
