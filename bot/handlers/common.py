"""What every handler shares: the typed context, the chat's subscriber row, its language, the
group-admin check and short replies in the chat's language.
"""

from __future__ import annotations

import asyncio
import warnings
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any, TypeVar, cast

from telegram import Chat, InlineKeyboardMarkup, Message, Update
from telegram.constants import ChatMemberStatus, ParseMode
from telegram.error import RetryAfter, TelegramError
from telegram.ext import CallbackContext, ExtBot
from telegram.warnings import PTBDeprecationWarning

from bot.i18n import pick_language, t
from bot.services import Services
from bot.storage import subscribers as subscribers_store
from bot.storage.subscribers import Subscriber
from bot.storage.tables import SUBSCRIBER_KINDS

T = TypeVar("T")

SERVICES_KEY = "services"
# A reply waits out a RetryAfter this long at most (the person is waiting too).
MAX_REPLY_WAIT_SECONDS = 5.0
# Room left under Telegram's 4096 characters for the text around a list.
MAX_LIST_CHARS = 3800
# Longest text a handler reads; more is answered with a friendly "too long".
MAX_INPUT_CHARS = 1000


class BotContext(CallbackContext[ExtBot[None], dict[Any, Any], dict[Any, Any], dict[Any, Any]]):
    """PTB's context with typed access to our shared services."""

    @property
    def services(self) -> Services:
        return cast(Services, self.application.bot_data[SERVICES_KEY])


def chat_kind(chat: Chat) -> str:
    return chat.type if chat.type in SUBSCRIBER_KINDS else "private"


async def subscriber_for(update: Update, context: BotContext) -> Subscriber:
    """The chat's subscriber row, created on first contact with the sender's language.

    A chat we marked inactive (it had blocked the bot) is active again once it writes to us.
    """
    chat = update.effective_chat
    assert chat is not None
    services = context.services
    async with services.db.sessions() as session, session.begin():
        found = await subscribers_store.get_subscriber(session, chat_id=chat.id)
        if found is not None and found.active:
            return found
        user = update.effective_user
        language = found.language if found else pick_language(user.language_code if user else None)
        created = await subscribers_store.upsert_subscriber(
            session,
            chat_id=chat.id,
            kind=chat_kind(chat),
            language=language,
            timezone=services.settings.default_timezone,
            digest_time=services.settings.digest_default_time,
        )
    if found is not None:  # reactivated: its rules can fire again
        await services.rulebook.refresh_chat(chat.id)
    return created


async def language_of(update: Update, context: BotContext) -> str:
    """The chat's language without creating it (for error replies)."""
    chat = update.effective_chat
    user = update.effective_user
    if chat is not None:
        async with context.services.db.sessions() as session:
            found = await subscribers_store.get_subscriber(session, chat_id=chat.id)
        if found is not None:
            return found.language
    return pick_language(user.language_code if user else None)


async def is_chat_admin(update: Update, context: BotContext) -> bool:
    """True in private chats, and in groups for the group's administrators only."""
    chat = update.effective_chat
    if chat is None:
        return False
    if chat.type == Chat.PRIVATE:
        return True
    message = update.effective_message
    # An anonymous administrator writes as the group itself.
    if message is not None and message.sender_chat is not None:
        return message.sender_chat.id == chat.id
    user = update.effective_user
    if user is None:
        return False
    member = await context.bot.get_chat_member(chat.id, user.id)
    return member.status in (ChatMemberStatus.ADMINISTRATOR, ChatMemberStatus.OWNER)


async def reply(
    update: Update,
    text: str,
    *,
    markup: InlineKeyboardMarkup | None = None,
) -> Message | None:
    """Answer in the update's chat (HTML, no link previews)."""
    chat = update.effective_chat
    if chat is None:
        return None
    return await patiently(
        lambda: chat.send_message(
            text,
            parse_mode=ParseMode.HTML,
            reply_markup=markup,
            disable_web_page_preview=True,
        )
    )


async def patiently(call: Callable[[], Awaitable[T]]) -> T:
    """Make a Telegram call; after a short RetryAfter, wait it out and try once more.

    Interactive answers are few, but they share the bot's rate with the alerts being sent.
    """
    try:
        return await call()
    except RetryAfter as exc:
        with warnings.catch_warnings(action="ignore", category=PTBDeprecationWarning):
            delay = exc.retry_after  # an int until PTB's timedelta switch; both handled
        seconds = delay.total_seconds() if isinstance(delay, timedelta) else float(delay)
        if seconds > MAX_REPLY_WAIT_SECONDS:
            raise
        await asyncio.sleep(seconds)
        return await call()


async def edit_or_reply(
    update: Update,
    text: str,
    *,
    markup: InlineKeyboardMarkup | None = None,
) -> None:
    """Replace the text of the message whose button was pressed (or answer anew)."""
    query = update.callback_query
    if query is not None and query.message is not None and isinstance(query.message, Message):
        message = query.message
        try:
            await patiently(
                lambda: message.edit_text(
                    text,
                    parse_mode=ParseMode.HTML,
                    reply_markup=markup,
                    disable_web_page_preview=True,
                )
            )
            return
        except TelegramError as exc:
            if "not modified" in str(exc).lower():
                return
            raise
    await reply(update, text, markup=markup)


async def require_admin(update: Update, context: BotContext, lang: str) -> bool:
    """In a group, let only its administrators go on; tell everyone else why not."""
    if await is_chat_admin(update, context):
        return True
    query = update.callback_query
    if query is not None:
        await query.answer(t(lang, "errors.admins_only"), show_alert=True)
    else:
        await reply(update, t(lang, "errors.admins_only"))
    return False


# Rule and source ids are 32-bit INTEGER columns: anything larger cannot name a row.
MAX_ROW_ID = 2**31 - 1


def row_id(text: str) -> int:
    """A stored id typed by a person or carried in button data; `ValueError` unless it is
    ASCII digits up to `MAX_ROW_ID` (int() would take "١٢", and the database not 10**30)."""
    if not (text.isascii() and text.isdigit()) or int(text) > MAX_ROW_ID:
        raise ValueError(f"not an id: {text[:20]!r}")
    return int(text)


def command_args(update: Update) -> str:
    """The text after the command, as typed (PTB's `context.args` loses quotes' spacing)."""
    message = update.effective_message
    text = (message.text or "") if message is not None else ""
    parts = text.split(maxsplit=1)
    return parts[1].strip() if len(parts) > 1 else ""


def fit_lines(lines: list[str], *, more: Callable[[int], str], limit: int = MAX_LIST_CHARS) -> str:
    """Join `lines`, dropping the tail (and saying how many went) to stay under `limit`."""
    kept: list[str] = []
    used = 0
    for index, line in enumerate(lines):
        used += len(line) + 1
        if used > limit:
            kept.append(more(len(lines) - index))
            break
        kept.append(line)
    return "\n".join(kept)
