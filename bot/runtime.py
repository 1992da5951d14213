"""Running the whole bot in one process: services, the Telegram Application (long polling, or
a webhook under uvicorn when WEBHOOK_URL is set) and the background tasks (worker, sender,
digests), started in the application's `post_init` and cancelled in its `post_shutdown`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Coroutine
from concurrent.futures import Executor
from typing import Any

from telegram import Update
from telegram.ext import Application

from bot.config import Settings
from bot.delivery.sender import Sender
from bot.digests import Digests
from bot.services import Services, open_services
from bot.storage import sources as sources_store
from bot.worker import Worker
from feeds.catalogue import load_catalogue
from feeds.poll import make_parse_executor

log = logging.getLogger(__name__)

AnyApplication = Application[Any, Any, Any, Any, Any, Any]

# How long the loops get to finish their step on shutdown before they are cancelled.
STOP_GRACE_SECONDS = 5.0


class Background:
    """The worker, sender and digest loops as tasks of the running event loop."""

    def __init__(self, services: Services, *, digest_every_seconds: float = 60.0) -> None:
        self.services = services
        self.digest_every_seconds = digest_every_seconds
        self.tasks: list[asyncio.Task[None]] = []
        self.sender: Sender | None = None
        self.executor: Executor | None = None
        self.stopping = asyncio.Event()

    async def start(self, application: AnyApplication) -> None:
        """Start the loops (the application's `post_init` hook)."""
        if self.tasks:
            return
        self.sender = Sender(self.services, application.bot)
        # Parsing a big feed in a process keeps Telegram updates flowing meanwhile.
        self.executor = make_parse_executor()
        loops: dict[str, Coroutine[Any, Any, None]] = {
            "worker": Worker(self.services, executor=self.executor).run_forever(stop=self.stopping),
            "sender": self.sender.run_forever(),
            "digests": Digests(self.services).run_forever(every_seconds=self.digest_every_seconds),
        }
        for name, loop in loops.items():
            task = asyncio.create_task(loop, name=f"bot-{name}")
            task.add_done_callback(_report_exit)
            self.tasks.append(task)
        log.info("background tasks started: %s", ", ".join(loops))

    async def stop(self, _application: AnyApplication | None = None) -> None:
        """Stop the loops (the application's `post_shutdown` hook).

        The worker and the sender are asked to finish their step first: cancelling one in
        the middle of a transaction would leave SQLite's write lock held by its connection
        and the sender's last outcomes unwritten. Whatever has not ended in time is cancelled.
        """
        tasks, self.tasks = self.tasks, []
        self.stopping.set()
        if self.sender is not None:
            self.sender.request_stop()
        graceful = [task for task in tasks if task.get_name() != "bot-digests"]
        if graceful:
            await asyncio.wait(graceful, timeout=STOP_GRACE_SECONDS)
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self.sender is not None:
            await self.sender.flush()  # outcomes of messages already sent are kept
        if self.executor is not None:
            self.executor.shutdown(wait=False, cancel_futures=True)
            self.executor = None


def _report_exit(task: asyncio.Task[None]) -> None:
    if task.cancelled():
        return
    error = task.exception()
    if error is not None:
        log.error("background task %s stopped", task.get_name(), exc_info=error)


async def sync_catalogue(services: Services) -> int:
    """Insert (or refresh) the feeds of the catalogue; admins' feeds and poll state are kept."""
    sources = load_catalogue(services.settings.feeds_file)
    async with services.db.sessions() as session, session.begin():
        stored = await sources_store.upsert_sources(session, sources=sources)
    return len(stored)


def build(settings: Settings, services: Services, background: Background) -> AnyApplication:
    """The production Application with the background tasks hooked into its lifecycle."""
    from bot.app import build_application  # the conversation side (handlers, commands)

    return build_application(
        settings,
        services,
        on_start=background.start,
        on_stop=background.stop,
        webhook=bool(settings.webhook_url),
    )


async def run_bot(
    settings: Settings,
    *,
    stop: asyncio.Event,
    host: str = "0.0.0.0",
    port: int = 8080,
    digest_every_seconds: float = 60.0,
    services: Services | None = None,
) -> None:
    """Run until `stop` is set: migrate, open services, start Telegram and the loops.

    With `services` (already open; tests) those are used and left open.
    """
    owned = services is None
    if services is None:
        services = await open_services(settings)
    try:
        count = await sync_catalogue(services)
        log.info("database %s ready; %d catalogue feeds", settings.database_url_safe, count)
        background = Background(services, digest_every_seconds=digest_every_seconds)
        application = build(settings, services, background)
        async with application:  # initialize ... shutdown
            # run_polling() would call these; we drive the application ourselves so that
            # polling and webhook mode share one path.
            if application.post_init is not None:
                await application.post_init(application)
            await application.start()
            try:
                if settings.webhook_url:
                    await serve_webhook(application, services, stop=stop, host=host, port=port)
                else:
                    await _poll_updates(application, stop=stop)
            finally:
                await application.stop()
                if application.post_shutdown is not None:
                    await application.post_shutdown(application)
    finally:
        if owned:
            await services.close()


async def _poll_updates(application: AnyApplication, *, stop: asyncio.Event) -> None:
    updater = application.updater
    if updater is None:
        raise RuntimeError("the application was built without an updater")
    await application.bot.delete_webhook()
    await updater.start_polling(allowed_updates=Update.ALL_TYPES)
    log.info("polling Telegram for updates")
    try:
        await stop.wait()
    finally:
        await updater.stop()


async def serve_webhook(
    application: AnyApplication,
    services: Services,
    *,
    stop: asyncio.Event,
    host: str,
    port: int,
    register: bool = True,
) -> None:
    """Serve the webhook, /healthz and /metrics until `stop`; `register` first tells
    Telegram the webhook URL (the `web` role does that itself, tolerating failure)."""
    from bot.roles import serve_http
    from bot.web import create_web_app

    settings = services.settings
    assert settings.webhook_url and settings.webhook_secret
    if register:
        await register_webhook(application, settings)
    log.info("webhook server on %s:%d", host, port)
    await serve_http(create_web_app(services, application), host=host, port=port, stop=stop)


async def register_webhook(application: AnyApplication, settings: Settings) -> None:
    """Point Telegram at WEBHOOK_URL with the secret it must send back."""
    assert settings.webhook_url and settings.webhook_secret
    await application.bot.set_webhook(
        url=settings.webhook_url,
        secret_token=settings.webhook_secret.get_secret_value(),
        allowed_updates=Update.ALL_TYPES,
    )
