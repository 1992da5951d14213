"""Engine and session factory for SQLite (aiosqlite) or PostgreSQL (asyncpg), chosen by URL.

SQLite connections get WAL, enforced foreign keys and a busy timeout, so the embedded
default behaves like a small server: readers never block the writer, cascades work, and
two writers wait for each other instead of failing at once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final, TypeVar

from sqlalchemy import event
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.engine import URL, make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from bot.config import normalise_database_url

SQLITE_BUSY_TIMEOUT_MS = 5000


def is_sqlite(url: str | URL) -> bool:
    return make_url(url).get_backend_name() == "sqlite"


def ensure_sqlite_directory(url: str | URL) -> None:
    """Create the directory of a SQLite file (e.g. `./data/` of the default URL)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite":
        return
    database = parsed.database
    if not database or database == ":memory:" or database.startswith("file:"):
        return
    Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)


def create_engine(database_url: str, *, echo: bool = False) -> AsyncEngine:
    """An async engine for `database_url` (`postgres://`, `sqlite:///` forms accepted)."""
    database_url = normalise_database_url(database_url)
    if is_sqlite(database_url):
        ensure_sqlite_directory(database_url)
        engine = create_async_engine(
            database_url,
            echo=echo,
            connect_args={"timeout": SQLITE_BUSY_TIMEOUT_MS / 1000},
        )
        event.listen(engine.sync_engine, "connect", _sqlite_pragmas)
        return engine
    return create_async_engine(database_url, echo=echo, pool_pre_ping=True)


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA journal_mode=WAL")
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute(f"PRAGMA busy_timeout={SQLITE_BUSY_TIMEOUT_MS}")
        # WAL + NORMAL is durable against application crashes; only power loss may
        # lose the last commits, which the outbox can tolerate.
        cursor.execute("PRAGMA synchronous=NORMAL")
    finally:
        cursor.close()


def create_session_factory(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    # Storage functions return plain dataclasses, so nothing needs refreshing after commit.
    return async_sessionmaker(engine, expire_on_commit=False)


@dataclass(frozen=True, slots=True)
class Database:
    """An engine and its session factory, opened once at start and passed down."""

    engine: AsyncEngine
    sessions: async_sessionmaker[AsyncSession]

    @property
    def dialect(self) -> str:
        return self.engine.dialect.name

    async def dispose(self) -> None:
        await self.engine.dispose()


def open_database(database_url: str, *, echo: bool = False) -> Database:
    engine = create_engine(database_url, echo=echo)
    return Database(engine=engine, sessions=create_session_factory(engine))


def dialect_name(session: AsyncSession) -> str:
    return session.get_bind().dialect.name


def insert_for(session: AsyncSession) -> Callable[..., Any]:
    """The dialect's `insert` construct, which knows `ON CONFLICT` (both dialects do)."""
    if dialect_name(session) == "postgresql":
        return postgresql.insert
    return sqlite.insert


def utc_now() -> datetime:
    return datetime.now(UTC)


class Keep:
    """Marker for an update argument: leave the stored value as it is (None clears it)."""

    def __repr__(self) -> str:
        return "KEEP"


KEEP: Final = Keep()


T = TypeVar("T")
# Rows per multi-row INSERT: well under the bind-parameter limits (SQLite 32766, asyncpg 32767).
INSERT_CHUNK = 500


def chunked(values: Sequence[T], size: int = INSERT_CHUNK) -> Iterator[Sequence[T]]:
    for start in range(0, len(values), size):
        yield values[start : start + size]
