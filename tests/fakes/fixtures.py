"""Pytest fixtures for the fake Telegram Bot API; ``tests/conftest.py`` imports them."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio

from tests.fakes.telegram_api import FakeTelegramAPI


@pytest_asyncio.fixture
async def fake_telegram() -> AsyncIterator[FakeTelegramAPI]:
    """A started fake Bot API server on an ephemeral 127.0.0.1 port, stopped after the test."""
    async with FakeTelegramAPI() as api:
        yield api
    # A 500 from the fake is a bug in the fake, not Telegram behaviour: never let it pass.
    if api.internal_errors:
        raise AssertionError(f"the fake Telegram API failed: {api.internal_errors!r}")
