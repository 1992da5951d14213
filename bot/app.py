"""`build_application`: the python-telegram-bot `Application` with every handler, the error
handler and the command menus (`setMyCommands`, Ukrainian and English).

The runtime opens `Services` first and passes them in; `on_start` / `on_stop` let it start and
stop its own work (worker, sender, digests) with the application.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from telegram import BotCommand
from telegram.error import TelegramError
from telegram.ext import Application, ContextTypes

from bot.config import Settings
from bot.handlers import admin, errors, groups, info, rules, start
from bot.handlers import settings as preferences
from bot.handlers.common import SERVICES_KEY, BotContext
from bot.i18n import LANGUAGES, t
from bot.services import Services

logger = logging.getLogger(__name__)

BotApplication = Application[Any, BotContext, Any, Any, Any, Any]
Hook = Callable[[BotApplication], Awaitable[None]]

# The menu people see, in this order; admin commands stay out of it.
MENU_COMMANDS = (
    "start",
    "add",
    "rules",
    "test",
    "digest",
    "quiet",
    "status",
    "sources",
    "timezone",
    "language",
    "stop",
    "forget",
    "help",
)


def menu(lang: str) -> list[BotCommand]:
    """The command menu in `lang` (descriptions from the catalogue, `info.cmd_<name>`)."""
    return [BotCommand(name, t(lang, f"info.cmd_{name}")) for name in MENU_COMMANDS]


async def set_commands(app: BotApplication) -> None:
    """Register the menus: English as the default, Ukrainian for Ukrainian clients."""
    try:
        for lang in LANGUAGES:
            await app.bot.set_my_commands(menu(lang), language_code=None if lang == "en" else lang)
    except TelegramError as exc:  # the menu is a nicety: never refuse to start over it
        logger.warning("could not register the command menus: %s", exc)


def build_application(
    settings: Settings,
    services: Services,
    *,
    on_start: Hook | None = None,
    on_stop: Hook | None = None,
    webhook: bool = False,
) -> BotApplication:
    """The bot's Application pointed at `TELEGRAM_API_URL`; `webhook=True` builds it without
    an updater (updates are fed in by the web app). Raises `ValueError` without a token."""
    if settings.telegram_bot_token is None:
        raise ValueError("TELEGRAM_BOT_TOKEN is not set")
    token = settings.telegram_bot_token.get_secret_value()
    api = settings.telegram_api_url

    async def post_init(app: BotApplication) -> None:
        await set_commands(app)
        if on_start is not None:
            await on_start(app)

    async def post_shutdown(app: BotApplication) -> None:
        if on_stop is not None:
            await on_stop(app)

    builder = (
        Application.builder()
        .token(token)
        .base_url(f"{api}/bot")
        .base_file_url(f"{api}/file/bot")
        .context_types(ContextTypes(context=BotContext))
        .post_init(post_init)
        .post_shutdown(post_shutdown)
    )
    if webhook:
        builder = builder.updater(None)
    app: BotApplication = builder.build()
    app.bot_data[SERVICES_KEY] = services
    for handler in errors.guard_handlers():
        app.add_handler(handler, group=-1)
    for module in (start, rules, preferences, info, admin, groups):
        for handler in module.handlers():
            app.add_handler(handler)
    for handler in errors.fallback_handlers():
        app.add_handler(handler)
    app.add_error_handler(errors.error_handler(token))
    return app
