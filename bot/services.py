"""The long-lived things every part of the bot shares, opened once at start and passed down:
settings, database, gazetteer, rule book, metrics and the one HTTP client for feeds.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from datetime import timedelta

import httpx

from bot.config import Settings
from bot.metrics import Metrics
from bot.migrations import upgrade_to_head
from bot.rulebook import RuleBook
from bot.storage.db import Database, open_database
from feeds.fetch import FetchLimits, make_client
from feeds.gazetteer import Gazetteer, load_gazetteer


@dataclass(slots=True)
class Services:
    """What handlers, the worker, the sender and the digests use; close it once at exit."""

    settings: Settings
    db: Database
    gazetteer: Gazetteer
    rulebook: RuleBook
    metrics: Metrics
    http: httpx.AsyncClient
    fetch_limits: FetchLimits
    # Set whenever a message is queued, so the sender wakes at once instead of at its next tick.
    outbox_ready: asyncio.Event = field(default_factory=asyncio.Event)

    def notify_outbox(self) -> None:
        """Tell the sender something was queued (call after the enqueueing commit)."""
        self.outbox_ready.set()

    async def close(self) -> None:
        await self.http.aclose()
        await self.db.dispose()


def fetch_limits_for(settings: Settings) -> FetchLimits:
    return FetchLimits(allow_private_hosts=settings.allow_private_feed_hosts)


async def open_services(
    settings: Settings, *, migrate: bool = True, index_rules: bool = True
) -> Services:
    """Migrate the database (unless `migrate=False`), open it and load the rules into memory.

    `index_rules=False` is for a process that never matches stories nor reads rules back
    (the sender): it keeps no rule index (at 50k rules, tens of MB and seconds to load).
    """
    if migrate:
        await upgrade_to_head(settings.database_url)
    db = open_database(settings.database_url)
    limits = fetch_limits_for(settings)
    http = make_client(user_agent=settings.user_agent, limits=limits)
    try:
        # The gazetteer is ~20 MB of Python objects: load it off the event loop.
        gazetteer = await asyncio.to_thread(load_gazetteer)
        rulebook = RuleBook(
            db=db,
            places=gazetteer,
            max_rules_per_chat=settings.max_rules_per_chat,
            indexed=index_rules,
            alert_window=timedelta(hours=settings.alert_window_hours),
        )
        await rulebook.load()
    except BaseException:
        await http.aclose()
        await db.dispose()
        raise
    return Services(
        settings=settings,
        db=db,
        gazetteer=gazetteer,
        rulebook=rulebook,
        metrics=Metrics(),
        http=http,
        fetch_limits=limits,
    )
