"""`python -m bot sender`: drains the outbox into Telegram. Run two or more: exactly one is
active (it holds a PostgreSQL session-level advisory lock on a connection of its own), the
others stand by and try the lock every second, so one takes over within seconds of a crash.

The active sender checks its lock every second: if that connection dies, PostgreSQL has
already dropped the lock and a standby may be sending, so it stops sending at once.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
from typing import Any

from telegram import Bot
from telegram.request import HTTPXRequest

from bot.config import Settings
from bot.roles import (
    add_role_arguments,
    create_health_app,
    finish,
    open_services_retrying,
    reach_telegram,
    serve_http,
    sleep_or_stop,
    start_role,
)
from bot.services import Services
from bot.storage.locks import SENDER_LOCK, SessionLock

log = logging.getLogger(__name__)

LOCK_RETRY_SECONDS = 1.0
LOCK_CHECK_SECONDS = 1.0
STOP_SECONDS = 15.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    add_role_arguments(parser, default_port=None)


def run(args: argparse.Namespace) -> int:
    async def main(settings: Settings, stop: asyncio.Event) -> None:
        await _main(settings, stop, host=args.host, port=args.port)

    return start_role("sender", main, needs_token=True)


def make_bot(settings: Settings) -> Bot:
    """A Bot for TELEGRAM_API_URL with room for the sender's concurrent requests."""
    assert settings.telegram_bot_token is not None
    request = HTTPXRequest(
        connection_pool_size=256,
        connect_timeout=5.0,
        read_timeout=15.0,
        write_timeout=15.0,
        pool_timeout=10.0,
    )
    return Bot(
        settings.telegram_bot_token.get_secret_value(),
        base_url=f"{settings.telegram_api_url}/bot",
        base_file_url=f"{settings.telegram_api_url}/file/bot",
        request=request,
    )


class SenderRole:
    """Stands by for the sender lock, sends while it holds it, stops when it loses it."""

    def __init__(self, services: Services, bot: Bot) -> None:
        self.services = services
        self.bot = bot
        self.lock = SessionLock(services.settings.database_url, SENDER_LOCK)
        self.active = False
        self.takeovers = 0

    async def run(self, stop: asyncio.Event) -> None:
        try:
            while not stop.is_set():
                if not await self.lock.try_acquire():
                    await sleep_or_stop(stop, LOCK_RETRY_SECONDS)
                    continue
                self.takeovers += 1
                log.info("sender lock taken: this sender is active")
                self.active = True
                try:
                    await self._send_while_held(stop)
                finally:
                    self.active = False
        finally:
            await self.lock.release()

    async def _send_while_held(self, stop: asyncio.Event) -> None:
        from bot.delivery.sender import Sender

        # A standby taking over: the previous sender may still be recording what it sent.
        sender = Sender(self.services, self.bot, recover_on_start=False)
        task = asyncio.create_task(sender.run_forever(), name="sender")
        try:
            while not task.done():
                if await sleep_or_stop(stop, LOCK_CHECK_SECONDS):
                    sender.request_stop()  # finish what is in flight, hand the rest back
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(asyncio.shield(task), STOP_SECONDS)
                    return
                if not await self.lock.check():
                    log.error("sender lock lost (its connection died): stopping at once")
                    return
            log.error("the sender loop ended unexpectedly; standing by again")
        finally:
            if not task.done():
                task.cancel()
            with contextlib.suppress(asyncio.CancelledError, TimeoutError, Exception):
                await asyncio.wait_for(task, STOP_SECONDS)
            # Outcomes of messages already sent are kept, so the next active one skips them.
            with contextlib.suppress(TimeoutError, Exception):
                await asyncio.wait_for(sender.flush(), STOP_SECONDS)


async def _main(settings: Settings, stop: asyncio.Event, *, host: str, port: int | None) -> None:
    # The sender never matches: no rule index (a blocked chat's rules are dropped in SQL and
    # the workers learn it from the rule-change feed), so its memory stays small.
    services = await open_services_retrying(settings, stop, index_rules=False)
    if services is None:
        return
    bot = make_bot(settings)
    try:
        if not await reach_telegram(bot, stop):
            return
        async with bot:
            role = SenderRole(services, bot)
            tasks = [asyncio.create_task(role.run(stop), name="sender-role")]
            if port:

                def facts() -> dict[str, Any]:
                    return {"active": role.active, "takeovers": role.takeovers}

                app = create_health_app(services, role="sender", facts=facts)
                tasks.append(asyncio.create_task(serve_http(app, host=host, port=port, stop=stop)))
            await stop.wait()
            await finish(tasks)
    finally:
        await services.close()
