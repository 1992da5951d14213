"""The figures behind the admins' `/stats`: read-only counts over the bot's tables."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.handlers.freshness import Health, source_health
from bot.storage import outbox as outbox_store
from bot.storage import sources as sources_store
from bot.storage.tables import OutboxRow, RuleRow, SubscriberRow


@dataclass(frozen=True, slots=True)
class BotStats:
    subscribers_active: int
    subscribers_total: int
    rules: int
    rules_paused: int
    sources_healthy: int
    sources_failing: int
    sources_stale: int
    queue_depth: int
    sent_today: int
    failed_today: int


async def _count(session: AsyncSession, stmt: object) -> int:
    return int((await session.execute(stmt)).scalar_one())  # type: ignore[call-overload]


async def collect_stats(
    session: AsyncSession, *, now: datetime, default_interval_seconds: int
) -> BotStats:
    """Subscribers, rules, source health, queue depth and today's (UTC) sends and failures."""
    day_start = now.replace(hour=0, minute=0, second=0, microsecond=0)
    count = select(func.count())
    subscribers = count.select_from(SubscriberRow)
    rules = count.select_from(RuleRow)
    outbox_today = count.select_from(OutboxRow)
    sources = await sources_store.list_sources(session, enabled_only=True)
    health = [
        source_health(s, now=now, default_interval_seconds=default_interval_seconds).health
        for s in sources
    ]
    return BotStats(
        subscribers_active=await _count(session, subscribers.where(SubscriberRow.active.is_(True))),
        subscribers_total=await _count(session, subscribers),
        rules=await _count(session, rules),
        rules_paused=await _count(session, rules.where(RuleRow.paused.is_(True))),
        sources_healthy=sum(h is Health.OK for h in health),
        sources_failing=sum(h is Health.FAILING for h in health),
        sources_stale=sum(h is Health.STALE for h in health),
        queue_depth=await outbox_store.depth(session),
        sent_today=await _count(
            session,
            outbox_today.where(OutboxRow.status == "sent", OutboxRow.sent_at >= day_start),
        ),
        # Failed rows carry no time of failure; those created today stand for today's.
        failed_today=await _count(
            session,
            outbox_today.where(
                OutboxRow.status.in_(("failed", "dead")),
                OutboxRow.created_at >= day_start,
            ),
        ),
    )
