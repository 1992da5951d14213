"""PostgreSQL advisory locks: transaction-level ones that serialise a critical section across
processes, and a session-level one held on a dedicated connection (the active sender).

A session lock lives exactly as long as its connection: when the holder dies (even by kill -9)
or the connection is cut, PostgreSQL drops the lock, so a standby can take it. The holder must
therefore treat a broken connection as a lost lock and stop at once (`SessionLock.check`).
On SQLite (one process) the transaction-level helpers do nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

import asyncpg
from sqlalchemy import text
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import AsyncSession

from bot.storage.db import dialect_name

log = logging.getLogger(__name__)

# Lock keys: any constants, the same in every process of the deployment (the migration lock
# in bot/migrations uses 0x57A1E7).
SENDER_LOCK = 0x57A1E8
GROUPING_LOCK = 0x57A1E9

CONNECT_TIMEOUT_SECONDS = 5.0
CHECK_TIMEOUT_SECONDS = 5.0


async def xact_lock(session: AsyncSession, key: int) -> None:
    """Wait for the transaction-level lock `key`; it is released when the transaction ends."""
    if dialect_name(session) != "postgresql":
        return
    await session.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": key})


async def try_xact_lock(session: AsyncSession, key: int) -> bool:
    """Take the transaction-level lock `key` if nobody holds it; True when taken (or SQLite)."""
    if dialect_name(session) != "postgresql":
        return True
    result = await session.execute(text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": key})
    return bool(result.scalar_one())


def asyncpg_dsn(database_url: str) -> str:
    """A libpq-style DSN (what asyncpg takes) for a `postgresql+asyncpg://` URL."""
    url = make_url(database_url)
    if url.get_backend_name() != "postgresql":
        raise ValueError("advisory session locks need PostgreSQL")
    return url.set(drivername="postgresql").render_as_string(hide_password=False)


class SessionLock:
    """A session-level advisory lock on a connection of its own (outside the pool).

    `try_acquire` takes it without waiting; `check` confirms it is still held (the connection
    answers and the lock is in `pg_locks` for that backend); `release` gives it back. Any
    connection error counts as a lost lock: the connection is closed and `held` turns False.
    """

    def __init__(self, database_url: str, key: int) -> None:
        self._dsn = asyncpg_dsn(database_url)
        self.key = key
        self._conn: asyncpg.Connection | None = None

    @property
    def held(self) -> bool:
        return self._conn is not None and not self._conn.is_closed()

    async def try_acquire(self) -> bool:
        """Take the lock if it is free; False when another session holds it or PG is down."""
        if self.held:
            return True
        conn: asyncpg.Connection | None = None
        try:
            conn = await asyncpg.connect(self._dsn, timeout=CONNECT_TIMEOUT_SECONDS)
            got = await conn.fetchval(
                "SELECT pg_try_advisory_lock($1)", self.key, timeout=CHECK_TIMEOUT_SECONDS
            )
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as exc:
            log.warning("lock %#x: database unreachable (%s)", self.key, type(exc).__name__)
            await _close(conn)
            return False
        if not got:
            await _close(conn)
            return False
        self._conn = conn
        return True

    async def check(self) -> bool:
        """True while the lock is still ours; a dead or cut connection means it is gone."""
        conn = self._conn
        if conn is None or conn.is_closed():
            self._conn = None
            return False
        try:
            mine = await conn.fetchval(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND granted"
                " AND pid = pg_backend_pid() AND objsubid = 1"
                " AND classid = ($1::bigint >> 32)::oid AND objid = ($1::bigint & 4294967295)::oid",
                self.key,
                timeout=CHECK_TIMEOUT_SECONDS,
            )
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError) as exc:
            log.warning("lock %#x lost: %s", self.key, type(exc).__name__)
            self._conn = None
            await _close(conn, abort=True)
            return False
        if not mine:
            self._conn = None
            await _close(conn)
            return False
        return True

    async def release(self) -> None:
        """Give the lock back (closing the connection would too; this is quicker for others)."""
        conn, self._conn = self._conn, None
        if conn is None or conn.is_closed():
            return
        with contextlib.suppress(
            OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError
        ):
            await conn.execute("SELECT pg_advisory_unlock($1)", self.key, timeout=2.0)
        await _close(conn)


async def _close(conn: asyncpg.Connection | None, *, abort: bool = False) -> None:
    if conn is None or conn.is_closed():
        return
    if abort:
        conn.terminate()
        return
    try:
        await asyncio.wait_for(conn.close(), timeout=2.0)
    except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError, TimeoutError):
        conn.terminate()
