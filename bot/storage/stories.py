"""Stories as stored: one row per event, its merged facts kept as JSON."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, literal, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from bot.storage.db import insert_for, utc_now
from bot.storage.errors import StorageError
from bot.storage.tables import PendingMatchRow, StoryRow
from rules.models import Story
from rules.story_facts import StoryDataError, story_from_dict, story_to_dict

_COLUMNS = tuple(StoryRow.__table__.c)


# Kept in their own columns (sorting, pruning); the rest of the story is the `facts` JSON.
_COLUMN_FIELDS = ("id", "title", "first_published", "last_published")


def story_facts_to_json(story: Story) -> dict[str, Any]:
    """The story's facts as stored: `rules.story_facts`' plain form minus the column fields."""
    data = story_to_dict(story)
    for name in _COLUMN_FIELDS:
        data.pop(name, None)
    return data


def _story(mapping: Mapping[Any, Any]) -> Story:
    data = dict(mapping["facts"])
    data.update(
        id=mapping["id"],
        title=mapping["title"],
        first_published=mapping["first_published_at"].isoformat(),
        last_published=mapping["last_published_at"].isoformat(),
    )
    try:
        return story_from_dict(data)
    except StoryDataError as exc:
        raise StorageError(f"story {mapping['id']!r} cannot be read back: {exc}") from exc


async def save_story(session: AsyncSession, *, story: Story, now: datetime | None = None) -> None:
    """Insert the story, or replace its title, times and facts when it exists."""
    now = now or utc_now()
    insert = insert_for(session)
    stmt = insert(StoryRow).values(
        id=story.id,
        title=story.title,
        first_published_at=story.first_published,
        last_published_at=story.last_published,
        facts=story_facts_to_json(story),
        updated_at=now,
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=["id"],
        set_={
            "title": stmt.excluded.title,
            "first_published_at": stmt.excluded.first_published_at,
            "last_published_at": stmt.excluded.last_published_at,
            "facts": stmt.excluded.facts,
            "updated_at": stmt.excluded.updated_at,
        },
    )
    await session.execute(stmt)


async def get_story(session: AsyncSession, *, story_id: str) -> Story | None:
    row = (await session.execute(select(*_COLUMNS).where(StoryRow.id == story_id))).first()
    return _story(row._mapping) if row else None


async def stories_since(session: AsyncSession, *, since: datetime) -> list[Story]:
    """Stories with news at or after `since`, oldest first (digests, regrouping)."""
    stmt = (
        select(*_COLUMNS)
        .where(StoryRow.last_published_at >= since)
        .order_by(StoryRow.last_published_at, StoryRow.id)
    )
    return [_story(row._mapping) for row in await session.execute(stmt)]


async def delete_stories_before(session: AsyncSession, *, before: datetime) -> int:
    """Prune stories with no news since `before`; their alerts go too, items keep no story."""
    result = await session.execute(
        delete(StoryRow)
        .where(StoryRow.last_published_at < before)
        .returning(StoryRow.id)
        .execution_options(synchronize_session=False)
    )
    return len(result.all())


# The `pending_matches.kind` of a story marked because a rule was added (not a story update).
RULE_ADDED = "rule_added"


async def mark_recent_for_matching(
    session: AsyncSession, *, since: datetime, now: datetime | None = None
) -> int:
    """Mark every story with news since `since` for matching again, as fresh news (a new rule
    should hear of what is going on right now); returns how many were marked. Matching is
    idempotent for chats already alerted (their alert's fingerprint is unchanged), so only
    the chats of the new rule get a first alert."""
    now = now or utc_now()
    already = (
        select(PendingMatchRow.id)
        .where(PendingMatchRow.story_id == StoryRow.id, PendingMatchRow.kind == RULE_ADDED)
        .exists()
    )
    # A chat adding five rules at once (the guided setup) marks each story once.
    recent = select(
        StoryRow.id, literal(RULE_ADDED), true(), literal(now, type_=StoryRow.updated_at.type)
    ).where(StoryRow.last_published_at >= since, ~already)
    result = await session.execute(
        insert(PendingMatchRow)
        .from_select(["story_id", "kind", "fresh", "created_at"], recent)
        .returning(PendingMatchRow.id)
    )
    return len(result.all())
