"""Admin commands (chats listed in `ADMIN_CHAT_IDS`): `/addsource URL [name]` (fetched and
parsed first; what is not a working feed is refused), `/removesource ID|URL`, `/stats`.
"""

from __future__ import annotations

import dataclasses
import html
from urllib.parse import urlsplit

from telegram import Update
from telegram.ext import BaseHandler, CommandHandler

from bot.handlers.common import BotContext, command_args, reply, row_id, subscriber_for
from bot.handlers.stats import collect_stats
from bot.i18n import t
from bot.storage import sources as sources_store
from bot.storage.db import utc_now
from feeds.errors import FeedError
from feeds.fetch import fetch
from feeds.models import Source
from feeds.parse import parse_feed

# An admin waits for the answer: one quick attempt and one retry, not the poller's patience.
_CHECK_RETRIES = 1
_CHECK_TIMEOUT = 20.0
_MAX_NAME_CHARS = 200


def is_admin(update: Update, context: BotContext) -> bool:
    """The chat, or the person writing, is listed in ADMIN_CHAT_IDS."""
    admins = context.services.settings.admin_chat_ids
    chat, user = update.effective_chat, update.effective_user
    return (chat is not None and chat.id in admins) or (user is not None and user.id in admins)


async def _admin_language(update: Update, context: BotContext) -> str | None:
    """The language to answer in, or None (after saying so) when this is not an admin."""
    subscriber = await subscriber_for(update, context)
    if not is_admin(update, context):
        await reply(update, t(subscriber.language, "admin.not_admin"))
        return None
    return subscriber.language


async def add_source(update: Update, context: BotContext) -> None:
    """`/addsource URL [name]`: check that the URL is a working feed, then poll it."""
    lang = await _admin_language(update, context)
    if lang is None:
        return
    parts = command_args(update).split(maxsplit=1)
    if not parts:
        await reply(update, t(lang, "admin.addsource_usage"))
        return
    url = parts[0]
    name = parts[1].strip()[:_MAX_NAME_CHARS] if len(parts) > 1 else ""
    try:
        scheme = urlsplit(url).scheme
    except ValueError:  # "http://[::1/": urlsplit refuses a malformed IPv6 host
        scheme = ""
    if scheme not in ("http", "https"):
        await reply(update, t(lang, "admin.addsource_usage"))
        return
    services = context.services
    limits = dataclasses.replace(
        services.fetch_limits, retries=_CHECK_RETRIES, total_timeout=_CHECK_TIMEOUT
    )
    try:
        fetched = await fetch(services.http, url, limits=limits)
    except FeedError as exc:
        await reply(update, t(lang, "admin.addsource_failed", error=html.escape(exc.message[:300])))
        return
    parsed = parse_feed(
        fetched.content or b"",
        source=Source(url=url, name=name or url),
        headers=fetched.headers,
        fetched_at=fetched.fetched_at,
    )
    if not parsed.is_feed or not parsed.items:
        problem = "; ".join(parsed.problems[:2])[:300] or t(lang, "admin.no_items")
        await reply(update, t(lang, "admin.addsource_not_feed", error=html.escape(problem)))
        return
    final_url = fetched.permanent_url or url
    name = name or (parsed.title or urlsplit(final_url).hostname or final_url)[:_MAX_NAME_CHARS]
    source = Source(url=final_url, name=name, language=parsed.language)
    chat = update.effective_chat
    async with services.db.sessions() as session, session.begin():
        ids = await sources_store.upsert_sources(
            session, sources=[source], added_by=chat.id if chat else None
        )
        # A feed removed earlier and added again is polled again.
        await sources_store.set_source_enabled(session, source_id=ids[final_url], enabled=True)
    await reply(
        update,
        t(
            lang,
            "admin.addsource_done",
            id=ids[final_url],
            name=html.escape(name),
            items=len(parsed.items),
        ),
    )


async def remove_source(update: Update, context: BotContext) -> None:
    """`/removesource ID|URL`: stop polling a feed (its items and stories stay)."""
    lang = await _admin_language(update, context)
    if lang is None:
        return
    arg = command_args(update)
    if not arg:
        await reply(update, t(lang, "admin.removesource_usage"))
        return
    async with context.services.db.sessions() as session, session.begin():
        try:
            found = await sources_store.get_source(session, source_id=row_id(arg))
        except ValueError:  # not an id we could have given out: try it as a URL
            found = await sources_store.get_source_by_url(session, url=arg)
        if found is not None:
            await sources_store.set_source_enabled(session, source_id=found.id, enabled=False)
    if found is None:
        await reply(update, t(lang, "admin.removesource_unknown", text=html.escape(arg[:200])))
        return
    await reply(
        update, t(lang, "admin.removesource_done", id=found.id, name=html.escape(found.name))
    )


async def stats(update: Update, context: BotContext) -> None:
    """`/stats`: subscribers, rules, source health, queue depth, today's sends, 429s."""
    lang = await _admin_language(update, context)
    if lang is None:
        return
    services = context.services
    async with services.db.sessions() as session:
        figures = await collect_stats(
            session,
            now=utc_now(),
            default_interval_seconds=services.settings.poll_interval_seconds,
        )
    registry = services.metrics.registry
    throttled = registry.get_sample_value("bot_telegram_429_total") or 0
    await reply(
        update,
        t(
            lang,
            "admin.stats",
            active=figures.subscribers_active,
            subscribers=figures.subscribers_total,
            rules=figures.rules,
            paused=figures.rules_paused,
            healthy=figures.sources_healthy,
            failing=figures.sources_failing,
            stale=figures.sources_stale,
            queue=figures.queue_depth,
            sent=figures.sent_today,
            failed=figures.failed_today,
            throttled=int(throttled),
        ),
    )


def handlers() -> list[BaseHandler[Update, BotContext, None]]:
    return [
        # Fetching a feed takes seconds: do not hold up everyone else's updates meanwhile.
        CommandHandler("addsource", add_source, block=False),
        CommandHandler("removesource", remove_source),
        CommandHandler("stats", stats),
    ]
