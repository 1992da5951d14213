"""Items: stored once per (source, key), signals and times round-trip, stories attach."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import update
from sqlalchemy.exc import StatementError
from sqlalchemy.ext.asyncio import AsyncSession

from bot.storage import items, sources, stories
from bot.storage.tables import ItemRow
from feeds.models import Category, PlaceMention, Severity, Signals
from rules.models import Story
from tests.bot.storage.factories import NOW, item, source

SIGNALS = Signals(
    categories=frozenset({Category.POWER_OUTAGE, Category.COLD}),
    temperatures_c=(-18.0, -21.5),
    places=(PlaceMention(place_id="UA80", oblast="UA80", name="Kyiv", surface="Києві"),),
    affected=120000,
    affected_lower_bound=None,
    language="uk",
    severity=Severity.HIGH,
    notes=("schedule",),
)


async def _source_id(session: AsyncSession) -> int:
    ids = await sources.upsert_sources(session, sources=[source(1)], now=NOW)
    return ids[source(1).url]


async def test_add_items_stores_only_new_ones(session: AsyncSession) -> None:
    sid = await _source_id(session)
    first = await items.add_items(
        session, source_id=sid, items=[item("a"), item("b"), item("a")], fetched_at=NOW
    )
    await session.commit()
    assert [i.key for i in first] == ["a", "b"]
    second = await items.add_items(
        session, source_id=sid, items=[item("b"), item("c"), item("a")], fetched_at=NOW
    )
    await session.commit()
    assert [i.key for i in second] == ["c"]
    assert len(await items.recent_items(session, since=NOW - timedelta(days=1))) == 3
    assert await items.add_items(session, source_id=sid, items=[]) == []


async def test_same_key_from_another_source_is_another_item(session: AsyncSession) -> None:
    ids = await sources.upsert_sources(session, sources=[source(1), source(2)], now=NOW)
    for sid in ids.values():
        assert [
            i.key for i in await items.add_items(session, source_id=sid, items=[item("a")])
        ] == ["a"]


async def test_item_round_trip_with_signals_and_aware_times(session: AsyncSession) -> None:
    sid = await _source_id(session)
    kyiv_time = datetime(2026, 1, 15, 10, 30, tzinfo=timezone(timedelta(hours=2)))
    entry = item("x", title="Без світла у Києві")
    entry = entry.__class__(
        **{**{f: getattr(entry, f) for f in entry.__slots__}, "published": kyiv_time}
    )
    (new,) = await items.add_items(
        session, source_id=sid, items=[entry], signals={"x": SIGNALS}, fetched_at=NOW
    )
    await session.commit()
    stored = await items.get_item(session, item_id=new.id)
    assert stored is not None
    assert stored.signals == SIGNALS
    assert stored.published_at == kyiv_time and stored.published_at.tzinfo == UTC
    assert stored.title == "Без світла у Києві" and stored.fetched_at == NOW
    assert stored.to_item(source_name="Feed 1").published == kyiv_time

    await items.set_item_signals(session, item_id=new.id, signals=Signals(language="en"))
    await session.commit()
    updated = await items.get_item(session, item_id=new.id)
    assert updated is not None and updated.signals == Signals(language="en")


async def test_naive_datetimes_are_refused(session: AsyncSession) -> None:
    sid = await _source_id(session)
    naive = replace(item("n"), published=datetime(2026, 1, 1))
    with pytest.raises(StatementError, match="naive datetime"):
        await items.add_items(session, source_id=sid, items=[naive])


async def test_items_attach_to_a_story(session: AsyncSession) -> None:
    sid = await _source_id(session)
    new = await items.add_items(session, source_id=sid, items=[item("a"), item("b"), item("c")])
    story = Story(id="s1", title="Outage", first_published=NOW, last_published=NOW)
    await stories.save_story(session, story=story, now=NOW)
    await items.assign_story(session, item_ids=[new[0].id, new[2].id], story_id="s1")
    await session.commit()
    assert [i.key for i in await items.items_for_story(session, story_id="s1")] == ["a", "c"]


async def test_old_items_without_a_story_are_pruned_and_the_others_kept(
    session: AsyncSession,
) -> None:
    sid = await _source_id(session)
    month = 60 * 24 * 30
    old_alone, old_in_story, old_fetched_now, recent = await items.add_items(
        session,
        source_id=sid,
        items=[
            item("old-alone", minutes_ago=month),
            item("old-in-story", minutes_ago=month),
            item("old-fetched-now", minutes_ago=month),
            item("recent"),
        ],
        fetched_at=NOW - timedelta(days=30),
    )
    # A feed that still shows a month-old item: it was first fetched now, and is kept (else
    # the next poll would store it again as new).
    await session.execute(
        update(ItemRow).where(ItemRow.id == old_fetched_now.id).values(fetched_at=NOW)
    )
    story = Story(id="long", title="Outage", first_published=NOW, last_published=NOW)
    await stories.save_story(session, story=story, now=NOW)
    await items.assign_story(session, item_ids=[old_in_story.id], story_id="long")
    await session.commit()

    assert await items.delete_items_before(session, before=NOW - timedelta(days=14)) == 1
    await session.commit()
    assert await items.get_item(session, item_id=old_alone.id) is None
    for kept in (old_in_story, old_fetched_now, recent):
        assert await items.get_item(session, item_id=kept.id) is not None


async def test_large_batch_is_chunked(session: AsyncSession) -> None:
    sid = await _source_id(session)
    batch = [item(f"k{i}") for i in range(600)]  # more than one INSERT chunk
    assert len(await items.add_items(session, source_id=sid, items=batch)) == 600
    assert len(await items.add_items(session, source_id=sid, items=batch)) == 0
