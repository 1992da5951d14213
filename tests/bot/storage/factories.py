"""Row factories and a fixed clock for the storage tests."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from bot.storage.subscribers import Subscriber, upsert_subscriber
from feeds.models import Item, Source

NOW = datetime(2026, 1, 15, 9, 0, tzinfo=UTC)


def item(key: str, *, title: str = "", minutes_ago: int = 10) -> Item:
    return Item(
        key=key,
        title=title or f"Title {key}",
        summary=f"Summary {key}",
        link=f"https://news.example/{key}",
        published=NOW - timedelta(minutes=minutes_ago),
        language="uk",
    )


def source(n: int, **kwargs: object) -> Source:
    return Source(url=f"https://feeds.example/{n}.xml", name=f"Feed {n}", **kwargs)  # type: ignore[arg-type]


async def make_subscriber(
    session: AsyncSession, chat_id: int = 1001, *, kind: str = "private"
) -> Subscriber:
    """A committed subscriber with the usual defaults."""
    chat = await upsert_subscriber(
        session,
        chat_id=chat_id,
        kind=kind,
        language="uk",
        timezone="Europe/Kyiv",
        digest_time=time(8, 0),
        now=NOW,
    )
    await session.commit()
    return chat
