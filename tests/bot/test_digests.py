"""Daily digests: queued at each chat's local time, once a day, listing what its rules match,
in its language, never over Telegram's limit."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, date, datetime, time, timedelta

import pytest
from sqlalchemy import select

from bot.digests import Digests
from bot.render import MAX_MESSAGE_CHARS
from bot.render_digest import render_digest
from bot.services import Services
from bot.storage import stories as stories_store
from bot.storage.tables import OutboxRow
from feeds.models import Category, Severity
from rules.digest import compose_digest
from rules.models import Story
from rules.rule import Rule
from tests.bot.pipeline_support import *  # noqa: F403
from tests.bot.pipeline_support import make_settings, opened, subscribe
from tests.fakes import FakeTelegramAPI

pytest_plugins = ["tests.fakes.fixtures"]

# 08:05 in Kyiv (UTC+2 in January).
MORNING = datetime(2026, 1, 14, 6, 5, tzinfo=UTC)


def story(story_id: str, title: str, place: str, *, hours_ago: float = 5, **kw: object) -> Story:
    when = MORNING - timedelta(hours=hours_ago)
    values: dict[str, object] = dict(
        id=story_id,
        title=title,
        first_published=when,
        last_published=when,
        categories=frozenset({Category.POWER_OUTAGE}),
        place_ids=frozenset({place}),
        affected=300_000,
        severity=Severity.HIGH,
        sources=("UNIAN", "Ukrinform"),
        link=f"https://news.example.org/{story_id}",
    )
    values.update(kw)
    return Story(**values)  # type: ignore[arg-type]


@pytest.fixture
async def services(fake_telegram: FakeTelegramAPI, database_url: str) -> AsyncIterator[Services]:
    async with opened(make_settings(fake_telegram, database_url)) as svc:
        async with svc.db.sessions() as session, session.begin():
            for s in (
                story("kyiv", "Kyiv: 300,000 without power after strike", "UA80"),
                story("kharkiv", "Kharkiv: 45,000 without power", "UA63"),
                story("old", "Kyiv: last week's outage", "UA80", hours_ago=60),
            ):
                await stories_store.save_story(session, story=s)
        yield svc


async def digests(services: Services) -> list[OutboxRow]:
    async with services.db.sessions() as session:
        rows = await session.execute(select(OutboxRow).where(OutboxRow.kind == "digest"))
        return list(rows.scalars().all())


async def test_digest_is_queued_once_at_local_time_with_the_matching_stories(
    services: Services,
) -> None:
    await subscribe(services, 1, "power outage in Kyiv", digest_time=time(8, 0))
    assert await Digests(services, clock=lambda: MORNING - timedelta(minutes=10)).queue_due() == 0
    assert await Digests(services, clock=lambda: MORNING).queue_due() == 1
    assert await Digests(services, clock=lambda: MORNING + timedelta(hours=1)).queue_due() == 0
    [row] = await digests(services)
    assert row.chat_id == 1 and row.dedupe_key == "digest:1:2026-01-14"
    text = row.payload["text"]
    assert "Daily digest" in text and "14.01.2026" in text
    assert "Kyiv: 300,000 without power after strike" in text
    assert "Kharkiv" not in text and "last week" not in text
    assert services.outbox_ready.is_set()


async def test_each_chat_gets_it_in_its_language_and_time_zone(services: Services) -> None:
    await subscribe(services, 1, "відключення світла у Києві", lang="uk")
    await subscribe(
        services,
        2,
        "power outage in Kharkiv oblast",
        timezone="America/New_York",
        digest_time=time(7, 0),
    )
    assert await Digests(services, clock=lambda: MORNING).queue_due() == 1  # 01:05 in New York
    later = MORNING + timedelta(hours=6)  # 07:05 in New York
    assert await Digests(services, clock=lambda: later).queue_due() == 1
    by_chat = {row.chat_id: row.payload["text"] for row in await digests(services)}
    assert "Щоденний дайджест" in by_chat[1] and "відключення світла" in by_chat[1]
    assert "Kharkiv: 45,000 without power" in by_chat[2]


async def test_empty_digests_go_only_to_chats_that_chose_digests(services: Services) -> None:
    await subscribe(services, 1, "water outage in Odesa")
    await subscribe(services, 2, "water outage in Odesa digest")
    assert await Digests(services, clock=lambda: MORNING).queue_due() == 1
    [row] = await digests(services)
    assert row.chat_id == 2 and "Nothing your rules watch for" in row.payload["text"]
    # The instant-only chat is marked done too: it is not reconsidered every minute.
    assert await Digests(services, clock=lambda: MORNING + timedelta(minutes=1)).queue_due() == 0


def test_a_huge_hostile_digest_stays_within_telegram_limits() -> None:
    stories = [
        story(f"s{n}", "<b>&" * 200, f"UA{10 + n % 20}", hours_ago=1 + n / 100) for n in range(300)
    ]
    digest = compose_digest(stories, [Rule()], MORNING - timedelta(days=1), MORNING)
    text = render_digest(digest, lang="en", day=date(2026, 1, 14), place_name=lambda p, _: p)
    assert len(text) <= MAX_MESSAGE_CHARS
    assert "<b>&<b>&" not in text and "more sections" in text
