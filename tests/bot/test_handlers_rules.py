"""/add, /rules with its buttons, /test, and the pause button under alerts."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from bot.storage import rules as rules_store
from bot.storage import stories as stories_store
from bot.storage.db import utc_now
from feeds.models import Category
from rules.models import Story
from tests.bot.handlers_support import Harness, running_bot
from tests.fakes import FakeTelegramAPI

CHAT = 5150


async def _stored(bot: Harness) -> list[rules_store.StoredRule]:
    async with bot.services.db.sessions() as session:
        return await rules_store.list_rules(session, chat_id=CHAT)


async def test_add_stores_the_canonical_rule_and_indexes_it(
    fake_telegram: FakeTelegramAPI, tmp_path: Path
) -> None:
    async with running_bot(fake_telegram, tmp_path) as bot:
        [answer] = await bot.say(CHAT, "/add power in Kyiv")
        assert "Rule added: power outage in Kyiv" in answer.plain_text
        [stored] = await _stored(bot)
        assert stored.text == "power outage in Kyiv"
        assert bot.services.rulebook.rules_of(CHAT)[0][0] == stored.id


async def test_malformed_and_empty_rules_get_a_friendly_hint(
    fake_telegram: FakeTelegramAPI, tmp_path: Path
) -> None:
    async with running_bot(fake_telegram, tmp_path) as bot:
        [answer] = await bot.say(CHAT, "/add power in Kyyiv")
        assert "could not read that rule" in answer.plain_text
        assert "Kyyiv" in answer.plain_text and "Kyiv" in answer.plain_text
        assert "Examples:" in answer.plain_text
        [usage] = await bot.say(CHAT, "/add")
        assert "/add power outage in Kyiv" in usage.plain_text
        [uk] = await bot.say(6160, "/add світло Кийвв", language_code="uk")
        assert "Не вдалося прочитати правило" in uk.plain_text
        assert await _stored(bot) == []


async def test_rule_limit_is_explained(fake_telegram: FakeTelegramAPI, tmp_path: Path) -> None:
    def two_rules(values: dict[str, Any]) -> None:
        values["max_rules_per_chat"] = 2

    async with running_bot(fake_telegram, tmp_path, configure=two_rules) as bot:
        await bot.say(CHAT, "/add power in Kyiv")
        await bot.say(CHAT, "/add water in Lviv")
        [answer] = await bot.say(CHAT, "/add heating in Odesa")
        assert "already have 2 rules" in answer.plain_text
        assert len(await _stored(bot)) == 2


async def test_rules_list_buttons_pause_resume_delete(
    fake_telegram: FakeTelegramAPI, tmp_path: Path
) -> None:
    api = fake_telegram
    async with running_bot(api, tmp_path) as bot:
        await bot.say(CHAT, "/add power in Kyiv")
        await bot.say(CHAT, "/add cold <= -15 in Kharkiv oblast digest")
        first, second = await _stored(bot)
        [listing] = await bot.say(CHAT, "/rules")
        assert "1. power outage in Kyiv" in listing.plain_text
        assert ("⏸ 1", f"rules:pause:{first.id}:0") in listing.buttons

        await bot.press(CHAT, listing, f"rules:pause:{first.id}:0")
        listing = api.messages_to(CHAT)[-1]
        assert "(paused)" in listing.plain_text.splitlines()[1]
        assert [r for r, _, _ in bot.services.rulebook.rules_of(CHAT)] == [second.id]

        await bot.press(CHAT, listing, f"rules:resume:{first.id}:0")
        assert len(bot.services.rulebook.rules_of(CHAT)) == 2

        await bot.press(CHAT, api.messages_to(CHAT)[-1], f"rules:delete:{second.id}:0")
        assert [r.id for r in await _stored(bot)] == [first.id]
        assert "temperature" not in api.messages_to(CHAT)[-1].plain_text


async def test_many_rules_are_paged(fake_telegram: FakeTelegramAPI, tmp_path: Path) -> None:
    api = fake_telegram
    async with running_bot(api, tmp_path) as bot:
        for threshold in range(10, 22):
            await bot.say(CHAT, f"/add cold <= -{threshold}")
        [listing] = await bot.say(CHAT, "/rules")
        assert "1/2" in [text for text, _ in listing.buttons]
        await bot.press(CHAT, listing, "rules:page:0:1")
        page_two = api.messages_to(CHAT)[-1]
        assert "9. temperature <= -18" in page_two.plain_text
        assert "\n1. " not in page_two.plain_text


def _story(title: str, *, hours_ago: float, **facts: Any) -> Story:
    at = utc_now() - timedelta(hours=hours_ago)
    return Story(id=title[:16], title=title, first_published=at, last_published=at, **facts)


async def test_test_command_and_button_look_at_seven_days_of_stories(
    fake_telegram: FakeTelegramAPI, tmp_path: Path
) -> None:
    api = fake_telegram
    async with running_bot(api, tmp_path) as bot:
        async with bot.services.db.sessions() as session, session.begin():
            for story in (
                _story(
                    "Kyiv: 300,000 without power <after strike>",
                    hours_ago=5,
                    categories=frozenset({Category.POWER_OUTAGE}),
                    place_ids=frozenset({"UA80"}),
                    link="https://example.com/a?x=1&y=2",
                ),
                _story(
                    "Lviv water outage",
                    hours_ago=30,
                    categories=frozenset({Category.WATER_OUTAGE}),
                    place_ids=frozenset({"UA4612001"}),
                ),
                _story(
                    "Old Kyiv blackout",
                    hours_ago=24 * 9,
                    categories=frozenset({Category.POWER_OUTAGE}),
                    place_ids=frozenset({"UA80"}),
                ),
            ):
                await stories_store.save_story(session, story=story)
        [found] = await bot.say(CHAT, "/test power in Kyiv")
        assert "would have sent 1 alert" in found.plain_text
        assert "Kyiv: 300,000 without power <after strike>" in found.plain_text
        assert "Old Kyiv" not in found.plain_text
        [nothing] = await bot.say(CHAT, "/test heating in Odesa")
        assert "would have sent nothing" in nothing.plain_text

        await bot.say(CHAT, "/add water")
        [listing] = await bot.say(CHAT, "/rules")
        [rule] = await _stored(bot)
        await bot.press(CHAT, listing, f"rules:test:{rule.id}")
        assert "Lviv water outage" in api.messages_to(CHAT)[-1].plain_text


async def test_pause_button_under_an_alert(fake_telegram: FakeTelegramAPI, tmp_path: Path) -> None:
    api = fake_telegram
    async with running_bot(api, tmp_path) as bot:
        await bot.say(CHAT, "/add power in Kyiv")
        [rule] = await _stored(bot)
        # What the sender delivers for an alert (rendered by the worker): a pause button.
        markup = InlineKeyboardMarkup(
            [[InlineKeyboardButton("⏸ Pause this rule", callback_data=f"rule:pause:{rule.id}")]]
        )
        await bot.app.bot.send_message(CHAT, "⚡ Kyiv: outage", reply_markup=markup)
        alert = api.messages_to(CHAT)[-1]
        query = await bot.press(CHAT, alert, f"rule:pause:{rule.id}")
        assert "Rule paused" in (api.answers[query].text or "")
        assert bot.services.rulebook.rules_of(CHAT) == []
        alert = api.messages_to(CHAT)[-1]
        assert alert.buttons == [("▶️ Resume this rule", f"rule:resume:{rule.id}")]
        await bot.press(CHAT, alert, f"rule:resume:{rule.id}")
        assert len(bot.services.rulebook.rules_of(CHAT)) == 1
        # Someone else's rule id (or a deleted one) is refused, not paused.
        query = api.press_button(CHAT, alert.message_id, "rule:pause:9999", strict=False)
        await api.wait_for_answer(query)
        assert "no longer exists" in (api.answers[query].text or "")
