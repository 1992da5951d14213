"""Change watermarks that let several processes keep in-memory state current: which chats'
rules changed (the `rule_changes` log, PostgreSQL only), and which stories other workers saved.

Rule changes are read against a transaction-id watermark: a reader notes its snapshot's
`xmin` (every transaction below it has finished) before reading the log, and next time reads
every row whose writer's id is at or above that `xmin`. A change whose transaction was still
running at the first read is therefore read the next time; rows may be seen twice, which
refreshing a chat tolerates. A plain "id > last id" would skip a row that commits late.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from bot.storage.db import dialect_name, utc_now

# The row-to-Story conversion of the stories module (same package).
from bot.storage.stories import _story
from bot.storage.tables import RuleChangeRow, StoryRow
from rules.models import Story


@dataclass(frozen=True, slots=True)
class RuleChanges:
    """Chats whose rules changed since the last read, and the watermark for the next read."""

    chat_ids: frozenset[int]
    next_floor: int


async def rule_change_floor(session: AsyncSession) -> int:
    """The watermark to start from: read it before loading the whole rule index."""
    if dialect_name(session) != "postgresql":
        return 0
    result = await session.execute(
        text("SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint")
    )
    return int(result.scalar_one())


async def rule_changes_since(session: AsyncSession, *, floor: int) -> RuleChanges:
    """Chats changed by transactions with id >= `floor` (visible now); PostgreSQL only."""
    if dialect_name(session) != "postgresql":
        return RuleChanges(frozenset(), floor)
    # The watermark first: a transaction below it has finished, so the read below sees it.
    next_floor = await rule_change_floor(session)
    rows = await session.execute(
        select(RuleChangeRow.chat_id).where(RuleChangeRow.xid >= floor).distinct()
    )
    return RuleChanges(frozenset(int(c) for (c,) in rows), max(floor, next_floor))


async def purge_rule_changes(session: AsyncSession, *, before: datetime) -> int:
    """Drop log rows older than `before` (readers that fell further behind reload everything)."""
    result = await session.execute(
        delete(RuleChangeRow)
        .where(RuleChangeRow.changed_at < before)
        .returning(RuleChangeRow.id)
        .execution_options(synchronize_session=False)
    )
    return len(result.all())


async def database_clock(session: AsyncSession) -> datetime:
    """The database server's clock (one clock for every worker, unlike the machines')."""
    if dialect_name(session) != "postgresql":
        return utc_now()
    value: datetime = (await session.execute(text("SELECT clock_timestamp()"))).scalar_one()
    return value


async def stories_updated_since(
    session: AsyncSession, *, since: datetime, last_published_after: datetime
) -> list[Story]:
    """Stories saved after `since` with news after `last_published_after` (still groupable)."""
    stmt = (
        select(*StoryRow.__table__.c)
        .where(StoryRow.updated_at > since, StoryRow.last_published_at >= last_published_after)
        .order_by(StoryRow.updated_at, StoryRow.id)
    )
    return [_story(row._mapping) for row in await session.execute(stmt)]
