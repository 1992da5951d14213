"""Subscribers: register/reactivate, preferences, digest and quiet-hour timing, forgetting."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from bot.storage import alerts, outbox, rules, stories, subscribers
from rules.models import Story
from tests.bot.storage.factories import NOW, make_subscriber


async def test_upsert_get_round_trip(session: AsyncSession) -> None:
    chat = await make_subscriber(session, -1001234567890, kind="supergroup")
    assert chat == await subscribers.get_subscriber(session, chat_id=-1001234567890)
    assert (chat.kind, chat.language, chat.timezone) == ("supergroup", "uk", "Europe/Kyiv")
    assert chat.digest_time == time(8, 0) and chat.created_at == NOW
    assert chat.active and chat.digest_enabled and not chat.paused
    assert chat.last_digest_on is None and chat.quiet_start is None
    assert await subscribers.get_subscriber(session, chat_id=5) is None


async def test_reactivation_keeps_preferences(session: AsyncSession) -> None:
    await make_subscriber(session, 1)
    await subscribers.update_subscriber(session, chat_id=1, language="en", timezone="UTC")
    assert await subscribers.deactivate_subscriber(session, chat_id=1)
    await session.commit()
    gone = await subscribers.get_subscriber(session, chat_id=1)
    assert gone is not None and not gone.active
    assert await subscribers.active_subscribers(session) == []

    back = await subscribers.upsert_subscriber(
        session,
        chat_id=1,
        kind="private",
        language="uk",
        timezone="Europe/Kyiv",
        digest_time=time(9, 0),
        now=NOW + timedelta(days=3),
    )
    assert back.active and back.language == "en" and back.timezone == "UTC"
    assert back.created_at == NOW and back.digest_time == time(8, 0)


async def test_update_sets_and_clears(session: AsyncSession) -> None:
    await make_subscriber(session, 1)
    chat = await subscribers.update_subscriber(
        session,
        chat_id=1,
        quiet_start=time(22, 0),
        quiet_end=time(7, 0),
        digest_time=time(19, 30),
        digest_enabled=False,
        paused=True,
    )
    assert chat is not None
    assert (chat.quiet_start, chat.quiet_end, chat.digest_time) == (time(22), time(7), time(19, 30))
    assert not chat.digest_enabled and chat.paused
    cleared = await subscribers.update_subscriber(session, chat_id=1, quiet_start=None)
    assert cleared is not None and cleared.quiet_start is None and cleared.quiet_end == time(7)
    assert await subscribers.update_subscriber(session, chat_id=99, language="en") is None


async def test_bad_values_are_refused(session: AsyncSession) -> None:
    with pytest.raises(ValueError, match="time zone"):
        await subscribers.upsert_subscriber(
            session,
            chat_id=1,
            kind="private",
            language="uk",
            timezone="Kyiv/Nowhere",
            digest_time=time(8),
        )
    with pytest.raises(ValueError, match="chat kind"):
        await subscribers.upsert_subscriber(
            session, chat_id=1, kind="bot", language="uk", timezone="UTC", digest_time=time(8)
        )


async def test_forget_deletes_everything_of_the_chat_only(session: AsyncSession) -> None:
    for chat_id in (1, 2):
        await make_subscriber(session, chat_id)
        await rules.add_rule(
            session, chat_id=chat_id, text="cold Kyiv", rule_json={"v": 1}, delivery="instant"
        )
        await outbox.enqueue(
            session, chat_id=chat_id, kind="notice", payload={}, dedupe_key=f"n{chat_id}"
        )
    await stories.save_story(
        session, story=Story(id="s", title="t", first_published=NOW, last_published=NOW)
    )
    for chat_id in (1, 2):
        await alerts.record_alert(session, chat_id=chat_id, story_id="s", fingerprint="f")
    await session.commit()

    assert await subscribers.forget_subscriber(session, chat_id=1)
    await session.commit()
    assert await subscribers.get_subscriber(session, chat_id=1) is None
    assert await rules.list_rules(session, chat_id=1) == []
    assert await alerts.get_alert(session, chat_id=1, story_id="s") is None
    assert await outbox.depth(session) == 1
    # The other chat is untouched.
    assert len(await rules.list_rules(session, chat_id=2)) == 1
    assert await alerts.get_alert(session, chat_id=2, story_id="s") is not None
    assert not await subscribers.forget_subscriber(session, chat_id=1)


async def test_digest_due_by_local_time(session: AsyncSession) -> None:
    await make_subscriber(session, 1)  # Europe/Kyiv, 08:00
    await make_subscriber(session, 2)
    await subscribers.update_subscriber(session, chat_id=2, timezone="America/New_York")
    await session.commit()
    kyiv_0805 = datetime(2026, 1, 15, 6, 5, tzinfo=UTC)  # Kyiv is UTC+2 in winter
    due = await subscribers.subscribers_due_for_digest(session, now=kyiv_0805)
    assert [c.chat_id for c in due] == [1]
    await subscribers.mark_digest_sent(session, chat_id=1, on=date(2026, 1, 15))
    await session.commit()
    assert await subscribers.subscribers_due_for_digest(session, now=kyiv_0805) == []
    # Next day 13:05 UTC: 15:05 in Kyiv, 08:05 in New York; both are due.
    next_day = kyiv_0805 + timedelta(days=1, hours=7)
    assert [
        c.chat_id for c in await subscribers.subscribers_due_for_digest(session, now=next_day)
    ] == [1, 2]


@pytest.mark.parametrize(
    ("start", "end", "local", "quiet"),
    [
        pytest.param(time(22), time(7), time(23, 30), True, id="spans-midnight-late"),
        pytest.param(time(22), time(7), time(6, 59), True, id="spans-midnight-early"),
        pytest.param(time(22), time(7), time(7, 0), False, id="ends-exclusive"),
        pytest.param(time(13), time(15), time(14), True, id="daytime"),
        pytest.param(time(13), time(15), time(16), False, id="daytime-outside"),
    ],
)
def test_quiet_hours(start: time, end: time, local: time, quiet: bool) -> None:
    chat = subscribers.Subscriber(
        chat_id=1,
        kind="private",
        language="uk",
        timezone="UTC",
        digest_enabled=True,
        digest_time=time(8),
        quiet_start=start,
        quiet_end=end,
        active=True,
        paused=False,
        created_at=NOW,
        last_digest_on=None,
    )
    assert chat.in_quiet_hours(datetime.combine(date(2026, 1, 15), local, tzinfo=UTC)) is quiet
