"""The poll cycle against local feeds: items stored once, stories grouped, alerts queued once
per chat, later reports edit the alert, old news and digest-only rules raise no alert."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import time, timedelta

import pytest
from pytest_httpserver import HTTPServer
from sqlalchemy import select

from bot.services import Services
from bot.storage import alerts as alerts_store
from bot.storage import outbox
from bot.storage import sources as sources_store
from bot.storage import stories as stories_store
from bot.storage.db import utc_now
from bot.storage.tables import OutboxRow
from bot.worker import Worker
from feeds.models import Item, Signals, Source
from tests.bot.pipeline_support import *  # noqa: F403
from tests.bot.pipeline_support import FeedItem, FeedServer, make_settings, opened, subscribe
from tests.fakes import FakeTelegramAPI

pytest_plugins = ["tests.fakes.fixtures"]

KYIV_TITLE = "Kyiv: 300,000 without power after strike, -18°C"


@pytest.fixture
async def services(fake_telegram: FakeTelegramAPI, database_url: str) -> AsyncIterator[Services]:
    async with opened(make_settings(fake_telegram, database_url)) as svc:
        yield svc


@pytest.fixture
def feeds(httpserver: HTTPServer) -> FeedServer:
    return FeedServer(httpserver)


async def add_sources(services: Services, *sources: tuple[str, str]) -> None:
    async with services.db.sessions() as session, session.begin():
        await sources_store.upsert_sources(
            session, sources=[Source(url=url, name=name) for url, name in sources]
        )


async def make_due(services: Services) -> None:
    """Every source due now (instead of waiting out the poll interval)."""
    async with services.db.sessions() as session, session.begin():
        for source in await sources_store.list_sources(session):
            await sources_store.record_success(
                session, source_id=source.id, now=utc_now(), next_poll_at=utc_now()
            )


async def rows(services: Services) -> list[OutboxRow]:
    async with services.db.sessions() as session:
        result = await session.execute(select(OutboxRow).order_by(OutboxRow.id))
        return list(result.scalars().all())


def item(guid: str, title: str, *, minutes_ago: float = 5, text: str = "") -> FeedItem:
    return FeedItem(guid, title, utc_now() - timedelta(minutes=minutes_ago), description=text)


async def test_a_fresh_story_queues_one_alert_per_matching_chat(
    services: Services, feeds: FeedServer
) -> None:
    await subscribe(services, 1, "power outage in Kyiv")
    await subscribe(services, 2, "power outage in Kharkiv")
    await subscribe(services, 3, "outage in Kyiv", "cold in Kyiv")  # two rules, one alert
    url = feeds.publish("unian", item("u1", KYIV_TITLE))
    await add_sources(services, (url, "UNIAN"))
    worker = Worker(services)

    report = await worker.poll_once()
    assert (report.polled, report.new_items, report.alerts) == (1, 1, 2)
    queued = await rows(services)
    assert sorted(r.chat_id for r in queued) == [1, 3]
    alert = next(r for r in queued if r.chat_id == 1)
    assert alert.kind == "alert" and alert.dedupe_key.startswith("alert:1:")
    assert "300,000 without power" in alert.payload["text"]
    assert alert.payload["reply_markup"]["inline_keyboard"][0][0]["callback_data"].startswith(
        "rule:pause:"
    )
    assert services.outbox_ready.is_set()

    # The same feed again: nothing new, nothing queued.
    await make_due(services)
    again = await worker.poll_once()
    assert (again.polled, again.new_items, again.alerts) == (1, 0, 0)
    assert len(await rows(services)) == 2


async def send_queue(services: Services) -> list[int]:
    """What the sender does with the queue: claim every pending message and mark it sent."""
    async with services.db.sessions() as session, session.begin():
        claimed = await outbox.claim_batch(session, now=utc_now(), limit=1000)
        await outbox.mark_sent_many(session, outbox_ids=[m.id for m in claimed])
    return [m.id for m in claimed]


async def test_more_outlets_edit_the_alert_and_a_restoration_replies(
    services: Services, feeds: FeedServer
) -> None:
    await subscribe(services, 1, "power outage in Kyiv")
    a = feeds.publish("a", item("a1", KYIV_TITLE, minutes_ago=30))
    b = feeds.publish("b", title="b")
    c = feeds.publish("c", title="c")
    await add_sources(services, (a, "UNIAN"), (b, "Ukrinform"), (c, "Suspilne"))
    worker = Worker(services)
    assert (await worker.poll_once()).alerts == 1
    assert len(await send_queue(services)) == 1

    feeds.publish("b", item("b1", "Strike leaves 300,000 in Kyiv without power", minutes_ago=20))
    await make_due(services)
    assert (await worker.poll_once()).edits == 1
    feeds.publish("c", item("c1", "Kyiv without power after strike: 300,000 homes", minutes_ago=10))
    await make_due(services)
    report = await worker.poll_once()
    # The third outlet's edit goes into the second one's, still queued: one edit, latest text.
    assert (report.alerts, report.edits, report.folded) == (0, 0, 1)
    queued = await rows(services)
    assert [r.kind for r in queued] == ["alert", "edit"]
    assert "UNIAN, Ukrinform +1" in queued[-1].payload["text"]

    feeds.publish("a", item("a2", "Power restored in Kyiv after the strike", minutes_ago=1))
    await make_due(services)
    report = await worker.poll_once()
    assert report.replies == 1
    kinds = [r.kind for r in await rows(services)]
    assert kinds == ["alert", "edit", "reply"]
    async with services.db.sessions() as session:
        [story] = await stories_store.stories_since(session, since=utc_now() - timedelta(days=1))
    assert story.resolved and len(story.sources) == 3


async def test_an_alert_sent_in_a_bundle_is_not_edited_but_still_gets_replies(
    services: Services, feeds: FeedServer
) -> None:
    """Chat 1's alert went out in one message with others (the sender records that): more
    outlets edit chat 2's alert but not chat 1's bundle, whose figures still move on (the
    restoration is a reply to the bundle for both)."""
    from sqlalchemy import update

    from bot.storage.tables import AlertRow

    await subscribe(services, 1, "power outage in Kyiv")
    await subscribe(services, 2, "power outage in Kyiv")
    a = feeds.publish("a", item("a1", KYIV_TITLE, minutes_ago=30))
    b = feeds.publish("b", title="b")
    await add_sources(services, (a, "UNIAN"), (b, "Ukrinform"))
    worker = Worker(services)
    assert (await worker.poll_once()).alerts == 2
    await send_queue(services)
    story_id = (await rows(services))[0].payload["story_id"]
    async with services.db.sessions() as session, session.begin():
        await session.execute(
            update(AlertRow).where(AlertRow.chat_id == 1).values(message_id=7, bundled=True)
        )
        before = await alerts_store.fingerprints_for_story(session, story_id=story_id)

    feeds.publish("b", item("b1", "Strike leaves 300,000 in Kyiv without power", minutes_ago=20))
    await make_due(services)
    report = await worker.poll_once()
    assert report.edits == 1
    [edit] = [r for r in await rows(services) if r.kind == "edit"]
    assert edit.chat_id == 2
    async with services.db.sessions() as session:
        after = await alerts_store.fingerprints_for_story(session, story_id=story_id)
    # Both chats' alerts now stand for the newer facts: the restoration is told to both.
    assert after[1] == after[2] != before[1]

    await send_queue(services)
    feeds.publish("a", item("a2", "Power restored in Kyiv after the strike", minutes_ago=1))
    await make_due(services)
    report = await worker.poll_once()
    assert (report.edits, report.replies) == (1, 2)
    assert sorted(r.chat_id for r in await rows(services) if r.kind == "reply") == [1, 2]


async def test_news_for_an_alert_still_queued_updates_it_in_place(
    services: Services, feeds: FeedServer
) -> None:
    await subscribe(services, 1, "power outage in Kyiv")
    a = feeds.publish("a", item("a1", KYIV_TITLE, minutes_ago=30))
    b = feeds.publish("b", title="b")
    await add_sources(services, (a, "UNIAN"), (b, "Ukrinform"))
    worker = Worker(services)
    assert (await worker.poll_once()).alerts == 1
    [alert] = await rows(services)

    feeds.publish("b", item("b1", "Strike leaves 300,000 in Kyiv without power", minutes_ago=20))
    await make_due(services)
    report = await worker.poll_once()
    assert (report.edits, report.folded) == (0, 1)
    [updated] = await rows(services)
    assert updated.id == alert.id and updated.kind == "alert"
    assert "UNIAN, Ukrinform" in updated.payload["text"]
    assert "Ukrinform" not in alert.payload["text"]
    assert updated.payload["news_at"] > alert.payload["news_at"]
    # The rest is the alert's own: its lag still counts from the news that first raised it.
    folded = ("text", "reply_markup", "news_at")
    unchanged = {k: v for k, v in alert.payload.items() if k not in folded}
    assert {k: updated.payload[k] for k in unchanged} == unchanged
    assert unchanged["published_at"] == alert.payload["news_at"]


async def test_an_update_tells_new_chats_at_once_and_its_edits_wait_for_more_news(
    fake_telegram: FakeTelegramAPI, database_url: str, feeds: FeedServer
) -> None:
    """With UPDATE_DELAY_SECONDS: news that brings a told story to a new chat (Kharkiv) alerts
    it within a second (UPDATE_SETTLE_SECONDS), while the edit of the chat told already waits,
    and takes the outlets that come meanwhile with it (one edit); a new story is matched at
    once, before the update."""
    from bot.worker import CycleReport

    settings = make_settings(fake_telegram, database_url, update_delay_seconds=30)
    clock = [utc_now()]
    async with opened(settings) as services:
        await subscribe(services, 1, "power outage in Kyiv")
        await subscribe(services, 2, "water in Odesa")
        await subscribe(services, 3, "power outage in Kharkiv oblast")
        url = feeds.publish("a")
        await add_sources(services, (url, "UNIAN"))
        worker = Worker(services, owner="w1", clock=lambda: clock[0])
        told = await _group_only(services, worker, url, "a1", KYIV_TITLE)
        assert await worker.sweep_pending(CycleReport()) == 1
        await send_queue(services)

        strike = "Strike leaves 300,000 in Kyiv without power"
        await _group_only(services, worker, url, "a2", strike, outlet="Ukrinform")
        # Not at once: other outlets of a growing story are usually moments behind.
        assert await worker.sweep_pending(CycleReport()) == 0
        clock[0] += timedelta(seconds=20)
        both = "Strikes leave Kyiv and Kharkiv without power, -18°C"
        await _group_only(services, worker, url, "a3", both, outlet="Suspilne")
        fresh = await _group_only(services, worker, url, "a4", "Odesa left without water")
        report = CycleReport()
        assert await worker.sweep_pending(report) == 2
        assert (report.alerts, report.edits) == (2, 0)
        assert [r.chat_id for r in await rows(services) if r.kind == "alert"] == [1, 2, 3]
        assert await pending(services) == [told] and fresh != told
        assert await worker.sweep_pending(CycleReport()) == 0  # not settled yet

        clock[0] += timedelta(seconds=11)  # 31 s after the first update
        report = CycleReport()
        assert await worker.sweep_pending(report) == 1
        assert (report.alerts, report.edits, await pending(services)) == (0, 1, [])
        [edit] = [r for r in await rows(services) if r.kind == "edit"]
        assert edit.chat_id == 1 and "UNIAN, Ukrinform +1" in edit.payload["text"]


async def test_edits_of_sent_alerts_wait_so_news_folds_in_and_fresh_alerts_go_first(
    fake_telegram: FakeTelegramAPI, database_url: str, feeds: FeedServer
) -> None:
    settings = make_settings(fake_telegram, database_url, edit_delay_seconds=30)
    async with opened(settings) as services:
        await subscribe(services, 1, "power outage in Kyiv")
        await subscribe(services, 1, "power outage in Kharkiv")
        a = feeds.publish("a", item("a1", KYIV_TITLE, minutes_ago=30))
        b, c = feeds.publish("b", title="b"), feeds.publish("c", title="c")
        await add_sources(services, (a, "UNIAN"), (b, "Ukrinform"), (c, "Suspilne"))
        worker = Worker(services)
        await worker.poll_once()
        assert len(await send_queue(services)) == 1  # the alert went out at once

        feeds.publish("b", item("b1", "Strike leaves 300,000 in Kyiv without power", minutes_ago=9))
        await make_due(services)
        assert (await worker.poll_once()).edits == 1
        assert await send_queue(services) == []  # the edit waits
        feeds.publish(
            "c",
            item("c1", "Kyiv without power after strike: 300,000 homes", minutes_ago=5),
            item("k1", "Kharkiv: 45,000 without power after strike", minutes_ago=4),
        )
        await make_due(services)
        report = await worker.poll_once()
        # The third outlet went into the waiting edit; Kharkiv's alert goes out before it.
        assert (report.alerts, report.edits, report.folded) == (1, 0, 1)
        [edit] = [r for r in await rows(services) if r.kind == "edit"]
        assert "UNIAN, Ukrinform +1" in edit.payload["text"]
        assert edit.next_attempt_at >= utc_now() + timedelta(seconds=20)
        sent = await send_queue(services)
        assert [r.kind for r in await rows(services) if r.id in sent] == ["alert"]
        async with services.db.sessions() as session, session.begin():
            later = await outbox.claim_batch(
                session, now=utc_now() + timedelta(seconds=31), limit=10
            )
            await outbox.mark_sent_many(session, outbox_ids=[m.id for m in later])
        assert [m.id for m in later] == [edit.id]

        # Power comes back: the reply waits as long as its edit, and is claimed after it.
        feeds.publish("a", item("a2", "Power restored in Kyiv after the strike", minutes_ago=1))
        await make_due(services)
        assert (await worker.poll_once()).replies == 1
        assert await send_queue(services) == []
        async with services.db.sessions() as session, session.begin():
            last = await outbox.claim_batch(
                session, now=utc_now() + timedelta(seconds=31), limit=10
            )
        assert [m.kind for m in last] == ["edit", "reply"]


async def test_a_restoration_before_the_alert_went_out_is_told_by_the_alert_alone(
    services: Services, feeds: FeedServer
) -> None:
    """The chat has seen nothing of the story while its alert waits in the queue: the alert
    goes out saying "restored", with no "resolved" reply ringing after it."""
    await subscribe(services, 1, "power outage in Kyiv")
    a = feeds.publish("a", item("a1", KYIV_TITLE, minutes_ago=30))
    await add_sources(services, (a, "UNIAN"))
    worker = Worker(services)
    assert (await worker.poll_once()).alerts == 1
    [alert] = await rows(services)

    feeds.publish("a", item("a2", "Power restored in Kyiv after the strike", minutes_ago=1))
    await make_due(services)
    report = await worker.poll_once()
    assert (report.replies, report.folded) == (0, 1)
    [updated] = await rows(services)
    assert updated.id == alert.id and updated.payload["text"] != alert.payload["text"]
    async with services.db.sessions() as session:
        [story] = await stories_store.stories_since(session, since=utc_now() - timedelta(days=1))
    assert story.resolved


async def test_an_edit_being_sent_is_not_changed_but_followed_by_a_new_one(
    services: Services, feeds: FeedServer
) -> None:
    await subscribe(services, 1, "power outage in Kyiv")
    a = feeds.publish("a", item("a1", KYIV_TITLE, minutes_ago=30))
    b = feeds.publish("b", title="b")
    c = feeds.publish("c", title="c")
    await add_sources(services, (a, "UNIAN"), (b, "Ukrinform"), (c, "Suspilne"))
    worker = Worker(services)
    await worker.poll_once()
    await send_queue(services)
    feeds.publish("b", item("b1", "Strike leaves 300,000 in Kyiv without power", minutes_ago=20))
    await make_due(services)
    assert (await worker.poll_once()).edits == 1
    async with services.db.sessions() as session, session.begin():
        [claimed] = await outbox.claim_batch(session, now=utc_now(), limit=10)

    feeds.publish("c", item("c1", "Kyiv without power after strike: 300,000 homes", minutes_ago=10))
    await make_due(services)
    report = await worker.poll_once()
    assert (report.edits, report.folded) == (1, 0)
    *_, being_sent, new_edit = await rows(services)
    assert being_sent.id == claimed.id and being_sent.payload == claimed.payload
    assert new_edit.kind == "edit" and "UNIAN, Ukrinform +1" in new_edit.payload["text"]


async def test_old_news_and_digest_rules_raise_no_instant_alert(
    services: Services, feeds: FeedServer
) -> None:
    await subscribe(services, 1, "power outage in Kyiv")
    await subscribe(services, 2, "power outage in Kyiv digest")
    old = item("o1", "Kharkiv: 45,000 without power after strike", minutes_ago=60 * 30)
    url = feeds.publish("f", old, item("n1", KYIV_TITLE))
    await subscribe(services, 3, "power outage in Kharkiv")
    await add_sources(services, (url, "UNIAN"))
    report = await Worker(services).poll_once()
    assert report.new_items == 2 and report.story_updates == 2
    assert [r.chat_id for r in await rows(services)] == [1]


async def test_quiet_hours_make_alerts_silent_unless_critical(
    services: Services, feeds: FeedServer
) -> None:
    chat = await subscribe(services, 1, "outage in Kharkiv", "outage in Kyiv")
    async with services.db.sessions() as session, session.begin():
        from bot.storage.subscribers import update_subscriber

        # Quiet all day long, whatever the local time of the test run.
        await update_subscriber(
            session, chat_id=chat.chat_id, quiet_start=time(0, 0), quiet_end=time(23, 59, 59)
        )
    url = feeds.publish(
        "f",
        item("k1", "Kharkiv: some homes without water after a pipe burst"),
        item("k2", KYIV_TITLE),  # critical: notifies even in quiet hours
    )
    await add_sources(services, (url, "UNIAN"))
    await Worker(services).poll_once()
    silent = {
        r.payload["text"].split("\n")[0]: r.payload["disable_notification"]
        for r in await rows(services)
    }
    assert len(silent) == 2
    assert sorted(silent.values()) == [False, True]
    assert next(v for k, v in silent.items() if "Kyiv" in k) is False


async def test_a_failing_feed_is_recorded_and_the_others_still_polled(
    services: Services, feeds: FeedServer, httpserver: HTTPServer
) -> None:
    await subscribe(services, 1, "power outage in Kyiv")
    good = feeds.publish("good", item("g1", KYIV_TITLE))
    httpserver.expect_request("/broken.xml").respond_with_data("nope", status=404)
    await add_sources(services, (httpserver.url_for("/broken.xml"), "Broken"), (good, "Good"))
    report = await Worker(services).poll_once()
    assert (report.polled, report.failed, report.alerts) == (2, 1, 1)
    async with services.db.sessions() as session:
        broken = await sources_store.get_source_by_url(
            session, url=httpserver.url_for("/broken.xml")
        )
        assert await outbox.depth(session) == 1
    assert broken is not None and broken.consecutive_failures == 1 and broken.last_error
    assert broken.next_poll_at > utc_now()


# -- grouping and matching in two steps ------------------------------------------------------


async def _store_only(
    services: Services,
    url: str,
    guid: str,
    title: str,
    *,
    outlet: str = "UNIAN",
    fetched_minutes_ago: float = 0,
) -> tuple[Item, int]:
    """Store one item of the feed at `url` as a poll does, and nothing more (what a worker
    killed right after storing leaves); returns the item and its id."""
    from bot.storage import items as items_store
    from feeds.extract import extract

    news = Item(
        key=guid,
        title=title,
        summary="",
        link=f"https://example.org/{guid}",
        published=utc_now() - timedelta(minutes=5),
        source_url=url,
        source_name=outlet,
    )
    async with services.db.sessions() as session, session.begin():
        source = await sources_store.get_source_by_url(session, url=url)
        assert source is not None
        [stored] = await items_store.add_items(
            session,
            source_id=source.id,
            items=[news],
            signals={guid: extract(news)},
            fetched_at=utc_now() - timedelta(minutes=fetched_minutes_ago),
        )
    return news, stored.id


async def _group_only(
    services: Services, worker: Worker, url: str, guid: str, title: str, outlet: str = "UNIAN"
) -> str:
    """Store one item of the feed at `url` and run only the grouping step (story saved, marker
    written), as a worker does right before it dies; returns the story id."""
    from bot.worker import CycleReport
    from feeds.extract import extract

    news, item_id = await _store_only(services, url, guid, title, outlet=outlet)
    update = await worker.group(news, extract(news), item_id=item_id, report=CycleReport())
    assert update is not None
    return update.story.id


async def pending(services: Services) -> list[str]:
    from bot.storage.tables import PendingMatchRow

    async with services.db.sessions() as session:
        return list((await session.execute(select(PendingMatchRow.story_id))).scalars())


async def test_a_worker_dying_between_grouping_and_matching_loses_no_alert(
    services: Services, feeds: FeedServer
) -> None:
    await subscribe(services, 1, "power outage in Kyiv")
    await subscribe(services, 2, "outage in Kyiv")
    url = feeds.publish("a")  # the feed shows nothing new to the worker that takes over
    await add_sources(services, (url, "UNIAN"))
    crashed = Worker(services, owner="w1")
    story_id = await _group_only(services, crashed, url, "a1", KYIV_TITLE)
    assert await pending(services) == [story_id]
    assert await rows(services) == []  # grouped and saved, nothing queued yet

    # Another worker's next cycle sweeps the marker: the alerts are queued, once.
    report = await Worker(services, owner="w2").poll_once()
    assert report.alerts == 2
    queued = await rows(services)
    assert sorted((r.chat_id, r.kind) for r in queued) == [(1, "alert"), (2, "alert")]
    assert all(r.payload["story_id"] == story_id for r in queued)
    assert await pending(services) == []

    # The dead worker's matching step, were it to run late after all, finds nothing to do,
    # and a later cycle queues nothing more.
    from bot.worker import CycleReport

    assert await crashed.match_story(story_id, report=CycleReport()) is None
    await make_due(services)
    assert (await Worker(services, owner="w3").poll_once()).alerts == 0
    assert len(await rows(services)) == 2


async def test_several_markers_of_one_story_are_matched_together(
    services: Services, feeds: FeedServer
) -> None:
    await subscribe(services, 1, "power outage in Kyiv")
    url = feeds.publish("a")
    await add_sources(services, (url, "UNIAN"))
    crashed = Worker(services, owner="w1")
    first = await _group_only(services, crashed, url, "a1", KYIV_TITLE)
    second = await _group_only(
        services, crashed, url, "a2", "Strike leaves 300,000 in Kyiv without power"
    )
    assert first == second and await pending(services) == [first, first]
    report = await Worker(services, owner="w2").poll_once()
    # One alert showing the story as it stands (two reports), no edit of an unsent alert.
    assert (report.alerts, report.edits) == (1, 0)
    assert [r.kind for r in await rows(services)] == ["alert"]
    assert await pending(services) == []


async def story_of(services: Services, item_id: int) -> str | None:
    from bot.storage import items as items_store

    async with services.db.sessions() as session:
        stored = await items_store.get_item(session, item_id=item_id)
    assert stored is not None
    return stored.story_id


async def test_items_stored_by_a_worker_that_died_before_grouping_them_still_alert(
    services: Services, feeds: FeedServer
) -> None:
    await subscribe(services, 1, "power outage in Kyiv")
    url = feeds.publish("a")  # the feed shows nothing new: its items were stored already
    await add_sources(services, (url, "UNIAN"))
    _, left = await _store_only(services, url, "a1", KYIV_TITLE, fetched_minutes_ago=3)
    # Stored a moment ago: its own worker may be grouping it right now.
    _, recent = await _store_only(
        services, url, "a2", "Odesa: water restored after repairs", fetched_minutes_ago=0.5
    )

    report = await Worker(services, owner="w2").poll_once()
    assert report.alerts == 1
    [alert] = await rows(services)
    assert alert.chat_id == 1 and alert.payload["story_id"] == await story_of(services, left)
    assert await story_of(services, recent) is None

    # Grouped once: a later cycle (the item no longer left over) queues nothing more.
    await make_due(services)
    later = Worker(services, owner="w3")
    assert (await later.poll_once()).alerts == 0
    assert len(await rows(services)) == 1


async def test_an_item_already_grouped_by_another_worker_is_not_grouped_twice(
    services: Services, feeds: FeedServer
) -> None:
    from bot.worker import CycleReport

    url = feeds.publish("a")
    await add_sources(services, (url, "UNIAN"))
    _, item_id = await _store_only(services, url, "a1", KYIV_TITLE, fetched_minutes_ago=3)
    news_of = await _left_over_entries(services)
    first, second = Worker(services, owner="w1"), Worker(services, owner="w2")
    [update] = await first.group_items(news_of, report=CycleReport(), left_over=True)
    # The second worker read the same left-over item before the first one grouped it.
    assert await second.group_items(news_of, report=CycleReport(), left_over=True) == []
    assert await story_of(services, item_id) == update.story.id
    assert await pending(services) == [update.story.id]


async def _left_over_entries(services: Services) -> list[tuple[Item, Signals, int]]:
    from bot.storage import items as items_store

    async with services.db.sessions() as session:
        found = await items_store.left_ungrouped(
            session,
            published_after=utc_now() - timedelta(days=1),
            fetched_before=utc_now(),
            limit=10,
        )
    assert found
    return [
        (stored.to_item(source_url=url, source_name=name), stored.signals, stored.id)
        for stored, url, name in found
        if stored.signals is not None
    ]


async def test_the_sweep_leaves_a_story_another_worker_is_matching(
    services: Services, feeds: FeedServer, engine_name: str
) -> None:
    if engine_name != "postgresql":
        pytest.skip("one process on SQLite: no other worker can hold a story's lock")
    from bot.worker import _story_lock

    await subscribe(services, 1, "power outage in Kyiv")
    url = feeds.publish("a")
    await add_sources(services, (url, "UNIAN"))
    story_id = await _group_only(services, Worker(services, owner="w1"), url, "a1", KYIV_TITLE)
    sweeper = Worker(services, owner="w2")
    from bot.worker import CycleReport

    async with services.db.sessions() as busy, busy.begin():
        assert await _story_lock(busy, story_id, wait=True)  # "w1" is matching it right now
        assert await sweeper.sweep_pending(CycleReport()) == 0
        assert await pending(services) == [story_id] and await rows(services) == []
    assert await sweeper.sweep_pending(CycleReport()) == 1
    assert [r.chat_id for r in await rows(services)] == [1]
    assert await pending(services) == []


async def test_a_new_story_is_matched_before_an_older_update_of_a_told_one(
    services: Services, feeds: FeedServer
) -> None:
    """First news first, as in the outbox: a story nobody has heard of yet is matched before
    a story already told whose update waited longer, so its alerts are queued first."""
    from bot.worker import CycleReport

    await subscribe(services, 1, "power outage in Kyiv")
    await subscribe(services, 2, "power outage in Kharkiv oblast")
    await subscribe(services, 3, "water in Odesa")
    url = feeds.publish("a")
    await add_sources(services, (url, "UNIAN"))
    worker = Worker(services, owner="w1")
    told = await _group_only(services, worker, url, "a1", KYIV_TITLE)
    await worker.sweep_pending(CycleReport())
    update = await _group_only(
        services, worker, url, "a2", "Strikes leave Kyiv and Kharkiv without power, -18°C"
    )
    fresh = await _group_only(services, worker, url, "a3", "Odesa left without water after strike")
    assert update == told != fresh
    assert sorted(await pending(services)) == sorted([told, fresh])
    assert await worker.sweep_pending(CycleReport()) == 2
    alerts = [r.chat_id for r in await rows(services) if r.kind == "alert"]
    assert alerts == [1, 3, 2]  # chat 3's news before chat 2's, whose story was told earlier


async def test_a_story_that_cannot_be_read_back_waits_while_the_others_are_matched(
    services: Services, feeds: FeedServer, caplog: pytest.LogCaptureFixture
) -> None:
    """A story whose stored facts are damaged fails alone: the others are matched, and it is
    not tried again at every look (it keeps its marker for a later retry)."""
    from sqlalchemy import update

    from bot.storage.tables import StoryRow
    from bot.worker import CycleReport

    await subscribe(services, 1, "power outage in Kyiv")
    await subscribe(services, 3, "water in Odesa")
    url = feeds.publish("a")
    await add_sources(services, (url, "UNIAN"))
    worker = Worker(services, owner="w1")
    damaged = await _group_only(services, worker, url, "a1", KYIV_TITLE)
    fine = await _group_only(services, worker, url, "a2", "Odesa left without water after strike")
    async with services.db.sessions() as session, session.begin():
        await session.execute(
            update(StoryRow).where(StoryRow.id == damaged).values(facts={"categories": 7})
        )
    assert await worker.sweep_pending(CycleReport()) == 1
    assert await worker.sweep_pending(CycleReport()) == 0
    assert [r.chat_id for r in await rows(services)] == [3]
    assert await pending(services) == [damaged] and fine != damaged
    failures = [r for r in caplog.records if f"matching story {damaged} failed" in r.getMessage()]
    assert len(failures) == 1


def _matches_found(services: Services) -> float:
    return services.metrics.registry.get_sample_value("bot_rule_matches_total") or 0.0


async def test_a_round_grouped_first_is_matched_once_per_story(
    services: Services, feeds: FeedServer
) -> None:
    """Pipelined mode's two halves: the poll loop only groups (nothing is queued), and the
    matcher then matches each story once with every update of the round."""
    import asyncio

    from bot.worker import CycleReport

    await subscribe(services, 1, "power outage in Kyiv")
    await add_sources(
        services,
        (feeds.publish("unian", item("u1", KYIV_TITLE)), "UNIAN"),
        (
            feeds.publish("ukrinform", item("k1", "Strike leaves 300,000 in Kyiv without power")),
            "Ukrinform",
        ),
    )
    worker = Worker(services)
    report = await worker.poll_once(match=False)
    assert (report.polled, report.new_items, report.alerts) == (2, 2, 0)
    assert len(await pending(services)) == 2 and await rows(services) == []
    assert _matches_found(services) == 0
    sample = services.metrics.registry.get_sample_value
    grouping = sample("bot_grouping_seconds_total") or 0.0
    assert grouping > 0 and not sample("bot_story_matches_total")

    matched = await worker.match_pending(CycleReport(), stop=asyncio.Event())
    assert matched == 1  # one story, both outlets' updates at once
    assert _matches_found(services) == 1  # one rule, matched once (not once per outlet)
    assert sample("bot_story_matches_total") == 1 and (sample("bot_match_seconds_total") or 0) > 0
    assert sample("bot_grouping_seconds_total") == grouping  # matching is not grouping
    queued = await rows(services)
    assert [(r.chat_id, r.kind) for r in queued] == [(1, "alert")]
    assert "UNIAN" in queued[0].payload["text"] and "Ukrinform" in queued[0].payload["text"]
    assert await pending(services) == []


async def test_run_forever_on_postgresql_polls_and_matches_side_by_side(
    services: Services, feeds: FeedServer, engine_name: str, caplog: pytest.LogCaptureFixture
) -> None:
    """On PostgreSQL the worker loop leaves matching to a task beside it: the news still ends
    up queued exactly once, and stopping finishes cleanly with the leases given back."""
    if engine_name != "postgresql":
        pytest.skip("SQLite runs grouping and matching in turn (one writer)")
    import asyncio
    import logging

    caplog.set_level(logging.INFO, logger="bot.worker")
    await subscribe(services, 1, "power outage in Kyiv")
    await subscribe(services, 2, "outage in Kyiv")
    await add_sources(services, (feeds.publish("unian", item("u1", KYIV_TITLE)), "UNIAN"))
    worker = Worker(services)
    stop = asyncio.Event()
    loop = asyncio.create_task(worker.run_forever(tick_seconds=0.1, stop=stop))
    for _ in range(200):
        if len(await rows(services)) >= 2:
            break
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.3)  # a few more cycles: nothing more is queued
    stop.set()
    await asyncio.wait_for(loop, 15)
    queued = await rows(services)
    assert sorted((r.chat_id, r.kind) for r in queued) == [(1, "alert"), (2, "alert")]
    assert await pending(services) == []
    # The matcher task matched it (the poll cycles only grouped).
    assert any(r.getMessage().startswith("matched 1 stories: 2 alerts") for r in caplog.records)
    async with services.db.sessions() as session:
        assert all(s.lease_owner is None for s in await sources_store.list_sources(session))


async def test_the_worker_wakes_when_the_next_feed_falls_due_not_a_tick_later(
    services: Services, feeds: FeedServer
) -> None:
    """Feeds are spread over the interval, so the loop rests until the next one falls due:
    with a one-minute tick, a feed due in a second is still polled within seconds."""
    import asyncio

    await subscribe(services, 1, "power outage in Kyiv")
    await add_sources(services, (feeds.publish("unian", item("u1", KYIV_TITLE)), "UNIAN"))
    async with services.db.sessions() as session, session.begin():
        (source,) = await sources_store.list_sources(session)
        soon = utc_now() + timedelta(seconds=1)
        await sources_store.record_success(
            session, source_id=source.id, now=utc_now(), next_poll_at=soon
        )
    stop = asyncio.Event()
    loop = asyncio.create_task(Worker(services).run_forever(tick_seconds=60, stop=stop))
    try:
        for _ in range(200):
            if await rows(services):
                break
            await asyncio.sleep(0.05)
        assert [r.chat_id for r in await rows(services)] == [1]
    finally:
        stop.set()
        await asyncio.wait_for(loop, 15)


async def test_a_new_rule_hears_of_what_is_going_on_now_and_nobody_hears_twice(
    services: Services, feeds: FeedServer
) -> None:
    """Someone who adds "power outage in Kyiv" during a blackout reported an hour ago gets
    that story at once (it is inside ALERT_WINDOW_HOURS), not only when the next outlet
    reports it; yesterday's story stays quiet, and those already alerted get nothing more."""
    await subscribe(services, 1, "power outage in Kyiv")
    await subscribe(services, 2, "power outage in Kharkiv")
    old = item("o1", "Kharkiv: 45,000 without power after strike", minutes_ago=60 * 30)
    url = feeds.publish("f", old, item("n1", KYIV_TITLE, minutes_ago=60))
    await add_sources(services, (url, "UNIAN"))
    worker = Worker(services)
    await worker.poll_once()
    assert [r.chat_id for r in await rows(services)] == [1]

    await subscribe(services, 3, "outage in Kyiv", "cold in Kyiv")  # joins now, two rules
    await subscribe(services, 4, "power outage in Kharkiv")  # only old news for this one
    await subscribe(services, 5, "power outage in Kyiv digest")  # digest only: no alert
    assert len(await pending(services)) == 1  # the recent story, marked once for them all
    report = await worker.poll_once()  # the feed has nothing new
    assert (report.new_items, report.alerts, report.edits) == (0, 1, 0)
    queued = await rows(services)
    assert [(r.chat_id, r.kind) for r in queued] == [(1, "alert"), (3, "alert")]
    assert queued[1].payload["story_id"] == queued[0].payload["story_id"]
    assert await pending(services) == []
    assert (await worker.poll_once()).alerts == 0  # once only


async def test_a_story_that_cannot_be_matched_does_not_hold_up_the_others(
    services: Services, feeds: FeedServer
) -> None:
    """A story whose stored facts cannot be read back stays pending (and is logged); the
    matcher goes on with the next ones instead of retrying it forever in front of them."""
    import asyncio

    from sqlalchemy import update

    from bot.storage.tables import StoryRow
    from bot.worker import CycleReport

    await subscribe(services, 1, "power outage in Kyiv", "power outage in Kharkiv")
    await add_sources(
        services,
        (feeds.publish("a", item("a1", KYIV_TITLE)), "UNIAN"),
        (feeds.publish("b", item("b1", "Kharkiv: 45,000 without power after strike")), "RBC"),
    )
    worker = Worker(services)
    await worker.poll_once(match=False)
    broken, healthy = sorted(set(await pending(services)))
    async with services.db.sessions() as session, session.begin():
        await session.execute(
            update(StoryRow).where(StoryRow.id == broken).values(facts={"temperatures_c": ["icy"]})
        )
    report = CycleReport()
    assert await worker.match_pending(report, stop=asyncio.Event()) == 1
    assert [r.payload["story_id"] for r in await rows(services)] == [healthy]
    assert await pending(services) == [broken]
    assert report.errors == [f"match {broken}: StorageError"]


@pytest.mark.parametrize(("threshold", "stories"), [(0.06, 1), (0.9, 2)])
async def test_the_join_threshold_setting_decides_how_alike_reports_must_be(
    fake_telegram: FakeTelegramAPI, database_url: str, threshold: float, stories: int
) -> None:
    settings = make_settings(fake_telegram, database_url, story_join_threshold=threshold)
    async with opened(settings) as services:
        urls = ["https://unian.example/rss", "https://ukrinform.example/rss"]
        await add_sources(services, (urls[0], "UNIAN"), (urls[1], "Ukrinform"))
        worker = Worker(services)
        ids = {
            await _group_only(
                services, worker, urls[0], "a", "Oreshnik missile strikes Lviv overnight"
            ),
            await _group_only(
                services,
                worker,
                urls[1],
                "b",
                "Russia fires Oreshnik missile at Lviv, governor says",
                outlet="Ukrinform",
            ),
        }
    assert len(ids) == stories
