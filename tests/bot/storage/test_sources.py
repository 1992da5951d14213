"""Sources: catalogue upsert, due selection, leases (exclusive, expiring) and poll outcomes."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from bot.storage import sources
from bot.storage.db import Database
from tests.bot.storage.factories import NOW, source


async def _seed(session: AsyncSession, n: int) -> dict[str, int]:
    ids = await sources.upsert_sources(session, sources=[source(i) for i in range(n)], now=NOW)
    await session.commit()
    return ids


async def test_upsert_inserts_then_refreshes_without_touching_state(session: AsyncSession) -> None:
    ids = await sources.upsert_sources(
        session,
        sources=[source(1, language="uk", interval_seconds=600), source(2)],
        now=NOW,
    )
    await session.commit()
    assert set(ids) == {"https://feeds.example/1.xml", "https://feeds.example/2.xml"}
    first_id = ids["https://feeds.example/1.xml"]
    await sources.record_failure(
        session, source_id=first_id, now=NOW, error="timeout", next_poll_at=NOW
    )
    await sources.set_source_enabled(session, source_id=first_id, enabled=False)
    await session.commit()

    renamed = sources.upsert_sources(
        session,
        sources=[source(1).__class__(url="https://feeds.example/1.xml", name="Renamed")],
        now=NOW + timedelta(days=1),
    )
    again = await renamed
    await session.commit()
    assert again == {"https://feeds.example/1.xml": first_id}
    stored = await sources.get_source(session, source_id=first_id)
    assert stored is not None
    assert (stored.name, stored.language, stored.interval_seconds) == ("Renamed", None, None)
    assert stored.enabled is False and stored.consecutive_failures == 1
    assert stored.created_at == NOW
    assert await sources.count_sources(session) == 2
    assert [s.url for s in await sources.list_sources(session, enabled_only=True)] == [
        "https://feeds.example/2.xml"
    ]
    assert stored.to_source().name == "Renamed"


async def test_due_sources_respect_time_enabled_and_leases(session: AsyncSession) -> None:
    ids = await _seed(session, 3)
    a, b, c = ids.values()
    await sources.record_success(
        session, source_id=b, now=NOW, next_poll_at=NOW + timedelta(minutes=5)
    )
    await sources.set_source_enabled(session, source_id=c, enabled=False)
    await session.commit()
    assert [s.id for s in await sources.due_sources(session, now=NOW)] == [a]
    later = NOW + timedelta(minutes=5)
    assert [s.id for s in await sources.due_sources(session, now=later)] == [a, b]
    await sources.lease_due_sources(session, owner="w1", now=NOW, lease_seconds=600, limit=1)
    await session.commit()
    assert [s.id for s in await sources.due_sources(session, now=later)] == [b]


async def test_next_due_at_skips_disabled_and_leased_sources(session: AsyncSession) -> None:
    assert await sources.next_due_at(session, now=NOW) is None
    ids = await _seed(session, 3)
    a, b, c = ids.values()
    for source_id, minutes in ((a, 3), (b, 1), (c, 2)):
        await sources.record_success(
            session, source_id=source_id, now=NOW, next_poll_at=NOW + timedelta(minutes=minutes)
        )
    await sources.set_source_enabled(session, source_id=b, enabled=False)
    await session.commit()
    assert await sources.next_due_at(session, now=NOW) == NOW + timedelta(minutes=2)
    # c is being polled by a worker: the next feed free to poll is a.
    at_two = NOW + timedelta(minutes=2)
    assert [
        s.id
        for s in await sources.lease_due_sources(
            session, owner="w1", now=at_two, lease_seconds=60, limit=5
        )
    ] == [c]
    await session.commit()
    assert await sources.next_due_at(session, now=at_two) == NOW + timedelta(minutes=3)


async def test_lease_is_exclusive_until_it_expires(session: AsyncSession) -> None:
    await _seed(session, 3)
    first = await sources.lease_due_sources(
        session, owner="w1", now=NOW, lease_seconds=120, limit=2
    )
    await session.commit()
    assert len(first) == 2 and all(s.lease_owner == "w1" for s in first)
    assert all(s.lease_until == NOW + timedelta(seconds=120) for s in first)
    second = await sources.lease_due_sources(
        session, owner="w2", now=NOW + timedelta(seconds=1), lease_seconds=120, limit=10
    )
    await session.commit()
    assert len(second) == 1 and second[0].id not in {s.id for s in first}
    # w1 crashed: after its lease lapses the sources are due for someone else.
    third = await sources.lease_due_sources(
        session, owner="w3", now=NOW + timedelta(seconds=120), lease_seconds=120, limit=10
    )
    assert {s.id for s in third} == {s.id for s in first}


async def test_success_and_failure_bookkeeping(session: AsyncSession) -> None:
    (sid,) = (await _seed(session, 1)).values()
    await sources.lease_due_sources(session, owner="w", now=NOW, lease_seconds=60, limit=1)
    await sources.record_success(
        session,
        source_id=sid,
        now=NOW,
        next_poll_at=NOW + timedelta(minutes=5),
        etag='"abc"',
        last_modified="Thu, 15 Jan 2026 08:00:00 GMT",
        content_hash="h1",
    )
    await session.commit()
    ok = await sources.get_source(session, source_id=sid)
    assert ok is not None
    assert (ok.etag, ok.content_hash, ok.last_success_at) == ('"abc"', "h1", NOW)
    assert ok.lease_owner is None and ok.lease_until is None

    # A 304 without validators keeps the stored ones.
    await sources.record_success(session, source_id=sid, now=NOW, next_poll_at=NOW)
    n1 = await sources.record_failure(
        session, source_id=sid, now=NOW, error="HTTP 503" * 500, next_poll_at=NOW
    )
    n2 = await sources.record_failure(
        session, source_id=sid, now=NOW, error="timeout", next_poll_at=NOW
    )
    await session.commit()
    failed = await sources.get_source(session, source_id=sid)
    assert failed is not None
    assert (n1, n2, failed.consecutive_failures) == (1, 2, 2)
    assert failed.etag == '"abc"' and failed.last_error == "timeout"
    assert failed.last_error_at == NOW

    await sources.record_success(session, source_id=sid, now=NOW, next_poll_at=NOW, etag=None)
    await session.commit()
    reset = await sources.get_source(session, source_id=sid)
    assert reset is not None and reset.consecutive_failures == 0 and reset.etag is None


async def test_release_lease_only_by_holder(session: AsyncSession) -> None:
    (sid,) = (await _seed(session, 1)).values()
    await sources.lease_due_sources(session, owner="w1", now=NOW, lease_seconds=60, limit=1)
    assert not await sources.release_lease(session, source_id=sid, owner="w2")
    assert await sources.release_lease(session, source_id=sid, owner="w1")
    await session.commit()
    assert [s.id for s in await sources.due_sources(session, now=NOW)] == [sid]


@pytest.mark.parametrize(
    ("failures", "expected"), [(0, 300), (1, 300), (2, 600), (4, 2400), (50, 21600)]
)
def test_failure_backoff(failures: int, expected: int) -> None:
    assert sources.failure_backoff(failures, base_seconds=300) == timedelta(seconds=expected)


async def test_concurrent_leasers_never_get_the_same_source(db: Database) -> None:
    async with db.sessions() as session:
        await _seed(session, 30)

    async def leaser(owner: str) -> list[int]:
        got: list[int] = []
        async with db.sessions() as session:
            while True:
                batch = await sources.lease_due_sources(
                    session, owner=owner, now=NOW, lease_seconds=300, limit=2
                )
                await session.commit()
                if not batch:
                    return got
                got.extend(s.id for s in batch)
                await asyncio.sleep(0)

    results = await asyncio.gather(*(leaser(f"w{i}") for i in range(4)))
    everything = [i for r in results for i in r]
    assert len(everything) == len(set(everything)) == 30


async def test_postgres_skips_rows_locked_by_an_open_lease(db: Database) -> None:
    if db.dialect != "postgresql":
        pytest.skip("SKIP LOCKED is PostgreSQL's; SQLite serialises writers instead")
    async with db.sessions() as session:
        await _seed(session, 6)
    async with db.sessions() as first, db.sessions() as second:
        held = await sources.lease_due_sources(
            first, owner="w1", now=NOW, lease_seconds=300, limit=3
        )
        # w1 has not committed: its rows are locked and still look due. Without SKIP
        # LOCKED this call would block on them (the timeout turns that into a failure).
        other = await asyncio.wait_for(
            sources.lease_due_sources(second, owner="w2", now=NOW, lease_seconds=300, limit=6),
            timeout=5,
        )
        assert len(held) == 3 and len(other) == 3
        assert not {s.id for s in held} & {s.id for s in other}
        await first.commit()
        await second.commit()
