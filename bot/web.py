"""The HTTP side of the bot (PTB's `updater(None)` pattern): a Starlette app that takes
Telegram's webhook calls (checking `X-Telegram-Bot-Api-Secret-Token`) and serves `/healthz`
and `/metrics` (Prometheus).
"""

from __future__ import annotations

import hmac
import json
import logging
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy import text
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route
from telegram import Update
from telegram.ext import Application

from bot.metrics import CONTENT_TYPE_LATEST
from bot.services import Services
from bot.storage import outbox
from bot.storage.db import utc_now

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
DEFAULT_WEBHOOK_PATH = "/telegram"
MAX_UPDATE_BYTES = 1_000_000


def webhook_path(webhook_url: str | None) -> str:
    """The path Telegram will call: the path of WEBHOOK_URL (`/telegram` when it has none)."""
    path = urlsplit(webhook_url).path if webhook_url else ""
    return path if path and path != "/" else DEFAULT_WEBHOOK_PATH


def create_web_app(
    services: Services, application: Application[Any, Any, Any, Any, Any, Any] | None
) -> Starlette:
    """The Starlette app; `application` None serves only `/healthz` and `/metrics`."""
    settings = services.settings
    secret = settings.webhook_secret.get_secret_value() if settings.webhook_secret else None

    async def webhook(request: Request) -> Response:
        if application is None:
            return PlainTextResponse("webhook not enabled", status_code=404)
        given = request.headers.get(SECRET_HEADER, "")
        if secret is None or not hmac.compare_digest(given.encode(), secret.encode()):
            return PlainTextResponse("forbidden", status_code=403)
        body = await request.body()
        if len(body) > MAX_UPDATE_BYTES:
            return PlainTextResponse("too large", status_code=413)
        try:
            data = json.loads(body)
            update = Update.de_json(data, application.bot)
        except (ValueError, TypeError, KeyError) as exc:
            log.warning("ignored a webhook call that is not an update: %s", type(exc).__name__)
            return PlainTextResponse("bad update", status_code=400)
        if update is None:
            return PlainTextResponse("bad update", status_code=400)
        await application.update_queue.put(update)
        return Response(status_code=200)

    async def healthz(_request: Request) -> Response:
        body: dict[str, Any] = {"database": "ok"}
        status = 200
        try:
            async with services.db.sessions() as session:
                await session.execute(text("SELECT 1"))
                body["queue_depth"] = await outbox.depth(session)
        except Exception as exc:  # any database failure means "not healthy", said plainly
            body["database"] = f"unreachable: {type(exc).__name__}"
            status = 503
        last: datetime | None = services.metrics.last_poll_success
        body["last_successful_poll"] = last.isoformat() if last else None
        body["seconds_since_last_poll"] = (
            round((utc_now() - last).total_seconds(), 1) if last else None
        )
        return JSONResponse(body, status_code=status)

    async def metrics(_request: Request) -> Response:
        return Response(services.metrics.exposition(), media_type=CONTENT_TYPE_LATEST)

    routes = [
        Route(webhook_path(settings.webhook_url), webhook, methods=["POST"]),
        Route("/healthz", healthz, methods=["GET"]),
        Route("/metrics", metrics, methods=["GET"]),
    ]
    return Starlette(routes=routes)
