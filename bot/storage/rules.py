"""Subscribers' rules as stored: the text they typed, its parsed form as JSON, and delivery."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Text, cast, delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.storage.db import utc_now
from bot.storage.errors import RuleLimitReached, UnknownChat
from bot.storage.tables import DELIVERIES, RuleRow, SubscriberRow

_COLUMNS = (
    RuleRow.id,
    RuleRow.chat_id,
    RuleRow.text,
    RuleRow.rule.label("rule_json"),
    RuleRow.delivery,
    RuleRow.paused,
    RuleRow.created_at,
)


@dataclass(frozen=True, slots=True)
class StoredRule:
    """One rule of one chat; `rule_json` is the parsed rule as `rules` serialises it."""

    id: int
    chat_id: int
    text: str
    rule_json: dict[str, Any]
    delivery: str
    paused: bool
    created_at: datetime


def _stored(mapping: Mapping[Any, Any]) -> StoredRule:
    return StoredRule(**mapping)


async def add_rule(
    session: AsyncSession,
    *,
    chat_id: int,
    text: str,
    rule_json: Mapping[str, Any],
    delivery: str,
    max_rules: int | None = None,
    now: datetime | None = None,
) -> int:
    """Store a rule for a subscribed chat and return its id.

    Raises `UnknownChat` when the chat is not a subscriber and `RuleLimitReached` when it
    already holds `max_rules` rules.
    """
    if delivery not in DELIVERIES:
        raise ValueError(f"unknown delivery {delivery!r}; expected one of {DELIVERIES}")
    # Checked first: a failed FK insert would abort the whole PostgreSQL transaction.
    known = await session.execute(
        select(SubscriberRow.chat_id).where(SubscriberRow.chat_id == chat_id)
    )
    if known.first() is None:
        raise UnknownChat(chat_id)
    if max_rules is not None and await count_rules(session, chat_id=chat_id) >= max_rules:
        raise RuleLimitReached(chat_id, max_rules)
    result = await session.execute(
        insert(RuleRow)
        .values(
            chat_id=chat_id,
            text=text,
            rule=dict(rule_json),
            delivery=str(delivery),
            created_at=now or utc_now(),
        )
        .returning(RuleRow.id)
    )
    return int(result.scalar_one())


async def count_rules(session: AsyncSession, *, chat_id: int) -> int:
    stmt = select(func.count()).select_from(RuleRow).where(RuleRow.chat_id == chat_id)
    return int((await session.execute(stmt)).scalar_one())


async def list_rules(session: AsyncSession, *, chat_id: int) -> list[StoredRule]:
    stmt = select(*_COLUMNS).where(RuleRow.chat_id == chat_id).order_by(RuleRow.id)
    return [_stored(row._mapping) for row in await session.execute(stmt)]


async def get_rule(session: AsyncSession, *, chat_id: int, rule_id: int) -> StoredRule | None:
    stmt = select(*_COLUMNS).where(RuleRow.chat_id == chat_id, RuleRow.id == rule_id)
    row = (await session.execute(stmt)).first()
    return _stored(row._mapping) if row else None


async def delete_rule(session: AsyncSession, *, chat_id: int, rule_id: int) -> bool:
    """Delete one rule of this chat; False when the chat has no such rule."""
    result = await session.execute(
        delete(RuleRow)
        .where(RuleRow.chat_id == chat_id, RuleRow.id == rule_id)
        .returning(RuleRow.id)
        .execution_options(synchronize_session=False)
    )
    return result.first() is not None


async def set_rule_paused(
    session: AsyncSession, *, chat_id: int, rule_id: int, paused: bool
) -> bool:
    result = await session.execute(
        update(RuleRow)
        .where(RuleRow.chat_id == chat_id, RuleRow.id == rule_id)
        .values(paused=paused)
        .returning(RuleRow.id)
        .execution_options(synchronize_session=False)
    )
    return result.first() is not None


# A rule can fire when neither it nor its chat is paused and the chat has not blocked the bot.
_CAN_FIRE = (
    RuleRow.paused.is_(False),
    SubscriberRow.active.is_(True),
    SubscriberRow.paused.is_(False),
)


async def active_rules(session: AsyncSession) -> list[StoredRule]:
    """Every rule that can fire now: rule not paused, chat active and not paused."""
    stmt = (
        select(*_COLUMNS)
        .join(SubscriberRow, SubscriberRow.chat_id == RuleRow.chat_id)
        .where(*_CAN_FIRE)
        .order_by(RuleRow.id)
    )
    return [_stored(row._mapping) for row in await session.execute(stmt)]


# Rows per round trip when the whole rule index is (re)built.
ACTIVE_RULES_BATCH = 5000


@dataclass(frozen=True, slots=True)
class ActiveRule:
    """A rule that can fire, as the in-memory index needs it: the parsed form stays JSON text,
    so the many chats that picked the same rule share one parse (and one `Rule`)."""

    id: int
    chat_id: int
    text: str
    rule_json: str


async def active_rule_batches(
    session: AsyncSession, *, batch: int = ACTIVE_RULES_BATCH
) -> AsyncIterator[list[ActiveRule]]:
    """`active_rules` for loading the index: JSON as text, a batch at a time off a cursor, so
    tens of thousands of rules never sit in memory twice (rows and index) at once."""
    stmt = (
        select(RuleRow.id, RuleRow.chat_id, RuleRow.text, cast(RuleRow.rule, Text))
        .join(SubscriberRow, SubscriberRow.chat_id == RuleRow.chat_id)
        .where(*_CAN_FIRE)
        .order_by(RuleRow.id)
        .execution_options(yield_per=batch)
    )
    result = await session.stream(stmt)
    async for rows in result.partitions(batch):
        yield [ActiveRule(int(i), int(c), t, j) for i, c, t, j in rows]
