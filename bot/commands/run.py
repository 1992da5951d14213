"""`python -m bot` / `python -m bot run`: the whole bot in one process until SIGINT/SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import logging
import signal
import sys

from bot.config import ConfigError, Settings, load_settings
from bot.logs import setup_logging, token_secrets
from bot.storage.errors import MigrationError

NO_TOKEN = """\
TELEGRAM_BOT_TOKEN is not set, so the bot cannot talk to Telegram.

To get a token: open Telegram, write to @BotFather, send /newbot and follow its two
questions (a name, then a username ending in "bot"). It answers with a token like
123456789:AA... Put it in the environment or in a .env file next to where you run the bot:

    TELEGRAM_BOT_TOKEN=123456789:AA...

Meanwhile, see what the bot would find in a feed without Telegram:

    python -m bot scan examples/winter-outages.xml
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--host", default="0.0.0.0", help="webhook mode: address to listen on (default 0.0.0.0)"
    )
    parser.add_argument(
        "--port",
        type=int,
        default=8080,
        help="webhook mode: port to listen on (default 8080; the Procfile passes $PORT)",
    )


def run(args: argparse.Namespace) -> int:
    try:
        settings = load_settings()
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    if settings.telegram_bot_token is None:
        print(NO_TOKEN, file=sys.stderr)
        return 2
    token = settings.telegram_bot_token.get_secret_value()
    setup_logging(settings.log_level, secrets=token_secrets(token))
    try:
        asyncio.run(_main(settings, host=args.host, port=args.port))
    except MigrationError as exc:
        logging.getLogger("bot").error("database migration failed: %s", exc)
        return 1
    except KeyboardInterrupt:
        pass
    return 0


async def _main(settings: Settings, *, host: str, port: int) -> None:
    from bot.runtime import run_bot

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    await run_bot(settings, stop=stop, host=host, port=port)
