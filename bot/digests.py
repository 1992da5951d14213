"""Daily digests: every minute, chats whose local digest time has come and that had no digest
today get one, queued in the outbox (dedupe key `digest:{chat}:{local date}`) in the same
transaction that records the date, so a restart never sends a day's digest twice.

A digest covers the last 24 hours of stories that any of the chat's rules (instant or digest)
matches. An empty digest is sent only to chats that have digest-only rules: people who chose
instant alerts do not need a daily "nothing happened".
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import datetime, timedelta

from bot.render_digest import render_digest
from bot.services import Services
from bot.storage import outbox
from bot.storage import stories as stories_store
from bot.storage import subscribers as subscribers_store
from bot.storage.db import utc_now
from bot.storage.subscribers import Subscriber
from rules.digest import compose_digest
from rules.models import Story
from rules.rule import Delivery

log = logging.getLogger(__name__)

DIGEST_PERIOD = timedelta(hours=24)


class Digests:
    """Queues each chat's daily digest at its local time."""

    def __init__(self, services: Services, *, clock: Callable[[], datetime] = utc_now) -> None:
        self.services = services
        self.clock = clock

    async def run_forever(self, *, every_seconds: float = 60.0) -> None:
        while True:
            try:
                queued = await self.queue_due()
                if queued:
                    log.info("queued %d daily digests", queued)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("queueing digests failed; trying again in a minute")
            await asyncio.sleep(every_seconds)

    async def queue_due(self) -> int:
        """Queue the digests due now; returns how many were queued."""
        now = self.clock()
        since = now - DIGEST_PERIOD
        async with self.services.db.sessions() as session:
            due = await subscribers_store.subscribers_due_for_digest(session, now=now)
            stories = await stories_store.stories_since(session, since=since) if due else []
        queued = 0
        for chat in due:
            try:
                queued += await self._queue_one(chat, stories, since=since, now=now)
            except Exception:  # one chat's problem must not hold back everyone's digest
                log.exception("digest for chat %d failed", chat.chat_id)
        if queued:
            self.services.metrics.digests.inc(queued)
            self.services.notify_outbox()
        return queued

    async def _queue_one(
        self, chat: Subscriber, stories: list[Story], *, since: datetime, now: datetime
    ) -> int:
        local_day = now.astimezone(chat.zone).date()
        entries = self.services.rulebook.rules_of(chat.chat_id)
        rules = [rule for _, rule, _ in entries]
        digest = compose_digest(stories, rules, since, now)
        wants_digest = any(r.delivery in (Delivery.DIGEST, Delivery.BOTH) for r in rules)
        async with self.services.db.sessions() as session, session.begin():
            await subscribers_store.mark_digest_sent(session, chat_id=chat.chat_id, on=local_day)
            if digest.is_empty and not wants_digest:
                return 0
            text = render_digest(
                digest,
                lang=chat.language,
                day=local_day,
                place_name=self.services.gazetteer.display_name,
            )
            result = await outbox.enqueue(
                session,
                chat_id=chat.chat_id,
                kind="digest",
                payload={"text": text, "parse_mode": "HTML", "disable_notification": False},
                dedupe_key=f"digest:{chat.chat_id}:{local_day.isoformat()}",
                now=now,
            )
        return int(result.created)
