"""Scale-out roles on one PostgreSQL database, in one process: the role commands refuse
SQLite, rule changes reach other processes' indexes, two workers never poll a feed twice in
one interval, and two workers grouping at once make one story per event."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from pytest_httpserver import HTTPServer
from sqlalchemy import func, select

from bot.cli import main
from bot.rulebook import RuleBook
from bot.services import Services
from bot.storage import items as items_store
from bot.storage import sources as sources_store
from bot.storage.db import utc_now
from bot.storage.subscribers import deactivate_subscriber
from bot.storage.tables import OutboxRow, StoryRow
from bot.worker import CycleReport, Worker
from feeds.extract import extract
from feeds.models import Item, Source
from tests.bot.pipeline_support import *  # noqa: F403
from tests.bot.pipeline_support import FeedItem, FeedServer, make_settings, opened, subscribe
from tests.fakes import FakeTelegramAPI

pytest_plugins = ["tests.fakes.fixtures"]


@pytest.fixture
def pg_url(database_url: str) -> str:
    if not database_url.startswith("postgresql"):
        pytest.skip("the scale-out roles run on PostgreSQL")
    return database_url


@pytest.fixture
async def services(fake_telegram: FakeTelegramAPI, pg_url: str) -> AsyncIterator[Services]:
    async with opened(make_settings(fake_telegram, pg_url)) as svc:
        yield svc


# -- the commands refuse SQLite ------------------------------------------------------------


@pytest.mark.parametrize("role", ["web", "worker", "sender", "digest"])
def test_roles_refuse_sqlite(
    role: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.chdir(tmp_path)  # no stray .env
    monkeypatch.setenv("DATABASE_URL", f"sqlite:///{tmp_path / 'bot.db'}")
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "123456:secret-token-value")
    assert main([role]) == 2
    err = capsys.readouterr().err
    assert "need PostgreSQL (DATABASE_URL=postgresql://...)" in err
    assert "python -m bot run" in err
    assert not (tmp_path / "bot.db").exists()  # refused before touching the database


# -- rules: changes made elsewhere reach every index -----------------------------------------


async def test_rule_changes_reach_another_process_index(services: Services) -> None:
    elsewhere = RuleBook(db=services.db, places=services.gazetteer, max_rules_per_chat=50)
    await elsewhere.load()
    await subscribe(services, 11, "power outage in Kyiv")
    added = services.rulebook.rules_of(11)
    assert len(added) == 1 and elsewhere.rules_of(11) == []

    assert await elsewhere.catch_up() == 1
    assert [r[0] for r in elsewhere.rules_of(11)] == [added[0][0]]

    await services.rulebook.pause(chat_id=11, rule_id=added[0][0])
    await elsewhere.catch_up()
    assert elsewhere.rules_of(11) == []
    await services.rulebook.resume(chat_id=11, rule_id=added[0][0])
    await elsewhere.catch_up()
    assert len(elsewhere.rules_of(11)) == 1
    await services.rulebook.remove(chat_id=11, rule_id=added[0][0])
    await elsewhere.catch_up()
    assert elsewhere.rules_of(11) == []
    assert await elsewhere.catch_up() == 0  # nothing new: a cheap no-op


async def test_a_rule_committed_after_a_catch_up_started_is_not_missed(
    services: Services,
) -> None:
    elsewhere = RuleBook(db=services.db, places=services.gazetteer, max_rules_per_chat=50)
    await elsewhere.load()
    await subscribe(services, 12)
    async with services.db.sessions() as slow, slow.begin():
        # A transaction that writes a rule, then stays open past another process's look.
        await services.rulebook.add(slow, chat_id=12, text="cold in Kharkiv")
        later = await subscribe(services, 13, "water outage in Odesa")
        await elsewhere.catch_up()
        assert elsewhere.rules_of(12) == []
        assert len(elsewhere.rules_of(later.chat_id)) == 1
    await elsewhere.catch_up()
    assert len(elsewhere.rules_of(12)) == 1


async def test_a_deactivated_chat_leaves_other_indexes(services: Services) -> None:
    elsewhere = RuleBook(db=services.db, places=services.gazetteer, max_rules_per_chat=50)
    await subscribe(services, 14, "power outage in Kyiv")
    await elsewhere.load()
    assert len(elsewhere.rules_of(14)) == 1
    async with services.db.sessions() as session, session.begin():
        await deactivate_subscriber(session, chat_id=14)
    await elsewhere.catch_up()
    assert elsewhere.rules_of(14) == []


# -- two workers, one database ---------------------------------------------------------------


async def test_two_workers_never_fetch_a_feed_twice_in_an_interval(
    services: Services, httpserver: HTTPServer
) -> None:
    feeds = FeedServer(httpserver)
    now = utc_now()
    urls = [
        feeds.publish(f"f{n}", FeedItem(f"g{n}", f"Local news number {n}", now)) for n in range(40)
    ]
    async with services.db.sessions() as session, session.begin():
        await sources_store.upsert_sources(
            session,
            # Their own interval of 10 minutes: on a loaded machine a round may take longer
            # than POLL_INTERVAL_SECONDS=1, and a feed due again may rightly be fetched again.
            sources=[
                Source(url=u, name=f"feed {i}", interval_seconds=600) for i, u in enumerate(urls)
            ],
        )
    one, two = Worker(services, owner="w1"), Worker(services, owner="w2")
    for _ in range(3):  # the interval does not pass in between
        reports = await asyncio.gather(one.poll_once(), two.poll_once())
        if sum(r.polled for r in reports) == 0:
            break
    fetched = Counter(request.path for request, _ in httpserver.log)
    assert sorted(fetched) == sorted(f"/f{n}.xml" for n in range(40))
    assert set(fetched.values()) == {1}
    async with services.db.sessions() as session:
        stored = await sources_store.list_sources(session)
    assert all(s.lease_owner is None and s.last_success_at is not None for s in stored)


async def test_two_workers_grouping_at_once_make_one_story_per_event(
    services: Services,
) -> None:
    await subscribe(services, 21, "power outage in Kyiv")
    await subscribe(services, 22, "power outage")
    now = utc_now()
    async with services.db.sessions() as session, session.begin():
        ids = await sources_store.upsert_sources(
            session,
            sources=[
                Source(url=f"https://news{n}.example.org/rss", name=f"Outlet {n}") for n in (1, 2)
            ],
        )
    one, two = Worker(services, owner="w1"), Worker(services, owner="w2")
    await asyncio.gather(one._ensure_grouper(now), two._ensure_grouper(now))
    events = [
        "Kyiv: 300,000 without power after strike on power plant",
        "Odesa: water supply cut after overnight drone attack",
        "Kharkiv: heating outage in 200 buildings after shelling",
    ]
    for n, title in enumerate(events):
        pair = []
        for outlet, worker in ((1, one), (2, two)):
            url = f"https://news{outlet}.example.org/rss"
            item = Item(
                key=f"{outlet}-{n}",
                title=title,
                summary="",
                link=f"{url}/{n}",
                published=now,
                source_url=url,
                source_name=f"Outlet {outlet}",
            )
            signals = extract(item)
            async with services.db.sessions() as session, session.begin():
                stored = await items_store.add_items(
                    session, source_id=ids[url], items=[item], signals={item.key: signals}
                )
            pair.append(
                worker.process_item(item, signals, item_id=stored[0].id, report=CycleReport())
            )
        await asyncio.gather(*pair)  # the two outlets' reports of one event, at the same time
    async with services.db.sessions() as session:
        stories = (await session.execute(select(func.count()).select_from(StoryRow))).scalar_one()
        alerts = (
            await session.execute(
                select(OutboxRow.chat_id, OutboxRow.dedupe_key).where(OutboxRow.kind == "alert")
            )
        ).all()
    assert stories == len(events)
    per_chat = Counter(chat for chat, _ in alerts)
    assert per_chat[21] == 1  # the Kyiv story only, once
    assert per_chat[22] >= 1
    assert len({key for _, key in alerts}) == len(alerts)
