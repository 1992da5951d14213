"""Fixtures: a fresh, migrated database per test, on SQLite and on PostgreSQL.

PostgreSQL tests use the local server (127.0.0.1:5432, trust auth). The schema is migrated
once into a template database; each test gets a randomly named copy, dropped afterwards.
When the server is unreachable the PostgreSQL cases skip, except under `CI`, where they fail.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import asyncpg
import pytest
from sqlalchemy.ext.asyncio import AsyncSession

from bot.migrations import upgrade_to_head
from bot.storage.db import Database, open_database

PG_HOST = "127.0.0.1"
# Overridable so the skip-or-fail behaviour can be seen without stopping the server.
PG_PORT = int(os.environ.get("TEST_POSTGRES_PORT", "5432"))
PG_USERS = ("postgres", "root")
NAME_PREFIX = "wab_test_"

ENGINES = [
    pytest.param("sqlite", id="sqlite"),
    pytest.param("postgresql", id="postgresql", marks=pytest.mark.postgres),
]


@dataclass(frozen=True)
class PgServer:
    user: str | None
    problem: str | None = None

    def url(self, database: str) -> str:
        return f"postgresql+asyncpg://{self.user}@{PG_HOST}:{PG_PORT}/{database}"


async def _admin(user: str) -> asyncpg.Connection:
    return await asyncpg.connect(
        host=PG_HOST, port=PG_PORT, user=user, database="postgres", timeout=3
    )


async def _find_pg() -> PgServer:
    problems = []
    for user in PG_USERS:
        try:
            conn = await _admin(user)
        except (OSError, asyncpg.PostgresError, TimeoutError) as exc:
            problems.append(f"{user}: {exc}")
            continue
        await conn.close()
        return PgServer(user=user)
    return PgServer(user=None, problem="; ".join(problems))


async def _create_db(server: PgServer, name: str, template: str | None = None) -> None:
    assert server.user
    conn = await _admin(server.user)
    try:
        suffix = f' TEMPLATE "{template}"' if template else ""
        if template and conn.get_server_version().major >= 15:
            # Copying the few files of a small template beats WAL-logging every block
            # (PostgreSQL 15's default): about 0.2 s instead of 0.6 s per test here.
            suffix += " STRATEGY FILE_COPY"
        await conn.execute(f'CREATE DATABASE "{name}"{suffix}')
    finally:
        await conn.close()


async def _drop_db(server: PgServer, name: str) -> None:
    assert server.user
    conn = await _admin(server.user)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


def _require(server: PgServer) -> None:
    if server.user is None:
        reason = f"PostgreSQL at {PG_HOST}:{PG_PORT} unreachable ({server.problem})"
        if os.environ.get("CI"):
            pytest.fail(f"{reason}; CI must run the PostgreSQL storage tests")
        pytest.skip(reason)


def _db_name(kind: str = "") -> str:
    # The creating process id is part of the name, so a later run can tell leftovers of a
    # killed run (process gone) from databases another run on this machine still uses.
    return f"{NAME_PREFIX}{os.getpid()}_{kind}{uuid.uuid4().hex[:10]}"


def _process_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)  # signal 0: only asks whether the process exists
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


async def _drop_leftovers(server: PgServer) -> None:
    assert server.user
    conn = await _admin(server.user)
    try:
        names = await conn.fetch(
            "SELECT datname FROM pg_database WHERE datname LIKE $1", f"{NAME_PREFIX}%"
        )
        for (name,) in names:
            pid = name.removeprefix(NAME_PREFIX).split("_", 1)[0]
            if pid.isdigit() and not _process_alive(int(pid)):
                # No FORCE: a database someone is connected to is not a leftover.
                with contextlib.suppress(asyncpg.PostgresError):
                    await conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
    finally:
        await conn.close()


@pytest.fixture(scope="session")
def pg_server() -> PgServer:
    server = asyncio.run(_find_pg())
    if server.user is not None:
        asyncio.run(_drop_leftovers(server))
    return server


@pytest.fixture(scope="session")
def pg_dropper(pg_server: PgServer) -> Iterator[Callable[[str], None]]:
    """Drops test databases in a background thread (a drop waits for a checkpoint), so the
    next test need not wait; the session ends only when every drop has finished."""
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="pg-drop") as pool:
        futures: list[Future[None]] = []

        def drop(name: str) -> None:
            futures.append(pool.submit(asyncio.run, _drop_db(pg_server, name)))

        yield drop
        for future in futures:
            future.result()


@pytest.fixture(scope="session")
def pg_template(pg_server: PgServer) -> Iterator[str | None]:
    """A migrated database that each PostgreSQL test copies (much faster than migrating)."""
    if pg_server.user is None:
        yield None
        return
    name = _db_name("template_")
    asyncio.run(_create_db(pg_server, name))
    try:
        asyncio.run(upgrade_to_head(pg_server.url(name)))
        yield name
    finally:
        asyncio.run(_drop_db(pg_server, name))


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("sqlite-template") / "template.db"
    asyncio.run(upgrade_to_head(f"sqlite+aiosqlite:///{path}"))
    return path


@pytest.fixture(params=ENGINES)
def engine_name(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def empty_database_url(
    engine_name: str, pg_server: PgServer, tmp_path: Path
) -> AsyncIterator[str]:
    """A URL of a database with no tables at all."""
    if engine_name == "sqlite":
        yield f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}"
        return
    _require(pg_server)
    name = _db_name()
    await _create_db(pg_server, name)
    try:
        yield pg_server.url(name)
    finally:
        await _drop_db(pg_server, name)


@pytest.fixture
async def database_url(
    engine_name: str,
    pg_server: PgServer,
    sqlite_template: Path,
    pg_template: str | None,
    pg_dropper: Callable[[str], None],
    tmp_path: Path,
) -> AsyncIterator[str]:
    """A URL of a fresh database migrated to head."""
    if engine_name == "sqlite":
        path = tmp_path / "bot.db"
        shutil.copyfile(sqlite_template, path)
        yield f"sqlite+aiosqlite:///{path}"
        return
    _require(pg_server)
    name = _db_name()
    await _create_db(pg_server, name, template=pg_template)
    try:
        yield pg_server.url(name)
    finally:
        pg_dropper(name)


@pytest.fixture
async def db(database_url: str) -> AsyncIterator[Database]:
    database = open_database(database_url)
    try:
        yield database
    finally:
        await database.dispose()


@pytest.fixture
async def session(db: Database) -> AsyncIterator[AsyncSession]:
    async with db.sessions() as session:
        yield session
