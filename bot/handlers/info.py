"""`/help` (with examples of rules), `/status` (each source's freshness, plainly saying when
sources are stale or failing) and `/sources`.
"""

from __future__ import annotations

import html

from telegram import Update
from telegram.ext import BaseHandler, CommandHandler

from bot.handlers.common import BotContext, fit_lines, reply, subscriber_for
from bot.handlers.freshness import Health, SourceHealth, age_parts, source_health
from bot.handlers.times import format_time
from bot.i18n import t
from bot.storage import rules as rules_store
from bot.storage import sources as sources_store
from bot.storage.db import utc_now
from bot.storage.sources import StoredSource

_HEALTH_MARK = {Health.OK: "✅", Health.STALE: "⚠️", Health.FAILING: "❌", Health.PENDING: "⏳"}


async def help_command(update: Update, context: BotContext) -> None:
    """`/help`: what the bot does, its commands and examples of rules."""
    subscriber = await subscriber_for(update, context)
    await reply(update, t(subscriber.language, "info.help"))


def _ago(lang: str, health: SourceHealth) -> str:
    if health.age is None:
        return t(lang, "info.never")
    unit, count = age_parts(health.age)
    return t(lang, f"info.ago_{unit}", n=count)


def _source_line(lang: str, health: SourceHealth) -> str:
    name = html.escape(health.source.name)
    mark = _HEALTH_MARK[health.health]
    key = f"info.source_{health.health.value}"
    error = html.escape((health.source.last_error or "")[:80])
    return f"{mark} " + t(lang, key, name=name, ago=_ago(lang, health), error=error)


async def status(update: Update, context: BotContext) -> None:
    """`/status`: this chat's settings and how fresh every source is."""
    subscriber = await subscriber_for(update, context)
    lang = subscriber.language
    services = context.services
    async with services.db.sessions() as session:
        sources = await sources_store.list_sources(session, enabled_only=True)
        count = await rules_store.count_rules(session, chat_id=subscriber.chat_id)
    now = utc_now()
    healths = [
        source_health(s, now=now, default_interval_seconds=services.settings.poll_interval_seconds)
        for s in sources
    ]
    lines = [
        t(lang, "info.status_paused" if subscriber.paused else "info.status_active", rules=count),
        t(lang, "info.status_digest", time=format_time(subscriber.digest_time))
        if subscriber.digest_enabled
        else t(lang, "info.status_no_digest"),
        "",
    ]
    if not healths:
        lines.append(t(lang, "info.no_sources"))
        await reply(update, "\n".join(lines))
        return
    ok = sum(h.health is Health.OK for h in healths)
    bad = [h for h in healths if h.health in (Health.STALE, Health.FAILING)]
    lines.append(t(lang, "info.sources_fresh", ok=ok, total=len(healths)))
    if bad:
        lines.append(t(lang, "info.sources_warning", count=len(bad)))
    lines.append("")
    # Problems first: they are what the reader needs to know.
    order = {Health.FAILING: 0, Health.STALE: 1, Health.PENDING: 2, Health.OK: 3}
    healths.sort(key=lambda h: (order[h.health], h.source.name.lower()))
    lines += [_source_line(lang, h) for h in healths]
    await reply(update, fit_lines(lines, more=lambda n: t(lang, "info.more", count=n)))


def _listed(source: StoredSource) -> str:
    name = html.escape(source.name)
    if len(source.url) > 500:  # a link this long would crowd out the others
        return f"• {name}"
    url = html.escape(source.url, quote=True)
    language = f" ({html.escape(source.language)})" if source.language else ""
    return f'• <a href="{url}">{name}</a>{language}'


async def sources(update: Update, context: BotContext) -> None:
    """`/sources`: the feeds the bot reads."""
    subscriber = await subscriber_for(update, context)
    lang = subscriber.language
    async with context.services.db.sessions() as session:
        found = await sources_store.list_sources(session, enabled_only=True)
    if not found:
        await reply(update, t(lang, "info.no_sources"))
        return
    lines = [t(lang, "info.sources_title", count=len(found))]
    lines += [_listed(s) for s in found]
    await reply(update, fit_lines(lines, more=lambda n: t(lang, "info.more", count=n)))


def handlers() -> list[BaseHandler[Update, BotContext, None]]:
    return [
        CommandHandler("help", help_command),
        CommandHandler("status", status),
        CommandHandler("sources", sources),
    ]
