"""The real Application (built by `bot.app.build_application`) polling the fake Bot API, over a
fresh SQLite database per test, for the handler tests (`tests/bot/test_handlers_*.py`).
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bot.app import BotApplication, build_application
from bot.config import Settings, load_settings
from bot.migrations import upgrade_to_head
from bot.services import Services, open_services
from tests.fakes import BotMessage, FakeTelegramAPI


@dataclass
class Harness:
    """The running bot and the fake it talks to, with short helpers for the tests."""

    api: FakeTelegramAPI
    app: BotApplication
    services: Services
    settings: Settings

    async def say(
        self, chat_id: int, text: str, *, count: int = 1, wait: float = 5.0, **kw: Any
    ) -> list[BotMessage]:
        """Send `text` from the chat; return the bot's new messages there, exactly `count`."""
        before = len(self.api.messages_to(chat_id))
        self.api.send_text(chat_id, text, **kw)
        await self.api.wait_for_messages(chat_id, before + count, timeout=wait)
        await self.settle()
        messages = self.api.messages_to(chat_id)[before:]
        assert len(messages) == count, [m.plain_text for m in messages]
        return messages

    async def press(
        self, chat_id: int, message: BotMessage, data: str, *, changes: bool = True, **kw: Any
    ) -> str:
        """Press the button `data` under `message` and wait until the bot answered it and, when
        `changes`, until the chat shows the answer (a message edited, sent or deleted)."""
        before = self._chat_state(chat_id)
        query_id = self.api.press_button(chat_id, message.message_id, data, **kw)
        await self.api.wait_for_answer(query_id)
        if changes:
            # Handlers answer the button first and edit after; a fixed pause lost that race on
            # a loaded CI machine, so wait for the edit itself.
            await self.api.wait_for(
                lambda: self._chat_state(chat_id) != before, what=f"the chat to show {data}"
            )
        await self.settle()
        return query_id

    def _chat_state(self, chat_id: int) -> list[tuple[int, int]]:
        """What a press can change: which messages stand (sent, deleted) and their edits."""
        return [(m.message_id, m.edits) for m in self.api.messages_to(chat_id)]

    async def settle(self) -> None:
        """Wait until every injected update was fetched and handled."""
        await self.api.wait_for_updates_consumed()
        for _ in range(200):
            if self.app.update_queue.empty():
                break
            await asyncio.sleep(0.01)
        # The last update may still be in its handler; PTB handles one update at a time here.
        await asyncio.sleep(0.1)


@asynccontextmanager
async def running_bot(
    api: FakeTelegramAPI,
    tmp_path: Path,
    *,
    configure: Callable[[dict[str, Any]], None] | None = None,
    keep_db: bool = False,
) -> AsyncIterator[Harness]:
    values: dict[str, Any] = {
        "telegram_bot_token": api.token,
        "telegram_api_url": api.url,
        "database_url": f"sqlite+aiosqlite:///{tmp_path / 'bot.db'}",
        "allow_private_feed_hosts": True,
        "log_level": "DEBUG",
    }
    if configure is not None:
        configure(values)
    settings = load_settings(env_file=None, **values)
    template = tmp_path.parent / "handlers-template.db"
    if not template.exists():
        await upgrade_to_head(f"sqlite+aiosqlite:///{template}")
    if not (keep_db and (tmp_path / "bot.db").exists()):  # keep_db: a restart of the bot
        shutil.copy(template, tmp_path / "bot.db")
    services = await open_services(settings, migrate=False)
    app = build_application(settings, services)
    try:
        async with app:
            assert app.post_init is not None and app.updater is not None
            await app.post_init(app)
            await app.start()
            await app.updater.start_polling(poll_interval=0.0, timeout=1)
            try:
                yield Harness(api=api, app=app, services=services, settings=settings)
            finally:
                await app.updater.stop()
                await app.stop()
    finally:
        await services.close()
