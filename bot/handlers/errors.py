"""Bad input and failures: a message too long to read, an unknown command, and the one error
handler that logs what went wrong (never the token) and answers the person kindly.
"""

from __future__ import annotations

import contextlib
import logging
import traceback
from collections.abc import Callable, Coroutine
from typing import Any

from telegram import Update
from telegram.error import Forbidden, NetworkError, TelegramError
from telegram.ext import ApplicationHandlerStop, BaseHandler, MessageHandler, filters

from bot.handlers.common import MAX_INPUT_CHARS, BotContext, language_of, reply
from bot.i18n import t
from bot.logs import RedactingFilter, token_secrets

logger = logging.getLogger("bot.handlers")


async def too_long(update: Update, context: BotContext) -> None:
    """A message longer than anything we read: say so and handle it no further."""
    message = update.effective_message
    if message is None or message.text is None or len(message.text) <= MAX_INPUT_CHARS:
        return
    chat = update.effective_chat
    if chat is not None and (chat.type == chat.PRIVATE or message.text.startswith("/")):
        lang = await language_of(update, context)
        await reply(update, t(lang, "errors.too_long", limit=MAX_INPUT_CHARS))
    raise ApplicationHandlerStop


async def unknown_command(update: Update, context: BotContext) -> None:
    """A command we do not have: point to /help."""
    message = update.effective_message
    chat = update.effective_chat
    if message is None or message.text is None or chat is None:
        return
    command = message.text.split(maxsplit=1)[0]
    name, _, bot_name = command.partition("@")
    ours = bool(bot_name) and bot_name.lower() == (context.bot.username or "").lower()
    # In a group, a bare "/cmd" may be for another bot: answer only what names us.
    if (bot_name and not ours) or (chat.type != chat.PRIVATE and not ours):
        return
    lang = await language_of(update, context)
    await reply(update, t(lang, "errors.unknown_command", command=name[:40].replace("<", "")))


def guard_handlers() -> list[BaseHandler[Update, BotContext, None]]:
    """Run before every other handler (group -1)."""
    return [MessageHandler(filters.TEXT, too_long)]


def fallback_handlers() -> list[BaseHandler[Update, BotContext, None]]:
    """Run after every other handler found nothing to do (registered last)."""
    return [MessageHandler(filters.COMMAND, unknown_command)]


ErrorCallback = Callable[[object, BotContext], Coroutine[Any, Any, None]]


def error_handler(token: str) -> ErrorCallback:
    """The application's error handler: log without `token`, then apologise to the chat."""
    redactor = RedactingFilter(token_secrets(token))

    async def on_error(update: object, context: BotContext) -> None:
        """Log an error a handler (or the updater) raised; tell the person something failed."""
        error = context.error
        if error is None:
            return
        if isinstance(error, NetworkError) and not isinstance(update, Update):
            # getUpdates hiccups: PTB retries by itself.
            logger.warning("Telegram unreachable: %s", redactor.redact(str(error)))
            return
        text = "".join(traceback.format_exception(type(error), error, error.__traceback__))
        where = f"update {update.update_id}" if isinstance(update, Update) else "background"
        logger.error("error while handling %s:\n%s", where, redactor.redact(text))
        if not isinstance(update, Update) or update.effective_chat is None:
            return
        if isinstance(error, Forbidden):  # we may not write there at all
            return
        if update.callback_query is not None:
            with contextlib.suppress(TelegramError):  # it may have been answered already
                await update.callback_query.answer()
        try:
            lang = await language_of(update, context)
            await reply(update, t(lang, "errors.internal"))
        except Exception:  # the apology itself failed: the log above is all we can do
            logger.warning("could not tell chat %s about the error", update.effective_chat.id)

    return on_error
