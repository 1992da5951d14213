"""The chat's preferences: `/digest`, `/quiet`, `/timezone`, `/language`, and `/stop`,
`/forget` (with a confirm button) to pause or erase everything.
"""

from __future__ import annotations

import html
from datetime import time
from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import BaseHandler, CallbackQueryHandler, CommandHandler

from bot.handlers.common import (
    BotContext,
    command_args,
    edit_or_reply,
    reply,
    require_admin,
    subscriber_for,
)
from bot.handlers.times import (
    TimeInputError,
    format_time,
    parse_time_of_day,
    parse_time_range,
    parse_timezone,
)
from bot.i18n import LANGUAGES, t
from bot.storage import subscribers as subscribers_store
from bot.storage.subscribers import Subscriber

_ON = {"on", "yes", "увімк", "увімкнути", "так"}
_OFF = {"off", "no", "вимк", "вимкнути", "ні"}
_LANGUAGE_NAMES = {"uk": "Українська", "en": "English"}
_LANGUAGE_ALIASES = {"ua": "uk", "ukr": "uk", "українська": "uk", "english": "en", "eng": "en"}


async def _update(context: BotContext, chat_id: int, **changes: Any) -> Subscriber:
    async with context.services.db.sessions() as session, session.begin():
        updated = await subscribers_store.update_subscriber(session, chat_id=chat_id, **changes)
    assert updated is not None  # subscriber_for created it just before
    return updated


def _digest_state(subscriber: Subscriber, lang: str) -> str:
    if subscriber.digest_enabled:
        return t(lang, "settings.digest_on", time=format_time(subscriber.digest_time))
    return t(lang, "settings.digest_off")


async def digest(update: Update, context: BotContext) -> None:
    """`/digest [on|off|HH:MM]`: show, switch or time the daily digest."""
    subscriber = await subscriber_for(update, context)
    lang = subscriber.language
    arg = command_args(update).lower()
    if not arg:
        await reply(
            update, _digest_state(subscriber, lang) + "\n" + t(lang, "settings.digest_usage")
        )
        return
    if not await require_admin(update, context, lang):
        return
    changes: dict[str, Any]
    if arg in _ON:
        changes = {"digest_enabled": True}
    elif arg in _OFF:
        changes = {"digest_enabled": False}
    else:
        try:
            changes = {"digest_enabled": True, "digest_time": parse_time_of_day(arg)}
        except TimeInputError:
            await reply(update, t(lang, "errors.bad_time", text=html.escape(arg[:40])))
            return
    updated = await _update(context, subscriber.chat_id, **changes)
    await reply(update, _digest_state(updated, lang))


def _quiet_state(subscriber: Subscriber, lang: str) -> str:
    if subscriber.quiet_start is None or subscriber.quiet_end is None:
        return t(lang, "settings.quiet_off")
    return t(
        lang,
        "settings.quiet_on",
        start=format_time(subscriber.quiet_start),
        end=format_time(subscriber.quiet_end),
    )


async def quiet(update: Update, context: BotContext) -> None:
    """`/quiet HH:MM-HH:MM|off`: alerts arrive silently then (critical ones still notify)."""
    subscriber = await subscriber_for(update, context)
    lang = subscriber.language
    arg = command_args(update).lower()
    if not arg:
        await reply(update, _quiet_state(subscriber, lang) + "\n" + t(lang, "settings.quiet_usage"))
        return
    if not await require_admin(update, context, lang):
        return
    start: time | None
    end: time | None
    if arg in _OFF:
        start = end = None
    else:
        try:
            start, end = parse_time_range(arg)
        except TimeInputError:
            await reply(update, t(lang, "errors.bad_range", text=html.escape(arg[:40])))
            return
    updated = await _update(context, subscriber.chat_id, quiet_start=start, quiet_end=end)
    await reply(update, _quiet_state(updated, lang))


async def timezone(update: Update, context: BotContext) -> None:
    """`/timezone Area/City`: the zone for the digest time and quiet hours."""
    subscriber = await subscriber_for(update, context)
    lang = subscriber.language
    arg = command_args(update)
    if not arg:
        await reply(update, t(lang, "settings.timezone_now", zone=subscriber.timezone))
        return
    if not await require_admin(update, context, lang):
        return
    try:
        zone = parse_timezone(arg)
    except TimeInputError:
        await reply(update, t(lang, "errors.bad_timezone", text=html.escape(arg[:64])))
        return
    await _update(context, subscriber.chat_id, timezone=zone)
    await reply(update, t(lang, "settings.timezone_set", zone=zone))


def _language_keyboard() -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(_LANGUAGE_NAMES[code], callback_data=f"lang:{code}")
                for code in LANGUAGES
            ]
        ]
    )


async def language(update: Update, context: BotContext) -> None:
    """`/language uk|en`: the language of every message to this chat."""
    subscriber = await subscriber_for(update, context)
    lang = subscriber.language
    arg = command_args(update).lower()
    if not arg:
        await reply(update, t(lang, "settings.language_choose"), markup=_language_keyboard())
        return
    code = _LANGUAGE_ALIASES.get(arg, arg)
    if code not in LANGUAGES:
        await reply(update, t(lang, "errors.bad_language", text=html.escape(arg[:20])))
        return
    if not await require_admin(update, context, lang):
        return
    await _update(context, subscriber.chat_id, language=code)
    await reply(update, t(code, "settings.language_set"))


async def language_button(update: Update, context: BotContext) -> None:
    """A language button under /language."""
    query = update.callback_query
    assert query is not None and query.data is not None
    subscriber = await subscriber_for(update, context)
    code = query.data.removeprefix("lang:")
    if code not in LANGUAGES:
        await query.answer()
        return
    if not await require_admin(update, context, subscriber.language):
        return
    await _update(context, subscriber.chat_id, language=code)
    await query.answer()
    await edit_or_reply(update, t(code, "settings.language_set"))


async def stop(update: Update, context: BotContext) -> None:
    """`/stop`: pause every alert and digest (rules are kept; /start resumes)."""
    subscriber = await subscriber_for(update, context)
    lang = subscriber.language
    if not await require_admin(update, context, lang):
        return
    await _update(context, subscriber.chat_id, paused=True)
    await context.services.rulebook.refresh_chat(subscriber.chat_id)
    await reply(update, t(lang, "settings.stopped"))


async def forget(update: Update, context: BotContext) -> None:
    """`/forget`: ask to confirm deleting everything stored about this chat."""
    subscriber = await subscriber_for(update, context)
    lang = subscriber.language
    if not await require_admin(update, context, lang):
        return
    markup = InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(t(lang, "settings.forget_yes"), callback_data="forget:yes"),
                InlineKeyboardButton(t(lang, "settings.forget_no"), callback_data="forget:no"),
            ]
        ]
    )
    await reply(update, t(lang, "settings.forget_confirm"), markup=markup)


async def forget_button(update: Update, context: BotContext) -> None:
    """The confirm / cancel button under /forget."""
    query = update.callback_query
    chat = update.effective_chat
    assert query is not None and query.data is not None and chat is not None
    services = context.services
    async with services.db.sessions() as session:
        found = await subscribers_store.get_subscriber(session, chat_id=chat.id)
    lang = found.language if found else "en"
    if found is None:
        await query.answer()
        await edit_or_reply(update, t(lang, "settings.forgotten"))
        return
    if not await require_admin(update, context, lang):
        return
    await query.answer()
    if query.data != "forget:yes":
        await edit_or_reply(update, t(lang, "settings.forget_cancelled"))
        return
    async with services.db.sessions() as session, session.begin():
        await subscribers_store.forget_subscriber(session, chat_id=chat.id)
    await services.rulebook.refresh_chat(chat.id)
    if context.chat_data is not None:
        context.chat_data.clear()
    await edit_or_reply(update, t(lang, "settings.forgotten"))


def handlers() -> list[BaseHandler[Update, BotContext, None]]:
    return [
        CommandHandler("digest", digest),
        CommandHandler("quiet", quiet),
        CommandHandler("timezone", timezone),
        CommandHandler("language", language),
        CommandHandler("stop", stop),
        CommandHandler("forget", forget),
        CallbackQueryHandler(language_button, pattern=r"^lang:"),
        CallbackQueryHandler(forget_button, pattern=r"^forget:"),
    ]
