"""Webhook calls without the right `X-Telegram-Bot-Api-Secret-Token` are refused (403) before
the body is read and never reach the handlers of the real Application; the right one is
handled (the bot answers through the fake Bot API)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from bot.app import BotApplication, build_application
from bot.services import Services
from bot.web import SECRET_HEADER, create_web_app
from tests.bot.pipeline_support import make_settings, opened
from tests.fakes import FakeTelegramAPI
from tests.security.support import error_records

SECRET = "Hook_secret-0123456789abcdefXYZ"
PATH = "/tg/hook"
CHAT = 4242


def update(update_id: int, text: str = "/help") -> dict[str, Any]:
    command = text.split()[0]
    return {
        "update_id": update_id,
        "message": {
            "message_id": update_id,
            "date": 1_700_000_000,
            "chat": {"id": CHAT, "type": "private", "first_name": "Eve"},
            "from": {"id": CHAT, "is_bot": False, "first_name": "Eve", "language_code": "en"},
            "text": text,
            "entities": [{"type": "bot_command", "offset": 0, "length": len(command)}],
        },
    }


@asynccontextmanager
async def webhook_bot(
    api: FakeTelegramAPI, tmp_path: Path, **overrides: Any
) -> AsyncIterator[tuple[httpx.AsyncClient, BotApplication, Services]]:
    settings = make_settings(
        api,
        f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}",
        allow_private_feed_hosts=False,
        **overrides,
    )
    async with opened(settings, migrate=True) as services:
        application = build_application(settings, services, webhook=True)
        async with application:
            await application.start()
            transport = httpx.ASGITransport(app=create_web_app(services, application))
            try:
                async with httpx.AsyncClient(transport=transport, base_url="http://bot") as http:
                    yield http, application, services
            finally:
                await application.stop()


async def _drained(application: BotApplication) -> None:
    for _ in range(100):
        if application.update_queue.empty():
            break
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.2)  # the last update may still be in its handler


WRONG_HEADERS: list[dict[str, str]] = [
    {},
    {SECRET_HEADER: ""},
    {SECRET_HEADER: "nope"},
    {SECRET_HEADER: SECRET[:-1]},  # a prefix
    {SECRET_HEADER: SECRET + "x"},  # longer
    {SECRET_HEADER: SECRET.lower()},
    {SECRET_HEADER: SECRET.upper()},
    {SECRET_HEADER: SECRET[1:] + SECRET[0]},
    {SECRET_HEADER: f"{SECRET},{SECRET}"},
    {SECRET_HEADER: "Ωmega-" + SECRET},  # non-ASCII sent as UTF-8 bytes
    {"X-Telegram-Bot-Api-Secret": SECRET},  # the right value under another name
    {"Authorization": f"Bearer {SECRET}"},
]


async def test_wrong_or_missing_secret_is_refused_and_reaches_no_handler(
    fake_telegram: FakeTelegramAPI, tmp_path: Path
) -> None:
    api = fake_telegram
    async with webhook_bot(
        api, tmp_path, webhook_url=f"https://bot.example.org{PATH}", webhook_secret=SECRET
    ) as (http, application, _services):
        with error_records() as errors:
            statuses = []
            for n, headers in enumerate(WRONG_HEADERS, start=1):
                encoded = {k.encode(): v.encode() for k, v in headers.items()}
                response = await http.post(PATH, json=update(n), headers=encoded)
                statuses.append(response.status_code)
            # The secret in the query string is not the header either.
            query = await http.post(f"{PATH}?secret_token={SECRET}", json=update(50))
            statuses.append(query.status_code)
            # An oversized or broken body without the secret: refused for the secret first.
            big = await http.post(PATH, content=b"{" * 2_000_000)
            broken = await http.post(PATH, content=b"\xff\xfe not json")
            statuses += [big.status_code, broken.status_code]
            await _drained(application)
            assert set(statuses) == {403}, statuses
            assert api.messages_to(CHAT) == []
            assert api.calls_to("sendMessage") == []

            # The right secret: the update reaches /help, which answers.
            ok = await http.post(PATH, json=update(99), headers={SECRET_HEADER: SECRET})
            assert ok.status_code == 200
            [answer] = await api.wait_for_messages(CHAT, 1)
            assert "/add" in answer.plain_text
            # The right secret with a body that is not an update: 400, nothing handled.
            junk = await http.post(
                PATH, content=json.dumps({"x": 1}).encode(), headers={SECRET_HEADER: SECRET}
            )
            garbage = await http.post(PATH, content=b"{", headers={SECRET_HEADER: SECRET})
            assert (junk.status_code, garbage.status_code) in ((400, 400), (200, 400))
            await _drained(application)
        assert len(api.messages_to(CHAT)) == 1
        assert errors.texts() == []


@pytest.mark.parametrize("given", [None, "", "anything"])
async def test_without_a_configured_secret_every_call_is_refused(
    fake_telegram: FakeTelegramAPI, tmp_path: Path, given: str | None
) -> None:
    """An Application handed to the web app with no WEBHOOK_SECRET configured must not accept
    anyone (an empty header must not match a missing secret)."""
    async with webhook_bot(fake_telegram, tmp_path) as (http, application, services):
        assert services.settings.webhook_secret is None
        headers = {} if given is None else {SECRET_HEADER: given}
        response = await http.post("/telegram", json=update(1), headers=headers)
        await _drained(application)
    assert response.status_code == 403
    assert fake_telegram.calls_to("sendMessage") == []
