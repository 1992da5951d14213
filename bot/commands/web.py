"""`python -m bot web`: Telegram's webhook receiver with /healthz and /metrics. Run any number
behind a load balancer; it neither polls feeds nor drains the outbox (the handlers write to
the database, and what goes out in the background is queued for the `sender` role)."""

from __future__ import annotations

import argparse
import asyncio
import logging
import sys

import httpx
from telegram.error import TelegramError

from bot.config import Settings
from bot.roles import (
    finish,
    open_services_retrying,
    reach_telegram,
    rule_sync_loop,
    start_role,
)

log = logging.getLogger(__name__)

NEEDS_WEBHOOK = (
    "web: WEBHOOK_URL (the public https:// address Telegram calls) and WEBHOOK_SECRET "
    "must be set; without a public address use `python -m bot run` (long polling)"
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="0.0.0.0", help="address to listen on (default 0.0.0.0)")
    parser.add_argument(
        "--port", type=int, default=8080, help="port to listen on (default 8080; Procfile: $PORT)"
    )


def run(args: argparse.Namespace) -> int:
    async def main(settings: Settings, stop: asyncio.Event) -> None:
        if not settings.webhook_url or not settings.webhook_secret:
            print(NEEDS_WEBHOOK, file=sys.stderr)
            raise _MissingWebhook
        await _main(settings, stop, host=args.host, port=args.port)

    try:
        return start_role("web", main, needs_token=True)
    except _MissingWebhook:
        return 2


class _MissingWebhook(Exception):
    pass


async def _main(settings: Settings, stop: asyncio.Event, *, host: str, port: int) -> None:
    from bot.app import build_application
    from bot.runtime import register_webhook, serve_webhook

    services = await open_services_retrying(settings, stop)
    if services is None:
        return
    try:
        application = build_application(settings, services, webhook=True)
        # A Telegram outage at start-up (getMe failing) is waited out, not fatal.
        if not await reach_telegram(application.bot, stop):
            return
        async with application:  # initialize ... shutdown
            try:
                # post_init publishes the command menu; Telegram being away must not stop us.
                if application.post_init is not None:
                    await application.post_init(application)
                await register_webhook(application, settings)
            except (TelegramError, httpx.HTTPError) as exc:
                log.warning("could not register the webhook with Telegram now: %s", exc)
            await application.start()
            sync = asyncio.create_task(rule_sync_loop(services, stop), name="rule-sync")
            try:
                await serve_webhook(
                    application, services, stop=stop, host=host, port=port, register=False
                )
            finally:
                stop.set()
                await finish([sync])
                await application.stop()
                if application.post_shutdown is not None:
                    await application.post_shutdown(application)
    finally:
        await services.close()
