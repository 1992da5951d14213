"""The worker's rule index at scale: many chats' equal rules held once, loaded from the table
in batches, and no index at all in a process that only writes rules (the sender)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from bot.rulebook import RuleBook
from bot.services import Services
from feeds.models import Category
from rules.models import Story
from tests.bot.pipeline_support import *  # noqa: F403
from tests.bot.pipeline_support import make_settings, opened, subscribe
from tests.fakes import FakeTelegramAPI

pytest_plugins = ["tests.fakes.fixtures"]


@pytest.fixture
async def services(fake_telegram: FakeTelegramAPI, database_url: str) -> AsyncIterator[Services]:
    async with opened(make_settings(fake_telegram, database_url)) as svc:
        yield svc


def _story() -> Story:
    now = datetime.now(UTC)
    return Story(
        id="s1",
        title="Kyiv: power outage",
        first_published=now,
        last_published=now,
        categories=frozenset({Category.POWER_OUTAGE}),
        place_ids=frozenset({"UA80"}),
    )


async def test_a_reload_shares_one_rule_among_the_chats_that_chose_it(
    services: Services,
) -> None:
    for chat_id in (1, 2, 3):
        await subscribe(services, chat_id, "power outage in Kyiv", "cold in Lviv")
    book = RuleBook(db=services.db, places=services.gazetteer, max_rules_per_chat=10)
    assert await book.load() == 6
    first = [rule for _, rule, _ in book.rules_of(1)]
    for chat_id in (2, 3):
        rules = [rule for _, rule, _ in book.rules_of(chat_id)]
        assert all(a is b for a, b in zip(first, rules, strict=True))
    assert sorted(m.chat_id for m in book.match(_story())) == [1, 2, 3]
    # The same answers as the index the services loaded rule by rule.
    assert book.match(_story()) == services.rulebook.match(_story())


async def test_a_book_without_index_writes_rules_but_refuses_to_match(
    services: Services,
) -> None:
    await subscribe(services, 1, "power outage in Kyiv")
    book = RuleBook(db=services.db, places=services.gazetteer, max_rules_per_chat=10, indexed=False)
    assert await book.load() == 0 and await book.catch_up() == 0
    stored = await book.add(chat_id=1, text="cold in Lviv")
    await book.refresh_chat(1)
    assert len(book) == 0
    with pytest.raises(RuntimeError):
        book.match(_story())
    with pytest.raises(RuntimeError):
        book.rules_of(1)
    # The table has the rule, and an indexing process sees it.
    await services.rulebook.refresh_chat(1)
    assert stored.id in [rule_id for rule_id, _, _ in services.rulebook.rules_of(1)]
