"""The outbox: every message to Telegram is queued here first, then drained by the sender.

Life of a row: `pending` -> (`claim_batch`) `sending` -> `sent`, or back to `pending` with a
delay (`mark_retry`), or `failed` (permanent error) / `dead` (gave up). A claim expires, so
rows of a sender that crashed mid-send are claimed again; `attempts` counts claims.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, delete, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.storage.db import chunked, dialect_name, insert_for, utc_now
from bot.storage.tables import OUTBOX_KINDS, OUTBOX_STATUSES, OutboxRow

_COLUMNS = tuple(OutboxRow.__table__.c)
_MAX_ERROR_CHARS = 1000


@dataclass(frozen=True, slots=True)
class OutboxMessage:
    id: int
    chat_id: int
    kind: str
    payload: dict[str, Any]
    dedupe_key: str
    status: str
    attempts: int
    next_attempt_at: datetime
    claimed_until: datetime | None
    last_error: str | None
    created_at: datetime
    sent_at: datetime | None


@dataclass(frozen=True, slots=True)
class Enqueued:
    """The row holding the message; `created` is False when the dedupe key was queued before."""

    id: int
    created: bool


@dataclass(frozen=True, slots=True)
class NewMessage:
    """One message for `enqueue_many`."""

    chat_id: int
    kind: str
    payload: Mapping[str, Any]
    dedupe_key: str
    not_before: datetime | None = None


def _stored(mapping: Mapping[Any, Any]) -> OutboxMessage:
    return OutboxMessage(**mapping)


async def enqueue(
    session: AsyncSession,
    *,
    chat_id: int,
    kind: str,
    payload: Mapping[str, Any],
    dedupe_key: str,
    now: datetime | None = None,
    not_before: datetime | None = None,
) -> Enqueued:
    """Queue a message once: a second call with the same `dedupe_key` changes nothing."""
    if kind not in OUTBOX_KINDS:
        raise ValueError(f"unknown outbox kind {kind!r}; expected one of {OUTBOX_KINDS}")
    now = now or utc_now()
    insert = insert_for(session)
    result = await session.execute(
        insert(OutboxRow)
        .values(
            chat_id=chat_id,
            kind=kind,
            payload=dict(payload),
            dedupe_key=dedupe_key,
            status="pending",
            attempts=0,
            next_attempt_at=not_before or now,
            created_at=now,
        )
        .on_conflict_do_nothing(index_elements=["dedupe_key"])
        .returning(OutboxRow.id)
    )
    new_id = result.scalar_one_or_none()
    if new_id is not None:
        return Enqueued(id=int(new_id), created=True)
    existing = await session.execute(select(OutboxRow.id).where(OutboxRow.dedupe_key == dedupe_key))
    return Enqueued(id=int(existing.scalar_one()), created=False)


async def enqueue_many(
    session: AsyncSession,
    *,
    messages: Sequence[NewMessage],
    now: datetime | None = None,
) -> set[str]:
    """Queue many messages in a few multi-row INSERTs (a fan-out of one story to thousands of
    chats); returns the dedupe keys queued now. As with `enqueue`, a key queued before changes
    nothing, and so does a key repeated in `messages` (the first one is queued).
    """
    now = now or utc_now()
    rows: dict[str, dict[str, Any]] = {}
    for message in messages:
        if message.kind not in OUTBOX_KINDS:
            raise ValueError(
                f"unknown outbox kind {message.kind!r}; expected one of {OUTBOX_KINDS}"
            )
        rows.setdefault(
            message.dedupe_key,
            {
                "chat_id": message.chat_id,
                "kind": message.kind,
                "payload": dict(message.payload),
                "dedupe_key": message.dedupe_key,
                "status": "pending",
                "attempts": 0,
                "next_attempt_at": message.not_before or now,
                "created_at": now,
            },
        )
    insert = insert_for(session)
    created: set[str] = set()
    for chunk in chunked(list(rows.values())):
        result = await session.execute(
            insert(OutboxRow)
            .values(list(chunk))
            .on_conflict_do_nothing(index_elements=["dedupe_key"])
            .returning(OutboxRow.dedupe_key)
        )
        created.update(result.scalars())
    return created


async def claim_batch(
    session: AsyncSession,
    *,
    now: datetime,
    limit: int,
    claim_seconds: float = 60.0,
) -> list[OutboxMessage]:
    """Claim up to `limit` messages ready at `now`, oldest first, for `claim_seconds`.

    Ready means pending and due, or claimed by a sender whose claim has lapsed (it crashed
    or hung). Commit right after claiming so the claim is visible to others.
    """
    ready = or_(
        and_(OutboxRow.status == "pending", OutboxRow.next_attempt_at <= now),
        and_(OutboxRow.status == "sending", OutboxRow.claimed_until <= now),
    )
    pick = (
        select(OutboxRow.id)
        .where(ready)
        .order_by(OutboxRow.next_attempt_at, OutboxRow.id)
        .limit(limit)
    )
    if dialect_name(session) == "postgresql":
        pick = pick.with_for_update(skip_locked=True)
    chosen = pick.cte("chosen")
    stmt = (
        update(OutboxRow)
        .where(OutboxRow.id.in_(select(chosen.c.id)))
        .values(
            status="sending",
            claimed_until=now + timedelta(seconds=claim_seconds),
            attempts=OutboxRow.attempts + 1,
        )
        .returning(*_COLUMNS)
        .execution_options(synchronize_session=False)
    )
    claimed = [_stored(row._mapping) for row in await session.execute(stmt)]
    return sorted(claimed, key=lambda m: (m.next_attempt_at, m.id))


async def _finish(
    session: AsyncSession, outbox_id: int, from_status: tuple[str, ...], **values: Any
) -> bool:
    result = await session.execute(
        update(OutboxRow)
        .where(OutboxRow.id == outbox_id, OutboxRow.status.in_(from_status))
        .values(**values)
        .returning(OutboxRow.id)
        .execution_options(synchronize_session=False)
    )
    return result.first() is not None


async def mark_sent(session: AsyncSession, *, outbox_id: int, now: datetime | None = None) -> bool:
    """The message reached Telegram; False when the row was not being sent."""
    return await _finish(
        session,
        outbox_id,
        ("sending",),
        status="sent",
        sent_at=now or utc_now(),
        claimed_until=None,
    )


async def mark_sent_many(
    session: AsyncSession, *, outbox_ids: Sequence[int], now: datetime | None = None
) -> int:
    """`mark_sent` for many rows, a few statements in all; returns how many were being sent."""
    now = now or utc_now()
    marked = 0
    for chunk in chunked(list(outbox_ids)):
        result = await session.execute(
            update(OutboxRow)
            .where(OutboxRow.id.in_(list(chunk)), OutboxRow.status == "sending")
            .values(status="sent", sent_at=now, claimed_until=None)
            .returning(OutboxRow.id)
            .execution_options(synchronize_session=False)
        )
        marked += len(result.all())
    return marked


async def mark_retry(
    session: AsyncSession,
    *,
    outbox_id: int,
    now: datetime,
    delay: timedelta | float,
    error: str,
) -> bool:
    """A transient failure (429, 5xx, network): try again after `delay` (seconds or timedelta)."""
    if not isinstance(delay, timedelta):
        delay = timedelta(seconds=delay)
    return await _finish(
        session,
        outbox_id,
        ("sending",),
        status="pending",
        next_attempt_at=now + delay,
        claimed_until=None,
        last_error=error[:_MAX_ERROR_CHARS],
    )


async def mark_failed(session: AsyncSession, *, outbox_id: int, reason: str) -> bool:
    """A permanent error for this message (Telegram refused it); it is not retried."""
    return await _finish(
        session,
        outbox_id,
        ("sending", "pending"),
        status="failed",
        claimed_until=None,
        last_error=reason[:_MAX_ERROR_CHARS],
    )


async def mark_dead(session: AsyncSession, *, outbox_id: int, reason: str) -> bool:
    """Give up on the message (too many attempts, or the chat is gone)."""
    return await _finish(
        session,
        outbox_id,
        ("sending", "pending"),
        status="dead",
        claimed_until=None,
        last_error=reason[:_MAX_ERROR_CHARS],
    )


async def depth(session: AsyncSession) -> int:
    """Messages still to deliver (pending or being sent): the queue length for metrics."""
    stmt = (
        select(func.count())
        .select_from(OutboxRow)
        .where(OutboxRow.status.in_(("pending", "sending")))
    )
    return int((await session.execute(stmt)).scalar_one())


async def counts_by_status(session: AsyncSession) -> dict[str, int]:
    stmt = select(OutboxRow.status, func.count()).group_by(OutboxRow.status)
    counts = dict.fromkeys(OUTBOX_STATUSES, 0)
    counts.update({status: int(n) for status, n in await session.execute(stmt)})
    return counts


async def get_message(session: AsyncSession, *, outbox_id: int) -> OutboxMessage | None:
    row = (await session.execute(select(*_COLUMNS).where(OutboxRow.id == outbox_id))).first()
    return _stored(row._mapping) if row else None


async def purge_finished(session: AsyncSession, *, before: datetime) -> int:
    """Delete sent/failed/dead rows created before `before` (their dedupe keys expire too)."""
    result = await session.execute(
        delete(OutboxRow)
        .where(
            OutboxRow.status.in_(("sent", "failed", "dead")),
            OutboxRow.created_at < before,
        )
        .returning(OutboxRow.id)
        .execution_options(synchronize_session=False)
    )
    return len(result.all())
