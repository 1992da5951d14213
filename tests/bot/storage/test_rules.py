"""Rules: per-chat round trip, count and limit, pause, and the set that can fire."""

from __future__ import annotations

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from bot.storage import rules, subscribers
from bot.storage.errors import RuleLimitReached, UnknownChat
from tests.bot.storage.factories import NOW, make_subscriber

RULE_JSON = {"categories": ["cold"], "places": ["UA80"], "max_temp_c": -15.0, "words": ["мороз"]}


async def test_add_list_get_delete(session: AsyncSession) -> None:
    await make_subscriber(session, 1)
    rid = await rules.add_rule(
        session,
        chat_id=1,
        text="cold below -15 in Kyiv",
        rule_json=RULE_JSON,
        delivery="both",
        now=NOW,
    )
    await session.commit()
    (stored,) = await rules.list_rules(session, chat_id=1)
    assert (stored.id, stored.chat_id, stored.text) == (rid, 1, "cold below -15 in Kyiv")
    assert stored.rule_json == RULE_JSON and stored.delivery == "both"
    assert stored.created_at == NOW and not stored.paused
    assert await rules.get_rule(session, chat_id=1, rule_id=rid) == stored
    assert await rules.get_rule(session, chat_id=2, rule_id=rid) is None  # not another's
    assert not await rules.delete_rule(session, chat_id=2, rule_id=rid)
    assert await rules.delete_rule(session, chat_id=1, rule_id=rid)
    assert await rules.count_rules(session, chat_id=1) == 0


async def test_unknown_chat_and_bad_delivery(session: AsyncSession) -> None:
    with pytest.raises(UnknownChat):
        await rules.add_rule(session, chat_id=404, text="x", rule_json={}, delivery="instant")
    await make_subscriber(session, 1)
    with pytest.raises(ValueError, match="delivery"):
        await rules.add_rule(session, chat_id=1, text="x", rule_json={}, delivery="weekly")


async def test_limit_per_chat(session: AsyncSession) -> None:
    await make_subscriber(session, 1)
    for n in range(3):
        await rules.add_rule(
            session, chat_id=1, text=f"r{n}", rule_json={}, delivery="instant", max_rules=3
        )
    with pytest.raises(RuleLimitReached) as caught:
        await rules.add_rule(
            session, chat_id=1, text="r4", rule_json={}, delivery="instant", max_rules=3
        )
    assert caught.value.limit == 3
    assert await rules.count_rules(session, chat_id=1) == 3


async def test_active_rules_skip_paused_rules_and_chats(session: AsyncSession) -> None:
    for chat_id in (1, 2, 3):
        await make_subscriber(session, chat_id)
    keep = await rules.add_rule(session, chat_id=1, text="a", rule_json={}, delivery="instant")
    paused = await rules.add_rule(session, chat_id=1, text="b", rule_json={}, delivery="digest")
    await rules.add_rule(session, chat_id=2, text="c", rule_json={}, delivery="instant")
    await rules.add_rule(session, chat_id=3, text="d", rule_json={}, delivery="instant")
    assert await rules.set_rule_paused(session, chat_id=1, rule_id=paused, paused=True)
    await subscribers.update_subscriber(session, chat_id=2, paused=True)
    await subscribers.deactivate_subscriber(session, chat_id=3)
    await session.commit()
    assert [r.id for r in await rules.active_rules(session)] == [keep]
