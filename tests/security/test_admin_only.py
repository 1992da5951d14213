"""Admin commands (/addsource, /removesource, /stats) refuse everyone not in ADMIN_CHAT_IDS,
in private chats and in groups (even the group's own Telegram admins), and change nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.storage import sources as sources_store
from feeds.models import Source
from tests.fakes import FakeTelegramAPI
from tests.security.support import (
    ADMIN,
    GROUP,
    GROUP_MEMBER,
    TEST_FEED_HOST,
    USER,
    error_records,
    hostile_bot,
    serve_feed,
    snapshot,
)

FEED = f"http://{TEST_FEED_HOST}/rss.xml"
NOT_ADMIN = "This command is for the bot's administrators."

COMMANDS = [
    f"/addsource {FEED} Sneaky",
    "/removesource 1",
    f"/removesource {FEED}",
    "/stats",
    f"/addsource@winter_alerts_test_bot {FEED}",
    "/stats@winter_alerts_test_bot",
]


@pytest.mark.parametrize("where", ["private", "group", "group_owner"])
async def test_non_admins_cannot_reach_admin_commands(
    fake_telegram: FakeTelegramAPI, tmp_path: Path, where: str
) -> None:
    api = fake_telegram
    async with hostile_bot(api, tmp_path, allowed_hosts=frozenset({TEST_FEED_HOST})) as (
        bot,
        network,
    ):
        serve_feed(network, FEED)
        async with bot.services.db.sessions() as session, session.begin():
            await sources_store.upsert_sources(
                session, sources=[Source(url=FEED, name="Existing")], added_by=ADMIN
            )
        if where != "private":
            api.add_member(GROUP, title="Energy chat")
            await bot.settle()
            if where == "group_owner":  # Telegram's own admin rights do not make a bot admin
                api.set_admin(GROUP, GROUP_MEMBER, status="creator")
        chat, user = (USER, None) if where == "private" else (GROUP, GROUP_MEMBER)
        before = await snapshot(bot)
        with error_records() as errors:
            for command in COMMANDS:
                [answer] = await bot.say(chat, command, user_id=user)
                assert answer.plain_text == NOT_ADMIN, (command, answer.plain_text)
        assert errors.texts() == []
        assert network.requests == []  # the feed was never even fetched
        assert await snapshot(bot) == before
        assert "Existing" in [s[2] for s in before.sources]

        # The same commands from the admin do work (so the refusal above is not an accident).
        [stats] = await bot.say(ADMIN, "/stats")
        assert stats.plain_text != NOT_ADMIN
        [removed] = await bot.say(ADMIN, "/removesource 1")
        assert "will no longer be polled" in removed.plain_text
