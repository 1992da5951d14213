"""The worker's bulk writes for one story's fan-out: alerts claimed and messages queued in
bulk, edits folded into the message still waiting for the same alert, and the rule index
read a batch at a time. Every case runs on SQLite and on PostgreSQL (array statements)."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession

from bot.storage import alerts, outbox, stories
from bot.storage import rules as rules_store
from bot.storage.subscribers import deactivate_subscriber
from bot.storage.tables import OutboxRow
from rules.models import Story
from tests.bot.storage.factories import NOW, make_subscriber


def _message(chat_id: int, kind: str, key: str, **payload: object) -> outbox.NewMessage:
    return outbox.NewMessage(
        chat_id=chat_id, kind=kind, payload={"story_id": "s", **payload}, dedupe_key=key
    )


async def _rows(session: AsyncSession) -> list[OutboxRow]:
    # Fresh from the table: bulk statements bypass the session's identity map.
    stmt = select(OutboxRow).order_by(OutboxRow.id).execution_options(populate_existing=True)
    result = await session.execute(stmt)
    return list(result.scalars().all())


async def test_bulk_enqueue_queues_each_key_once(session: AsyncSession) -> None:
    first = await outbox.enqueue_bulk(
        session,
        messages=[
            _message(1, "alert", "alert:1:s", text="Київ: 300 000 без світла"),
            _message(2, "alert", "alert:2:s", text="two"),
            _message(2, "alert", "alert:2:s", text="a repeat in the same call"),
        ],
        now=NOW,
    )
    again = await outbox.enqueue_bulk(
        session, messages=[_message(2, "alert", "alert:2:s", text="later")], now=NOW
    )
    await session.commit()
    assert first == {"alert:1:s", "alert:2:s"} and again == set()
    rows = await _rows(session)
    assert [(r.chat_id, r.payload["text"]) for r in rows] == [
        (1, "Київ: 300 000 без світла"),
        (2, "two"),
    ]
    assert all(r.status == "pending" and r.next_attempt_at == NOW for r in rows)


async def test_bulk_alert_claims_skip_chats_alerted_before(session: AsyncSession) -> None:
    for chat_id in (1, 2, 3):
        await make_subscriber(session, chat_id)
    await stories.save_story(
        session, story=Story(id="s", title="t", first_published=NOW, last_published=NOW)
    )
    assert await alerts.record_alerts(
        session, story_id="s", chat_ids=[1, 2, 2], fingerprint="f1", now=NOW
    ) == {1, 2}
    assert await alerts.record_alerts(
        session, story_id="s", chat_ids=[2, 3], fingerprint="f2", now=NOW
    ) == {3}
    assert await alerts.set_fingerprints(session, story_id="s", chat_ids=[1, 3], fingerprint="f3")
    await session.commit()
    assert await alerts.fingerprints_for_story(session, story_id="s") == {
        1: "f3",
        2: "f1",
        3: "f3",
    }


async def _queue_alert_and_edit(session: AsyncSession) -> None:
    """Chat 1: its alert still queued. Chat 2: alert sent, an edit queued. Chat 3: alert sent,
    nothing queued. Chat 4: alert sent, its edit already claimed by a sender."""
    await outbox.enqueue_bulk(
        session,
        messages=[
            _message(c, "alert", f"alert:{c}:s", text="v1", published_at="p1", news_at="p1")
            for c in (1, 2, 3, 4)
        ],
        now=NOW,
    )
    sent = await outbox.claim_batch(session, now=NOW, limit=10)
    await outbox.mark_sent_many(session, outbox_ids=[m.id for m in sent if m.chat_id != 1])
    await outbox.mark_retry(
        session, outbox_id=next(m.id for m in sent if m.chat_id == 1), now=NOW, delay=0, error=""
    )
    await outbox.enqueue_bulk(
        session,
        messages=[_message(c, "edit", f"edit:{c}:s:f2", text="v2", news_at="p2") for c in (2, 4)],
        now=NOW,
    )
    claimed = await outbox.claim_batch(session, now=NOW, limit=10)
    for message in claimed:
        if message.chat_id != 4:
            await outbox.mark_retry(session, outbox_id=message.id, now=NOW, delay=0, error="")
    await session.commit()


async def test_an_edit_is_folded_into_the_message_still_waiting(session: AsyncSession) -> None:
    await _queue_alert_and_edit(session)
    before = {(r.chat_id, r.kind): r for r in await _rows(session)}

    edits = [_message(c, "edit", f"edit:{c}:s:f3", text="v3", news_at="p3") for c in (1, 2, 3, 4)]
    queued = await outbox.enqueue_story_edits(
        session,
        edits=edits,
        waiting_keys={c: (f"alert:{c}:s", f"edit:{c}:s:f2") for c in (1, 2, 3, 4)},
        now=NOW,
    )
    await session.commit()
    assert queued.folded == {1, 2}
    # Chat 1 has seen nothing of the story yet (its alert waits); chat 2 saw the alert.
    assert queued.folded_into_alert == {1}
    assert queued.created == {"edit:3:s:f3", "edit:4:s:f3"}
    after = {(r.chat_id, r.kind, r.dedupe_key): r for r in await _rows(session)}
    # Chat 1: the queued alert now says v3; its own fields (the lag's start) stay.
    alert = after[(1, "alert", "alert:1:s")]
    assert alert.id == before[(1, "alert")].id
    assert alert.payload == {"story_id": "s", "text": "v3", "published_at": "p1", "news_at": "p3"}
    # Chat 2: the queued edit became the newest one, under the newest key.
    edit = after[(2, "edit", "edit:2:s:f3")]
    assert edit.id == before[(2, "edit")].id and edit.payload["text"] == "v3"
    # Chat 4: the edit being sent is left alone, a new one follows it.
    assert after[(4, "edit", "edit:4:s:f2")].status == "sending"
    assert after[(4, "edit", "edit:4:s:f3")].payload["text"] == "v3"
    assert len(after) == 4 + 2 + 2


async def test_an_edit_whose_key_was_used_before_queues_nothing(session: AsyncSession) -> None:
    await _queue_alert_and_edit(session)
    # Chat 2's facts went back to an earlier state (f1 was the alert's): as with a repeated
    # dedupe key anywhere, nothing is queued and the waiting edit keeps its text.
    await outbox.enqueue_bulk(session, messages=[_message(2, "edit", "edit:2:s:f1")], now=NOW)
    queued = await outbox.enqueue_story_edits(
        session,
        edits=[_message(2, "edit", "edit:2:s:f1", text="v1 again")],
        waiting_keys={2: ("alert:2:s", "edit:2:s:f2")},
        now=NOW,
    )
    await session.commit()
    assert queued.folded == set() and queued.created == set()
    waiting = [r for r in await _rows(session) if r.dedupe_key == "edit:2:s:f2"]
    assert [r.payload["text"] for r in waiting] == ["v2"]


async def test_active_rules_come_in_batches_with_their_json_as_text(
    session: AsyncSession,
) -> None:
    for chat_id in (1, 2):
        await make_subscriber(session, chat_id)
    ids = [
        await rules_store.add_rule(
            session,
            chat_id=chat_id,
            text=f"rule {n}",
            rule_json={"categories": ["power"], "n": n},
            delivery="instant",
        )
        for n, chat_id in enumerate((1, 1, 2, 2, 2))
    ]
    await rules_store.set_rule_paused(session, chat_id=1, rule_id=ids[0], paused=True)
    await deactivate_subscriber(session, chat_id=2)
    await make_subscriber(session, 3)
    ids.append(
        await rules_store.add_rule(
            session, chat_id=3, text="rule 5", rule_json={"n": 5}, delivery="digest"
        )
    )
    await session.commit()
    batches = [b async for b in rules_store.active_rule_batches(session, batch=1)]
    assert [len(b) for b in batches] == [1, 1]
    found = [row for batch in batches for row in batch]
    assert [(r.id, r.chat_id, r.text) for r in found] == [
        (ids[1], 1, "rule 1"),
        (ids[5], 3, "rule 5"),
    ]
    assert json.loads(found[0].rule_json) == {"categories": ["power"], "n": 1}


async def test_waiting_edits_are_found_by_key_even_when_statistics_say_pending_is_rare(
    session: AsyncSession,
) -> None:
    """A burst fills the outbox faster than PostgreSQL re-analyses it: with statistics taken
    while it was small, the planner walked the ready index per chat, through every pending
    row. The lookup must probe the dedupe key whatever the statistics say."""
    if session.bind.dialect.name != "postgresql":
        pytest.skip("a PostgreSQL plan; SQLite looks the keys up one statement per chunk")
    sent = [_message(c, "alert", f"alert:{c}:old") for c in range(1, 201)]
    await outbox.enqueue_bulk(session, messages=sent, now=NOW)
    await session.execute(text("UPDATE outbox SET status = 'sent'"))
    await session.commit()
    await session.execute(text("ANALYZE outbox"))  # "pending" is rare, says this
    burst = [_message(c % 5000, "alert", f"alert:{c}:s") for c in range(20_000)]
    await outbox.enqueue_bulk(session, messages=burst, now=NOW)
    await session.commit()

    plan = await session.execute(
        text(f"EXPLAIN {outbox._FIND_WAITING.text}"),
        {
            "chat_ids": [7, 8],
            "first_keys": ["alert:7:s", "alert:8:s"],
            "second_keys": ["edit:7:s:f2", "edit:8:s:f2"],
        },
    )
    lines = "\n".join(row[0] for row in plan)
    assert "uq_outbox_dedupe_key" in lines, lines
    assert "ix_outbox_ready" not in lines and "ix_outbox_chat_id" not in lines, lines
