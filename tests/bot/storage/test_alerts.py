"""Alerts: one per (chat, story); delivery and escalation are recorded on it."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from bot.storage import alerts, stories
from rules.models import Story
from tests.bot.storage.factories import NOW, make_subscriber


async def test_one_alert_per_chat_and_story(session: AsyncSession) -> None:
    await make_subscriber(session, 1)
    await make_subscriber(session, 2)
    await stories.save_story(
        session, story=Story(id="s", title="t", first_published=NOW, last_published=NOW)
    )
    assert await alerts.record_alert(session, chat_id=1, story_id="s", fingerprint="f1", now=NOW)
    assert not await alerts.record_alert(session, chat_id=1, story_id="s", fingerprint="f2")
    assert await alerts.record_alert(session, chat_id=2, story_id="s", fingerprint="f1")
    await session.commit()

    alert = await alerts.get_alert(session, chat_id=1, story_id="s")
    assert alert is not None
    assert (alert.fingerprint, alert.message_id, alert.sent_at, alert.created_at) == (
        "f1",
        None,
        None,
        NOW,
    )
    sent = NOW + timedelta(seconds=3)
    assert await alerts.update_alert(
        session, chat_id=1, story_id="s", message_id=9_000_000_001, sent_at=sent
    )
    assert await alerts.update_alert(session, chat_id=1, story_id="s", fingerprint="f3")
    await session.commit()
    alert = await alerts.get_alert(session, chat_id=1, story_id="s")
    assert alert is not None
    assert (alert.fingerprint, alert.message_id, alert.sent_at) == ("f3", 9_000_000_001, sent)
    assert [a.chat_id for a in await alerts.alerts_for_story(session, story_id="s")] == [1, 2]
    assert not await alerts.update_alert(session, chat_id=3, story_id="s", fingerprint="x")


async def _alerted(
    session: AsyncSession, chats_by_story: dict[str, list[int]], *, fingerprint: str
) -> None:
    """Subscribers, their stories, and one alert per (chat, story) of `chats_by_story`."""
    for chat_id in sorted({c for chats in chats_by_story.values() for c in chats}):
        await make_subscriber(session, chat_id)
    for story_id, chats in chats_by_story.items():
        await stories.save_story(
            session, story=Story(id=story_id, title="t", first_published=NOW, last_published=NOW)
        )
        await alerts.record_alerts(
            session, story_id=story_id, chat_ids=chats, fingerprint=fingerprint
        )


async def test_set_fingerprints_records_one_escalation_for_many_chats(
    session: AsyncSession,
) -> None:
    await _alerted(session, {"s": [1, 2, 3], "other": [1]}, fingerprint="f1")

    changed = await alerts.set_fingerprints(
        session, story_id="s", chat_ids=[3, 1, 1, 99], fingerprint="f2"
    )
    await session.commit()

    assert changed == 2
    prints = {
        a.chat_id: a.fingerprint for a in await alerts.alerts_for_story(session, story_id="s")
    }
    assert prints == {1: "f2", 2: "f1", 3: "f2"}
    other = await alerts.get_alert(session, chat_id=1, story_id="other")
    assert other is not None and other.fingerprint == "f1"


async def test_record_deliveries_sets_each_alerts_message_id_in_one_go(
    session: AsyncSession,
) -> None:
    await _alerted(session, {"s": [1, 2, 3], "t": [1, 2]}, fingerprint="f")
    sent = NOW + timedelta(seconds=5)

    await alerts.record_deliveries(
        session,
        delivered=[(3, "s", 9_000_000_003), (1, "t", 11), (1, "s", 10), (4, "s", 99)],
        at=sent,
    )
    await alerts.record_deliveries(session, delivered=[], at=sent)
    await session.commit()

    got = {
        (a.chat_id, a.story_id): (a.message_id, a.sent_at)
        for story_id in ("s", "t")
        for a in await alerts.alerts_for_story(session, story_id=story_id)
    }
    assert got == {
        (1, "s"): (10, sent),
        (2, "s"): (None, None),
        (3, "s"): (9_000_000_003, sent),
        (1, "t"): (11, sent),
        (2, "t"): (None, None),
    }
