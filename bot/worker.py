"""The poll cycle: lease due feeds, poll them, store new items with their facts, group them into
stories, match the stories against every rule, and queue alerts in the outbox.

Each story update is one transaction: the story, its items' story id, the alert records and
the outbox rows commit together, so a crash never leaves an alert recorded but not queued.
Per (chat, story) there is one alert; later news edits it, and a significant escalation or a
resolution is also sent as a reply to it. Only items published within `ALERT_WINDOW_HOURS`
raise new alerts, so a new rule or a newly added feed does not flood anyone with old news.

Several workers (processes, machines) may share one PostgreSQL database: feeds are leased
(and the leases renewed while a fetch runs), the rule index catches up with changes each
cycle, and grouping is serialised by a transaction-level advisory lock under which a worker
first takes in the stories the others saved since its last look, so one event stays one story.
Only grouping and the story save hold that lock: they also write a `pending_matches` marker,
and the matching, alert records and outbox rows follow in a second transaction (under a lock
per story) that deletes the marker. A worker that dies between the two leaves the marker,
which every worker sweeps at the start of its cycle; the alerts' unique keys keep each
(chat, story) alert single however often a story is matched.

Grouping takes the fresh items of a poll cycle `GROUP_BATCH` at a time: one transaction, and
one turn of the lock, per batch. Items a poll stored but nobody grouped (the worker was killed
in between, or the batch's transaction failed) are found by any worker's cycle once they are
`UNGROUPED_AFTER` old and grouped then, so their news still reaches its chats.

On PostgreSQL `run_forever` pipelines the two steps: the poll loop only stores and groups
(milliseconds an item), and a matcher task beside it matches the stories left pending (new
stories first, then the longest waiting), each with all the updates that arrived for it
meanwhile. So a round of 1,000 feeds is
polled on time however long matching takes (at 50,000 rules a story update can mean thousands
of alerts and edits), and a story told by ten outlets in one round is matched, and its alerts
edited, once instead of ten times. Several workers' matchers share the pending stories (a
story locked by one is skipped by the others). On SQLite (one process, one writer) each batch
is grouped, then its stories matched, in turn.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import hashlib
import html
import logging
import os
import socket
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import (
    BigInteger,
    any_,
    bindparam,
    case,
    delete,
    func,
    insert,
    or_,
    select,
    text,
)
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncSession

from bot.i18n import t
from bot.render import facts_line, render_alert
from bot.roles import Backoff, guarded_loop, log_step_failure, sleep_or_stop
from bot.rulebook import MatchedRule
from bot.services import Services
from bot.storage import alerts as alerts_store
from bot.storage import items as items_store
from bot.storage import outbox
from bot.storage import sources as sources_store
from bot.storage import stories as stories_store
from bot.storage import sync as sync_store
from bot.storage.db import INSERT_CHUNK, chunked, dialect_name, utc_now
from bot.storage.locks import GROUPING_LOCK, xact_lock
from bot.storage.sources import StoredSource
from bot.storage.subscribers import Subscriber
from bot.storage.tables import PendingMatchRow, SubscriberRow
from feeds.extract import extract
from feeds.fetch import Validators
from feeds.models import Item, Severity, Signals
from feeds.poll import PollOutcome, PollPolicy, SourceState, poll_each
from rules.grouping import DEFAULT_WINDOW, StoryGrouper, StoryUpdate, UpdateKind
from rules.models import Story
from rules.rule import Delivery

log = logging.getLogger(__name__)

# A lease is renewed every third of its length while its feed is being fetched, so it can be
# short: a dead worker's feeds return to the others within this time.
LEASE_SECONDS = 60.0
SOURCES_PER_CYCLE = 50
QUEUE_DEPTH_EVERY_SECONDS = 5.0
# Shortest rest between poll cycles when a feed is (nearly) due.
MIN_REST_SECONDS = 0.05
# Stories and items are kept this long (for /test over 7 days and the digest), outbox rows a
# week.
STORY_RETENTION = timedelta(days=14)
OUTBOX_RETENTION = timedelta(days=7)
HOUSEKEEPING_EVERY = timedelta(hours=1)
RULE_CHANGE_RETENTION = timedelta(days=1)
# The class of the per-story advisory locks of the matching step (the other key is a hash of
# the story id): two workers never queue alerts for one story at once, other stories go on.
STORY_MATCH_LOCK_CLASS = 0x57A1EA
# Stories with leftover markers matched per sweep (the rest wait for the next cycle).
SWEEP_LIMIT = 200
# Pending stories the pipelined matcher takes per look: few, so that a new story grouped
# meanwhile is next rather than behind a long list; enough to pass the ones other workers
# are matching right now.
MATCH_LOOKAHEAD = 16


# Place display names remembered for rendering (a few hundred bytes each).
PLACE_NAME_CACHE = 20_000

# Fresh items grouped per transaction (the grouping lock is held for one batch at a time).
GROUP_BATCH = 50
# Items a poll stored and nobody grouped (a worker killed between the two steps, a failed
# grouping transaction) are grouped by a later cycle once they are this old; a live worker
# groups its items within seconds of storing them. Looked for this often, so many at a time.
UNGROUPED_AFTER = timedelta(minutes=2)
UNGROUPED_EVERY = timedelta(seconds=30)
UNGROUPED_LIMIT = 200

# How long a pause in finishing polls lets the news already fetched wait.
NEWS_GRACE_SECONDS = 1.0
# The pipelined matcher looks for pending stories at least this often (other workers' ones).
MATCH_TICK_SECONDS = 1.0
# Stories that fail to match in one round before the round gives up (a database outage);
# one that failed alone is tried again after a pause.
MAX_MATCH_FAILURES = 3
UNMATCHABLE_RETRY_SECONDS = 60.0
# The marker kinds of a story's follow-ups put off for `update_delay_seconds` (see
# `match_story`), by whether an escalation was among the updates; and what they stand for.
FOLLOW_UPS_LATER = {False: "later", True: "later-escalated"}
_LATER_AS = {"later": UpdateKind.JOINED.value, "later-escalated": UpdateKind.ESCALATED.value}
# How long an update of a told story waits for more outlets before chats new to the story
# are told (never longer than `update_delay_seconds`).
UPDATE_SETTLE_SECONDS = 1.0
# A story whose matching transaction takes this long is logged with where the time went.
SLOW_MATCH_SECONDS = 1.0
# On the way out, the matcher may finish the story it is matching for this long.
STOP_TASK_SECONDS = 10.0


@dataclass(slots=True)
class CycleReport:
    """What one poll cycle did (tests and logs read it)."""

    polled: int = 0
    failed: int = 0
    not_modified: int = 0
    new_items: int = 0
    story_updates: int = 0
    alerts: int = 0
    edits: int = 0
    # Edits written into a message still queued for the chat instead of queued anew.
    folded: int = 0
    replies: int = 0
    errors: list[str] = field(default_factory=list)


def poll_policy(interval_seconds: int) -> PollPolicy:
    """The poll policy for POLL_INTERVAL_SECONDS; short intervals (local tests) are honoured."""
    interval = timedelta(seconds=interval_seconds)
    return PollPolicy(
        interval=interval,
        min_interval=min(interval, timedelta(minutes=1)),
        max_interval=max(interval, timedelta(hours=1)),
    )


def fingerprint(story: Story) -> str:
    """What an alert showed, hashed: a changed fingerprint means the alert needs an edit.

    Starts with the severity and a resolved flag, which decide whether a change is worth a
    reply (see `_escalation`), then a digest of the facts the alert renders.
    """
    facts = repr(
        (
            sorted(story.categories),
            sorted(story.place_ids),
            story.coldest_c,
            story.affected,
            story.sources,
            story.resolved,
            story.title,
        )
    )
    digest = hashlib.sha256(facts.encode()).hexdigest()[:40]
    return f"s{int(story.severity)}{'r' if story.resolved else 'o'}-{digest}"


def _fingercurrentseverity(value: str) -> tuple[int, bool]:
    try:
        return int(value[1]), value[2] == "r"
    except (IndexError, ValueError):
        return 0, False


class Worker:
    """Polls feeds and turns their news into queued alerts; one per process (leases allow more)."""

    def __init__(
        self,
        services: Services,
        *,
        owner: str | None = None,
        clock: Callable[[], datetime] = utc_now,
        executor: Executor | None = None,
        lease_seconds: float = LEASE_SECONDS,
    ) -> None:
        self.services = services
        self.settings = services.settings
        self.owner = owner or f"{socket.gethostname()}:{os.getpid()}:{id(self):x}"
        self.clock = clock
        # Parses feeds (a process pool per worker process: `feeds.poll.make_parse_executor`).
        self.executor = executor
        self.lease_seconds = lease_seconds
        self.policy = poll_policy(self.settings.poll_interval_seconds)
        # One feed's whole poll, retries included: a stalled server would otherwise cost
        # every retry's read timeout (minutes) before it is reported as failing.
        self.poll_deadline = float(min(180, max(30, self.settings.poll_interval_seconds)))
        self.grouper: StoryGrouper | None = None
        # On PostgreSQL: the database time of this worker's last look at the stories table.
        self._stories_seen: datetime | None = None
        self._last_housekeeping: datetime | None = None
        self._last_left_over: datetime | None = None
        self.last_cycle_at: datetime | None = None
        self._place_names: dict[tuple[str, str], str] = {}
        # Pipelined mode (`run_forever` on PostgreSQL): set when grouping left work to match.
        self._match_wanted = asyncio.Event()
        self._queue_depth_due = 0.0  # time.monotonic() of the next depth count
        # Stories whose matching failed on their own (their data), and when to try again.
        self._unmatchable: dict[str, float] = {}

    # -- the loop --------------------------------------------------------------------------

    async def run_forever(
        self, *, tick_seconds: float | None = None, stop: asyncio.Event | None = None
    ) -> None:
        """Poll whatever is due, then sleep a tick (not after a full batch), until `stop` is set.

        Errors are logged and the loop goes on: a database outage in one line, waited out
        with a growing pause (1..10 s). On the way out the leases still held are given back.
        """
        tick = tick_seconds or min(5.0, float(self.settings.poll_interval_seconds))
        stop = stop or asyncio.Event()
        backoff = Backoff()
        pipelined = self.services.db.dialect == "postgresql"
        matcher = (
            asyncio.create_task(self._match_continuously(stop), name="matcher")
            if pipelined
            else None
        )
        try:
            while not stop.is_set():
                delay = tick
                try:
                    report = await self.poll_once(match=not pipelined)
                    backoff.succeeded()
                    self._log_cycle(report)
                    if report.polled >= SOURCES_PER_CYCLE:
                        # A full batch: more feeds are likely due. Resting a tick per 50 feeds
                        # would stretch 1,000 feeds' round past a 60 s interval.
                        delay = 0.0
                    else:
                        delay = await self.seconds_until_due(tick)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    delay = backoff.failed()
                    log_step_failure("poll cycle", exc, delay)
                if await sleep_or_stop(stop, delay):
                    break
        finally:
            if matcher is not None:
                stop.set()
                self._match_wanted.set()  # wakes the matcher now rather than at its next tick
                await _stop_task(matcher)
            await self.release_leases()

    async def seconds_until_due(self, tick: float) -> float:
        """How long to rest before the next feed falls due: at most a tick (leases of other
        workers lapse, feeds get added), at least a moment (no busy loop on a row another
        worker is leasing right now). Feeds are spread over the interval, so waking a tick
        late would add up to a tick to the news of every feed."""
        async with self.services.db.sessions() as session:
            due = await sources_store.next_due_at(session, now=self.clock())
        if due is None:
            return tick
        return min(tick, max(MIN_REST_SECONDS, (due - self.clock()).total_seconds()))

    async def _match_continuously(self, stop: asyncio.Event) -> None:
        """Pipelined mode: match pending stories whenever there are any, until `stop`."""
        await guarded_loop(
            "matching", functools.partial(self._match_round, stop), stop=stop, every_seconds=0
        )

    async def _match_round(self, stop: asyncio.Event) -> None:
        """Match what is pending; with nothing to match, wait for grouping to leave work (or
        for a tick: other workers' stories)."""
        self._match_wanted.clear()
        report = CycleReport()
        matched = await self.match_pending(report, stop=stop)
        if matched:
            log.info(
                "matched %d stories: %d alerts, %d edits, %d replies",
                matched,
                report.alerts,
                report.edits,
                report.replies,
            )
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._match_wanted.wait(), MATCH_TICK_SECONDS)

    async def release_leases(self) -> int:
        """Give back every lease this worker holds (on the way out); errors are only logged."""
        try:
            async with self.services.db.sessions() as session, session.begin():
                released = await sources_store.release_leases(session, owner=self.owner)
        except Exception as exc:  # the database may be gone; the leases then simply expire
            log.warning("could not release leases: %s", type(exc).__name__)
            return 0
        if released:
            log.info("released %d feed leases", released)
        return released

    def _log_cycle(self, report: CycleReport) -> None:
        if report.polled:
            log.info(
                "polled %d feeds (%d failed, %d unchanged): %d new items, "
                "%d alerts, %d edits, %d replies",
                report.polled,
                report.failed,
                report.not_modified,
                report.new_items,
                report.alerts,
                report.edits,
                report.replies,
            )

    async def poll_once(self, *, match: bool = True) -> CycleReport:
        """One cycle: every due source is polled once and its news fully processed; with
        `match=False` its news is grouped and left pending for the matcher task."""
        report = CycleReport()
        now = self.clock()
        await self.services.rulebook.catch_up()  # rules added elsewhere fire from this cycle on
        await self._ensure_grouper(now)
        if match:
            await self.sweep_pending(report)
        await self._group_left_over(report, match=match)
        async with self.services.db.sessions() as session, session.begin():
            leased = await sources_store.lease_due_sources(
                session,
                owner=self.owner,
                now=now,
                lease_seconds=self.lease_seconds,
                limit=SOURCES_PER_CYCLE,
            )
        if leased:
            await self._poll_leased(leased, now, report, match=match)
        await self._refresh_queue_depth()
        await self._housekeeping(now)
        self.last_cycle_at = self.clock()
        return report

    async def _poll_leased(
        self, leased: list[StoredSource], now: datetime, report: CycleReport, *, match: bool
    ) -> None:
        """Fetch the leased feeds and record each as soon as its poll ends (which gives its
        lease back); group and match the new items whenever the polls pause for a moment.

        Items that arrive together are processed oldest first, so the grouper sees a story
        unfold in the order it was told, while a stalled feed delays no other feed's news
        by more than `NEWS_GRACE_SECONDS`. Leases are held for the fetch, not the matching.
        """
        held = {source.id for source in leased}
        keeper = asyncio.create_task(self._keep_leases(held), name="lease-keeper")
        finished: asyncio.Queue[tuple[int, PollOutcome] | None] = asyncio.Queue()

        async def produce() -> None:
            try:
                async for entry in poll_each(
                    self.services.http,
                    [_state(source) for source in leased],
                    limits=self.services.fetch_limits,
                    policy=self.policy,
                    now=now,
                    executor=self.executor,
                    deadline=self.poll_deadline,
                ):
                    await finished.put(entry)
            finally:
                await finished.put(None)

        producer = asyncio.create_task(produce(), name="feed-polls")
        fresh: list[tuple[Item, Signals, int]] = []
        try:
            while True:
                try:
                    entry = await asyncio.wait_for(finished.get(), NEWS_GRACE_SECONDS)
                except TimeoutError:  # the rest are slow: don't let their news wait
                    await self._process_fresh(fresh, report, match=match)
                    continue
                if entry is None:
                    break
                source = leased[entry[0]]
                fresh.extend(await self._record_safely(source, entry[1], report))
                held.discard(source.id)
            await self._process_fresh(fresh, report, match=match)
        finally:
            for task in (keeper, producer):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task

    async def _record_safely(
        self, source: StoredSource, outcome: PollOutcome, report: CycleReport
    ) -> list[tuple[Item, Signals, int]]:
        try:
            return await self._record_outcome(source, outcome, report)
        except Exception as exc:  # one feed's bad day must not stop the others
            log.exception("processing %s failed", source.url)
            report.errors.append(f"{source.url}: {type(exc).__name__}: {exc}")
            async with self.services.db.sessions() as session, session.begin():
                await sources_store.release_lease(session, source_id=source.id, owner=self.owner)
            return []

    async def _process_fresh(
        self,
        fresh: list[tuple[Item, Signals, int]],
        report: CycleReport,
        *,
        match: bool,
        left_over: bool = False,
    ) -> None:
        """Group (and match, or leave to the matcher) the buffered items, oldest first, and
        empty the buffer. Grouped `GROUP_BATCH` items to a transaction; a batch whose grouping
        fails is logged and left for `_group_left_over`, and the next batch goes on."""
        batch = sorted(fresh, key=lambda entry: (entry[0].published, entry[2]))
        fresh.clear()
        for start in range(0, len(batch), GROUP_BATCH):
            part = batch[start : start + GROUP_BATCH]
            try:
                updates = await self.group_items(part, report=report, left_over=left_over)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning(
                    "grouping %d items failed (%s); they are grouped again in %.0f s",
                    len(part),
                    type(exc).__name__,
                    UNGROUPED_AFTER.total_seconds(),
                )
                report.errors.append(f"grouping: {type(exc).__name__}")
                continue
            if not updates:
                continue
            if not match:
                self._match_wanted.set()
                continue
            for story_id in dict.fromkeys(update.story.id for update in updates):
                await self._match_now(story_id, report)

    async def _group_left_over(self, report: CycleReport, *, match: bool) -> int:
        """Group the items a poll stored but whose grouping never happened (the worker died
        in between, or the grouping transaction failed), once they are `UNGROUPED_AFTER` old:
        their news is not lost. Looked for every `UNGROUPED_EVERY`; returns how many."""
        now = self.clock()
        last = self._last_left_over
        if last is not None and now - last < UNGROUPED_EVERY:
            return 0
        self._last_left_over = now
        window = self.grouper.window if self.grouper is not None else DEFAULT_WINDOW
        async with self.services.db.sessions() as session:
            found = await items_store.left_ungrouped(
                session,
                published_after=now - window,
                fetched_before=now - UNGROUPED_AFTER,
                limit=UNGROUPED_LIMIT,
            )
        if not found:
            return 0
        log.warning("grouping %d items an earlier poll stored and left ungrouped", len(found))
        entries = []
        for stored, url, name in found:
            item = stored.to_item(source_url=url, source_name=name)
            signals = stored.signals if stored.signals is not None else extract(item)
            entries.append((item, signals, stored.id))
        await self._process_fresh(entries, report, match=match, left_over=True)
        return len(found)

    async def _keep_leases(self, held: set[int]) -> None:
        """Renew the leases of feeds still being fetched, every third of the lease."""
        while True:
            await asyncio.sleep(self.lease_seconds / 3)
            if not held:
                continue
            try:
                async with self.services.db.sessions() as session, session.begin():
                    await sources_store.renew_leases(
                        session,
                        owner=self.owner,
                        source_ids=list(held),
                        until=self.clock() + timedelta(seconds=self.lease_seconds),
                    )
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the lease then lapses; at worst a feed is polled twice
                log.warning("could not renew feed leases: %s", type(exc).__name__)

    # -- one source ------------------------------------------------------------------------

    async def _record_outcome(
        self, source: StoredSource, outcome: PollOutcome, report: CycleReport
    ) -> list[tuple[Item, Signals, int]]:
        """Store the poll's result and its new items; returns (item, signals, id) of those."""
        metrics = self.services.metrics
        now = self.clock()
        report.polled += 1
        metrics.record_poll(ok=outcome.ok, not_modified=outcome.not_modified, at=now)
        if not outcome.ok:
            report.failed += 1
            async with self.services.db.sessions() as session, session.begin():
                await sources_store.record_failure(
                    session,
                    source_id=source.id,
                    now=now,
                    error=str(outcome.error),
                    next_poll_at=outcome.next_poll_at,
                )
            return []
        if outcome.not_modified:
            report.not_modified += 1

        items = [_with_source(item, source) for item in outcome.items]
        signals = await asyncio.to_thread(_extract_all, items)
        validators = outcome.state.validators
        async with self.services.db.sessions() as session, session.begin():
            new = await items_store.add_items(
                session, source_id=source.id, items=items, signals=signals, fetched_at=now
            )
            await sources_store.record_success(
                session,
                source_id=source.id,
                now=now,
                next_poll_at=outcome.next_poll_at,
                etag=validators.etag,
                last_modified=validators.last_modified,
                content_hash=validators.content_hash,
            )
            if outcome.permanent_url and outcome.permanent_url != source.url:
                moved = await sources_store.update_source_url(
                    session, source_id=source.id, url=outcome.permanent_url
                )
                log.info(
                    "feed %s moved permanently to %s: %s",
                    source.url,
                    outcome.permanent_url,
                    "URL updated" if moved else "already known there, this one disabled",
                )
        report.new_items += len(new)
        metrics.items.inc(len(new))
        by_key = {item.key: item for item in items}
        return [(by_key[s.key], signals[s.key], s.id) for s in new]

    # -- one item -> story -> alerts -------------------------------------------------------

    async def process_item(
        self, item: Item, signals: Signals, *, item_id: int, report: CycleReport
    ) -> StoryUpdate | None:
        """Group a stored item into its story and queue what that story's news calls for.

        On PostgreSQL the whole step holds the grouping lock, after taking in the stories
        other workers saved meanwhile; if it fails, the grouper is rebuilt from the database.
        """
        update = await self.group(item, signals, item_id=item_id, report=report)
        if update is not None:
            await self._match_now(update.story.id, report)
        return update

    async def _match_now(self, story_id: str, report: CycleReport) -> None:
        """Match a story just grouped (the one-process loop); a failure leaves it pending."""
        try:
            await self.match_story(story_id, report=report, wait=True)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            # The story is saved and marked: the next cycle's sweep matches it. Going on with
            # the other items keeps them from waiting for that (a deadlock with the sender's
            # update of the same alert rows, a dropped connection).
            log.warning(
                "matching story %s failed (%s); it stays pending for the next cycle",
                story_id,
                type(exc).__name__,
            )
            report.errors.append(f"match {story_id}: {type(exc).__name__}")

    async def group(
        self, item: Item, signals: Signals, *, item_id: int, report: CycleReport
    ) -> StoryUpdate | None:
        """Step 1 alone for one stored item (see `group_items`); None for a duplicate."""
        updates = await self.group_items([(item, signals, item_id)], report=report)
        return updates[0] if updates else None

    async def group_items(
        self,
        entries: Sequence[tuple[Item, Signals, int]],
        *,
        report: CycleReport,
        left_over: bool = False,
    ) -> list[StoryUpdate]:
        """Step 1, under the grouping lock, in one transaction: each stored item (in the
        given order) joins its story; each story touched is saved once, its items attached
        and a pending marker left per update for a matcher. Returns the updates (duplicates
        left out). `left_over` items are first checked to be ungrouped still (another worker
        may have grouped them). If it fails, the grouper is rebuilt from the database."""
        if not entries:
            return []
        await self._ensure_grouper(self.clock())
        started = time.monotonic()
        try:
            return await self._group_items(entries, report=report, left_over=left_over)
        except BaseException:
            # The grouper may hold a change the database rolled back: start again from storage.
            self.grouper = None
            raise
        finally:
            self.services.metrics.grouping_seconds.inc(time.monotonic() - started)

    async def _group_items(
        self,
        entries: Sequence[tuple[Item, Signals, int]],
        *,
        report: CycleReport,
        left_over: bool,
    ) -> list[StoryUpdate]:
        assert self.grouper is not None
        now = self.clock()
        fresh_since = now - timedelta(hours=self.settings.alert_window_hours)
        updates: list[StoryUpdate] = []
        stories: dict[str, Story] = {}
        members: dict[str, list[int]] = {}
        markers: list[dict[str, Any]] = []
        async with self.services.db.sessions() as session, session.begin():
            saved_at = await self._catch_up_stories(session, now)
            # Under the lock no one else groups: what is ungrouped now stays ours. A poll's own
            # fresh items need no look (nobody takes them up before UNGROUPED_AFTER).
            if left_over:
                ungrouped = await items_store.still_ungrouped(
                    session, item_ids=[item_id for _, _, item_id in entries]
                )
                entries = [entry for entry in entries if entry[2] in ungrouped]
            for item, signals, item_id in entries:
                update = self.grouper.add(item, signals)
                story = update.story
                members.setdefault(story.id, []).append(item_id)
                if update.kind is UpdateKind.DUPLICATE:
                    continue  # attached to the story that has it, nothing new to tell
                updates.append(update)
                stories[story.id] = story  # the latest version is the one saved
                report.story_updates += 1
                self.services.metrics.stories.labels(update.kind.value).inc()
                markers.append(
                    {
                        "story_id": story.id,
                        "kind": update.kind.value,
                        "fresh": item.published >= fresh_since,
                        "created_at": now,
                    }
                )
            for story in stories.values():
                await stories_store.save_story(session, story=story, now=saved_at)
            # A duplicate joins the (stored) story that has it: else it would look ungrouped.
            for story_id, item_ids in members.items():
                await items_store.assign_story(session, item_ids=item_ids, story_id=story_id)
            if markers:
                await session.execute(insert(PendingMatchRow), markers)
        return updates

    async def match_story(
        self, story_id: str, *, report: CycleReport, wait: bool = True
    ) -> int | None:
        """Step 2, outside the grouping lock: match the story as stored now against every rule
        and queue its alerts, edits and replies, deleting its pending markers in the same
        transaction. Returns how many messages were queued; None when the story's lock was
        busy (`wait=False`) or no marker was left (another worker did it already)."""
        now = self.clock()
        queued = 0
        started = time.monotonic()
        steps: dict[str, float] = {}
        async with self.services.db.sessions() as session, session.begin():
            if not await _story_lock(session, story_id, wait=wait):
                return None
            await _plan_each_statement(session)
            # Deleted first (undone if this transaction fails): on SQLite a write as the first
            # statement takes the write lock at once, instead of a read that later fails to
            # upgrade while the sender writes.
            markers = sorted(
                (
                    await session.execute(
                        delete(PendingMatchRow)
                        .where(PendingMatchRow.story_id == story_id)
                        .returning(
                            PendingMatchRow.id,
                            PendingMatchRow.kind,
                            PendingMatchRow.fresh,
                            PendingMatchRow.created_at,
                        )
                    )
                ).all()
            )
            if not markers:
                return None
            # The first update not yet followed up on: until it is `update_delay_seconds` old,
            # only chats new to the story are told (their first alert is news); the edits and
            # replies of chats told already wait for it, with every update meanwhile.
            delay = timedelta(seconds=self.settings.update_delay_seconds)
            waiting_since = min(row.created_at for row in markers)
            follow_ups = delay <= timedelta(0) or waiting_since <= now - delay
            story = await stories_store.get_story(session, story_id=story_id)
            if story is not None:
                steps["read"] = time.monotonic()
                matched = self.services.rulebook.match(story)
                steps["rules"] = time.monotonic()
                self.services.metrics.matches.inc(len(matched))
                kinds = [
                    UpdateKind(_LATER_AS.get(row.kind, row.kind))
                    for row in markers
                    if row.kind != stories_store.RULE_ADDED
                ]
                # Of several updates since the last match, an escalation decides the reply; a
                # rule added is no update of the story (nothing to reply about).
                kind = (
                    UpdateKind.ESCALATED
                    if UpdateKind.ESCALATED in kinds
                    else (kinds[-1] if kinds else UpdateKind.JOINED)
                )
                fresh = any(row.fresh for row in markers)
                queued, deferred = await self._queue_alerts(
                    session,
                    story,
                    StoryUpdate(story=story, kind=kind),
                    matched,
                    fresh=fresh,
                    now=now,
                    report=report,
                    follow_ups=follow_ups,
                )
                if deferred:
                    # Back in the queue as of the first update, due once that is settled.
                    await session.execute(
                        insert(PendingMatchRow).values(
                            story_id=story_id,
                            kind=FOLLOW_UPS_LATER[kind is UpdateKind.ESCALATED],
                            fresh=fresh,
                            created_at=waiting_since,
                        )
                    )
                steps["queue"] = time.monotonic()
        took = time.monotonic() - started
        self.services.metrics.match_seconds.inc(took)
        if steps:
            self.services.metrics.story_matches.inc()
        if took >= SLOW_MATCH_SECONDS and steps:
            # Its alerts are out of the sender's sight until this commit: worth knowing why.
            log.info(
                "story %s: %d messages queued in %.2f s (read %.2f, rules %.2f, queue %.2f,"
                " commit %.2f)",
                story_id,
                queued,
                took,
                steps["read"] - started,
                steps["rules"] - steps["read"],
                steps.get("queue", steps["rules"]) - steps["rules"],
                started + took - steps.get("queue", steps["rules"]),
            )
        if queued:
            self.services.notify_outbox()
        return queued

    async def sweep_pending(self, report: CycleReport) -> int:
        """Match the stories whose markers a worker left behind (it died between the two
        steps); a story another worker is matching right now is left to it. Returns how many
        stories were matched here."""
        matched = await self._match_some_pending(report)
        if matched:
            log.info("matched %d stories left pending by an earlier cycle", matched)
        return matched

    async def match_pending(self, report: CycleReport, *, stop: asyncio.Event) -> int:
        """Match pending stories, oldest first, until none is left that another worker is
        not matching right now (or `stop`); returns how many were matched here."""
        total = 0
        while not stop.is_set():
            # Rules added elsewhere first: a story marked for a new rule is matched with it.
            await self.services.rulebook.catch_up()
            matched = await self._match_some_pending(report, stop=stop, limit=MATCH_LOOKAHEAD)
            if not matched:
                break
            total += matched
        return total

    async def _match_some_pending(
        self,
        report: CycleReport,
        *,
        stop: asyncio.Event | None = None,
        limit: int = SWEEP_LIMIT,
    ) -> int:
        now = time.monotonic()
        skipped = [s for s, until in self._unmatchable.items() if until > now]
        # Stories nobody has been told of yet first (a marker of a new story), then the
        # longest waiting: an update only edits alerts that are out, a new story's alerts
        # are the news. The ones that just failed wait for their retry.
        untold_first = func.min(case((PendingMatchRow.kind == UpdateKind.NEW.value, 0), else_=1))
        # A new story is due at once. An update of a told one is due once it is
        # UPDATE_SETTLE_SECONDS old, with the outlets that came meanwhile (several workers
        # would otherwise match a growing story once per outlet); the follow-ups put off by
        # `match_story`, once their first update is `update_delay_seconds` old.
        now_at = self.clock()
        delay = self.settings.update_delay_seconds
        put_off = PendingMatchRow.kind.in_(list(FOLLOW_UPS_LATER.values()))
        update_at = func.min(case((put_off, None), else_=PendingMatchRow.created_at))
        due = or_(
            untold_first == 0,
            update_at <= now_at - timedelta(seconds=min(UPDATE_SETTLE_SECONDS, delay)),
            func.min(PendingMatchRow.created_at) <= now_at - timedelta(seconds=delay),
        )
        async with self.services.db.sessions() as session:
            rows = await session.execute(
                select(PendingMatchRow.story_id)
                .where(PendingMatchRow.story_id.not_in(skipped))
                .group_by(PendingMatchRow.story_id)
                .having(due)
                .order_by(untold_first, func.min(PendingMatchRow.id))
                .limit(limit)
            )
            story_ids = [row.story_id for row in rows]
        matched = failed = 0
        for story_id in story_ids:
            if stop is not None and stop.is_set():
                break
            try:
                if await self.match_story(story_id, report=report, wait=False) is not None:
                    matched += 1
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                # One story that cannot be matched (it stays pending, retried next round)
                # must not hold up the others; several in a row is an outage: the caller's
                # backoff waits it out.
                failed += 1
                if failed >= MAX_MATCH_FAILURES:
                    raise
                log.warning(
                    "matching story %s failed (%s); it stays pending, tried again in %.0f s",
                    story_id,
                    type(exc).__name__,
                    UNMATCHABLE_RETRY_SECONDS,
                )
                if len(self._unmatchable) > 1000:
                    self._unmatchable.clear()
                self._unmatchable[story_id] = now + UNMATCHABLE_RETRY_SECONDS
                report.errors.append(f"match {story_id}: {type(exc).__name__}")
        return matched

    async def _catch_up_stories(self, session: AsyncSession, now: datetime) -> datetime:
        """PostgreSQL: take the grouping lock (until this transaction ends) and fold in the
        stories other workers saved since this one last looked; returns the time to save at.

        Every story save happens under this lock at a database time read under it, so "saved
        after my last look" is exactly "updated_at later than the time I read then".
        """
        if self.services.db.dialect != "postgresql":
            return now
        assert self.grouper is not None
        await xact_lock(session, GROUPING_LOCK)
        saved_at = await sync_store.database_clock(session)
        if self._stories_seen is not None:
            changed = await sync_store.stories_updated_since(
                session,
                since=self._stories_seen,
                last_published_after=now - self.grouper.window,
            )
            self.grouper.refresh(changed)
        self._stories_seen = saved_at
        return saved_at

    async def _queue_alerts(
        self,
        session: AsyncSession,
        story: Story,
        update: StoryUpdate,
        matched: Sequence[MatchedRule],
        *,
        fresh: bool,
        now: datetime,
        report: CycleReport,
        follow_ups: bool = True,
    ) -> tuple[int, bool]:
        """Queue the story's alerts to the chats new to it and, with `follow_ups`, the edits
        and replies of the chats told already; returns how many messages were queued, and
        whether follow-ups were left for later."""
        # One alert per chat: the first instant rule (lowest id) is the one the message names.
        per_chat: dict[int, MatchedRule] = {}
        for match in matched:
            if match.delivery in (Delivery.INSTANT, Delivery.BOTH):
                per_chat.setdefault(match.chat_id, match)
        if not per_chat:
            return 0, False
        # Chats whose alert went out in one message with others: that message is not edited.
        earlier, bundled = await alerts_store.alert_states_for_story(session, story_id=story.id)
        current = fingerprint(story)
        # Only chats with something new to see: a first alert (fresh news) or changed facts.
        changed = {c for c in per_chat if c in earlier and earlier[c] != current}
        due = {
            chat_id: match
            for chat_id, match in per_chat.items()
            if (chat_id in changed and follow_ups) or (chat_id not in earlier and fresh)
        }
        deferred = bool(changed) and not follow_ups
        if not due:
            return 0, deferred
        chats = await _subscribers(session, list(due))
        refreshed: list[int] = []  # bundled chats whose alert's facts changed
        published = story.last_published.isoformat()
        queued = 0
        new_alerts: dict[int, dict[str, Any]] = {}
        edits: list[outbox.NewMessage] = []
        replies: list[outbox.NewMessage] = []
        # Thousands of chats share a language and a rule text, and a reply depends on the
        # language alone: each is rendered once per story update.
        texts: dict[tuple[str, str], str] = {}
        reply_texts: dict[tuple[str, str], str] = {}
        # Edits of sent alerts wait a little: the next outlets' news folds into the same edit
        # (see enqueue_story_edits) and fresh alerts, queued meanwhile, go out before them.
        # An escalation reply waits as long, so that it follows the edit it points at.
        edit_delay = self.settings.edit_delay_seconds
        edit_at = now + timedelta(seconds=edit_delay) if edit_delay > 0 else None
        # In chat order: two transactions that update the same alert rows in one order cannot
        # deadlock each other.
        for chat_id, match in sorted(due.items()):
            previous = earlier.get(chat_id)
            chat = chats.get(chat_id)
            if chat is None or not chat.active or chat.paused:
                continue
            lang = chat.language
            silent = chat.in_quiet_hours(now) and story.severity < Severity.CRITICAL
            body = texts.get((lang, match.text))
            if body is None:
                body = texts[(lang, match.text)] = render_alert(
                    story, lang=lang, rule_text=match.text, place_name=self._place_name
                ).text
            markup = _pause_button(lang, match.rule_id)
            if previous is None:
                new_alerts[chat_id] = {
                    "text": body,
                    "parse_mode": "HTML",
                    "disable_notification": silent,
                    "reply_markup": markup,
                    "story_id": story.id,
                    "rule_id": match.rule_id,
                    "published_at": published,
                    "news_at": published,
                }
                continue
            if chat_id in bundled:
                refreshed.append(chat_id)
            else:
                edits.append(
                    outbox.NewMessage(
                        chat_id=chat_id,
                        kind="edit",
                        payload={
                            "text": body,
                            "parse_mode": "HTML",
                            "reply_markup": markup,
                            "story_id": story.id,
                            "news_at": published,
                        },
                        dedupe_key=f"edit:{chat_id}:{story.id}:{current}",
                        not_before=edit_at,
                    )
                )
            reason = _escalation(previous, story, update)
            if reason is not None and fresh:
                reply = reply_texts.get((reason, lang))
                if reply is None:
                    reply = reply_texts[(reason, lang)] = self._reply_text(reason, story, lang)
                replies.append(
                    outbox.NewMessage(
                        chat_id=chat_id,
                        kind="reply",
                        payload={
                            "text": reply,
                            "parse_mode": "HTML",
                            "disable_notification": silent,
                            "story_id": story.id,
                        },
                        dedupe_key=f"reply:{chat_id}:{story.id}:{current}",
                        not_before=edit_at,  # after the edit it points at, never before
                    )
                )
        followed = [edit.chat_id for edit in edits] + refreshed
        if followed:
            # Alert rows before outbox rows: the sender locks them in that order too.
            await alerts_store.set_fingerprints(
                session, story_id=story.id, chat_ids=followed, fingerprint=current
            )
        if edits:
            # A chat whose alert or last edit still waits in the queue gets the new text in
            # that message: the latest figures once, not every step in between.
            edited = await outbox.enqueue_story_edits(
                session,
                edits=edits,
                waiting_keys={
                    edit.chat_id: (
                        f"alert:{edit.chat_id}:{story.id}",
                        f"edit:{edit.chat_id}:{story.id}:{earlier[edit.chat_id]}",
                    )
                    for edit in edits
                },
                now=now,
            )
            report.edits += len(edited.created)
            report.folded += len(edited.folded)
            queued += len(edited.created)
            # A chat whose alert is still queued will get it with the new figures: it has
            # seen nothing of the story yet, so "escalated" would only ring twice.
            replies = [r for r in replies if r.chat_id not in edited.folded_into_alert]
        if replies:  # after the edits: the fresh figures first, then the reply pointing at them
            replied = await outbox.enqueue_bulk(session, messages=replies, now=now)
            report.replies += len(replied)
            queued += len(replied)
        if new_alerts:
            # A story can reach thousands of chats: claim and queue them in bulk statements.
            claimed = await alerts_store.record_alerts(
                session, story_id=story.id, chat_ids=list(new_alerts), fingerprint=current, now=now
            )
            created = await outbox.enqueue_bulk(
                session,
                messages=[
                    outbox.NewMessage(
                        chat_id=chat_id,
                        kind="alert",
                        payload=payload,
                        dedupe_key=f"alert:{chat_id}:{story.id}",
                    )
                    for chat_id, payload in new_alerts.items()
                    if chat_id in claimed
                ],
                now=now,
            )
            report.alerts += len(created)
            queued += len(created)
        return queued, deferred

    def _reply_text(self, reason: str, story: Story, lang: str) -> str:
        facts = facts_line(story, lang=lang, place_name=self._place_name)
        headline = story.title if len(story.title) <= 300 else story.title[:299] + "…"
        return t(
            lang,
            f"worker.{reason}",
            headline=html.escape(headline),
            facts=html.escape(facts),
        )

    def _place_name(self, place_id: str, lang: str) -> str:
        # Every alert text names its places; the gazetteer's lookup is the costly part of
        # rendering, and the places in the news are few.
        key = (place_id, lang)
        name = self._place_names.get(key)
        if name is None:
            if len(self._place_names) >= PLACE_NAME_CACHE:
                self._place_names.clear()
            name = self._place_names[key] = self.services.gazetteer.display_name(place_id, lang)
        return name

    # -- state -----------------------------------------------------------------------------

    async def _ensure_grouper(self, now: datetime) -> None:
        """Reopen the stories of the grouping window, so news after a restart joins them.

        On PostgreSQL this reads under the grouping lock, and notes the database time of the
        read, from which `_catch_up_stories` continues.
        """
        if self.grouper is not None:
            return
        grouper = StoryGrouper(threshold=self.settings.story_join_threshold)
        async with self.services.db.sessions() as session, session.begin():
            seen: datetime | None = None
            if self.services.db.dialect == "postgresql":
                await xact_lock(session, GROUPING_LOCK)
                seen = await sync_store.database_clock(session)
            stored = await stories_store.stories_since(session, since=now - grouper.window)
        grouper.seed(stored)
        self.grouper, self._stories_seen = grouper, seen

    async def _refresh_queue_depth(self) -> None:
        """The outbox depth gauge, at most every QUEUE_DEPTH_EVERY_SECONDS: counting a queue
        of tens of thousands costs tens of milliseconds of database time, and with feeds
        spread over the interval a poll cycle ends several times a second."""
        now = time.monotonic()
        if now < self._queue_depth_due:
            return
        self._queue_depth_due = now + QUEUE_DEPTH_EVERY_SECONDS
        async with self.services.db.sessions() as session:
            self.services.metrics.queue_depth.set(await outbox.depth(session))

    async def _housekeeping(self, now: datetime) -> None:
        last = self._last_housekeeping
        if last is not None and now - last < HOUSEKEEPING_EVERY:
            return
        self._last_housekeeping = now
        async with self.services.db.sessions() as session, session.begin():
            await outbox.purge_finished(session, before=now - OUTBOX_RETENTION)
            await stories_store.delete_stories_before(session, before=now - STORY_RETENTION)
            # Their items, and items no story took, go too: the table would grow for ever.
            await items_store.delete_items_before(session, before=now - STORY_RETENTION)
            await sync_store.purge_rule_changes(session, before=now - RULE_CHANGE_RETENTION)


def _escalation(previous: str, story: Story, update: StoryUpdate) -> str | None:
    """ "resolved" or "escalated" when the news deserves a reply, not only a silent edit."""
    old_severity, old_resolved = _fingercurrentseverity(previous)
    if story.resolved and not old_resolved:
        return "resolved"
    if (
        update.kind is UpdateKind.ESCALATED
        and int(story.severity) > old_severity
        and story.severity >= Severity.HIGH
    ):
        return "escalated"
    return None


def _pause_button(lang: str, rule_id: int) -> dict[str, Any]:
    return {
        "inline_keyboard": [
            [{"text": _pause_label(lang), "callback_data": f"rule:pause:{rule_id}"}]
        ]
    }


@functools.cache
def _pause_label(lang: str) -> str:
    # One label per language for the thousands of buttons of one story.
    return t(lang, "alert.pause_rule")


def _state(source: StoredSource) -> SourceState:
    return SourceState(
        source=source.to_source(),
        validators=Validators(
            etag=source.etag,
            last_modified=source.last_modified,
            content_hash=source.content_hash,
        ),
        consecutive_failures=source.consecutive_failures,
    )


def _with_source(item: Item, source: StoredSource) -> Item:
    if item.source_name and item.source_url:
        return item
    return replace(
        item, source_url=item.source_url or source.url, source_name=item.source_name or source.name
    )


def _extract_all(items: Sequence[Item]) -> dict[str, Signals]:
    return {item.key: extract(item) for item in items}


async def _subscribers(session: AsyncSession, chat_ids: Sequence[int]) -> dict[int, Subscriber]:
    columns = tuple(SubscriberRow.__table__.c)
    found: dict[int, Subscriber] = {}
    on_postgres = dialect_name(session) == "postgresql"
    for chunk in chunked(list(chat_ids), 5000 if on_postgres else INSERT_CHUNK):
        # PostgreSQL: one array parameter instead of thousands of IN placeholders.
        chats = (
            SubscriberRow.chat_id == any_(bindparam("chats", list(chunk), type_=ARRAY(BigInteger)))
            if on_postgres
            else SubscriberRow.chat_id.in_(list(chunk))
        )
        rows = await session.execute(select(*columns).where(chats))
        for row in rows:
            chat = Subscriber(**row._mapping)
            found[chat.chat_id] = chat
    return found


async def _plan_each_statement(session: AsyncSession) -> None:
    """PostgreSQL: plan this transaction's statements for their own arguments. A prepared
    statement otherwise settles on a generic plan made while the outbox and alerts tables were
    small (a sequential scan), whose cost then grows with them: seconds per story after an
    hour of news, until an ANALYZE happens to invalidate it."""
    if dialect_name(session) == "postgresql":
        await session.execute(text("SET LOCAL plan_cache_mode = force_custom_plan"))


async def _stop_task(task: asyncio.Task[None]) -> None:
    """Let `task`, told to stop, finish its step (a match is one transaction), then cancel it."""
    with contextlib.suppress(TimeoutError, asyncio.CancelledError, Exception):
        await asyncio.wait_for(asyncio.shield(task), STOP_TASK_SECONDS)
    if not task.done():
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task


async def _story_lock(session: AsyncSession, story_id: str, *, wait: bool) -> bool:
    """PostgreSQL: the transaction-level lock of one story's matching step (True at once on
    SQLite, where one process does everything); `wait=False` gives up if it is held."""
    if dialect_name(session) != "postgresql":
        return True
    function = "pg_advisory_xact_lock" if wait else "pg_try_advisory_xact_lock"
    result = await session.execute(
        text(f"SELECT {function}(:cls, hashtext(:story_id))"),
        {"cls": STORY_MATCH_LOCK_CLASS, "story_id": story_id},
    )
    return True if wait else bool(result.scalar_one())
