"""What the scale-out roles (`web`, `worker`, `sender`, `digest`) share: the PostgreSQL check,
process start-up (settings, logging without the token, signals), the rule-sync loop, a small
health server, and the rule for transient database errors (log one line, back off, go on).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import Awaitable, Callable, Coroutine
from typing import TYPE_CHECKING, Any

import httpx
from sqlalchemy import func, select
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from bot.config import ConfigError, Settings, load_settings
from bot.logs import setup_logging, token_secrets
from bot.metrics import CONTENT_TYPE_LATEST
from bot.storage import outbox
from bot.storage.db import is_sqlite
from bot.storage.errors import MigrationError
from bot.storage.tables import SourceRow

if TYPE_CHECKING:
    # python-telegram-bot (~20 MB) is imported by the roles that talk to Telegram only.
    from telegram import Bot

    from bot.services import Services

log = logging.getLogger(__name__)

NEEDS_POSTGRES = (
    "the multi-process roles need PostgreSQL (DATABASE_URL=postgresql://...); "
    "use `python -m bot run` for the one-process mode"
)
BACKOFF_MIN_SECONDS = 1.0
BACKOFF_MAX_SECONDS = 10.0
RULE_SYNC_SECONDS = 2.0
# On SIGTERM a role finishes its current step; one that takes longer is cancelled.
STOP_GRACE_SECONDS = 20.0
HEALTH_DB_TIMEOUT_SECONDS = 3.0


def is_transient_db_error(exc: BaseException) -> bool:
    """A database that is restarting, unreachable or cut us off: wait and try again."""
    if isinstance(exc, OperationalError | InterfaceError):
        return True
    if isinstance(exc, DBAPIError):
        return exc.connection_invalidated or _looks_like_connection(exc.orig)
    return isinstance(exc, OSError | ConnectionError | TimeoutError) or _looks_like_connection(exc)


def log_step_failure(step: str, exc: BaseException, delay: float) -> None:
    """One line for a database outage (expected, waited out); a traceback for anything else."""
    if is_transient_db_error(exc):
        log.warning(
            "%s: database unavailable (%s); retrying in %.0f s", step, type(exc).__name__, delay
        )
    else:
        log.error("%s failed; retrying in %.0f s", step, delay, exc_info=exc)


def _looks_like_connection(exc: BaseException | None) -> bool:
    # asyncpg's connection errors, without importing asyncpg's exception tree everywhere.
    name = type(exc).__name__ if exc is not None else ""
    return any(
        word in name
        for word in ("Connection", "CannotConnectNow", "AdminShutdown", "CrashShutdown")
    )


class Backoff:
    """Waits between retries of a failing step: 1, 2, 4, 8, 10, 10 ... seconds."""

    def __init__(
        self, *, first: float = BACKOFF_MIN_SECONDS, most: float = BACKOFF_MAX_SECONDS
    ) -> None:
        self.first = first
        self.most = most
        self.next = first

    def failed(self) -> float:
        delay, self.next = self.next, min(self.most, self.next * 2)
        return delay

    def succeeded(self) -> None:
        self.next = self.first


async def sleep_or_stop(stop: asyncio.Event, seconds: float) -> bool:
    """Sleep `seconds` unless `stop` is set first; True when stopping."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), timeout=seconds)
    return stop.is_set()


async def guarded_loop(
    name: str,
    step: Callable[[], Awaitable[object]],
    *,
    stop: asyncio.Event,
    every_seconds: float,
) -> None:
    """Run `step` every `every_seconds` until `stop`; a database outage is logged in one line
    and waited out (1..10 s), any other error is logged with its traceback, and it goes on."""
    backoff = Backoff()
    while not stop.is_set():
        try:
            await step()
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            delay = backoff.failed()
            log_step_failure(name, exc, delay)
            if await sleep_or_stop(stop, delay):
                return
            continue
        backoff.succeeded()
        if await sleep_or_stop(stop, every_seconds):
            return


def add_role_arguments(parser: argparse.ArgumentParser, *, default_port: int | None) -> None:
    """`--host`/`--port` for the health and metrics server (off when no port is given)."""
    parser.add_argument(
        "--host", default="0.0.0.0", help="address for /healthz and /metrics (default 0.0.0.0)"
    )
    parser.add_argument(
        "--port",
        type=int,
        default=default_port,
        help="port for /healthz and /metrics"
        + (f" (default {default_port})" if default_port else " (default: not served)"),
    )


RoleMain = Callable[[Settings, asyncio.Event], Coroutine[Any, Any, None]]


def start_role(role: str, main: RoleMain, *, needs_token: bool) -> int:
    """Settings, the PostgreSQL check, logging and signals; then `main(settings, stop)`.

    Exit status: 0 after a clean stop, 2 for bad configuration (SQLite included), 1 when the
    database cannot be migrated.
    """
    try:
        settings = load_settings()
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    if is_sqlite(settings.database_url):
        print(f"{role}: {NEEDS_POSTGRES}", file=sys.stderr)
        return 2
    token = settings.telegram_bot_token.get_secret_value() if settings.telegram_bot_token else None
    if needs_token and not token:
        print(f"{role}: TELEGRAM_BOT_TOKEN is not set (get one from @BotFather)", file=sys.stderr)
        return 2
    setup_logging(settings.log_level, secrets=token_secrets(token))

    async def run() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for signum in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(signum, stop.set)
        log.info("%s starting on %s", role, settings.database_url_safe)
        await main(settings, stop)
        log.info("%s stopped", role)

    try:
        asyncio.run(run())
    except MigrationError as exc:
        logging.getLogger("bot").error("%s: database migration failed: %s", role, exc)
        return 1
    except KeyboardInterrupt:
        pass
    except Exception:
        # Through logging, so the traceback passes the token filter.
        logging.getLogger("bot").exception("%s stopped by an unexpected error", role)
        return 1
    return 0


async def open_services_retrying(
    settings: Settings, stop: asyncio.Event, *, index_rules: bool = True
) -> Services | None:
    """Migrate and open the services, waiting out a database that is not up yet (1..10 s);
    None when `stop` came first. Errors other than an unreachable database are raised.
    `index_rules=False`: see `open_services`."""
    from bot.services import open_services

    backoff = Backoff()
    while True:
        try:
            return await open_services(settings, index_rules=index_rules)
        except MigrationError as exc:
            if not is_transient_db_error(exc.__cause__ or exc):
                raise
            reason = str(exc)
        except Exception as exc:
            if not is_transient_db_error(exc):
                raise
            reason = type(exc).__name__
        delay = backoff.failed()
        log.warning("database not reachable (%s); retrying in %.0f s", reason, delay)
        if await sleep_or_stop(stop, delay):
            return None


async def finish(tasks: list[asyncio.Task[Any]], *, grace: float = STOP_GRACE_SECONDS) -> None:
    """Wait up to `grace` seconds for tasks told to stop, then cancel what is left."""
    if not tasks:
        return
    _done, pending = await asyncio.wait(tasks, timeout=grace)
    for task in pending:
        log.warning("%s did not stop within %.0f s: cancelled", task.get_name(), grace)
        task.cancel()
    for task in tasks:
        with contextlib.suppress(asyncio.CancelledError):
            try:
                await task
            except Exception:
                log.exception("%s ended with an error", task.get_name())


def rule_sync_loop(services: Services, stop: asyncio.Event) -> Coroutine[Any, Any, None]:
    """Keep this process's rule index in step with changes other processes commit."""
    return guarded_loop(
        "rule sync", services.rulebook.catch_up, stop=stop, every_seconds=RULE_SYNC_SECONDS
    )


# -- /healthz and /metrics for the worker, sender and digest roles --------------------------

HealthFacts = Callable[[], dict[str, Any]]


def create_health_app(services: Services, *, role: str, facts: HealthFacts) -> Starlette:
    """`/healthz` (JSON: the database, queue depth, failing feeds and the role's own facts;
    503 when the database does not answer) and `/metrics` (Prometheus)."""

    async def healthz(_request: Request) -> Response:
        body: dict[str, Any] = {"role": role, "database": "ok"}
        status = 200
        try:
            async with asyncio.timeout(HEALTH_DB_TIMEOUT_SECONDS):
                async with services.db.sessions() as session:
                    body["queue_depth"] = await outbox.depth(session)
                    body["failing_sources"] = await _failing_sources(session)
        except Exception as exc:  # any database failure means "not healthy", said plainly
            body["database"] = f"unreachable: {type(exc).__name__}"
            status = 503
        last = services.metrics.last_poll_success
        body["last_successful_poll"] = last.isoformat() if last else None
        body.update(facts())
        if body.get("healthy") is False:
            status = 503
        return JSONResponse(body, status_code=status)

    async def metrics(_request: Request) -> Response:
        return Response(services.metrics.exposition(), media_type=CONTENT_TYPE_LATEST)

    return Starlette(
        routes=[
            Route("/healthz", healthz, methods=["GET"]),
            Route("/metrics", metrics, methods=["GET"]),
        ]
    )


async def _failing_sources(session: AsyncSession) -> int:
    stmt = (
        select(func.count())
        .select_from(SourceRow)
        .where(SourceRow.enabled.is_(True), SourceRow.consecutive_failures > 0)
    )
    return int((await session.execute(stmt)).scalar_one())


async def serve_http(app: Any, *, host: str, port: int, stop: asyncio.Event) -> None:
    """Serve an ASGI app under uvicorn until `stop` is set."""
    import uvicorn

    config = uvicorn.Config(
        app, host=host, port=port, log_config=None, access_log=False, lifespan="off"
    )
    server = uvicorn.Server(config)
    # uvicorn would install its own SIGINT/SIGTERM handlers; the role owns the signals.
    server.capture_signals = contextlib.nullcontext  # type: ignore[method-assign,assignment]
    serving = asyncio.create_task(server.serve(), name="http")
    log.info("serving /healthz and /metrics on %s:%d", host, port)
    stopping = asyncio.create_task(stop.wait())
    try:
        await asyncio.wait({serving, stopping}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        server.should_exit = True
        stopping.cancel()
        await serving


async def retry_until_done(
    name: str, step: Callable[[], Awaitable[object]], *, stop: asyncio.Event
) -> bool:
    """Run `step` until it succeeds once, waiting out database outages; False if stopped."""
    backoff = Backoff()
    while not stop.is_set():
        try:
            await step()
            return True
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            delay = backoff.failed()
            log_step_failure(name, exc, delay)
            if await sleep_or_stop(stop, delay):
                break
    return False


async def reach_telegram(bot: Bot, stop: asyncio.Event) -> bool:
    """Reach the Bot API once (getMe), waiting out an outage; False if stopped first."""
    from telegram.error import TelegramError

    backoff = Backoff()
    while not stop.is_set():
        try:
            await bot.initialize()
            return True
        except (TelegramError, httpx.HTTPError) as exc:
            delay = backoff.failed()
            log.warning("Telegram not reachable (%s); retrying in %.0f s", exc, delay)
            if await sleep_or_stop(stop, delay):
                break
    return False
