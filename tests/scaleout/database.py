"""A fresh PostgreSQL database per test (copied from a migrated template, as the storage tests
do), seeded through the storage functions, and read back with plain SQL for the checks.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Coroutine, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time
from functools import cache
from typing import Any, TypeVar

import asyncpg

from bot.storage import outbox as outbox_store
from bot.storage import rules as rules_store
from bot.storage import subscribers as subscribers_store
from bot.storage.db import open_database
from tests.bot.storage import conftest as storage

T = TypeVar("T")

# The storage tests' server helpers: the same local server, naming and leftover cleanup.
PgServer = storage.PgServer
find_pg = storage._find_pg
create_db = storage._create_db
drop_db = storage._drop_db
db_name = storage._db_name


def run(coro: Coroutine[Any, Any, T]) -> T:
    """Run one coroutine from the (synchronous) tests, which mostly wait on processes."""
    return asyncio.run(coro)


@cache
def _gazetteer() -> Any:
    from feeds.gazetteer import load_gazetteer

    return load_gazetteer()


@dataclass(frozen=True, slots=True)
class OutboxRow:
    id: int
    chat_id: int
    kind: str
    text: str
    story_id: str | None
    status: str
    attempts: int


@dataclass(frozen=True, slots=True)
class SourceRow:
    id: int
    url: str
    lease_owner: str | None
    lease_until: datetime | None
    last_success_at: datetime | None
    consecutive_failures: int
    last_error: str | None


class TestDatabase:
    """One test's database: `url` for the processes (asyncpg driver), helpers for the test."""

    __test__ = False  # not a pytest class

    def __init__(self, server: PgServer, name: str) -> None:
        self.server = server
        self.name = name
        self.url = server.url(name)
        self.dsn = f"postgresql://{server.user}@{storage.PG_HOST}:{storage.PG_PORT}/{name}"

    # -- seeding (the product's storage functions) -------------------------------------------

    def subscribe(self, chat_ids: Sequence[int], *rule_texts: str, lang: str = "en") -> None:
        """Subscribers with `rule_texts` as instant rules, stored like the handlers store them."""
        from rules.language import parse_rule

        rules = [(text, parse_rule(text, places=_gazetteer(), lang=lang)) for text in rule_texts]

        async def seed() -> None:
            db = open_database(self.url)
            try:
                async with db.sessions() as session, session.begin():
                    for chat_id in chat_ids:
                        await subscribers_store.upsert_subscriber(
                            session,
                            chat_id=chat_id,
                            kind="private" if chat_id > 0 else "group",
                            language=lang,
                            timezone="Europe/Kyiv",
                            digest_time=time(8, 0),
                        )
                        for text, rule in rules:
                            await rules_store.add_rule(
                                session,
                                chat_id=chat_id,
                                text=text,
                                rule_json=rule.to_json(),
                                delivery="instant",
                            )
            finally:
                await db.dispose()

        run(seed())

    def enqueue(self, messages: Sequence[tuple[int, str]], *, kind: str = "notice") -> None:
        """Queue (chat_id, text) messages in the outbox, as the handlers and worker do."""

        async def seed() -> None:
            db = open_database(self.url)
            try:
                async with db.sessions() as session, session.begin():
                    for n, (chat_id, text) in enumerate(messages):
                        await outbox_store.enqueue(
                            session,
                            chat_id=chat_id,
                            kind=kind,
                            payload={"text": text},
                            dedupe_key=f"seed:{n}:{chat_id}",
                        )
            finally:
                await db.dispose()

        run(seed())

    # -- reading back ----------------------------------------------------------------------

    def fetch(self, sql: str, *args: Any) -> list[asyncpg.Record]:
        async def query() -> list[asyncpg.Record]:
            conn = await asyncpg.connect(self.dsn, timeout=10)
            try:
                return list(await conn.fetch(sql, *args))
            finally:
                await conn.close()

        return run(query())

    def scalar(self, sql: str, *args: Any) -> Any:
        rows = self.fetch(sql, *args)
        return rows[0][0] if rows else None

    def outbox(self) -> list[OutboxRow]:
        rows = self.fetch(
            "SELECT id, chat_id, kind, payload, status, attempts FROM outbox ORDER BY id"
        )
        result = []
        for row in rows:
            payload = row["payload"]
            if isinstance(payload, str):
                payload = json.loads(payload)
            result.append(
                OutboxRow(
                    id=row["id"],
                    chat_id=row["chat_id"],
                    kind=row["kind"],
                    text=str(payload.get("text", "")),
                    story_id=payload.get("story_id"),
                    status=row["status"],
                    attempts=row["attempts"],
                )
            )
        return result

    def outbox_status(self) -> dict[str, int]:
        rows = self.fetch("SELECT status, count(*) FROM outbox GROUP BY status")
        return {row[0]: int(row[1]) for row in rows}

    def sources(self) -> list[SourceRow]:
        rows = self.fetch(
            "SELECT id, url, lease_owner, lease_until, last_success_at, consecutive_failures,"
            " last_error FROM sources ORDER BY id"
        )
        return [SourceRow(**dict(row)) for row in rows]

    def item_titles(self) -> dict[str, str | None]:
        """Stored items: title -> story id."""
        return {row[0]: row[1] for row in self.fetch("SELECT title, story_id FROM items")}

    def alerts(self) -> list[tuple[int, str]]:
        return [(row[0], row[1]) for row in self.fetch("SELECT chat_id, story_id FROM alerts")]

    def terminate_connections(self) -> int:
        """Cut every connection to this database (what a failover or a network cut does)."""

        async def cut() -> int:
            conn = await asyncpg.connect(
                host=storage.PG_HOST, port=storage.PG_PORT, user=self.server.user,
                database="postgres", timeout=10,
            )  # fmt: skip
            try:
                rows = await conn.fetch(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                    "WHERE datname = $1 AND pid <> pg_backend_pid()",
                    self.name,
                )
                return sum(1 for row in rows if row[0])
            finally:
                await conn.close()

        return run(cut())

    def backends(self) -> int:
        """Connections open to this database now."""

        async def count() -> int:
            conn = await asyncpg.connect(
                host=storage.PG_HOST, port=storage.PG_PORT, user=self.server.user,
                database="postgres", timeout=10,
            )  # fmt: skip
            try:
                value = await conn.fetchval(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = $1", self.name
                )
                return int(value)
            finally:
                await conn.close()

        return run(count())


def utc_now() -> datetime:
    return datetime.now(UTC)
