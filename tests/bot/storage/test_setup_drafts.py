"""Setup drafts: stored per chat, replaced, stale after their lifetime, gone with the chat."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from bot.storage import setup_drafts, subscribers
from tests.bot.storage.factories import NOW, make_subscriber

DRAFT = {"places": ["UA80"], "watches": ["power"], "cold_c": None, "stage": "watch"}


async def test_save_load_replace_delete(session: AsyncSession) -> None:
    await make_subscriber(session, 7)
    assert await setup_drafts.load_draft(session, chat_id=7, now=NOW) is None
    await setup_drafts.save_draft(session, chat_id=7, draft=DRAFT, now=NOW)
    assert await setup_drafts.load_draft(session, chat_id=7, now=NOW) == DRAFT
    changed = {**DRAFT, "stage": "delivery", "cold_c": -15}
    await setup_drafts.save_draft(session, chat_id=7, draft=changed, now=NOW)
    assert await setup_drafts.load_draft(session, chat_id=7, now=NOW) == changed
    assert await setup_drafts.delete_draft(session, chat_id=7)
    assert not await setup_drafts.delete_draft(session, chat_id=7)
    assert await setup_drafts.load_draft(session, chat_id=7, now=NOW) is None


async def test_a_draft_left_alone_goes_stale(session: AsyncSession) -> None:
    await make_subscriber(session, 8)
    await setup_drafts.save_draft(session, chat_id=8, draft=DRAFT, now=NOW)
    later = NOW + setup_drafts.DRAFT_LIFETIME
    assert await setup_drafts.load_draft(session, chat_id=8, now=later) == DRAFT
    assert await setup_drafts.load_draft(session, chat_id=8, now=later.replace(second=1)) is None


async def test_forgetting_the_chat_deletes_its_draft(session: AsyncSession) -> None:
    await make_subscriber(session, 9)
    await setup_drafts.save_draft(session, chat_id=9, draft=DRAFT, now=NOW)
    assert await subscribers.forget_subscriber(session, chat_id=9)
    await session.commit()
    assert await setup_drafts.load_draft(session, chat_id=9, now=NOW) is None
