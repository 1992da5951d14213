"""Alerts sent: at most one per (chat, story), with the facts fingerprint for escalations."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, NamedTuple, cast

from sqlalchemy import Table, bindparam, select, text, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.storage.db import INSERT_CHUNK, KEEP, Keep, chunked, dialect_name, insert_for, utc_now
from bot.storage.tables import AlertRow

_COLUMNS = tuple(AlertRow.__table__.c)
# PostgreSQL: chats per statement when their ids travel as one array.
ARRAY_CHUNK = 5000

_INSERT_UNNESTED = text(
    "INSERT INTO alerts (chat_id, story_id, fingerprint, created_at)"
    " SELECT c, :story_id, :fingerprint, :now FROM unnest(CAST(:chats AS BIGINT[])) AS c"
    " ON CONFLICT (chat_id, story_id) DO NOTHING RETURNING chat_id"
)


@dataclass(frozen=True, slots=True)
class Alert:
    id: int
    chat_id: int
    story_id: str
    message_id: int | None
    fingerprint: str
    created_at: datetime
    sent_at: datetime | None
    # Sent in one message with other alerts (bot/delivery/bundles.py): not edited later.
    bundled: bool = False


class Original(NamedTuple):
    """The message an edit or reply of an alert points at."""

    message_id: int
    bundled: bool = False


def _stored(mapping: Mapping[Any, Any]) -> Alert:
    return Alert(**mapping)


async def record_alert(
    session: AsyncSession,
    *,
    chat_id: int,
    story_id: str,
    fingerprint: str,
    now: datetime | None = None,
) -> bool:
    """Claim the one alert of this chat for this story; False when it was already claimed.

    Queue the outbox message in the same transaction, so either both exist or neither.
    """
    insert = insert_for(session)
    result = await session.execute(
        insert(AlertRow)
        .values(
            chat_id=chat_id, story_id=story_id, fingerprint=fingerprint, created_at=now or utc_now()
        )
        .on_conflict_do_nothing(index_elements=["chat_id", "story_id"])
        .returning(AlertRow.id)
    )
    return result.first() is not None


async def record_alerts(
    session: AsyncSession,
    *,
    story_id: str,
    chat_ids: Sequence[int],
    fingerprint: str,
    now: datetime | None = None,
) -> set[int]:
    """`record_alert` for many chats in a few multi-row INSERTs; returns the chats whose alert
    was claimed now (a chat alerted about the story before is left out).

    Queue their outbox messages (`outbox.enqueue_many`) in the same transaction.
    """
    now = now or utc_now()
    unique = list(dict.fromkeys(chat_ids))
    claimed: set[int] = set()
    if dialect_name(session) == "postgresql":
        # The chat ids as one array per statement: nothing is compiled per row.
        for chats in chunked(unique, ARRAY_CHUNK):
            result = await session.execute(
                _INSERT_UNNESTED,
                {"story_id": story_id, "fingerprint": fingerprint, "now": now, "chats": chats},
            )
            claimed.update(int(chat_id) for chat_id in result.scalars())
        return claimed
    rows = [
        {"chat_id": chat_id, "story_id": story_id, "fingerprint": fingerprint, "created_at": now}
        for chat_id in unique
    ]
    insert = insert_for(session)
    for chunk in chunked(rows):
        result = await session.execute(
            insert(AlertRow)
            .values(list(chunk))
            .on_conflict_do_nothing(index_elements=["chat_id", "story_id"])
            .returning(AlertRow.chat_id)
        )
        claimed.update(int(chat_id) for chat_id in result.scalars())
    return claimed


async def get_alert(session: AsyncSession, *, chat_id: int, story_id: str) -> Alert | None:
    stmt = select(*_COLUMNS).where(AlertRow.chat_id == chat_id, AlertRow.story_id == story_id)
    row = (await session.execute(stmt)).first()
    return _stored(row._mapping) if row else None


async def message_ids(
    session: AsyncSession, *, pairs: Collection[tuple[int, str]]
) -> dict[tuple[int, str], Original]:
    """The messages that carried the delivered alerts among (chat, story) pairs; one
    statement per story (and per chunk of its chats)."""
    chats_by_story: dict[str, set[int]] = {}
    for chat_id, story_id in pairs:
        chats_by_story.setdefault(story_id, set()).add(chat_id)
    found: dict[tuple[int, str], Original] = {}
    for story_id, chats in chats_by_story.items():
        for chunk in chunked(sorted(chats), INSERT_CHUNK):
            rows = await session.execute(
                select(AlertRow.chat_id, AlertRow.message_id, AlertRow.bundled).where(
                    AlertRow.story_id == story_id,
                    AlertRow.chat_id.in_(list(chunk)),
                    AlertRow.message_id.is_not(None),
                )
            )
            found.update(
                {
                    (chat_id, story_id): Original(message_id, bool(bundled))
                    for chat_id, message_id, bundled in rows
                    if message_id
                }
            )
    return found


async def set_fingerprints(
    session: AsyncSession, *, story_id: str, chat_ids: Sequence[int], fingerprint: str
) -> int:
    """Record one escalation of a story for many chats at once; returns the rows changed."""
    changed = 0
    on_postgres = dialect_name(session) == "postgresql"
    for chunk in chunked(sorted(set(chat_ids)), ARRAY_CHUNK if on_postgres else INSERT_CHUNK):
        if on_postgres:
            # One array parameter instead of thousands of IN placeholders; rows locked in
            # chat order (the story_id index would give them in heap order), the order the
            # sender locks delivered alerts in: the two cannot deadlock.
            result = await session.execute(
                _FINGERPRINTS_UNNESTED,
                {"story_id": story_id, "chats": list(chunk), "fingerprint": fingerprint},
            )
        else:
            result = await session.execute(
                update(AlertRow)
                .where(AlertRow.story_id == story_id, AlertRow.chat_id.in_(list(chunk)))
                .values(fingerprint=fingerprint)
                .execution_options(synchronize_session=False)
            )
        changed += int(getattr(result, "rowcount", 0) or 0)
    return changed


_FINGERPRINTS_UNNESTED = text(
    "WITH locked AS (SELECT id FROM alerts WHERE story_id = :story_id"
    " AND chat_id = ANY(CAST(:chats AS BIGINT[])) ORDER BY chat_id FOR UPDATE)"
    " UPDATE alerts AS a SET fingerprint = :fingerprint FROM locked WHERE a.id = locked.id"
)


# Locked in (chat, story) order first (LockRows above the Sort), as the worker locks a story's
# rows in chat order: the two never wait on each other in opposite orders.
_DELIVERED_UNNESTED = text(
    "WITH d AS (SELECT * FROM unnest(CAST(:chats AS BIGINT[]), CAST(:stories AS TEXT[]),"
    " CAST(:mids AS BIGINT[]), CAST(:bundled AS BOOLEAN[])) AS d(c, s, mid, b)),"
    " locked AS (SELECT a.id, d.mid, d.b FROM d JOIN alerts AS a"
    " ON a.chat_id = d.c AND a.story_id = d.s ORDER BY a.chat_id, a.story_id FOR UPDATE OF a)"
    " UPDATE alerts AS a SET message_id = locked.mid, bundled = locked.b, sent_at = :at"
    " FROM locked WHERE a.id = locked.id"
)


class Delivery(NamedTuple):
    """One delivered alert: which message carries it (for later edits and replies)."""

    chat_id: int
    story_id: str
    message_id: int
    bundled: bool = False


async def record_deliveries(
    session: AsyncSession, *, delivered: Sequence[Delivery], at: datetime
) -> None:
    """Record the message that carried each delivered alert, for later edits and replies:
    one statement on PostgreSQL (a statement per alert cost more database time than
    anything else the sender does), an executemany on SQLite."""
    rows = sorted(Delivery(*d) for d in delivered)
    if not rows:
        return
    if dialect_name(session) == "postgresql":
        for chunk in chunked(rows, ARRAY_CHUNK):
            await session.execute(
                _DELIVERED_UNNESTED,
                {
                    "chats": [d.chat_id for d in chunk],
                    "stories": [d.story_id for d in chunk],
                    "mids": [d.message_id for d in chunk],
                    "bundled": [d.bundled for d in chunk],
                    "at": at,
                },
            )
        return
    # Core table, not the ORM class: an executemany UPDATE with its own WHERE.
    table = cast(Table, AlertRow.__table__)
    await session.execute(
        update(table)
        .where(table.c.chat_id == bindparam("c"), table.c.story_id == bindparam("s"))
        .values(message_id=bindparam("mid"), bundled=bindparam("b"), sent_at=bindparam("at")),
        [
            {"c": d.chat_id, "s": d.story_id, "mid": d.message_id, "b": d.bundled, "at": at}
            for d in rows
        ],
    )


async def update_alert(
    session: AsyncSession,
    *,
    chat_id: int,
    story_id: str,
    fingerprint: str | Keep = KEEP,
    message_id: int | Keep | None = KEEP,
    sent_at: datetime | Keep | None = KEEP,
) -> bool:
    """Record delivery (Telegram's message id) or an escalation (a new fingerprint)."""
    changes = {
        name: value
        for name, value in (
            ("fingerprint", fingerprint),
            ("message_id", message_id),
            ("sent_at", sent_at),
        )
        if not isinstance(value, Keep)
    }
    if not changes:
        return await get_alert(session, chat_id=chat_id, story_id=story_id) is not None
    result = await session.execute(
        update(AlertRow)
        .where(AlertRow.chat_id == chat_id, AlertRow.story_id == story_id)
        .values(**changes)
        .returning(AlertRow.id)
        .execution_options(synchronize_session=False)
    )
    return result.first() is not None


async def alerts_for_story(session: AsyncSession, *, story_id: str) -> list[Alert]:
    """Every chat alerted about a story (to edit their messages when it escalates)."""
    stmt = select(*_COLUMNS).where(AlertRow.story_id == story_id).order_by(AlertRow.chat_id)
    return [_stored(row._mapping) for row in await session.execute(stmt)]


async def alert_states_for_story(
    session: AsyncSession, *, story_id: str
) -> tuple[dict[int, str], set[int]]:
    """Chat -> fingerprint of every alert about a story, and the chats whose alert went out
    inside a bundle (their message is not edited): all the worker needs to decide edits."""
    stmt = select(AlertRow.chat_id, AlertRow.fingerprint, AlertRow.bundled).where(
        AlertRow.story_id == story_id
    )
    fingerprints: dict[int, str] = {}
    bundled: set[int] = set()
    for chat_id, fingerprint, in_bundle in await session.execute(stmt):
        fingerprints[int(chat_id)] = fingerprint
        if in_bundle:
            bundled.add(int(chat_id))
    return fingerprints, bundled


async def fingerprints_for_story(session: AsyncSession, *, story_id: str) -> dict[int, str]:
    """Chat -> fingerprint of every alert about a story."""
    fingerprints, _ = await alert_states_for_story(session, story_id=story_id)
    return fingerprints
