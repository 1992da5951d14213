"""Shared pieces of the hostile-input tests: the real bot on SQLite against the fake Bot API
with feed fetching routed to a recording `httpx.MockTransport` (no traffic leaves the process),
a log handler that collects ERROR records, and a snapshot of what the database holds."""

from __future__ import annotations

import contextlib
import dataclasses
import logging
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import func, select

from bot.storage.tables import OutboxRow, RuleRow, SourceRow, SubscriberRow
from tests.bot.handlers_support import Harness, running_bot
from tests.fakes import FakeTelegramAPI

ADMIN = 9100
USER = 9200
GROUP = -1009300
GROUP_MEMBER = 9301
TEST_FEED_HOST = "feeds.test"  # the only host the recording transport serves

RSS = b"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>Local Energy News</title><language>uk</language>
<item><title>Kyiv: 300,000 without power</title><link>https://feeds.test/1</link>
<guid>local-1</guid><pubDate>Wed, 25 Nov 2026 07:00:00 GMT</pubDate></item>
</channel></rss>"""


@dataclass
class FeedNetwork:
    """An `httpx.MockTransport` that serves `routes` (full URL -> response maker) and records
    every request it is asked for; anything else is a 404, never a real connection."""

    routes: dict[str, Callable[[httpx.Request], httpx.Response]] = field(default_factory=dict)
    requests: list[httpx.Request] = field(default_factory=list)

    def handle(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        route = self.routes.get(str(request.url))
        return route(request) if route else httpx.Response(404, text="not here")

    def client(self) -> httpx.AsyncClient:
        return httpx.AsyncClient(transport=httpx.MockTransport(self.handle))


def serve_feed(network: FeedNetwork, url: str, body: bytes = RSS) -> None:
    network.routes[url] = lambda _request: httpx.Response(
        200, content=body, headers={"content-type": "application/rss+xml"}
    )


def serve_redirect(network: FeedNetwork, url: str, location: str, status: int = 302) -> None:
    network.routes[url] = lambda _request: httpx.Response(status, headers={"location": location})


def admins_and_no_private_hosts(values: dict[str, Any]) -> None:
    """Production's network rule (ALLOW_PRIVATE_FEED_HOSTS off) with one admin chat."""
    values["admin_chat_ids"] = str(ADMIN)
    values["allow_private_feed_hosts"] = False


@asynccontextmanager
async def hostile_bot(
    api: FakeTelegramAPI, tmp_path: Path, *, allowed_hosts: frozenset[str] = frozenset()
) -> AsyncIterator[tuple[Harness, FeedNetwork]]:
    """The real Application with feeds fetched through a `FeedNetwork`; `allowed_hosts` are
    exempt from the private-address check (as an operator may configure for its own server)."""
    network = FeedNetwork()
    async with running_bot(api, tmp_path, configure=admins_and_no_private_hosts) as bot:
        services = bot.services
        assert not services.fetch_limits.allow_private_hosts
        await services.http.aclose()
        # Configuration, not a patch: the Services bundle is built from these two values.
        services.http = network.client()
        services.fetch_limits = dataclasses.replace(
            services.fetch_limits, allowed_private_hosts=allowed_hosts, retries=0
        )
        yield bot, network


class ErrorRecords(logging.Handler):
    """Collects every record at ERROR or above, from any logger (attached to the root)."""

    def __init__(self) -> None:
        super().__init__(logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def texts(self) -> list[str]:
        return [f"{r.name}: {r.getMessage()}" for r in self.records]


@contextlib.contextmanager
def error_records() -> Iterator[ErrorRecords]:
    handler = ErrorRecords()
    root = logging.getLogger()
    root.addHandler(handler)
    try:
        yield handler
    finally:
        root.removeHandler(handler)


@dataclass(frozen=True)
class Snapshot:
    """What the tables hold, to compare before and after a refused command (chats are left
    out: any message registers its chat, with its language and time zone)."""

    sources: tuple[tuple[Any, ...], ...]
    rules: tuple[tuple[Any, ...], ...]
    outbox: int


async def snapshot(bot: Harness) -> Snapshot:
    async with bot.services.db.sessions() as session:
        sources = (await session.execute(select(SourceRow).order_by(SourceRow.id))).scalars()
        rules = (await session.execute(select(RuleRow).order_by(RuleRow.id))).scalars()
        outbox = await session.scalar(select(func.count()).select_from(OutboxRow))
        return Snapshot(
            sources=tuple((s.id, s.url, s.name, s.enabled, s.added_by) for s in sources),
            rules=tuple((r.id, r.chat_id, r.text, r.paused) for r in rules),
            outbox=int(outbox or 0),
        )


async def check_consistency(bot: Harness) -> None:
    """Every rule belongs to a stored chat; the in-memory rule book mirrors the rules table."""
    async with bot.services.db.sessions() as session:
        rules = (await session.execute(select(RuleRow))).scalars().all()
        chats = set((await session.execute(select(SubscriberRow.chat_id))).scalars())
    assert {r.chat_id for r in rules} <= chats
    stored = {(r.id, r.text) for r in rules if not r.paused}
    indexed = {
        (rule_id, text)
        for chat in chats | {r.chat_id for r in rules}
        for rule_id, _rule, text in bot.services.rulebook.rules_of(chat)
    }
    assert indexed == stored
    assert len(bot.services.rulebook) == len(stored)
