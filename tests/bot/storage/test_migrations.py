"""Migrations: apply to an empty database, are idempotent, match the models, run concurrently."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from pathlib import Path

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text
from sqlalchemy.engine import Connection

from bot.cli import main
from bot.config import DEFAULT_DATABASE_URL
from bot.migrations import alembic_config, current_revision, head_revision, upgrade_to_head
from bot.storage.db import create_engine
from bot.storage.errors import MigrationError
from bot.storage.tables import Base

TABLES = {"sources", "items", "stories", "subscribers", "rules", "alerts", "outbox"}


async def _tables(url: str) -> set[str]:
    engine = create_engine(url)
    try:
        async with engine.connect() as conn:
            return set(await conn.run_sync(lambda c: inspect(c).get_table_names()))
    finally:
        await engine.dispose()


async def test_upgrade_from_empty_is_idempotent(empty_database_url: str) -> None:
    assert await current_revision(empty_database_url) is None
    assert await upgrade_to_head(empty_database_url) == head_revision()
    assert await upgrade_to_head(empty_database_url) == head_revision()
    assert await current_revision(empty_database_url) == head_revision()
    assert await _tables(empty_database_url) >= TABLES | {"alembic_version"}


async def test_migrated_schema_matches_the_models(database_url: str) -> None:
    def diff(conn: Connection) -> list[object]:
        context = MigrationContext.configure(conn, opts={"compare_type": True})
        return list(compare_metadata(context, Base.metadata))

    engine = create_engine(database_url)
    try:
        async with engine.connect() as conn:
            assert await conn.run_sync(diff) == []
    finally:
        await engine.dispose()


async def test_downgrade_to_base_and_up_again(database_url: str) -> None:
    def downgrade(conn: Connection) -> None:
        config = alembic_config()
        config.attributes["connection"] = conn
        command.downgrade(config, "base")

    engine = create_engine(database_url)
    try:
        async with engine.connect() as conn:
            await conn.run_sync(downgrade)
            await conn.commit()
    finally:
        await engine.dispose()
    assert not await _tables(database_url) & TABLES
    assert await upgrade_to_head(database_url) == head_revision()
    assert await _tables(database_url) >= TABLES


async def test_concurrent_starters_on_postgres(empty_database_url: str) -> None:
    if not empty_database_url.startswith("postgresql"):
        pytest.skip("one process owns an SQLite file; concurrent starters are a PostgreSQL case")
    revisions = await asyncio.gather(*(upgrade_to_head(empty_database_url) for _ in range(3)))
    assert revisions == [head_revision()] * 3


async def test_sqlite_connections_get_the_pragmas(tmp_path: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'p.db'}")
    try:
        async with engine.connect() as conn:
            values = [
                (await conn.execute(text(f"PRAGMA {name}"))).scalar_one()
                for name in ("journal_mode", "foreign_keys", "busy_timeout")
            ]
    finally:
        await engine.dispose()
    assert values == ["wal", 1, 5000]


async def test_default_url_creates_the_data_directory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert await upgrade_to_head(DEFAULT_DATABASE_URL) == head_revision()
    assert (tmp_path / "data" / "bot.db").is_file()


async def test_unreachable_database_is_a_migration_error() -> None:
    with pytest.raises(MigrationError, match="could not migrate"):
        await upgrade_to_head("postgresql://nobody@127.0.0.1:1/none")


def test_migrate_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)  # no stray .env
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    assert main(["migrate", "--database-url", url]) == 0
    assert f"at revision {head_revision()}" in capsys.readouterr().out
    assert main(["migrate", "--database-url", "mysql://x/y"]) == 2
    assert "DATABASE_URL:" in capsys.readouterr().err
    assert main(["migrate", "--database-url", "postgresql://u:hunter2@127.0.0.1:1/db"]) == 1
    err = capsys.readouterr().err
    assert "migration failed" in err and "hunter2" not in err


def test_python_dash_m_bot_migrate(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'm.db'}"
    done = subprocess.run(
        [sys.executable, "-m", "bot", "migrate", "--database-url", url],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert head_revision() in done.stdout
