"""Feeds we poll: the catalogue, their HTTP validators and health, and the poll leases.

Several workers may poll at once: `lease_due_sources` hands each due source to exactly one
of them for `lease_seconds` (PostgreSQL: `FOR UPDATE SKIP LOCKED`; SQLite: one atomic UPDATE).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import and_, func, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from bot.storage.db import KEEP, Keep, dialect_name, insert_for, utc_now
from bot.storage.tables import SourceRow
from feeds.models import Source

_COLUMNS = tuple(SourceRow.__table__.c)
_MAX_ERROR_CHARS = 1000


@dataclass(frozen=True, slots=True)
class StoredSource:
    """A source as stored, with its polling state."""

    id: int
    url: str
    name: str
    language: str | None
    interval_seconds: int | None
    enabled: bool
    etag: str | None
    last_modified: str | None
    content_hash: str | None
    next_poll_at: datetime
    consecutive_failures: int
    last_success_at: datetime | None
    last_error: str | None
    last_error_at: datetime | None
    lease_owner: str | None
    lease_until: datetime | None
    added_by: int | None
    created_at: datetime

    def to_source(self) -> Source:
        return Source(
            url=self.url,
            name=self.name,
            language=self.language,
            interval_seconds=self.interval_seconds,
        )

    def next_poll_after(self, now: datetime, *, default_interval_seconds: int) -> datetime:
        """When to poll next after a successful poll at `now`."""
        return now + timedelta(seconds=self.interval_seconds or default_interval_seconds)


def failure_backoff(failures: int, *, base_seconds: int, max_seconds: int = 6 * 3600) -> timedelta:
    """Wait before retrying a failing feed: the interval doubled per consecutive failure."""
    exponent = min(max(failures - 1, 0), 16)
    return timedelta(seconds=min(base_seconds * 2**exponent, max_seconds))


def _stored(mapping: Mapping[Any, Any]) -> StoredSource:
    return StoredSource(**mapping)


async def upsert_sources(
    session: AsyncSession,
    *,
    sources: Iterable[Source],
    now: datetime | None = None,
    added_by: int | None = None,
) -> dict[str, int]:
    """Insert new sources and refresh name/language/interval of known ones; url -> id.

    Polling state and `enabled` of known sources are kept: an admin's "disable" survives a
    restart with the same catalogue.
    """
    now = now or utc_now()
    by_url = {s.url: s for s in sources}  # one row per URL: ON CONFLICT may touch a row once
    if not by_url:
        return {}
    insert = insert_for(session)
    stmt = insert(SourceRow).values(
        [
            {
                "url": s.url,
                "name": s.name,
                "language": s.language,
                "interval_seconds": s.interval_seconds,
                "next_poll_at": now,
                "created_at": now,
                "added_by": added_by,
            }
            for s in by_url.values()
        ]
    )
    stmt = stmt.on_conflict_do_update(
        index_elements=["url"],
        set_={
            "name": stmt.excluded.name,
            "language": stmt.excluded.language,
            "interval_seconds": stmt.excluded.interval_seconds,
        },
    ).returning(SourceRow.url, SourceRow.id)
    result = await session.execute(stmt)
    return {url: id_ for url, id_ in result.all()}


async def list_sources(session: AsyncSession, *, enabled_only: bool = False) -> list[StoredSource]:
    stmt = select(*_COLUMNS).order_by(SourceRow.id)
    if enabled_only:
        stmt = stmt.where(SourceRow.enabled.is_(True))
    return [_stored(row._mapping) for row in await session.execute(stmt)]


async def get_source(session: AsyncSession, *, source_id: int) -> StoredSource | None:
    row = (await session.execute(select(*_COLUMNS).where(SourceRow.id == source_id))).first()
    return _stored(row._mapping) if row else None


async def get_source_by_url(session: AsyncSession, *, url: str) -> StoredSource | None:
    row = (await session.execute(select(*_COLUMNS).where(SourceRow.url == url))).first()
    return _stored(row._mapping) if row else None


async def set_source_enabled(session: AsyncSession, *, source_id: int, enabled: bool) -> bool:
    """Enable or disable a source; False when there is no such source."""
    result = await session.execute(
        update(SourceRow)
        .where(SourceRow.id == source_id)
        .values(enabled=enabled)
        .returning(SourceRow.id)
        .execution_options(synchronize_session=False)
    )
    return result.first() is not None


def _due(now: datetime) -> Any:
    return and_(
        SourceRow.enabled.is_(True),
        SourceRow.next_poll_at <= now,
        or_(SourceRow.lease_until.is_(None), SourceRow.lease_until <= now),
    )


async def next_due_at(session: AsyncSession, *, now: datetime) -> datetime | None:
    """When the next enabled, unleased source falls due (None: no such source)."""
    stmt = select(func.min(SourceRow.next_poll_at)).where(
        SourceRow.enabled.is_(True),
        or_(SourceRow.lease_until.is_(None), SourceRow.lease_until <= now),
    )
    # min() keeps the column's type, so the value comes back aware like the column's.
    due: datetime | None = (await session.execute(stmt)).scalar()
    return due


async def due_sources(
    session: AsyncSession, *, now: datetime, limit: int | None = None
) -> list[StoredSource]:
    """Enabled sources whose poll time has come and that nobody holds a lease on."""
    stmt = select(*_COLUMNS).where(_due(now)).order_by(SourceRow.next_poll_at, SourceRow.id)
    if limit is not None:
        stmt = stmt.limit(limit)
    return [_stored(row._mapping) for row in await session.execute(stmt)]


async def lease_due_sources(
    session: AsyncSession,
    *,
    owner: str,
    now: datetime,
    lease_seconds: float,
    limit: int,
) -> list[StoredSource]:
    """Take up to `limit` due sources for `owner` until `now + lease_seconds`.

    Two concurrent callers never receive the same source: on PostgreSQL the rows another
    transaction is leasing are skipped (not waited for); SQLite runs the one UPDATE alone.
    Commit promptly so others see the lease.
    """
    pick = (
        select(SourceRow.id)
        .where(_due(now))
        .order_by(SourceRow.next_poll_at, SourceRow.id)
        .limit(limit)
    )
    if dialect_name(session) == "postgresql":
        pick = pick.with_for_update(skip_locked=True)
    # A CTE is evaluated once, so the LIMIT cannot be applied twice by the planner.
    due = pick.cte("due")
    stmt = (
        update(SourceRow)
        .where(SourceRow.id.in_(select(due.c.id)))
        .values(lease_owner=owner, lease_until=now + timedelta(seconds=lease_seconds))
        .returning(*_COLUMNS)
        .execution_options(synchronize_session=False)
    )
    leased = [_stored(row._mapping) for row in await session.execute(stmt)]
    return sorted(leased, key=lambda s: (s.next_poll_at, s.id))


async def release_lease(session: AsyncSession, *, source_id: int, owner: str) -> bool:
    """Give a lease back early (e.g. on shutdown); only the holder can."""
    result = await session.execute(
        update(SourceRow)
        .where(SourceRow.id == source_id, SourceRow.lease_owner == owner)
        .values(lease_owner=None, lease_until=None)
        .returning(SourceRow.id)
        .execution_options(synchronize_session=False)
    )
    return result.first() is not None


async def record_success(
    session: AsyncSession,
    *,
    source_id: int,
    now: datetime,
    next_poll_at: datetime,
    etag: str | Keep | None = KEEP,
    last_modified: str | Keep | None = KEEP,
    content_hash: str | Keep | None = KEEP,
) -> None:
    """A poll worked (including 304 Not Modified): reset the failure count, drop the lease.

    Validators left as `KEEP` stay as stored, so a 304 without headers keeps them.
    """
    values: dict[str, Any] = {
        "consecutive_failures": 0,
        "last_success_at": now,
        "next_poll_at": next_poll_at,
        "lease_owner": None,
        "lease_until": None,
    }
    for name, value in (
        ("etag", etag),
        ("last_modified", last_modified),
        ("content_hash", content_hash),
    ):
        if not isinstance(value, Keep):
            values[name] = value
    await session.execute(
        update(SourceRow)
        .where(SourceRow.id == source_id)
        .values(**values)
        .execution_options(synchronize_session=False)
    )


async def record_failure(
    session: AsyncSession,
    *,
    source_id: int,
    now: datetime,
    error: str,
    next_poll_at: datetime,
) -> int:
    """A poll failed: count it, keep the message, drop the lease; returns the failure count."""
    result = await session.execute(
        update(SourceRow)
        .where(SourceRow.id == source_id)
        .values(
            consecutive_failures=SourceRow.consecutive_failures + 1,
            last_error=error[:_MAX_ERROR_CHARS],
            last_error_at=now,
            next_poll_at=next_poll_at,
            lease_owner=None,
            lease_until=None,
        )
        .returning(SourceRow.consecutive_failures)
        .execution_options(synchronize_session=False)
    )
    return int(result.scalar_one_or_none() or 0)


async def count_sources(session: AsyncSession, *, enabled_only: bool = False) -> int:
    stmt = select(func.count()).select_from(SourceRow)
    if enabled_only:
        stmt = stmt.where(SourceRow.enabled.is_(True))
    return int((await session.execute(stmt)).scalar_one())


async def renew_leases(
    session: AsyncSession, *, owner: str, source_ids: Iterable[int], until: datetime
) -> int:
    """Extend `owner`'s leases (a long fetch must not let another worker poll the same feed);
    returns how many are still held. Leases already recorded or taken over are left alone."""
    ids = list(source_ids)
    if not ids:
        return 0
    result = await session.execute(
        update(SourceRow)
        .where(SourceRow.id.in_(ids), SourceRow.lease_owner == owner)
        .values(lease_until=until)
        .returning(SourceRow.id)
        .execution_options(synchronize_session=False)
    )
    return len(result.all())


async def release_leases(session: AsyncSession, *, owner: str) -> int:
    """Give back every lease `owner` still holds (a worker stopping cleanly)."""
    result = await session.execute(
        update(SourceRow)
        .where(SourceRow.lease_owner == owner)
        .values(lease_owner=None, lease_until=None)
        .returning(SourceRow.id)
        .execution_options(synchronize_session=False)
    )
    return len(result.all())


async def update_source_url(session: AsyncSession, *, source_id: int, url: str) -> bool:
    """Follow a permanent redirect: store the feed's new URL. When another source already has
    that URL, this one is a duplicate: it is disabled instead. True when the URL was changed."""
    taken = await session.execute(
        select(SourceRow.id).where(SourceRow.url == url, SourceRow.id != source_id)
    )
    if taken.first() is not None:
        await set_source_enabled(session, source_id=source_id, enabled=False)
        return False
    result = await session.execute(
        update(SourceRow)
        .where(SourceRow.id == source_id)
        .values(url=url)
        .returning(SourceRow.id)
        .execution_options(synchronize_session=False)
    )
    return result.first() is not None
