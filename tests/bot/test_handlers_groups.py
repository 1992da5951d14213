"""Groups (only administrators change the rules), the bot's own membership, bad input and the
error handler."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from bot.storage import rules as rules_store
from bot.storage import subscribers as subscribers_store
from tests.bot.handlers_support import Harness, running_bot
from tests.fakes import FakeTelegramAPI, Fault

GROUP = -100_555
ADMIN = 31
MEMBER = 32
CHAT = 4444


async def _rule_count(bot: Harness, chat_id: int) -> int:
    async with bot.services.db.sessions() as session:
        return await rules_store.count_rules(session, chat_id=chat_id)


async def test_only_group_admins_change_the_rules(
    fake_telegram: FakeTelegramAPI, tmp_path: Path
) -> None:
    api = fake_telegram
    api.set_admin(GROUP, ADMIN)
    async with running_bot(api, tmp_path) as bot:
        [refused] = await bot.say(GROUP, "/add power in Kyiv", user_id=MEMBER)
        assert "Only this group's administrators" in refused.plain_text
        assert await _rule_count(bot, GROUP) == 0
        [added] = await bot.say(GROUP, "/add power in Kyiv", user_id=ADMIN)
        assert "Rule added" in added.plain_text
        # Everyone may look.
        [listing] = await bot.say(GROUP, "/rules", user_id=MEMBER)
        assert "power outage in Kyiv" in listing.plain_text
        # ... but a member's button press changes nothing.
        [rule] = bot.services.rulebook.rules_of(GROUP)
        query = await bot.press(
            GROUP, listing, f"rules:delete:{rule[0]}:0", user_id=MEMBER, changes=False
        )
        assert "administrators" in (api.answers[query].text or "")
        assert await _rule_count(bot, GROUP) == 1
        # Setup in a group: the welcome for all, the buttons only for admins.
        [_, places] = await bot.say(GROUP, "/start", count=2, user_id=ADMIN)
        assert places.buttons
        [_, refused] = await bot.say(GROUP, "/start", count=2, user_id=MEMBER)
        assert "administrators" in refused.plain_text
        # While the admin chooses places, members' chatter is ignored, the admin's town is not.
        api.send_text(GROUP, "Lviv", user_id=MEMBER)
        await bot.settle()
        assert api.messages_to(GROUP)[-1].plain_text == refused.plain_text
        [keyboard] = await bot.say(GROUP, "Lviv", user_id=ADMIN)
        assert keyboard.buttons[0][0] == "✅ Lviv"


async def test_membership_changes(fake_telegram: FakeTelegramAPI, tmp_path: Path) -> None:
    api = fake_telegram
    async with running_bot(api, tmp_path) as bot:
        before = len(api.messages_to(GROUP))
        api.add_member(GROUP, user_id=ADMIN)
        [hello] = (await api.wait_for_messages(GROUP, before + 1))[before:]
        assert "A group administrator can set me up with /start" in hello.plain_text

        await bot.say(CHAT, "/add power in Kyiv")
        api.kick(CHAT)
        await bot.settle()
        async with bot.services.db.sessions() as session:
            chat = await subscribers_store.get_subscriber(session, chat_id=CHAT)
        assert chat is not None and not chat.active
        assert bot.services.rulebook.rules_of(CHAT) == []
        assert await _rule_count(bot, CHAT) == 1  # kept for when they come back

        api.unblock(CHAT)
        api.add_member(CHAT)
        await bot.settle()
        assert len(bot.services.rulebook.rules_of(CHAT)) == 1


async def test_bad_input_gets_a_short_friendly_answer(
    fake_telegram: FakeTelegramAPI, tmp_path: Path
) -> None:
    api = fake_telegram
    async with running_bot(api, tmp_path) as bot:
        [unknown] = await bot.say(CHAT, "/frobnicate now")
        assert unknown.plain_text == "I don't know /frobnicate. /help lists what I can do."
        [huge] = await bot.say(CHAT, "/add " + "power " * 5000)
        assert "too long" in huge.plain_text
        [chatter] = await bot.say(CHAT, "hello?")
        assert "/start" in chatter.plain_text
        [weird] = await bot.say(CHAT, '/add \u0000<b>"unclosed')
        assert "could not read that rule" in weird.plain_text
        # Chatter in a group and commands for other bots are not answered.
        api.send_text(GROUP, "hello everyone", user_id=MEMBER)
        api.send_text(GROUP, "/frobnicate@other_bot", user_id=MEMBER)
        api.send_text(GROUP, "/frobnicate", user_id=MEMBER)
        await bot.settle()
        assert api.messages_to(GROUP) == []
        [ours] = await bot.say(GROUP, "/frobnicate@winter_alerts_test_bot", user_id=MEMBER)
        assert "I don't know /frobnicate" in ours.plain_text
        assert await _rule_count(bot, CHAT) == 0


async def test_errors_are_logged_without_the_token_and_answered(
    fake_telegram: FakeTelegramAPI, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    api = fake_telegram
    async with running_bot(api, tmp_path) as bot:
        await bot.say(CHAT, "/help")
        # An error whose text carries the token (as a URL in a traceback might).
        api.add_fault(
            Fault.server_error(502, f"Bad Gateway at https://proxy/bot{api.token}/sendMessage"),
            method="sendMessage",
            times=1,
        )
        with caplog.at_level(logging.ERROR, logger="bot.handlers"):
            [sorry] = await bot.say(CHAT, "/help")
        assert "Something went wrong on my side" in sorry.plain_text
        logged = "\n".join(r.getMessage() for r in caplog.records if r.name == "bot.handlers")
        assert "error while handling update" in logged and "[REDACTED]" in logged
        assert api.token not in logged and api.token.split(":")[1] not in logged


async def test_a_short_retry_after_delays_a_reply_but_does_not_lose_it(
    fake_telegram: FakeTelegramAPI, tmp_path: Path
) -> None:
    api = fake_telegram
    async with running_bot(api, tmp_path) as bot:
        rule = api.add_fault(Fault.retry_after(1), method="sendMessage", chat_id=CHAT, times=1)
        [answer] = await bot.say(CHAT, "/help")
        assert rule.hits == 1
        assert "Rule examples" in answer.plain_text
