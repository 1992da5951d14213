"""PostgreSQL advisory locks: one session lock holder at a time, a standby takes the lock as
soon as the holder's connection is gone, and transaction locks last until commit."""

from __future__ import annotations

import asyncpg
import pytest

from bot.storage.db import Database
from bot.storage.locks import SessionLock, asyncpg_dsn, try_xact_lock, xact_lock

KEY = 0x7E57


@pytest.fixture
def pg_url(database_url: str) -> str:
    if not database_url.startswith("postgresql"):
        pytest.skip("advisory locks are a PostgreSQL feature")
    return database_url


async def test_only_one_session_holds_the_lock(pg_url: str) -> None:
    first, second = SessionLock(pg_url, KEY), SessionLock(pg_url, KEY)
    try:
        assert await first.try_acquire()
        assert not await second.try_acquire()
        assert not second.held
        assert await first.check()
        await first.release()
        assert not first.held
        assert await second.try_acquire()
        assert not await first.try_acquire()
    finally:
        await first.release()
        await second.release()


async def test_a_standby_takes_over_when_the_holders_connection_dies(pg_url: str) -> None:
    holder, standby = SessionLock(pg_url, KEY), SessionLock(pg_url, KEY)
    admin = await asyncpg.connect(asyncpg_dsn(pg_url))
    try:
        assert await holder.try_acquire()
        assert not await standby.try_acquire()
        # What kill -9 of the holder (or a cut connection) looks like from PostgreSQL's side.
        pid = await admin.fetchval(
            "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND objid = $1 AND granted",
            KEY,
        )
        assert await admin.fetchval("SELECT pg_terminate_backend($1)", pid)
        for _ in range(50):  # the server drops the backend's locks as it exits
            if await standby.try_acquire():
                break
            await admin.execute("SELECT pg_sleep(0.05)")
        assert standby.held
        assert not await holder.check()  # the old holder notices and stops
        assert not holder.held
    finally:
        await admin.close()
        await holder.release()
        await standby.release()


async def test_a_lock_held_by_another_key_does_not_block(pg_url: str) -> None:
    one, other = SessionLock(pg_url, KEY), SessionLock(pg_url, KEY + 1)
    try:
        assert await one.try_acquire()
        assert await other.try_acquire()
        assert await one.check() and await other.check()
    finally:
        await one.release()
        await other.release()


async def test_transaction_lock_lasts_until_commit(db: Database) -> None:
    if db.dialect != "postgresql":
        async with db.sessions() as session, session.begin():
            assert await try_xact_lock(session, KEY)  # SQLite: one process, nothing to take
        return
    async with db.sessions() as holder, db.sessions() as other:
        async with holder.begin():
            await xact_lock(holder, KEY)
            async with other.begin():
                assert not await try_xact_lock(other, KEY)
        async with other.begin():
            assert await try_xact_lock(other, KEY)


def test_dsn_is_for_asyncpg_and_refuses_sqlite() -> None:
    assert asyncpg_dsn("postgresql+asyncpg://u:p@h:5/d") == "postgresql://u:p@h:5/d"
    with pytest.raises(ValueError, match="PostgreSQL"):
        asyncpg_dsn("sqlite+aiosqlite:///x.db")
