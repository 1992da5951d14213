"""The web app: Telegram's webhook (secret checked, updates reach the Application), /healthz
and /metrics."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from telegram import Update
from telegram.ext import ContextTypes, MessageHandler, filters

from bot.services import Services
from bot.storage.db import open_database
from bot.web import SECRET_HEADER, create_web_app, webhook_path
from tests.bot.pipeline_support import *  # noqa: F403
from tests.bot.pipeline_support import make_settings, opened
from tests.fakes import FakeTelegramAPI

pytest_plugins = ["tests.fakes.fixtures"]

SECRET = "s3cret_token-1"
UPDATE = {
    "update_id": 7,
    "message": {
        "message_id": 1,
        "date": 1_700_000_000,
        "chat": {"id": 42, "type": "private", "first_name": "A"},
        "from": {"id": 42, "is_bot": False, "first_name": "A"},
        "text": "hello",
    },
}


@pytest.fixture
async def services(fake_telegram: FakeTelegramAPI, database_url: str) -> AsyncIterator[Services]:
    settings = make_settings(
        fake_telegram,
        database_url,
        webhook_url="https://bot.example.org/tg/hook",
        webhook_secret=SECRET,
    )
    async with opened(settings) as svc:
        yield svc


def client(app: Any) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://bot")


def test_webhook_path_comes_from_the_webhook_url() -> None:
    assert webhook_path("https://x.example/tg/hook") == "/tg/hook"
    assert webhook_path("https://x.example") == "/telegram"
    assert webhook_path(None) == "/telegram"


async def test_webhook_checks_the_secret_and_hands_updates_to_the_application(
    services: Services, fake_telegram: FakeTelegramAPI
) -> None:
    received: list[str] = []

    async def record(update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
        assert update.message is not None
        received.append(update.message.text or "")

    application = fake_telegram.application_builder().updater(None).build()
    application.add_handler(MessageHandler(filters.TEXT, record))
    async with application:
        await application.start()
        async with client(create_web_app(services, application)) as http:
            wrong = await http.post("/tg/hook", json=UPDATE, headers={SECRET_HEADER: "nope"})
            missing = await http.post("/tg/hook", json=UPDATE)
            garbage = await http.post("/tg/hook", content=b"{", headers={SECRET_HEADER: SECRET})
            ok = await http.post("/tg/hook", json=UPDATE, headers={SECRET_HEADER: SECRET})
            for _ in range(100):
                if received:
                    break
                await asyncio.sleep(0.01)
        await application.stop()
    assert (wrong.status_code, missing.status_code) == (403, 403)
    assert garbage.status_code == 400
    assert ok.status_code == 200
    assert received == ["hello"]


async def test_healthz_reports_database_last_poll_and_queue(services: Services) -> None:
    async with client(create_web_app(services, None)) as http:
        healthy = await http.get("/healthz")
    assert healthy.status_code == 200
    body = healthy.json()
    assert body["database"] == "ok" and body["queue_depth"] == 0
    assert body["last_successful_poll"] is None

    broken = dataclasses.replace(
        services, db=open_database("postgresql+asyncpg://nobody@127.0.0.1:1/none")
    )
    try:
        async with client(create_web_app(broken, None)) as http:
            down = await http.get("/healthz")
    finally:
        await broken.db.dispose()
    assert down.status_code == 503 and down.json()["database"].startswith("unreachable")


async def test_metrics_are_prometheus_text(services: Services) -> None:
    services.metrics.sent.labels("alert").inc(3)
    async with client(create_web_app(services, None)) as http:
        response = await http.get("/metrics")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/plain")
    text = response.text
    assert 'bot_messages_sent_total{kind="alert"} 3.0' in text
    for name in ("bot_feed_polls", "bot_outbox_depth", "bot_telegram_429", "bot_alert_lag_seconds"):
        assert name in text


def test_log_records_never_show_the_token() -> None:
    import io
    import logging

    from bot.logs import setup_logging, token_secrets

    token = "123456789:AAFakeTokenForTests_abcdefghijklmnopq"
    stream = io.StringIO()
    handler = setup_logging("INFO", secrets=token_secrets(token), stream=stream)
    try:
        log = logging.getLogger("bot.test")
        log.info("calling https://api.telegram.org/bot%s/getMe", token)
        try:
            raise RuntimeError(f"failed at /bot{token}/sendMessage")
        except RuntimeError:
            log.exception("boom")
    finally:
        logging.getLogger().removeHandler(handler)
    text = stream.getvalue()
    assert "AAFakeToken" not in text and text.count("[REDACTED]") >= 2
    assert logging.getLogger("httpx").level >= logging.WARNING
