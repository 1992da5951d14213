"""Batch writes for a fan-out: many outbox rows, many alerts, many rows marked sent at once."""

from __future__ import annotations

from datetime import time, timedelta

import pytest
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncSession

from bot.storage import alerts, outbox, stories
from bot.storage.db import INSERT_CHUNK
from bot.storage.outbox import NewMessage
from bot.storage.tables import OutboxRow, SubscriberRow
from rules.models import Story
from tests.bot.storage.factories import NOW

# More than one INSERT_CHUNK, so that the chunking is exercised.
MANY = INSERT_CHUNK * 2 + 3


def _alert(chat_id: int, **kwargs: object) -> NewMessage:
    return NewMessage(
        chat_id=chat_id,
        kind="alert",
        payload={"text": f"Київ: без світла ({chat_id})", "story_id": "s"},
        dedupe_key=f"alert:{chat_id}:s",
        **kwargs,  # type: ignore[arg-type]
    )


async def _statuses(session: AsyncSession) -> dict[str, str]:
    rows = await session.execute(select(OutboxRow.dedupe_key, OutboxRow.status))
    return {key: status for key, status in rows}


async def test_enqueue_many_queues_each_key_once(session: AsyncSession) -> None:
    before = await outbox.enqueue(
        session, chat_id=3, kind="alert", payload={"text": "old"}, dedupe_key="alert:3:s", now=NOW
    )
    later = NOW + timedelta(minutes=5)
    messages = [_alert(n) for n in range(MANY)]
    messages.append(
        NewMessage(chat_id=7, kind="notice", payload={"text": "x"}, dedupe_key="alert:7:s")
    )
    messages.append(_alert(-100200, not_before=later))

    created = await outbox.enqueue_many(session, messages=messages, now=NOW)
    await session.commit()

    # Chat 3 was queued before; chat 7's second message repeats a key of this batch.
    assert created == {f"alert:{n}:s" for n in range(MANY) if n != 3} | {"alert:-100200:s"}
    assert await outbox.depth(session) == MANY + 1
    old = await outbox.get_message(session, outbox_id=before.id)
    assert old is not None and old.payload == {"text": "old"}
    rows = {m.dedupe_key: m for m in await outbox.claim_batch(session, now=later, limit=MANY + 10)}
    assert rows["alert:7:s"].kind == "alert"
    assert rows["alert:42:s"].payload == {"text": "Київ: без світла (42)", "story_id": "s"}
    assert rows["alert:42:s"].next_attempt_at == NOW
    assert rows["alert:-100200:s"].next_attempt_at == later
    assert rows["alert:-100200:s"].chat_id == -100200

    again = await outbox.enqueue_many(session, messages=messages[:10], now=later)
    assert again == set()


async def test_enqueue_many_refuses_an_unknown_kind_before_writing(session: AsyncSession) -> None:
    messages = [_alert(1), NewMessage(chat_id=2, kind="spam", payload={}, dedupe_key="k")]
    with pytest.raises(ValueError, match="unknown outbox kind 'spam'"):
        await outbox.enqueue_many(session, messages=messages, now=NOW)
    assert await outbox.depth(session) == 0
    assert await outbox.enqueue_many(session, messages=[], now=NOW) == set()


async def test_mark_sent_many_marks_only_rows_being_sent(session: AsyncSession) -> None:
    await outbox.enqueue_many(session, messages=[_alert(n) for n in range(MANY)], now=NOW)
    await session.commit()
    claimed = await outbox.claim_batch(session, now=NOW, limit=MANY - 3)
    await session.commit()
    ids = [m.id for m in claimed]
    pending = await session.execute(select(OutboxRow.id).where(OutboxRow.status == "pending"))
    sent_at = NOW + timedelta(seconds=30)

    marked = await outbox.mark_sent_many(
        session, outbox_ids=ids + list(pending.scalars()), now=sent_at
    )
    await session.commit()

    assert marked == MANY - 3
    counts = await outbox.counts_by_status(session)
    assert (counts["sent"], counts["pending"], counts["sending"]) == (MANY - 3, 3, 0)
    stored = await outbox.get_message(session, outbox_id=ids[-1])
    assert stored is not None
    assert (stored.sent_at, stored.claimed_until) == (sent_at, None)
    # A second report of the same deliveries changes nothing.
    assert await outbox.mark_sent_many(session, outbox_ids=ids, now=NOW) == 0


async def test_record_alerts_claims_each_chat_once(session: AsyncSession) -> None:
    chats = list(range(5000, 5000 + MANY))
    await session.execute(
        insert(SubscriberRow),
        [
            {
                "chat_id": chat,
                "kind": "private",
                "language": "uk",
                "timezone": "Europe/Kyiv",
                "digest_time": time(8, 0),
                "created_at": NOW,
            }
            for chat in chats
        ],
    )
    await stories.save_story(
        session, story=Story(id="s", title="t", first_published=NOW, last_published=NOW)
    )
    assert await alerts.record_alert(session, chat_id=chats[1], story_id="s", fingerprint="f0")
    await session.commit()

    claimed = await alerts.record_alerts(
        session, story_id="s", chat_ids=chats + chats[:5], fingerprint="f1", now=NOW
    )
    await session.commit()

    assert claimed == set(chats) - {chats[1]}
    stored = await alerts.alerts_for_story(session, story_id="s")
    assert [a.chat_id for a in stored] == chats
    by_chat = {a.chat_id: a for a in stored}
    assert by_chat[chats[1]].fingerprint == "f0"
    assert (by_chat[chats[-1]].fingerprint, by_chat[chats[-1]].created_at) == ("f1", NOW)
    assert (
        await alerts.record_alerts(session, story_id="s", chat_ids=chats, fingerprint="f2") == set()
    )


async def test_alerts_and_their_messages_commit_together(session: AsyncSession) -> None:
    """The fan-out's transaction: if it rolls back, neither alerts nor messages remain."""
    await session.execute(
        insert(SubscriberRow),
        [
            {
                "chat_id": chat,
                "kind": "private",
                "language": "en",
                "timezone": "Europe/Kyiv",
                "digest_time": time(8, 0),
                "created_at": NOW,
            }
            for chat in (1, 2)
        ],
    )
    await stories.save_story(
        session, story=Story(id="s", title="t", first_published=NOW, last_published=NOW)
    )
    await session.commit()
    claimed = await alerts.record_alerts(session, story_id="s", chat_ids=[1, 2], fingerprint="f")
    await outbox.enqueue_many(session, messages=[_alert(c) for c in sorted(claimed)], now=NOW)
    await session.rollback()
    assert await alerts.alerts_for_story(session, story_id="s") == []
    assert await _statuses(session) == {}
