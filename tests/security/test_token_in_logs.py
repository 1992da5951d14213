"""The bot token (whole, its secret half, its numeric bot id) never appears in the logs of a
full run at DEBUG, with httpx/httpcore/telegram at DEBUG too, through a 5xx and a 429 from the
Bot API, a getUpdates failure, failing feeds and an exception inside a handler."""

from __future__ import annotations

import asyncio
import io
import logging
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer

from bot.logs import setup_logging, token_secrets
from bot.runtime import run_bot
from tests.bot.pipeline_support import FeedItem, FeedServer, make_settings, opened
from tests.fakes import FakeTelegramAPI, Fault

BOT_ID = "7310558642"
SECRET_PART = "AAH-leakCanary_Zq81xVb3Tt0pLmN4"
TOKEN = f"{BOT_ID}:{SECRET_PART}"
USER, BROKEN_CHAT = 501, 666
DEBUG_LOGGERS = ("httpx", "httpcore", "telegram", "telegram.ext", "telegram.ext.Updater", "bot")


@pytest.fixture
def bot_logs() -> Iterator[io.StringIO]:
    """The production log setup (`setup_logging` as `python -m bot run` does it) at DEBUG,
    with the chattiest libraries forced to DEBUG as well; undone afterwards."""
    stream = io.StringIO()
    root = logging.getLogger()
    saved = {name: logging.getLogger(name).level for name in ("", *DEBUG_LOGGERS, "apscheduler")}
    handler = setup_logging("DEBUG", secrets=token_secrets(TOKEN), stream=stream)
    for name in DEBUG_LOGGERS:
        logging.getLogger(name).setLevel(logging.DEBUG)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        for name, level in saved.items():
            logging.getLogger(name).setLevel(level)


def _leaks(text: str) -> list[str]:
    return [secret for secret in (TOKEN, SECRET_PART, BOT_ID) if secret in text]


async def test_the_token_never_reaches_the_logs(
    tmp_path: Path,
    httpserver: HTTPServer,
    bot_logs: io.StringIO,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    feeds = FeedServer(httpserver)
    feeds.publish("UNIAN")
    # Failing feeds that fail at once (a 5xx or a refused connection is retried with backoff,
    # which would only make this test slower): a 404 and an HTML page.
    httpserver.expect_request("/broken.xml").respond_with_data("gone", status=404)
    httpserver.expect_request("/page.xml").respond_with_data("<html>hi</html>", status=200)
    catalogue = tmp_path / "feeds.toml"
    catalogue.write_text(
        f'[[source]]\nurl = "{feeds.url("UNIAN")}"\nname = "UNIAN"\n\n'
        f'[[source]]\nurl = "{httpserver.url_for("/broken.xml")}"\nname = "Broken"\n\n'
        f'[[source]]\nurl = "{httpserver.url_for("/page.xml")}"\nname = "Page"\n',
        encoding="utf-8",
    )
    async with FakeTelegramAPI(token=TOKEN) as api:
        settings = make_settings(
            api, f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}", feeds_file=catalogue
        )
        api.add_fault(Fault.server_error(502, "Bad Gateway"), method="getUpdates", times=1)
        api.add_fault(Fault.retry_after(1), method="sendMessage", chat_id=USER, times=1)
        api.add_fault(Fault.server_error(500, "Internal"), method="sendMessage", times=1)
        # Every answer to this chat fails: the handler raises, the error handler logs it.
        api.add_fault(Fault.bad_request("Bad Request: boom"), method="sendMessage",
                      chat_id=BROKEN_CHAT)  # fmt: skip
        async with opened(settings, migrate=True) as services:
            stop = asyncio.Event()
            task = asyncio.create_task(
                run_bot(settings, stop=stop, services=services, digest_every_seconds=0.3)
            )
            try:
                api.send_text(USER, "/add power outage in Kyiv")
                await api.wait_for_messages(USER, 1, timeout=15)
                api.send_text(BROKEN_CHAT, "/help")
                feeds.publish(
                    "UNIAN",
                    FeedItem("u1", "Kyiv: 300,000 without power", datetime.now(UTC)
                             - timedelta(minutes=2)),
                )  # fmt: skip
                await api.wait_for_messages(USER, 2, timeout=15)
                await api.wait_for(
                    lambda: any("error while handling" in r.getMessage() for r in caplog.records),
                    10,
                    what="the handler's exception to be logged",
                )
                await asyncio.sleep(0.5)
            finally:
                stop.set()
                await asyncio.wait_for(task, 15)

    # The run did go through every error path this test is about.
    assert api.errors(429) and api.errors(500) and api.errors(502)
    messages = [r.getMessage() for r in caplog.records]
    assert any("error while handling" in m for m in messages)
    assert any("broken.xml" in m or "Broken" in m for m in messages), "failing feed not logged"
    assert any(r.name.startswith("httpx") for r in caplog.records)
    assert any(r.name.startswith("telegram") and r.levelno == logging.DEBUG
               for r in caplog.records)  # fmt: skip

    # What the bot's own log handler wrote (what an operator reads): no secret at all.
    written = bot_logs.getvalue()
    assert "Traceback" in written and "[REDACTED]" in written
    assert _leaks(written) == [], [line[:300] for line in written.splitlines() if _leaks(line)][:8]

    # Every record as any other handler would see it, with its rendered traceback.
    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    leaking = [
        f"{r.name}: {_leaks(formatter.format(r))}"
        for r in caplog.records
        if _leaks(formatter.format(r) + (r.exc_text or "") + (r.stack_info or ""))
    ]
    assert leaking == []
