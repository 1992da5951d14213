"""/start's guided setup, /help and the command menus, driven through the fake Bot API."""

from __future__ import annotations

from pathlib import Path

from bot.storage import rules as rules_store
from bot.storage import setup_drafts as drafts_store
from bot.storage import subscribers as subscribers_store
from tests.bot.handlers_support import Harness, running_bot
from tests.fakes import FakeTelegramAPI

CHAT = 4201


async def _rules(bot: Harness, chat_id: int) -> list[rules_store.StoredRule]:
    async with bot.services.db.sessions() as session:
        return await rules_store.list_rules(session, chat_id=chat_id)


async def test_new_user_sets_up_power_outages_in_kyiv_with_buttons(
    fake_telegram: FakeTelegramAPI, tmp_path: Path
) -> None:
    api = fake_telegram
    async with running_bot(api, tmp_path) as bot:
        welcome, places = await bot.say(CHAT, "/start", count=2)
        assert "three steps" in welcome.plain_text
        labels = [text for text, _ in places.buttons]
        assert labels[0] == "Kyiv"  # Kyiv city first
        assert ("Lviv oblast", "setup:place:UA46") in places.buttons

        await bot.press(CHAT, places, "setup:place:UA80")
        places = api.messages_to(CHAT)[-1]
        assert ("✅ Kyiv", "setup:place:UA80") in places.buttons
        assert "Chosen: Kyiv" in places.plain_text

        await bot.press(CHAT, places, "setup:places_done")
        watch = api.messages_to(CHAT)[-1]
        assert "2/3" in watch.plain_text
        await bot.press(CHAT, watch, "setup:watch:power")
        await bot.press(CHAT, api.messages_to(CHAT)[-1], "setup:watch_done")
        deliver = api.messages_to(CHAT)[-1]
        assert "3/3" in deliver.plain_text
        await bot.press(CHAT, deliver, "setup:deliver:instant")

        done = api.messages_to(CHAT)[-1]
        assert "power outage in Kyiv" in done.plain_text
        [stored] = await _rules(bot, CHAT)
        assert stored.text == "power outage in Kyiv"
        assert stored.delivery == "instant"
        # The rule is live in the in-memory index the worker matches against.
        assert [text for _, _, text in bot.services.rulebook.rules_of(CHAT)] == [stored.text]
        # One message kept being edited: the setup does not flood the chat.
        assert len(api.messages_to(CHAT)) == 2


async def test_setup_carries_on_after_a_restart(
    fake_telegram: FakeTelegramAPI, tmp_path: Path
) -> None:
    """The draft is stored, not held in the process: a bot restarted (or another web process)
    between two button presses continues the same setup."""
    api = fake_telegram
    async with running_bot(api, tmp_path) as bot:
        _, places = await bot.say(CHAT, "/start", count=2)
        await bot.press(CHAT, places, "setup:place:UA63")
        await bot.press(CHAT, places, "setup:places_done")
        watch = api.messages_to(CHAT)[-1]
        await bot.press(CHAT, watch, "setup:watch:water")
    async with running_bot(api, tmp_path, keep_db=True) as bot:
        await bot.press(CHAT, watch, "setup:watch:heating")
        # Water, chosen before the restart, is still ticked beside heating.
        ticked = {data for text, data in api.messages_to(CHAT)[-1].buttons if "✅" in text}
        assert ticked == {"setup:watch:heating", "setup:watch:water"}
        await bot.press(CHAT, watch, "setup:watch_done")
        await bot.press(CHAT, api.messages_to(CHAT)[-1], "setup:deliver:instant")
        [stored] = await _rules(bot, CHAT)
        assert stored.text == "heating outage, water outage in Kharkiv oblast"
        # Finished: the draft is gone with the buttons.
        async with bot.services.db.sessions() as session:
            assert await drafts_store.load_draft(session, chat_id=CHAT) is None


async def test_setup_in_ukrainian_with_cold_threshold_and_digest(
    fake_telegram: FakeTelegramAPI, tmp_path: Path
) -> None:
    api = fake_telegram
    async with running_bot(api, tmp_path) as bot:
        _, places = await bot.say(CHAT, "/start", count=2, language_code="uk")
        assert places.buttons[0] == ("Київ", "setup:place:UA80")
        await bot.press(CHAT, places, "setup:place:UA63", language_code="uk")
        await bot.press(CHAT, places, "setup:places_done", language_code="uk")
        watch = api.messages_to(CHAT)[-1]
        await bot.press(CHAT, watch, "setup:watch:heating")
        await bot.press(CHAT, watch, "setup:cold")
        await bot.press(CHAT, watch, "setup:cold")  # -10 -> -15
        assert any("−15" in text for text, _ in api.messages_to(CHAT)[-1].buttons)
        await bot.press(CHAT, watch, "setup:watch_done")
        await bot.press(CHAT, api.messages_to(CHAT)[-1], "setup:deliver:digest")

        texts = sorted(r.text for r in await _rules(bot, CHAT))
        assert texts == [
            "відключення тепла — Харківська область дайджест",
            "температура <= -15 — Харківська область дайджест",
        ]
        async with bot.services.db.sessions() as session:
            chat = await subscribers_store.get_subscriber(session, chat_id=CHAT)
        assert chat is not None and chat.language == "uk" and chat.digest_enabled


async def test_typed_town_and_location_add_places(
    fake_telegram: FakeTelegramAPI, tmp_path: Path
) -> None:
    api = fake_telegram
    async with running_bot(api, tmp_path) as bot:
        await bot.say(CHAT, "/start", count=2)
        [keyboard] = await bot.say(CHAT, "Bucha")
        assert keyboard.buttons[0][0].startswith("✅ Bucha")
        [unknown] = await bot.say(CHAT, "Kyyiv")
        assert "Did you mean" in unknown.plain_text and "Kyiv" in unknown.plain_text
        # Lviv's city centre, shared as a location: the oblast is added.
        before = len(api.messages_to(CHAT))
        api.send_location(CHAT, 49.8397, 24.0297)
        found, keyboard = (await api.wait_for_messages(CHAT, before + 2))[before:]
        assert "Lviv oblast" in found.plain_text
        assert ("✅ Lviv oblast", "setup:place:UA46") in keyboard.buttons
        before = len(api.messages_to(CHAT))
        api.send_location(CHAT, 48.8566, 2.3522)  # Paris
        [outside] = (await api.wait_for_messages(CHAT, before + 1))[before:]
        assert "not in Ukraine" in outside.plain_text


async def test_setup_needs_a_place_and_a_watch(
    fake_telegram: FakeTelegramAPI, tmp_path: Path
) -> None:
    api = fake_telegram
    async with running_bot(api, tmp_path) as bot:
        _, places = await bot.say(CHAT, "/start", count=2)
        query = await bot.press(CHAT, places, "setup:places_done", changes=False)
        assert "at least one place" in (api.answers[query].text or "")
        await bot.press(CHAT, places, "setup:place:UA80")
        await bot.press(CHAT, places, "setup:places_done")
        watch = api.messages_to(CHAT)[-1]
        query = await bot.press(CHAT, watch, "setup:watch_done", changes=False)
        assert "at least one thing" in (api.answers[query].text or "")
        assert await _rules(bot, CHAT) == []


async def test_help_and_command_menus(fake_telegram: FakeTelegramAPI, tmp_path: Path) -> None:
    api = fake_telegram
    async with running_bot(api, tmp_path) as bot:
        [help_message] = await bot.say(CHAT, "/help")
        assert "power outage in Kyiv" in help_message.plain_text
        assert "cold <= -15" in help_message.plain_text
        english = [c["command"] for c in api.commands()]
        ukrainian = api.commands(language_code="uk")
        assert english[:3] == ["start", "add", "rules"] and "help" in english
        assert [c["command"] for c in ukrainian] == english
        assert ukrainian[0]["description"] == "Покрокове налаштування"
