"""The outbox: every message to Telegram is queued here first, then drained by the sender.

Life of a row: `pending` -> (`claim_batch`) `sending` -> `sent`, or back to `pending` with a
delay (`mark_retry`), or `failed` (permanent error) / `dead` (gave up). A claim expires, so
rows of a sender that crashed mid-send are claimed again; `attempts` counts claims.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import (
    Table,
    and_,
    bindparam,
    case,
    delete,
    func,
    or_,
    select,
    text,
    true,
    update,
)
from sqlalchemy.ext.asyncio import AsyncSession
from sqlalchemy.sql.elements import ColumnElement

from bot.storage.db import INSERT_CHUNK, chunked, dialect_name, insert_for, utc_now
from bot.storage.tables import OUTBOX_KINDS, OUTBOX_STATUSES, OutboxRow

_COLUMNS = tuple(OutboxRow.__table__.c)
# Follow-ups of a message already delivered or queued: the silent edit that adds an outlet or
# a figure, the reply that points at it. When the queue backs up they wait behind first news
# (a new alert, a digest, a notice): an alert tells someone what they do not know yet, an
# edit refines what they already have. Edits and replies share a lane, so a reply still
# leaves after the edit it follows (it is queued with the same `not_before`, and later).
FOLLOW_UP_KINDS = ("edit", "reply")
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
    """Claim up to `limit` messages ready at `now` for `claim_seconds`: first news (alerts,
    digests, notices) oldest first, then follow-ups (`FOLLOW_UP_KINDS`) oldest first.

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
        .order_by(_follow_up_last(), OutboxRow.next_attempt_at, OutboxRow.id)
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
    return sorted(claimed, key=lambda m: (m.kind in FOLLOW_UP_KINDS, m.next_attempt_at, m.id))


def _follow_up_last() -> ColumnElement[int]:
    return case((OutboxRow.kind.in_(FOLLOW_UP_KINDS), 1), else_=0)


def under_claim(claimed_until: datetime | None) -> ColumnElement[bool]:
    """The row is still under the claim that ended at `claimed_until` (None: any claim).

    The claim's expiry is its token: a sender's late outcome for a row whose claim lapsed and
    was taken by another sender must not put that row back in the queue under its feet.
    """
    if claimed_until is None:
        return true()
    return OutboxRow.claimed_until == claimed_until


async def _finish(
    session: AsyncSession,
    outbox_id: int,
    from_status: tuple[str, ...],
    *,
    claim: ColumnElement[bool] | None = None,
    **values: Any,
) -> bool:
    result = await session.execute(
        update(OutboxRow)
        .where(
            OutboxRow.id == outbox_id,
            OutboxRow.status.in_(from_status),
            true() if claim is None else claim,
        )
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


_LOCK_IN_CHAT_ORDER = text(
    "SELECT id FROM outbox WHERE id = ANY(CAST(:ids AS BIGINT[])) ORDER BY chat_id, id FOR UPDATE"
)


async def lock_in_chat_order(session: AsyncSession, *, outbox_ids: Sequence[int]) -> None:
    """PostgreSQL: lock these rows now, in chat order, for the rest of the transaction.

    A worker folding news into waiting messages locks rows in chat order too; a sender
    recording outcomes in any other order could wait on it while it waits on the sender (a
    deadlock). SQLite has one writer at a time: nothing to do.
    """
    if dialect_name(session) != "postgresql" or not outbox_ids:
        return
    for chunk in chunked(sorted(outbox_ids), ARRAY_CHUNK):
        await session.execute(_LOCK_IN_CHAT_ORDER, {"ids": list(chunk)})


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
    claimed_until: datetime | None = None,
) -> bool:
    """A transient failure (429, 5xx, network): try again after `delay` (seconds or timedelta).

    With `claimed_until`, only while the row is still under that claim (see `under_claim`).
    """
    if not isinstance(delay, timedelta):
        delay = timedelta(seconds=delay)
    return await _finish(
        session,
        outbox_id,
        ("sending",),
        claim=under_claim(claimed_until),
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


# -- bulk queueing for the worker's fan-out (PostgreSQL: whole arrays per statement) ------

# PostgreSQL: rows per statement when the values travel as arrays (nothing is compiled per row).
ARRAY_CHUNK = 5000

_INSERT_UNNESTED = text(
    "INSERT INTO outbox (chat_id, kind, payload, dedupe_key, status, attempts,"
    " next_attempt_at, created_at)"
    " SELECT m.chat_id, m.kind, CAST(m.payload AS JSONB), m.dedupe_key, 'pending', 0,"
    " m.next_attempt_at, :now"
    " FROM unnest(CAST(:chat_ids AS BIGINT[]), CAST(:kinds AS TEXT[]),"
    " CAST(:payloads AS TEXT[]), CAST(:dedupe_keys AS TEXT[]),"
    " CAST(:next_attempts AS TIMESTAMPTZ[]))"
    " AS m(chat_id, kind, payload, dedupe_key, next_attempt_at)"
    " ON CONFLICT (dedupe_key) DO NOTHING RETURNING dedupe_key"
)


async def enqueue_bulk(
    session: AsyncSession,
    *,
    messages: Sequence[NewMessage],
    now: datetime | None = None,
) -> set[str]:
    """`enqueue_many` for thousands of messages: on PostgreSQL one statement per 5,000 rows,
    the columns sent as arrays; elsewhere `enqueue_many` itself. Returns the keys queued now."""
    if dialect_name(session) != "postgresql":
        return await enqueue_many(session, messages=messages, now=now)
    now = now or utc_now()
    unique: dict[str, NewMessage] = {}
    for message in messages:
        if message.kind not in OUTBOX_KINDS:
            raise ValueError(
                f"unknown outbox kind {message.kind!r}; expected one of {OUTBOX_KINDS}"
            )
        unique.setdefault(message.dedupe_key, message)
    created: set[str] = set()
    for chunk in chunked(list(unique.values()), ARRAY_CHUNK):
        result = await session.execute(
            _INSERT_UNNESTED,
            {
                "now": now,
                "chat_ids": [m.chat_id for m in chunk],
                "kinds": [m.kind for m in chunk],
                "payloads": [_json(m.payload) for m in chunk],
                "dedupe_keys": [m.dedupe_key for m in chunk],
                "next_attempts": [m.not_before or now for m in chunk],
            },
        )
        created.update(result.scalars())
    return created


# What an edit changes in an alert still queued; "published_at" (the news that raised the
# alert, from which its lag counts) stays.
_ALERT_FOLDED = ("text", "reply_markup", "news_at")


@dataclass(frozen=True, slots=True)
class QueuedEdits:
    """What `enqueue_story_edits` did: chats whose waiting message now carries the new text,
    those of them whose waiting message is the alert itself (they have seen nothing of the
    story yet), and the dedupe keys of the edits queued as new rows."""

    folded: set[int]
    created: set[str]
    folded_into_alert: set[int] = field(default_factory=set)


async def enqueue_story_edits(
    session: AsyncSession,
    *,
    edits: Sequence[NewMessage],
    waiting_keys: Mapping[int, Sequence[str]],
    now: datetime | None = None,
) -> QueuedEdits:
    """Queue edits of alerts (kind "edit", one per chat), folding each into the message still
    waiting for the same alert: `waiting_keys` gives per chat the dedupe keys it may wait
    under (the alert's, the last edit's). The newest such pending row takes the edit in place
    (a pending edit its payload and dedupe key, a pending alert its text, markup and
    "news_at"; the rest stays the alert's), so a chat gets the latest figures once instead of
    every intermediate edit. A message a sender claimed already is left alone and a new edit
    queued after it; so is one whose new key was used before (the facts came back to an
    earlier state), which queues nothing, as `enqueue_many` would not.

    The folded rows stay locked until the transaction ends (a sender's claim skips locked
    rows). Update the alert rows first, then call this: the sender locks alert rows before
    outbox rows too.
    """
    now = now or utc_now()
    by_chat = {edit.chat_id: edit for edit in edits}
    if dialect_name(session) == "postgresql":
        kinds = await _fold_edits_unnested(session, by_chat, waiting_keys)
    else:
        kinds = await _fold_edits(session, by_chat, waiting_keys)
    fresh = [edit for chat_id, edit in by_chat.items() if chat_id not in kinds]
    created = await enqueue_bulk(session, messages=fresh, now=now) if fresh else set()
    return QueuedEdits(
        folded=set(kinds),
        created=created,
        folded_into_alert={chat_id for chat_id, kind in kinds.items() if kind == "alert"},
    )


# Each chat's newest pending row under one of its keys: two unique-index probes per chat
# (LATERAL ... LIMIT 1), locked until the transaction ends; a row a sender claims first no
# longer matches (status) and is skipped. The status and chat tests are written so that no
# index can serve them (`IS TRUE`, `+ 0`): statistics taken while the outbox was small say
# "pending" is rare, and the planner then walked `ix_outbox_ready` (or ANDed it with the chat
# index) per chat, through every pending row of a burst: 0.3-0.5 ms a chat, a second a story
# (PostgreSQL's auto_explain in bench/load.py), against 0.01 ms by the key.
_FIND_WAITING = text(
    "SELECT n.chat_id, w.id, w.kind"
    " FROM unnest(CAST(:chat_ids AS BIGINT[]), CAST(:first_keys AS TEXT[]),"
    " CAST(:second_keys AS TEXT[])) AS n(chat_id, first_key, second_key)"
    " CROSS JOIN LATERAL (SELECT w.id, w.kind FROM outbox AS w"
    " WHERE w.dedupe_key IN (n.first_key, n.second_key) AND (w.status = 'pending') IS TRUE"
    " AND w.chat_id + 0 = n.chat_id ORDER BY w.id DESC LIMIT 1 FOR UPDATE) AS w"
)

# An edit takes the new payload and key (unless that key was used before), an alert the
# folded keys of the payload.
_FOLD_UNNESTED = text(
    "UPDATE outbox AS o SET"
    " payload = CASE WHEN o.kind = 'edit' THEN CAST(m.payload AS JSONB)"
    " ELSE o.payload || CAST(m.payload AS JSONB) END,"
    " dedupe_key = CASE WHEN o.kind = 'edit' THEN m.new_key ELSE o.dedupe_key END"
    " FROM unnest(CAST(:row_ids AS BIGINT[]), CAST(:payloads AS TEXT[]),"
    " CAST(:new_keys AS TEXT[])) AS m(id, payload, new_key)"
    " WHERE o.id = m.id AND o.status = 'pending' AND (o.kind = 'alert'"
    " OR NOT EXISTS (SELECT 1 FROM outbox AS d WHERE d.dedupe_key = m.new_key))"
    " RETURNING o.chat_id, o.kind"
)


def _patch(payload: Mapping[str, Any]) -> dict[str, Any]:
    return {k: payload[k] for k in _ALERT_FOLDED if k in payload}


async def _fold_edits_unnested(
    session: AsyncSession,
    by_chat: Mapping[int, NewMessage],
    waiting_keys: Mapping[int, Sequence[str]],
) -> dict[int, str]:
    """Fold the edits into the waiting rows; chat -> the kind of the row that took its edit."""
    # First the (few) waiting rows, by key only; then the new texts for those alone: most
    # chats have nothing waiting, and their texts need not travel twice.
    waiting: list[tuple[int, int, str]] = []
    chats = sorted(c for c in by_chat if waiting_keys.get(c))
    for chunk in chunked(chats, ARRAY_CHUNK):
        # Two key columns; a chat with one key repeats it.
        keys = [(*_two(waiting_keys[c]), *_two(waiting_keys[c]))[:2] for c in chunk]
        result = await session.execute(
            _FIND_WAITING,
            {
                "chat_ids": list(chunk),
                "first_keys": [first for first, _ in keys],
                "second_keys": [second for _, second in keys],
            },
        )
        waiting.extend((int(c), int(i), str(k)) for c, i, k in result.all())
    folded: dict[int, str] = {}
    for part in chunked(sorted(waiting, key=lambda row: row[1]), ARRAY_CHUNK):
        result = await session.execute(
            _FOLD_UNNESTED,
            {
                "row_ids": [row_id for _, row_id, _ in part],
                "payloads": [
                    _json(by_chat[c].payload if kind == "edit" else _patch(by_chat[c].payload))
                    for c, _, kind in part
                ],
                "new_keys": [by_chat[c].dedupe_key for c, _, _ in part],
            },
        )
        folded.update((int(chat_id), str(kind)) for chat_id, kind in result.all())
    return folded


async def _fold_edits(
    session: AsyncSession,
    by_chat: Mapping[int, NewMessage],
    waiting_keys: Mapping[int, Sequence[str]],
) -> dict[int, str]:
    """`_fold_edits_unnested` for SQLite (one writer at a time: no claim can come between)."""
    owner = {key: c for c in by_chat for key in _two(waiting_keys.get(c, ()))}
    newest: dict[int, tuple[int, str, str, dict[str, Any]]] = {}  # chat -> id, kind, key, payload
    for chunk in chunked(sorted(owner), INSERT_CHUNK):
        stmt = select(OutboxRow.id, OutboxRow.dedupe_key, OutboxRow.kind, OutboxRow.payload).where(
            OutboxRow.dedupe_key.in_(list(chunk)), OutboxRow.status == "pending"
        )
        for row in await session.execute(stmt):
            chat_id = owner[row.dedupe_key]
            if chat_id not in newest or newest[chat_id][0] < row.id:
                newest[chat_id] = (int(row.id), row.kind, row.dedupe_key, dict(row.payload))
    taken: set[str] = set()
    for chunk in chunked([by_chat[c].dedupe_key for c in newest], INSERT_CHUNK):
        rows = await session.execute(
            select(OutboxRow.dedupe_key).where(OutboxRow.dedupe_key.in_(list(chunk)))
        )
        taken.update(rows.scalars())
    changes: dict[int, dict[str, Any]] = {}  # chat -> the row's new values
    kinds: dict[int, str] = {}
    for chat_id, (row_id, kind, key, payload) in sorted(newest.items()):
        edit = by_chat[chat_id]
        if kind == "edit" and edit.dedupe_key in taken:
            continue
        kinds[chat_id] = kind
        changes[chat_id] = {
            "row_id": row_id,
            "new_payload": dict(edit.payload) if kind == "edit" else payload | _patch(edit.payload),
            "new_key": edit.dedupe_key if kind == "edit" else key,
        }
    if changes:
        outbox = cast(Table, OutboxRow.__table__)
        await session.execute(
            update(outbox)
            .where(outbox.c.id == bindparam("row_id"))
            .values(payload=bindparam("new_payload"), dedupe_key=bindparam("new_key")),
            list(changes.values()),
        )
    return kinds


def _two(keys: Sequence[str]) -> tuple[str, ...]:
    """At most the first two keys (the alert's and the last edit's)."""
    return tuple(keys[:2])


def _json(payload: Mapping[str, Any]) -> str:
    return json.dumps(payload, ensure_ascii=False)
