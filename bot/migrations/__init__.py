"""Alembic migrations, applied programmatically on start (`upgrade_to_head`); no alembic.ini.

After changing `bot/storage/tables.py`, a developer runs `python -m bot migrate --database-url
sqlite:///rev.db`, then `python -c "from bot.migrations import make_revision as m;
m('sqlite:///rev.db', 'what changed')"`, and reviews the generated file on both engines.
"""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import text
from sqlalchemy.engine import Connection
from sqlalchemy.exc import SQLAlchemyError

from bot.config import normalise_database_url
from bot.storage.db import create_engine
from bot.storage.errors import MigrationError

MIGRATIONS_DIR = Path(__file__).resolve().parent
# Any constant works; it only has to be the same in every process of this application.
_PG_MIGRATION_LOCK = 0x57A1E7


def alembic_config() -> Config:
    """An Alembic config pointing at the packaged scripts."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def head_revision() -> str:
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    if head is None:
        raise MigrationError("no migration scripts found")
    return head


async def upgrade_to_head(database_url: str) -> str:
    """Bring the database up to the newest revision and return that revision.

    Safe to call from several processes at once: on PostgreSQL they queue on an advisory
    lock, and a database already at head is left untouched.
    """
    try:
        engine = create_engine(normalise_database_url(database_url))
    except OSError as exc:  # e.g. the SQLite file's directory cannot be created
        raise MigrationError(f"could not open the database: {exc}") from exc
    try:
        async with engine.connect() as connection:
            revision = await connection.run_sync(_upgrade)
            await connection.commit()
            return revision
    except (SQLAlchemyError, OSError) as exc:
        raise MigrationError(f"could not migrate the database: {_reason(exc)}") from exc
    finally:
        await engine.dispose()


def _reason(exc: BaseException) -> str:
    # The first line names the cause; SQLAlchemy appends the SQL and a documentation link.
    text_ = str(exc).strip()
    return text_.splitlines()[0] if text_ else type(exc).__name__


def _upgrade(connection: Connection) -> str:
    if connection.dialect.name == "postgresql":
        # Released at commit; other starters wait here, then find the schema at head.
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_MIGRATION_LOCK})
    config = alembic_config()
    config.attributes["connection"] = connection
    command.upgrade(config, "head")
    return _current(connection) or ""


async def current_revision(database_url: str) -> str | None:
    """The revision the database is at, or None for an empty database."""
    engine = create_engine(normalise_database_url(database_url))
    try:
        async with engine.connect() as connection:
            return await connection.run_sync(_current)
    finally:
        await engine.dispose()


def _current(connection: Connection) -> str | None:
    return MigrationContext.configure(connection).get_current_revision()


def make_revision(database_url: str, message: str) -> None:
    """Autogenerate a new revision from the difference between the tables and the database."""
    config = alembic_config()
    # ConfigParser interpolates "%", which URL-encoded passwords contain.
    config.set_main_option(
        "sqlalchemy.url", normalise_database_url(database_url).replace("%", "%%")
    )
    command.revision(config, message=message, autogenerate=True)
