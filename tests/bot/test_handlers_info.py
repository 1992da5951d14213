"""/status says plainly when sources are stale or failing; /sources lists them."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from bot.storage import sources as sources_store
from bot.storage.db import utc_now
from feeds.models import Source
from tests.bot.handlers_support import Harness, running_bot
from tests.fakes import FakeTelegramAPI

CHAT = 8400


async def _sources(bot: Harness) -> dict[str, int]:
    now = utc_now()
    async with bot.services.db.sessions() as session, session.begin():
        ids = await sources_store.upsert_sources(
            session,
            sources=[
                Source(url="https://fresh.example/rss", name="Fresh News", interval_seconds=300),
                Source(url="https://stale.example/rss", name="Stale & Co", interval_seconds=300),
                Source(url="https://broken.example/rss", name="Broken Wire"),
                Source(url="https://new.example/rss", name="Brand New"),
            ],
        )
        await sources_store.record_success(
            session,
            source_id=ids["https://fresh.example/rss"],
            now=now - timedelta(minutes=3),
            next_poll_at=now,
        )
        await sources_store.record_success(
            session,
            source_id=ids["https://stale.example/rss"],
            now=now - timedelta(hours=5),
            next_poll_at=now,
        )
        await sources_store.record_failure(
            session,
            source_id=ids["https://broken.example/rss"],
            now=now,
            error="HTTP 503 <Service Unavailable>",
            next_poll_at=now,
        )
    return ids


async def test_status_names_stale_and_failing_sources(
    fake_telegram: FakeTelegramAPI, tmp_path: Path
) -> None:
    async with running_bot(fake_telegram, tmp_path) as bot:
        [empty] = await bot.say(CHAT, "/status")
        assert "No news sources are configured" in empty.plain_text
        await _sources(bot)
        [status] = await bot.say(CHAT, "/status")
        text = status.plain_text
        assert "1 of 4 up to date" in text
        assert "2 source(s) are stale or failing" in text
        assert "silence does not mean there are no outages" in text
        lines = text.splitlines()
        failing = next(line for line in lines if "Broken Wire" in line)
        assert (
            failing.startswith("❌") and "failing" in failing and "<Service Unavailable>" in failing
        )
        stale = next(line for line in lines if "Stale & Co" in line)
        assert stale.startswith("⚠️") and "5 h ago" in stale
        assert next(line for line in lines if "Fresh News" in line).startswith("✅")
        assert "not checked yet" in next(line for line in lines if "Brand New" in line)
        # Problems come first.
        assert lines.index(failing) < lines.index(stale)


async def test_status_in_ukrainian(fake_telegram: FakeTelegramAPI, tmp_path: Path) -> None:
    async with running_bot(fake_telegram, tmp_path) as bot:
        await _sources(bot)
        [status] = await bot.say(CHAT, "/status", language_code="uk")
        assert "тиша не означає, що відключень немає" in status.plain_text


async def test_sources_lists_enabled_feeds(fake_telegram: FakeTelegramAPI, tmp_path: Path) -> None:
    async with running_bot(fake_telegram, tmp_path) as bot:
        ids = await _sources(bot)
        async with bot.services.db.sessions() as session, session.begin():
            await sources_store.set_source_enabled(
                session, source_id=ids["https://new.example/rss"], enabled=False
            )
        [listing] = await bot.say(CHAT, "/sources")
        assert "I read 3 source(s)" in listing.plain_text
        assert "Stale & Co" in listing.plain_text and "Brand New" not in listing.plain_text
        links = [e for e in listing.entities if e["type"] == "text_link"]
        assert {e["url"] for e in links} >= {"https://fresh.example/rss"}


async def test_long_catalogues_fit_in_one_message(
    fake_telegram: FakeTelegramAPI, tmp_path: Path
) -> None:
    async with running_bot(fake_telegram, tmp_path) as bot:
        async with bot.services.db.sessions() as session, session.begin():
            await sources_store.upsert_sources(
                session,
                sources=[
                    Source(url=f"https://n{i}.example/{'x' * 300}", name=f"Outlet {i:02} " * 5)
                    for i in range(60)
                ],
            )
        [listing] = await bot.say(CHAT, "/sources")
        assert "I read 60 source(s)" in listing.plain_text
        assert listing.plain_text.rstrip().endswith("more.")
        [status] = await bot.say(CHAT, "/status")
        assert "not checked yet" in status.plain_text and "more." in status.plain_text
