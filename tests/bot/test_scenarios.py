"""End to end: the real Application and background loops (`bot.runtime.run_bot`), the fake
Telegram Bot API and a local feed server. A new user sets up "power outages in Kyiv" with the
buttons, gets exactly one alert within a poll cycle, sees it edited as more outlets report,
and gets it in the digest; a blocked user is deactivated without anyone else missing a
message; a 429 storm and a restart mid-delivery lose nothing."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from pytest_httpserver import HTTPServer
from sqlalchemy import update

from bot.config import Settings
from bot.runtime import run_bot
from bot.services import Services
from bot.storage import subscribers as subscribers_store
from bot.storage.tables import SubscriberRow
from tests.bot.pipeline_support import FeedItem, FeedServer, make_settings, opened, subscribe
from tests.fakes import BotMessage, FakeTelegramAPI, Fault

pytest_plugins = ["tests.fakes.fixtures"]

KYIV = "Kyiv: 300,000 without power after strike, -18°C"


@contextlib.asynccontextmanager
async def running(settings: Settings, services: Services) -> AsyncIterator[None]:
    """The production runtime in this loop until the block ends (then a clean stop)."""
    stop = asyncio.Event()
    task = asyncio.create_task(
        run_bot(settings, stop=stop, services=services, digest_every_seconds=0.3)
    )
    try:
        await asyncio.sleep(0.3)
        if task.done():
            task.result()
        yield
    finally:
        stop.set()
        await asyncio.wait_for(task, 15)


@pytest.fixture
def feeds(httpserver: HTTPServer) -> FeedServer:
    return FeedServer(httpserver)


def settings_for(
    api: FakeTelegramAPI, tmp_path: Path, feeds: FeedServer, *names: str, **overrides: Any
) -> Settings:
    catalogue = tmp_path / "feeds.toml"
    catalogue.write_text(
        "".join(f'[[source]]\nurl = "{feeds.url(n)}"\nname = "{n}"\n\n' for n in names),
        encoding="utf-8",
    )
    for name in names:
        feeds.publish(name)
    database = f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}"
    return make_settings(api, database, feeds_file=catalogue, **overrides)


def fresh(guid: str, title: str, minutes_ago: float = 2) -> FeedItem:
    return FeedItem(guid, title, datetime.now(UTC) - timedelta(minutes=minutes_ago))


async def press(api: FakeTelegramAPI, message: BotMessage, data: str) -> BotMessage:
    """Press a button and wait until the bot has edited or sent a message in answer."""
    before = api.messages_to(message.chat_id)[-1]
    api.press_button(message.chat_id, message.message_id, data)

    def changed() -> BotMessage | None:
        last = api.messages_to(message.chat_id)[-1]
        moved = (last.message_id, last.edits) != (before.message_id, before.edits)
        return last if moved else None

    return await api.wait_for(changed, 5, what=f"the answer to {data}")


async def test_new_user_gets_one_alert_edited_by_more_outlets_then_the_digest(
    fake_telegram: FakeTelegramAPI, tmp_path: Path, feeds: FeedServer
) -> None:
    api = fake_telegram
    settings = settings_for(api, tmp_path, feeds, "UNIAN", "Ukrinform", "Suspilne")
    async with opened(settings, migrate=True) as services, running(settings, services):
        # The guided setup, with the buttons.
        api.send_text(501, "/start")
        _, places = await api.wait_for_messages(501, 2)
        watch = await press(api, await press(api, places, "setup:place:UA80"), "setup:places_done")
        deliver = await press(api, await press(api, watch, "setup:watch:power"), "setup:watch_done")
        done = await press(api, deliver, "setup:deliver:instant")
        assert "power outage in Kyiv" in done.plain_text
        setup_messages = len(api.messages_to(501))

        # A second subscriber, and one who will have blocked the bot by the time news comes.
        for chat in (502, 503):
            api.send_text(chat, "/add power outage in Kyiv")
            await api.wait_for_messages(chat, 1)
        api.block(503)

        feeds.publish("UNIAN", fresh("u1", KYIV))
        [*_, alert] = await api.wait_for_messages(501, setup_messages + 1, timeout=6)
        assert alert.plain_text.startswith("⚡ Kyiv: 300,000 without power")
        assert "UNIAN" in alert.plain_text and "power outage in Kyiv" in alert.plain_text
        assert alert.buttons and alert.buttons[0][1].startswith("rule:pause:")
        await api.wait_for_messages(502, 2, timeout=5)

        # The same story from two more outlets edits the alert; nothing new is sent.
        feeds.publish("Ukrinform", fresh("k1", "Strike leaves 300,000 in Kyiv without power", 1))
        feeds.publish(
            "Suspilne", fresh("s1", "Kyiv without power after strike: 300,000 homes", 0.5)
        )

        def edited() -> BotMessage | None:
            current = next(m for m in api.messages_to(501) if m.message_id == alert.message_id)
            return current if "+1" in current.plain_text else None

        updated = await api.wait_for(edited, 8, what="the alert edited with +1 source")
        # Each feed is polled on its own slot, so either outlet may come second.
        assert re.search(r"UNIAN, (Ukrinform|Suspilne) \+1", updated.plain_text)
        assert len(api.messages_to(501)) == setup_messages + 1

        # The blocked chat is deactivated; the others did not miss their alert.
        async def deactivated() -> bool:
            async with services.db.sessions() as session:
                chat = await subscribers_store.get_subscriber(session, chat_id=503)
            return chat is not None and not chat.active

        for _ in range(50):
            if await deactivated():
                break
            await asyncio.sleep(0.1)
        assert await deactivated()
        assert len([m for m in api.messages_to(502) if m.plain_text.startswith("⚡")]) == 1

        # "The next morning": today's (empty) digest turn has passed, so make it yesterday's,
        # and set the digest time to a minute ago; the digest then lists the story.
        local = datetime.now(ZoneInfo("Europe/Kyiv")) - timedelta(minutes=1)
        async with services.db.sessions() as session, session.begin():
            await session.execute(
                update(SubscriberRow)
                .where(SubscriberRow.chat_id == 501)
                .values(last_digest_on=local.date() - timedelta(days=1))
            )
        before = len(api.messages_to(501))
        api.send_text(501, f"/digest {local:%H:%M}")

        def digest() -> BotMessage | None:
            return next(
                (m for m in api.messages_to(501)[before:] if m.plain_text.startswith("📋")), None
            )

        found = await api.wait_for(digest, 8, what="the daily digest")
        assert "Kyiv: 300,000 without power" in found.plain_text
        assert [m.plain_text.startswith("⚡") for m in api.messages_to(501)].count(True) == 1


async def test_a_429_storm_and_a_restart_mid_delivery_lose_nothing(
    fake_telegram: FakeTelegramAPI, tmp_path: Path, feeds: FeedServer
) -> None:
    api = fake_telegram
    settings = settings_for(api, tmp_path, feeds, "UNIAN", send_rate_per_second=10.0)
    chats = list(range(700, 730))
    async with opened(settings, migrate=True) as services:
        for chat in chats:
            await subscribe(services, chat, "power outage in Kyiv")
        storm = api.add_fault(Fault.retry_after(1), method="sendMessage", times=4)
        feeds.publish("UNIAN", fresh("u1", KYIV))
        async with running(settings, services):
            await api.wait_for(lambda: len(api.calls_to("sendMessage")) >= 12, 10, what="sends")
        # Stopped mid-delivery (10/s for 30 chats); a new run delivers the rest.
        sent_before_restart = len([c for c in api.calls_to("sendMessage") if c.ok])
        assert sent_before_restart < len(chats)
        async with running(settings, services):
            await api.wait_for(
                lambda: all(api.messages_to(c) for c in chats), 15, what="every chat's alert"
            )
    assert storm.hits == 4
    for chat in chats:
        assert len(api.messages_to(chat)) == 1, chat
