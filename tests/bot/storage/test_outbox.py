"""The outbox: idempotent enqueue, claims that exclude each other and expire, final states."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from bot.storage import outbox
from bot.storage.db import Database
from tests.bot.storage.factories import NOW


async def _enqueue(session: AsyncSession, key: str, **kwargs: object) -> int:
    queued = await outbox.enqueue(
        session,
        chat_id=kwargs.pop("chat_id", 42),  # type: ignore[arg-type]
        kind=kwargs.pop("kind", "alert"),  # type: ignore[arg-type]
        payload={"text": f"message {key}"},
        dedupe_key=key,
        now=kwargs.pop("now", NOW),  # type: ignore[arg-type]
        **kwargs,  # type: ignore[arg-type]
    )
    await session.commit()
    return queued.id


async def test_enqueue_round_trip_and_idempotent(session: AsyncSession) -> None:
    first = await outbox.enqueue(
        session,
        chat_id=-100123,
        kind="digest",
        payload={"text": "Дайджест", "n": [1, 2]},
        dedupe_key="digest:-100123:2026-01-15",
        now=NOW,
    )
    again = await outbox.enqueue(
        session,
        chat_id=-100123,
        kind="digest",
        payload={"text": "different"},
        dedupe_key="digest:-100123:2026-01-15",
        now=NOW + timedelta(minutes=1),
    )
    await session.commit()
    assert first.created and not again.created
    assert again.id == first.id
    stored = await outbox.get_message(session, outbox_id=first.id)
    assert stored is not None
    assert stored.payload == {"text": "Дайджест", "n": [1, 2]}
    assert (stored.status, stored.attempts, stored.chat_id) == ("pending", 0, -100123)
    assert stored.next_attempt_at == NOW
    assert await outbox.depth(session) == 1


async def test_enqueue_rejects_unknown_kind(session: AsyncSession) -> None:
    with pytest.raises(ValueError, match="unknown outbox kind"):
        await outbox.enqueue(session, chat_id=1, kind="spam", payload={}, dedupe_key="x")


async def test_claim_takes_due_rows_oldest_first_up_to_limit(session: AsyncSession) -> None:
    ids = [await _enqueue(session, f"k{i}", now=NOW + timedelta(seconds=i)) for i in range(3)]
    later = await _enqueue(session, "later", not_before=NOW + timedelta(hours=1))

    claimed = await outbox.claim_batch(session, now=NOW + timedelta(seconds=5), limit=2)
    await session.commit()
    assert [m.id for m in claimed] == ids[:2]
    assert all(m.status == "sending" and m.attempts == 1 for m in claimed)

    rest = await outbox.claim_batch(session, now=NOW + timedelta(seconds=5), limit=10)
    await session.commit()
    assert [m.id for m in rest] == [ids[2]]  # claimed rows are not handed out twice
    assert later not in [m.id for m in rest]
    assert await outbox.depth(session) == 4


async def test_first_news_is_claimed_before_older_follow_ups(session: AsyncSession) -> None:
    # A backed-up queue: edits and a reply from a minute ago, fresh alerts, a digest.
    old = NOW - timedelta(minutes=1)
    edit = await _enqueue(session, "edit", kind="edit", now=old)
    reply = await _enqueue(session, "reply", kind="reply", now=old)
    older_edit = await _enqueue(session, "edit0", kind="edit", now=old - timedelta(seconds=5))
    alert = await _enqueue(session, "alert", kind="alert", now=NOW)
    digest = await _enqueue(session, "digest", kind="digest", now=NOW - timedelta(seconds=1))

    first = await outbox.claim_batch(session, now=NOW, limit=3)
    await session.commit()
    assert [m.id for m in first] == [digest, alert, older_edit]
    rest = await outbox.claim_batch(session, now=NOW, limit=10)
    await session.commit()
    # Within the follow-up lane, oldest first: a reply never overtakes the edit before it.
    assert [m.id for m in rest] == [edit, reply]


async def test_crashed_claim_comes_back_after_expiry(session: AsyncSession) -> None:
    row = await _enqueue(session, "crash")
    claimed = await outbox.claim_batch(session, now=NOW, limit=10, claim_seconds=60)
    await session.commit()
    assert [m.id for m in claimed] == [row]
    # The sender dies here: never marks the row. Before expiry nobody gets it...
    assert await outbox.claim_batch(session, now=NOW + timedelta(seconds=59), limit=10) == []
    # ...after expiry another sender does, and the attempt is counted.
    again = await outbox.claim_batch(session, now=NOW + timedelta(seconds=61), limit=10)
    await session.commit()
    assert [(m.id, m.attempts, m.status) for m in again] == [(row, 2, "sending")]


async def test_mark_sent_is_final(session: AsyncSession) -> None:
    row = await _enqueue(session, "ok")
    await outbox.claim_batch(session, now=NOW, limit=1)
    assert await outbox.mark_sent(session, outbox_id=row, now=NOW + timedelta(seconds=1))
    await session.commit()
    stored = await outbox.get_message(session, outbox_id=row)
    assert stored is not None and stored.status == "sent"
    assert stored.sent_at == NOW + timedelta(seconds=1)
    assert await outbox.claim_batch(session, now=NOW + timedelta(days=1), limit=10) == []
    assert await outbox.depth(session) == 0
    assert not await outbox.mark_sent(session, outbox_id=row)  # not being sent any more


async def test_mark_retry_delays_the_next_claim(session: AsyncSession) -> None:
    row = await _enqueue(session, "retry")
    await outbox.claim_batch(session, now=NOW, limit=1)
    assert await outbox.mark_retry(
        session, outbox_id=row, now=NOW, delay=timedelta(seconds=30), error="429 Too Many"
    )
    await session.commit()
    assert await outbox.claim_batch(session, now=NOW + timedelta(seconds=29), limit=10) == []
    again = await outbox.claim_batch(session, now=NOW + timedelta(seconds=30), limit=10)
    assert [(m.id, m.attempts, m.last_error) for m in again] == [(row, 2, "429 Too Many")]


async def test_mark_dead_and_failed_leave_the_queue(session: AsyncSession) -> None:
    dead = await _enqueue(session, "dead")
    failed = await _enqueue(session, "failed")
    await outbox.claim_batch(session, now=NOW, limit=10)
    assert await outbox.mark_dead(session, outbox_id=dead, reason="bot was blocked")
    assert await outbox.mark_failed(session, outbox_id=failed, reason="400 message too long")
    await session.commit()
    assert await outbox.depth(session) == 0
    counts = await outbox.counts_by_status(session)
    assert counts["dead"] == 1 and counts["failed"] == 1 and counts["pending"] == 0
    assert await outbox.claim_batch(session, now=NOW + timedelta(days=1), limit=10) == []
    stored = await outbox.get_message(session, outbox_id=dead)
    assert stored is not None and stored.last_error == "bot was blocked"


async def test_purge_finished_keeps_pending(session: AsyncSession) -> None:
    sent = await _enqueue(session, "sent")
    pending = await _enqueue(session, "pending", not_before=NOW + timedelta(days=9))
    await outbox.claim_batch(session, now=NOW, limit=1)
    await outbox.mark_sent(session, outbox_id=sent, now=NOW)
    await session.commit()
    assert await outbox.purge_finished(session, before=NOW + timedelta(days=7)) == 1
    await session.commit()
    assert await outbox.get_message(session, outbox_id=sent) is None
    assert await outbox.get_message(session, outbox_id=pending) is not None


async def test_concurrent_claimers_never_share_a_row(db: Database) -> None:
    async with db.sessions() as session:
        for i in range(40):
            await outbox.enqueue(
                session, chat_id=i, kind="alert", payload={}, dedupe_key=f"c{i}", now=NOW
            )
        await session.commit()

    async def claimer() -> list[int]:
        got: list[int] = []
        async with db.sessions() as session:
            while True:
                batch = await outbox.claim_batch(session, now=NOW, limit=3)
                await session.commit()
                if not batch:
                    return got
                got.extend(m.id for m in batch)
                await asyncio.sleep(0)

    results = await asyncio.gather(*(claimer() for _ in range(4)))
    everything = [i for r in results for i in r]
    assert len(everything) == len(set(everything)) == 40


async def test_lock_in_chat_order_holds_the_rows_until_the_transaction_ends(
    db: Database,
) -> None:
    """The sender locks its outcome rows up front (PostgreSQL): a claim meanwhile skips them,
    and they are free again once the sender's transaction ends."""
    if db.dialect != "postgresql":
        pytest.skip("row locks are PostgreSQL's; SQLite has one writer at a time")
    async with db.sessions() as session:
        ids = [await _enqueue(session, f"k{chat}", chat_id=chat) for chat in (3, 1, 2)]
    async with db.sessions() as holder, holder.begin():
        await outbox.lock_in_chat_order(holder, outbox_ids=ids[:2])
        async with db.sessions() as other, other.begin():
            claimed = await outbox.claim_batch(other, now=NOW, limit=10)
            assert [m.id for m in claimed] == [ids[2]]
    async with db.sessions() as other, other.begin():
        claimed = await outbox.claim_batch(other, now=NOW, limit=10)
        assert sorted(m.id for m in claimed) == sorted(ids[:2])
