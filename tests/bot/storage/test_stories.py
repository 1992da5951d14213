"""Stories: upsert round trip of every fact, windows, pruning with its cascades."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from bot.storage import alerts, items, sources, stories
from feeds.models import Category, Severity
from rules.models import Story
from tests.bot.storage.factories import NOW, item, make_subscriber, source

STORY = Story(
    id="st-1",
    title="Київ: −21 °C і відключення",
    first_published=NOW - timedelta(hours=2),
    last_published=NOW,
    categories=frozenset({Category.COLD, Category.POWER_OUTAGE}),
    place_ids=frozenset({"UA80", "UA6312027001"}),
    temperatures_c=(-18.0, -21.0),
    affected=5000,
    severity=Severity.CRITICAL,
    sources=("Укрінформ", "Kyiv Independent"),
    text="Київ: −21 °C",
    link="https://news.example/1",
    resolved=False,
)


async def test_save_and_read_back_every_fact(session: AsyncSession) -> None:
    await stories.save_story(session, story=STORY, now=NOW)
    await session.commit()
    assert await stories.get_story(session, story_id="st-1") == STORY
    assert await stories.get_story(session, story_id="nope") is None


async def test_save_again_replaces_the_facts(session: AsyncSession) -> None:
    await stories.save_story(session, story=STORY, now=NOW)
    resolved = replace(STORY, resolved=True, affected=9000, changes=("affected: 5000 -> 9000",))
    await stories.save_story(session, story=resolved, now=NOW + timedelta(hours=1))
    await session.commit()
    assert await stories.get_story(session, story_id="st-1") == resolved


async def test_stories_since_and_pruning(session: AsyncSession) -> None:
    old = Story(
        id="old",
        title="old",
        first_published=NOW - timedelta(days=9),
        last_published=NOW - timedelta(days=8),
    )
    for story in (STORY, old):
        await stories.save_story(session, story=story, now=NOW)
    await make_subscriber(session, 7)
    assert await alerts.record_alert(session, chat_id=7, story_id="old", fingerprint="f")
    ids = await sources.upsert_sources(session, sources=[source(1)], now=NOW)
    (stored,) = await items.add_items(session, source_id=ids[source(1).url], items=[item("a")])
    await items.assign_story(session, item_ids=[stored.id], story_id="old")
    await session.commit()

    assert [s.id for s in await stories.stories_since(session, since=NOW - timedelta(days=1))] == [
        "st-1"
    ]
    assert await stories.delete_stories_before(session, before=NOW - timedelta(days=7)) == 1
    await session.commit()
    assert await alerts.get_alert(session, chat_id=7, story_id="old") is None
    kept = await items.get_item(session, item_id=stored.id)
    assert kept is not None and kept.story_id is None
