"""/digest, /quiet, /timezone, /language, /stop and /forget, with the bad inputs people type."""

from __future__ import annotations

from datetime import time
from pathlib import Path

from bot.storage import subscribers as subscribers_store
from bot.storage.subscribers import Subscriber
from tests.bot.handlers_support import Harness, running_bot
from tests.fakes import FakeTelegramAPI

CHAT = 7300


async def _chat(bot: Harness, chat_id: int = CHAT) -> Subscriber | None:
    async with bot.services.db.sessions() as session:
        return await subscribers_store.get_subscriber(session, chat_id=chat_id)


async def test_digest_on_off_and_time(fake_telegram: FakeTelegramAPI, tmp_path: Path) -> None:
    async with running_bot(fake_telegram, tmp_path) as bot:
        [state] = await bot.say(CHAT, "/digest")
        assert "on, at 08:00" in state.plain_text and "/digest 08:00" in state.plain_text
        [off] = await bot.say(CHAT, "/digest off")
        assert "off" in off.plain_text
        chat = await _chat(bot)
        assert chat is not None and not chat.digest_enabled
        [timed] = await bot.say(CHAT, "/digest 7:30")
        assert "on, at 07:30" in timed.plain_text
        chat = await _chat(bot)
        assert chat is not None and chat.digest_enabled and chat.digest_time == time(7, 30)
        [bad] = await bot.say(CHAT, "/digest 25:99")
        assert "“25:99” is not a time" in bad.plain_text and "00:00 to 23:59" in bad.plain_text
        chat = await _chat(bot)
        assert chat is not None and chat.digest_time == time(7, 30)


async def test_quiet_hours(fake_telegram: FakeTelegramAPI, tmp_path: Path) -> None:
    async with running_bot(fake_telegram, tmp_path) as bot:
        [on] = await bot.say(CHAT, "/quiet 23:00-07:00")
        assert "23:00–07:00" in on.plain_text
        chat = await _chat(bot)
        assert chat is not None and (chat.quiet_start, chat.quiet_end) == (time(23), time(7))
        [bad] = await bot.say(CHAT, "/quiet 23:00-25:99")
        assert "not a time range" in bad.plain_text
        [off] = await bot.say(CHAT, "/quiet off")
        assert "off" in off.plain_text
        chat = await _chat(bot)
        assert chat is not None and chat.quiet_start is None


async def test_timezone(fake_telegram: FakeTelegramAPI, tmp_path: Path) -> None:
    async with running_bot(fake_telegram, tmp_path) as bot:
        [now] = await bot.say(CHAT, "/timezone")
        assert "Europe/Kyiv" in now.plain_text
        [changed] = await bot.say(CHAT, "/timezone europe/warsaw")
        assert "Europe/Warsaw" in changed.plain_text
        for bad in ("Mars/Olympus", "Europe", "../../etc/passwd"):
            [answer] = await bot.say(CHAT, f"/timezone {bad}")
            assert "not a time zone I know" in answer.plain_text
        chat = await _chat(bot)
        assert chat is not None and chat.timezone == "Europe/Warsaw"


async def test_language_by_command_and_button(
    fake_telegram: FakeTelegramAPI, tmp_path: Path
) -> None:
    api = fake_telegram
    async with running_bot(api, tmp_path) as bot:
        [changed] = await bot.say(CHAT, "/language uk")
        assert changed.plain_text == "✅ Писатиму українською."
        [help_uk] = await bot.say(CHAT, "/help")
        assert "Приклади правил" in help_uk.plain_text
        [choose] = await bot.say(CHAT, "/language")
        await bot.press(CHAT, choose, "lang:en")
        assert api.messages_to(CHAT)[-1].plain_text == "✅ I will write in English."
        [bad] = await bot.say(CHAT, "/language klingon")
        assert "not a language I speak" in bad.plain_text


async def test_stop_pauses_and_start_resumes(
    fake_telegram: FakeTelegramAPI, tmp_path: Path
) -> None:
    async with running_bot(fake_telegram, tmp_path) as bot:
        await bot.say(CHAT, "/add power in Kyiv")
        [stopped] = await bot.say(CHAT, "/stop")
        assert "paused" in stopped.plain_text
        assert bot.services.rulebook.rules_of(CHAT) == []
        chat = await _chat(bot)
        assert chat is not None and chat.paused
        welcome, _ = await bot.say(CHAT, "/start", count=2)
        assert "Welcome back" in welcome.plain_text and "on again" in welcome.plain_text
        assert len(bot.services.rulebook.rules_of(CHAT)) == 1


async def test_forget_asks_then_deletes_everything(
    fake_telegram: FakeTelegramAPI, tmp_path: Path
) -> None:
    api = fake_telegram
    async with running_bot(api, tmp_path) as bot:
        await bot.say(CHAT, "/add power in Kyiv")
        [confirm] = await bot.say(CHAT, "/forget")
        await bot.press(CHAT, confirm, "forget:no")
        assert api.messages_to(CHAT)[-1].plain_text == "Nothing was deleted."
        assert await _chat(bot) is not None

        [confirm] = await bot.say(CHAT, "/forget")
        await bot.press(CHAT, confirm, "forget:yes")
        assert "nothing about this chat is stored" in api.messages_to(CHAT)[-1].plain_text
        assert await _chat(bot) is None
        assert bot.services.rulebook.rules_of(CHAT) == []
