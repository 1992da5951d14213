"""Helpers for the pipeline tests (worker, sender, digests, web, scenarios): settings pointed
at the fake Bot API, opened services, subscribers, and a local RSS server whose items change.
"""

from __future__ import annotations

import html
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, time
from email.utils import format_datetime
from typing import Any

from pytest_httpserver import HTTPServer
from telegram import Bot
from telegram.request import HTTPXRequest
from werkzeug import Response

from bot.config import Settings, load_settings
from bot.services import Services, open_services
from bot.storage.subscribers import Subscriber, upsert_subscriber
from tests.bot.storage import conftest as _storage
from tests.fakes import FakeTelegramAPI

# The storage tests' fixtures (a fresh migrated database per test, on SQLite and PostgreSQL),
# for test modules to take with `from tests.bot.pipeline_support import *`. Taken by type so
# that fixtures added there later come along.
_FIXTURE_TYPE = type(_storage.database_url)
__all__ = [name for name, value in vars(_storage).items() if isinstance(value, _FIXTURE_TYPE)]
globals().update({name: getattr(_storage, name) for name in __all__})


def make_settings(api: FakeTelegramAPI, database_url: str, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "telegram_bot_token": api.token,
        "telegram_api_url": api.url,
        "database_url": database_url,
        "poll_interval_seconds": 1,
        "allow_private_feed_hosts": True,
        "send_rate_per_second": 30.0,
        "log_level": "DEBUG",
        # Edits go out, and updates are matched, at once here; tests of the delays set them.
        "edit_delay_seconds": 0,
        "update_delay_seconds": 0,
    }
    values.update(overrides)
    return load_settings(env_file=None, **values)


@asynccontextmanager
async def opened(settings: Settings, *, migrate: bool = False) -> AsyncIterator[Services]:
    services = await open_services(settings, migrate=migrate)
    try:
        yield services
    finally:
        await services.close()


@asynccontextmanager
async def bot_for(api: FakeTelegramAPI) -> AsyncIterator[Bot]:
    bot = Bot(
        api.token,
        base_url=api.base_url,
        request=HTTPXRequest(connection_pool_size=64, read_timeout=10),
    )
    async with bot:
        yield bot


async def subscribe(
    services: Services,
    chat_id: int,
    *rules: str,
    lang: str = "en",
    kind: str | None = None,
    digest_time: time = time(8, 0),
    timezone: str = "Europe/Kyiv",
) -> Subscriber:
    """A subscriber with `rules` (rule language, in `lang`) added through the rule book."""
    async with services.db.sessions() as session, session.begin():
        chat = await upsert_subscriber(
            session,
            chat_id=chat_id,
            kind=kind or ("private" if chat_id > 0 else "group"),
            language=lang,
            timezone=timezone,
            digest_time=digest_time,
        )
    for text in rules:
        await services.rulebook.add(chat_id=chat_id, text=text, lang=lang)
    return chat


@dataclass
class FeedItem:
    guid: str
    title: str
    published: datetime
    description: str = ""
    link: str = ""


class FeedServer:
    """RSS feeds served by a real local HTTP server; `publish` changes what a feed returns."""

    def __init__(self, server: HTTPServer) -> None:
        self.server = server
        self._feeds: dict[str, list[FeedItem]] = {}

    def url(self, name: str) -> str:
        return self.server.url_for(f"/{name}.xml")

    def publish(self, name: str, *items: FeedItem, title: str | None = None) -> str:
        """Add `items` to feed `name` (created on first use); returns its URL."""
        if name not in self._feeds:
            self._feeds[name] = []
            self.server.expect_request(f"/{name}.xml").respond_with_handler(
                lambda _request: Response(
                    _rss(title or name, self._feeds[name]),
                    content_type="application/rss+xml; charset=utf-8",
                )
            )
        self._feeds[name].extend(items)
        return self.url(name)


def _rss(title: str, items: list[FeedItem]) -> str:
    entries = []
    for item in items:
        entries.append(
            "<item>"
            f"<title>{html.escape(item.title)}</title>"
            f"<link>{html.escape(item.link or 'https://news.example.org/' + item.guid)}</link>"
            f'<guid isPermaLink="false">{html.escape(item.guid)}</guid>'
            f"<pubDate>{format_datetime(item.published.astimezone(UTC))}</pubDate>"
            f"<description>{html.escape(item.description)}</description>"
            "</item>"
        )
    return (
        '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel>'
        f"<title>{html.escape(title)}</title><link>https://news.example.org/</link>"
        f"<description>test feed</description>{''.join(entries)}</channel></rss>"
    )
