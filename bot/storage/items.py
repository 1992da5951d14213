"""Feed items as stored: each (source, key) once, with its extracted signals and its story."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.storage.db import chunked, insert_for, utc_now
from bot.storage.tables import ItemRow, SourceRow
from feeds.models import Category, Item, PlaceMention, Severity, Signals

_COLUMNS = tuple(ItemRow.__table__.c)


@dataclass(frozen=True, slots=True)
class StoredItem:
    id: int
    source_id: int
    key: str
    title: str
    summary: str
    link: str | None
    published_at: datetime
    language: str | None
    signals: Signals | None
    story_id: str | None
    fetched_at: datetime

    def to_item(self, *, source_url: str = "", source_name: str = "") -> Item:
        return Item(
            key=self.key,
            title=self.title,
            summary=self.summary,
            link=self.link,
            published=self.published_at,
            language=self.language,
            source_url=source_url,
            source_name=source_name,
        )


def signals_to_json(signals: Signals) -> dict[str, Any]:
    return {
        "categories": sorted(c.value for c in signals.categories),
        "temperatures_c": list(signals.temperatures_c),
        "places": [
            {"place_id": p.place_id, "oblast": p.oblast, "name": p.name, "surface": p.surface}
            for p in signals.places
        ],
        "affected": signals.affected,
        "affected_lower_bound": signals.affected_lower_bound,
        "language": signals.language,
        "severity": int(signals.severity),
        "notes": list(signals.notes),
    }


def signals_from_json(data: Mapping[str, Any]) -> Signals:
    # Unknown category names (from a newer version) are dropped rather than failing a read.
    known = {c.value for c in Category}
    return Signals(
        categories=frozenset(Category(c) for c in data.get("categories", ()) if c in known),
        temperatures_c=tuple(float(t) for t in data.get("temperatures_c", ())),
        places=tuple(
            PlaceMention(
                place_id=p["place_id"],
                oblast=p["oblast"],
                name=p.get("name", ""),
                surface=p.get("surface", ""),
            )
            for p in data.get("places", ())
        ),
        affected=data.get("affected"),
        affected_lower_bound=data.get("affected_lower_bound"),
        language=data.get("language", "en"),
        severity=Severity(int(data.get("severity", 0))),
        notes=tuple(data.get("notes", ())),
    )


def _stored(mapping: Mapping[Any, Any]) -> StoredItem:
    values = dict(mapping)
    raw = values.pop("signals")
    return StoredItem(**values, signals=signals_from_json(raw) if raw is not None else None)


async def add_items(
    session: AsyncSession,
    *,
    source_id: int,
    items: Sequence[Item],
    signals: Mapping[str, Signals] | None = None,
    fetched_at: datetime | None = None,
) -> list[StoredItem]:
    """Store the items not seen before for this source; returns the new ones, in input order.

    `signals` maps an item key to its extracted facts. Safe against a concurrent poller
    storing the same items: the unique (source_id, key) decides, nothing is duplicated.
    """
    fetched_at = fetched_at or utc_now()
    signals = signals or {}
    unique: dict[str, Item] = {}
    for item in items:
        unique.setdefault(item.key, item)
    if not unique:
        return []
    insert = insert_for(session)
    new: dict[str, StoredItem] = {}
    for chunk in chunked(list(unique.values())):
        stmt = (
            insert(ItemRow)
            .values(
                [
                    {
                        "source_id": source_id,
                        "key": item.key,
                        "title": item.title,
                        "summary": item.summary,
                        "link": item.link,
                        "published_at": item.published,
                        "language": item.language,
                        "signals": signals_to_json(signals[item.key])
                        if item.key in signals
                        else None,
                        "fetched_at": fetched_at,
                    }
                    for item in chunk
                ]
            )
            .on_conflict_do_nothing(index_elements=["source_id", "key"])
            .returning(*_COLUMNS)
        )
        new.update({row.key: _stored(row._mapping) for row in await session.execute(stmt)})
    return [new[key] for key in unique if key in new]


async def get_item(session: AsyncSession, *, item_id: int) -> StoredItem | None:
    row = (await session.execute(select(*_COLUMNS).where(ItemRow.id == item_id))).first()
    return _stored(row._mapping) if row else None


async def set_item_signals(session: AsyncSession, *, item_id: int, signals: Signals) -> None:
    await session.execute(
        update(ItemRow)
        .where(ItemRow.id == item_id)
        .values(signals=signals_to_json(signals))
        .execution_options(synchronize_session=False)
    )


async def assign_story(session: AsyncSession, *, item_ids: Sequence[int], story_id: str) -> None:
    """Attach items to a story (the story row must exist)."""
    if not item_ids:
        return
    await session.execute(
        update(ItemRow)
        .where(ItemRow.id.in_(list(item_ids)))
        .values(story_id=story_id)
        .execution_options(synchronize_session=False)
    )


async def items_for_story(session: AsyncSession, *, story_id: str) -> list[StoredItem]:
    stmt = (
        select(*_COLUMNS)
        .where(ItemRow.story_id == story_id)
        .order_by(ItemRow.published_at, ItemRow.id)
    )
    return [_stored(row._mapping) for row in await session.execute(stmt)]


async def recent_items(
    session: AsyncSession, *, since: datetime, limit: int | None = None
) -> list[StoredItem]:
    """Items published at or after `since`, oldest first (what story grouping reconsiders)."""
    stmt = (
        select(*_COLUMNS)
        .where(ItemRow.published_at >= since)
        .order_by(ItemRow.published_at, ItemRow.id)
    )
    if limit is not None:
        stmt = stmt.limit(limit)
    return [_stored(row._mapping) for row in await session.execute(stmt)]


async def left_ungrouped(
    session: AsyncSession, *, published_after: datetime, fetched_before: datetime, limit: int
) -> list[tuple[StoredItem, str, str]]:
    """Items published after `published_after` and fetched before `fetched_before` that
    belong to no story, oldest news first, each with its source's URL and name: a poll stored
    them, and their grouping never happened. (Items whose story was deleted have none either:
    they are older than any grouping window.)"""
    stmt = (
        select(*_COLUMNS, SourceRow.url.label("source_url"), SourceRow.name.label("source_name"))
        .join(SourceRow, SourceRow.id == ItemRow.source_id)
        .where(
            ItemRow.story_id.is_(None),
            ItemRow.published_at > published_after,
            ItemRow.fetched_at <= fetched_before,
        )
        .order_by(ItemRow.published_at, ItemRow.id)
        .limit(limit)
    )
    found = []
    for row in await session.execute(stmt):
        values = dict(row._mapping)
        url, name = values.pop("source_url"), values.pop("source_name")
        found.append((_stored(values), url, name))
    return found


async def still_ungrouped(session: AsyncSession, *, item_ids: Sequence[int]) -> set[int]:
    """Which of these items belong to no story yet (under the grouping lock: none will)."""
    if not item_ids:
        return set()
    stmt = select(ItemRow.id).where(ItemRow.id.in_(list(item_ids)), ItemRow.story_id.is_(None))
    return set((await session.execute(stmt)).scalars())


async def delete_items_before(session: AsyncSession, *, before: datetime) -> int:
    """Prune items published and fetched before `before` that belong to no story (run after
    `stories.delete_stories_before`, whose stories' items it thereby takes too); returns how
    many. Items of stories still kept stay with them."""
    result = await session.execute(
        delete(ItemRow)
        .where(
            ItemRow.story_id.is_(None),
            ItemRow.published_at < before,
            ItemRow.fetched_at < before,
        )
        .returning(ItemRow.id)
        .execution_options(synchronize_session=False)
    )
    return len(result.all())
