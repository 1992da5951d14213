"""Unfinished guided setups (/start), one per chat, as plain JSON.

The draft's shape belongs to `bot.handlers.start`; here it is an opaque dict. A draft not
touched for `DRAFT_LIFETIME` is stale: the person walked away, and the buttons of a week-old
message should not quietly add rules.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.storage.db import insert_for, utc_now
from bot.storage.tables import SetupDraftRow

DRAFT_LIFETIME = timedelta(days=2)


async def load_draft(
    session: AsyncSession, *, chat_id: int, now: datetime | None = None
) -> dict[str, Any] | None:
    """The chat's draft, or None when it has none or only a stale one."""
    row = (
        await session.execute(
            select(SetupDraftRow.draft, SetupDraftRow.updated_at).where(
                SetupDraftRow.chat_id == chat_id
            )
        )
    ).first()
    if row is None or row.updated_at < (now or utc_now()) - DRAFT_LIFETIME:
        return None
    return dict(row.draft)


async def save_draft(
    session: AsyncSession, *, chat_id: int, draft: dict[str, Any], now: datetime | None = None
) -> None:
    """Store (or replace) the chat's draft. The chat must exist (it is a subscriber)."""
    when = now or utc_now()
    stmt = insert_for(session)(SetupDraftRow).values(chat_id=chat_id, draft=draft, updated_at=when)
    stmt = stmt.on_conflict_do_update(
        index_elements=[SetupDraftRow.chat_id], set_={"draft": draft, "updated_at": when}
    )
    await session.execute(stmt)


async def delete_draft(session: AsyncSession, *, chat_id: int) -> bool:
    result = await session.execute(
        delete(SetupDraftRow)
        .where(SetupDraftRow.chat_id == chat_id)
        .returning(SetupDraftRow.chat_id)
        .execution_options(synchronize_session=False)
    )
    return result.first() is not None
