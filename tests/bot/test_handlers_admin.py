"""/addsource (fetched and parsed first), /removesource and /stats, for admins only."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pytest_httpserver import HTTPServer

from bot.storage import sources as sources_store
from tests.bot.handlers_support import Harness, running_bot
from tests.fakes import FakeTelegramAPI

ADMIN = 9100
USER = 9200

# A two-item RSS document written for these tests.
RSS = b"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>Local Energy News</title><language>uk</language>
<item><title>Kyiv: 300,000 without power</title><link>https://local.example/1</link>
<guid>local-1</guid><pubDate>Wed, 25 Nov 2026 07:00:00 GMT</pubDate></item>
<item><title>Lviv: water restored</title><link>https://local.example/2</link>
<guid>local-2</guid><pubDate>Wed, 25 Nov 2026 08:00:00 GMT</pubDate></item>
</channel></rss>"""


def _admins(values: dict[str, Any]) -> None:
    values["admin_chat_ids"] = str(ADMIN)


async def _stored_sources(bot: Harness) -> list[sources_store.StoredSource]:
    async with bot.services.db.sessions() as session:
        return await sources_store.list_sources(session)


async def test_addsource_checks_the_feed_first(
    fake_telegram: FakeTelegramAPI, tmp_path: Path, httpserver: HTTPServer
) -> None:
    httpserver.expect_request("/rss.xml").respond_with_data(RSS, content_type="application/rss+xml")
    httpserver.expect_request("/page.html").respond_with_data(
        "<html><body>Not a feed</body></html>", content_type="text/html"
    )
    httpserver.expect_request("/gone.xml").respond_with_data("gone", status=404)
    async with running_bot(fake_telegram, tmp_path, configure=_admins) as bot:
        [added] = await bot.say(ADMIN, f"/addsource {httpserver.url_for('/rss.xml')}")
        assert "“Local Energy News” added: 2 item(s)" in added.plain_text
        [source] = await _stored_sources(bot)
        assert (source.name, source.language, source.added_by) == ("Local Energy News", "uk", ADMIN)

        [named] = await bot.say(ADMIN, f"/addsource {httpserver.url_for('/rss.xml')} My <Feed>")
        assert "“My <Feed>” added" in named.plain_text

        [html_page] = await bot.say(ADMIN, f"/addsource {httpserver.url_for('/page.html')}")
        assert "not a working feed" in html_page.plain_text
        [missing] = await bot.say(ADMIN, f"/addsource {httpserver.url_for('/gone.xml')}")
        assert "Could not fetch that feed" in missing.plain_text
        [usage] = await bot.say(ADMIN, "/addsource ftp://example.com/feed")
        assert "Usage:" in usage.plain_text
        assert len(await _stored_sources(bot)) == 1


async def test_addsource_refuses_private_hosts_unless_allowed(
    fake_telegram: FakeTelegramAPI, tmp_path: Path, httpserver: HTTPServer
) -> None:
    httpserver.expect_request("/rss.xml").respond_with_data(RSS, content_type="application/rss+xml")

    def strict(values: dict[str, Any]) -> None:
        _admins(values)
        values["allow_private_feed_hosts"] = False

    async with running_bot(fake_telegram, tmp_path, configure=strict) as bot:
        [refused] = await bot.say(ADMIN, f"/addsource {httpserver.url_for('/rss.xml')}")
        assert "Could not fetch that feed" in refused.plain_text
        assert await _stored_sources(bot) == []


async def test_admin_commands_are_for_admins_only(
    fake_telegram: FakeTelegramAPI, tmp_path: Path
) -> None:
    async with running_bot(fake_telegram, tmp_path, configure=_admins) as bot:
        for command in ("/addsource https://example.com/rss", "/removesource 1", "/stats"):
            [answer] = await bot.say(USER, command)
            assert answer.plain_text == "This command is for the bot's administrators."


async def test_removesource_and_stats(
    fake_telegram: FakeTelegramAPI, tmp_path: Path, httpserver: HTTPServer
) -> None:
    httpserver.expect_request("/rss.xml").respond_with_data(RSS, content_type="application/rss+xml")
    async with running_bot(fake_telegram, tmp_path, configure=_admins) as bot:
        await bot.say(ADMIN, f"/addsource {httpserver.url_for('/rss.xml')}")
        await bot.say(USER, "/add power in Kyiv")
        await bot.say(USER, "/add water in Lviv")
        [stats] = await bot.say(ADMIN, "/stats")
        assert "Subscribers: 2 active of 2" in stats.plain_text
        assert "Rules: 2 (0 paused)" in stats.plain_text
        assert "Queue: 0" in stats.plain_text

        [source] = await _stored_sources(bot)
        [removed] = await bot.say(ADMIN, f"/removesource {source.id}")
        assert f"#{source.id}" in removed.plain_text and "no longer be polled" in removed.plain_text
        [source] = await _stored_sources(bot)
        assert not source.enabled
        [unknown] = await bot.say(ADMIN, "/removesource 999")
        assert "No source “999”" in unknown.plain_text
        # Adding it again switches polling back on.
        await bot.say(ADMIN, f"/addsource {httpserver.url_for('/rss.xml')}")
        [source] = await _stored_sources(bot)
        assert source.enabled
