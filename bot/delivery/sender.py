"""The sender: drains the outbox into Telegram within its limits and records every outcome.

Outcomes: delivered -> `sent` (an alert's message id is kept for later edits); `RetryAfter`
-> every send pauses for the time Telegram asked, the row is retried; transient errors
(network, time-outs, 5xx) -> retried with exponential backoff, given up after
`MAX_ATTEMPTS`; `Forbidden` (blocked, kicked, deleted) -> the chat is deactivated and its
queued rows dropped; `ChatMigrated` -> the chat (rules, alerts, queue) moves to the new id and
the row is retried there; other `BadRequest`s -> `failed` ("message is not modified" counts as
sent: the edit is already showing).

Crash safety (at most one duplicate per chat): a row is claimed (`sending`) before it is sent
and marked `sent` after Telegram answered, in a commit made at most `FLUSH_SECONDS` later.
A crash between the two leaves the row `sending`; the next start puts it back in the queue,
so it is sent again. The sender never has two messages to one chat in flight, so a crash
can repeat at most the one message per chat that was in flight; no queued message is lost.

Exactly one sender may run per deployment (Telegram's limits are per token): the `sender`
role holds a PostgreSQL advisory lock while it runs this (bot/commands/sender.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import random
import time
import warnings
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import Any, cast

from sqlalchemy import Table, bindparam, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from telegram import Bot, InlineKeyboardMarkup, LinkPreviewOptions, Message, ReplyParameters
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)

from bot.delivery.limits import SendLimits, SendScheduler
from bot.roles import Backoff, log_step_failure
from bot.services import Services
from bot.storage import alerts as alerts_store
from bot.storage import outbox
from bot.storage import subscribers as subscribers_store
from bot.storage.db import utc_now
from bot.storage.outbox import OutboxMessage
from bot.storage.tables import AlertRow, OutboxRow, RuleRow, SubscriberRow

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 12
BACKOFF_BASE_SECONDS = 2.0
BACKOFF_MAX_SECONDS = 600.0
CLAIM_SECONDS = 120.0
FLUSH_SECONDS = 0.25
# Sends in flight (see `_Window`): adapted between these bounds, starting here.
MIN_IN_FLIGHT = 2
MAX_IN_FLIGHT = 200
INITIAL_IN_FLIGHT = 16
# Round trips up to this many times the shortest are the network's, not our own queueing.
RTT_TOLERANCE = 2.0
# Sends the limit allows beyond the estimated need, so that it can grow.
IN_FLIGHT_QUEUE = 2.0
# Round trips per sample window: the shortest of the last one or two windows is used.
ROUND_TRIP_WINDOW = 256
# While the original alert is still queued, an edit or reply to it waits this long.
WAIT_FOR_ORIGINAL_SECONDS = 1.0


# A late wake-up (a busy event loop) is made up for, by at most this much: the pace holds at
# 1000/s, and no window of one second sees more than the limit (see `_Pace`).
CATCH_UP_SECONDS = 0.02
# Paced a little under the limit, so that catching up never crosses it.
HEADROOM = 0.97


def send_limits_for(per_second: float) -> SendLimits:
    return SendLimits(per_second=per_second)


class _Pace:
    """The overall pace: one slot every 1/rate seconds; a slot missed by a late wake-up may be
    used up to `CATCH_UP_SECONDS` later (SendScheduler's global pace forgets missed slots,
    which at 1000/s loses most of them to the event loop's latency)."""

    def __init__(self, per_second: float, clock: Callable[[], float]) -> None:
        self.interval = 1.0 / (per_second * HEADROOM)
        self.clock = clock
        self.next_slot = 0.0

    def wait(self) -> float:
        return max(0.0, self.next_slot - self.clock())

    def take(self) -> None:
        self.next_slot = max(self.next_slot, self.clock() - CATCH_UP_SECONDS) + self.interval


class _Window:
    """How many sends may be in flight, adapted to the round trips seen (a gradient limit, as
    in TCP Vegas or Netflix's concurrency-limits).

    Round trips near the shortest recently seen mean the network is the wait: the limit may
    grow (while it is what holds sends back). Round trips much longer than that are queueing
    in our own event loop: more concurrency only lengthens them, and every open connection
    costs the HTTP pool work on each request (httpcore scans all its connections), so the
    limit shrinks. Measured at 1000/s against a local server: 200 in flight cost 2.2 ms of
    CPU a message, 8 in flight 1.2 ms.
    """

    def __init__(self) -> None:
        self.limit = float(INITIAL_IN_FLIGHT)
        self.count = 0
        self._freed = asyncio.Event()
        self._recent = 0.0  # smoothed round trip
        self._samples = 0
        self._window_min = math.inf
        self._previous_min = math.inf

    @property
    def full(self) -> bool:
        return self.count >= int(self.limit)

    async def acquire(self) -> None:
        while self.full:
            self._freed.clear()
            await self._freed.wait()
        self.count += 1

    def release(self, round_trip: float | None, *, was_full: bool) -> None:
        self.count -= 1
        if round_trip is not None:
            self._observe(round_trip, was_full=was_full)
        self._freed.set()

    def _observe(self, round_trip: float, *, was_full: bool) -> None:
        self._recent = round_trip if not self._recent else 0.9 * self._recent + 0.1 * round_trip
        self._window_min = min(self._window_min, round_trip)
        self._samples += 1
        if self._samples >= ROUND_TRIP_WINDOW:
            # A new window, so that a route that became slower is noticed.
            self._previous_min, self._window_min, self._samples = self._window_min, math.inf, 0
        shortest = min(self._window_min, self._previous_min)
        gradient = max(0.5, min(1.0, RTT_TOLERANCE * shortest / self._recent))
        wanted = self.limit * gradient + IN_FLIGHT_QUEUE
        if wanted > self.limit and not was_full:
            return  # the pace, not this limit, held sends back: no reason to grow
        wanted = 0.9 * self.limit + 0.1 * wanted
        self.limit = max(float(MIN_IN_FLIGHT), min(float(MAX_IN_FLIGHT), wanted))


@dataclass(frozen=True, slots=True)
class _Outcome:
    """What happened to one row; applied to the database in the next flush."""

    message: OutboxMessage
    status: str  # sent | retry | failed | dead | forbidden | migrated | release
    message_id: int | None = None
    delay: float = 0.0
    error: str = ""
    new_chat_id: int | None = None


class Sender:
    """Drains the outbox; run one per deployment (`run_forever`), or call `drain_once`."""

    def __init__(
        self,
        services: Services,
        bot: Bot,
        *,
        limits: SendLimits | None = None,
        clock: Callable[[], datetime] = utc_now,
        idle_seconds: float = 0.5,
    ) -> None:
        self.services = services
        self.bot = bot
        self.limits = limits or send_limits_for(services.settings.send_rate_per_second)
        # The scheduler keeps the per-chat spacing and RetryAfter pauses; `_Pace` the overall
        # rate (the scheduler's own global pace is set out of the way).
        self.scheduler = SendScheduler(replace(self.limits, per_second=1e9))
        self.pace = _Pace(self.limits.per_second, time.monotonic)
        self.window = _Window()
        self.clock = clock
        self.idle_seconds = idle_seconds
        # Set by `request_stop`: finish the messages in flight, hand the rest back, return.
        self._stopping = False
        self._in_flight: set[int] = set()
        # Chats that refused a message in this batch: their other rows are dropped unsent.
        self._unreachable: set[int] = set()
        self._outcomes: list[_Outcome] = []
        # One flush at a time: two write transactions at once would fight over SQLite's lock.
        self._flush_lock = asyncio.Lock()
        # Message ids of alerts delivered but maybe not flushed yet, for edits right after.
        self._delivered: dict[tuple[int, str], int] = {}

    @property
    def batch_size(self) -> int:
        # About two seconds of sending: big enough to keep the pace, small enough that a
        # claim never lapses while its rows wait for their turn.
        return int(min(2000, max(20, self.limits.per_second * 2)))

    # -- the loop --------------------------------------------------------------------------

    async def recover(self) -> int:
        """Put rows left `sending` by a crashed run back in the queue (one sender only)."""
        async with self.services.db.sessions() as session, session.begin():
            result = await session.execute(
                update(OutboxRow)
                .where(OutboxRow.status == "sending")
                .values(status="pending", claimed_until=None, next_attempt_at=self.clock())
                .returning(OutboxRow.id)
                .execution_options(synchronize_session=False)
            )
            return len(result.all())

    def request_stop(self) -> None:
        """Stop after the messages in flight: the rest of the batch goes back to the queue."""
        self._stopping = True
        self.services.outbox_ready.set()

    async def run_forever(self) -> None:
        """Drain until `request_stop` (or cancellation); errors are logged and waited out."""
        backoff = Backoff()
        while not self._stopping:
            try:
                recovered = await self.recover()
                break
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                delay = backoff.failed()
                log.warning("sender start: %s; retrying in %.0f s", type(exc).__name__, delay)
                await asyncio.sleep(delay)
        else:
            return
        if recovered:
            log.warning("re-queued %d messages that were in flight at the last stop", recovered)
        while not self._stopping:
            try:
                handled = await self.drain_once()
                backoff.succeeded()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                delay = backoff.failed()
                log_step_failure("sending", exc, delay)
                await asyncio.sleep(delay)
                continue
            if not handled:
                ready = self.services.outbox_ready
                ready.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(ready.wait(), self.idle_seconds)

    async def drain_once(self) -> int:
        """Claim one batch of due rows and send them at the allowed pace; returns rows handled."""
        async with self.services.db.sessions() as session, session.begin():
            batch = await outbox.claim_batch(
                session, now=self.clock(), limit=self.batch_size, claim_seconds=CLAIM_SECONDS
            )
        if not batch:
            return 0
        await self._send_batch(batch)
        return len(batch)

    async def _send_batch(self, batch: list[OutboxMessage]) -> None:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + CLAIM_SECONDS / 2
        tasks: set[asyncio.Task[None]] = set()
        batch_done = asyncio.Event()
        flusher = asyncio.create_task(self._flush_periodically(batch_done))
        waiting = list(batch)
        try:
            while waiting:
                if self._stopping:
                    self._outcomes.extend(
                        _Outcome(m, "release", error="sender stopping") for m in waiting
                    )
                    break
                deferred: list[OutboxMessage] = []
                progressed = False
                for message in waiting:
                    if self._stopping:
                        deferred.append(message)
                        continue
                    chat = message.chat_id
                    if chat in self._unreachable:
                        self._outcomes.append(_Outcome(message, "forbidden", error="unreachable"))
                        continue
                    if chat in self._in_flight or self.scheduler.chat_wait(chat) > 0:
                        deferred.append(message)
                        continue
                    wait = max(self.scheduler.wait_for(chat), self.pace.wait())
                    if wait > 0:
                        await asyncio.sleep(wait)
                        if self.scheduler.chat_wait(chat) > 0 or chat in self._in_flight:
                            deferred.append(message)
                            continue
                    await self.window.acquire()
                    self.scheduler.record_send(chat)
                    self.pace.take()
                    self._in_flight.add(chat)
                    task = asyncio.create_task(self._send_one(message))
                    tasks.add(task)
                    task.add_done_callback(tasks.discard)
                    progressed = True
                waiting = deferred
                if waiting and loop.time() > deadline:
                    # Chats with long backlogs: hand their rows back rather than hold claims.
                    self._outcomes.extend(_Outcome(m, "release", delay=1.0) for m in waiting)
                    break
                if waiting and not progressed:
                    await asyncio.sleep(self._next_chat_ready(waiting))
            if tasks:
                await asyncio.gather(*tasks)
        finally:
            # Told to stop, not cancelled: a flush cut off mid-transaction could leave its
            # connection holding SQLite's write lock (the next flush then times out).
            batch_done.set()
            await flusher
            await self.flush()
            self._unreachable.clear()

    def _next_chat_ready(self, waiting: list[OutboxMessage]) -> float:
        waits = [self.scheduler.chat_wait(m.chat_id) for m in waiting]
        return max(0.005, min(waits)) if waits else 0.005

    async def _flush_periodically(self, done: asyncio.Event) -> None:
        while not done.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(done.wait(), FLUSH_SECONDS)
            await self.flush()

    # -- one message -----------------------------------------------------------------------

    async def _send_one(self, message: OutboxMessage) -> None:
        started = time.monotonic()
        was_full = self.window.full
        round_trip: float | None = None
        try:
            outcome = await self._deliver(message)
            if outcome.error != "waiting":  # it went to Telegram and came back
                round_trip = time.monotonic() - started
        except Exception as exc:  # a bug must not lose the row: retry it later
            log.exception("unexpected error sending outbox row %d", message.id)
            outcome = _Outcome(message, "retry", delay=self._backoff(message), error=repr(exc))
        finally:
            self._in_flight.discard(message.chat_id)
            self.window.release(round_trip, was_full=was_full)
        if outcome.status == "forbidden":
            self._unreachable.add(message.chat_id)
        self._outcomes.append(outcome)
        if len(self._outcomes) >= 500:
            await self.flush()

    async def _deliver(self, message: OutboxMessage) -> _Outcome:
        payload = message.payload
        try:
            if message.kind in ("edit", "reply"):
                target = await self._original_message_id(message)
                if target is None:
                    return _Outcome(
                        message, "release", delay=WAIT_FOR_ORIGINAL_SECONDS, error="waiting"
                    )
                if message.kind == "edit":
                    if target < 0:
                        return _Outcome(message, "failed", error="original alert not delivered")
                    await self.bot.edit_message_text(
                        chat_id=message.chat_id,
                        message_id=target,
                        text=payload["text"],
                        parse_mode=payload.get("parse_mode"),
                        reply_markup=self._markup(payload),
                        link_preview_options=LinkPreviewOptions(is_disabled=True),
                    )
                    return _Outcome(message, "sent")
                sent = await self._send_message(message, reply_to=target if target > 0 else None)
                return _Outcome(message, "sent", message_id=sent.message_id)
            sent = await self._send_message(message, reply_to=None)
            if message.kind == "alert" and "story_id" in payload:
                self._delivered[(message.chat_id, payload["story_id"])] = sent.message_id
            return _Outcome(message, "sent", message_id=sent.message_id)
        except RetryAfter as exc:
            with warnings.catch_warnings():  # PTB 22 warns that the type will change
                warnings.simplefilter("ignore")
                seconds = _seconds(exc.retry_after)
            self.scheduler.pause(seconds)
            self.services.metrics.retry_after.inc()
            return _Outcome(message, "release", delay=seconds, error=f"429: retry after {seconds}")
        except ChatMigrated as exc:
            self.services.metrics.failures.labels("migrated").inc()
            return _Outcome(message, "migrated", new_chat_id=int(exc.new_chat_id), error=str(exc))
        except Forbidden as exc:
            self.services.metrics.failures.labels("forbidden").inc()
            return _Outcome(message, "forbidden", error=str(exc))
        except BadRequest as exc:
            text = str(exc).lower()
            if "message is not modified" in text:
                return _Outcome(message, "sent")
            self.services.metrics.failures.labels("bad_request").inc()
            if "chat not found" in text:
                return _Outcome(message, "forbidden", error=str(exc))
            return _Outcome(message, "failed", error=str(exc))
        except (TimedOut, NetworkError, InvalidToken, TelegramError) as exc:
            self.services.metrics.failures.labels("transient").inc()
            if message.attempts >= MAX_ATTEMPTS:
                return _Outcome(message, "dead", error=f"gave up: {exc}")
            return _Outcome(message, "retry", delay=self._backoff(message), error=str(exc))

    async def _send_message(self, message: OutboxMessage, *, reply_to: int | None) -> Message:
        payload = message.payload
        return await self.bot.send_message(
            chat_id=message.chat_id,
            text=payload["text"],
            parse_mode=payload.get("parse_mode"),
            disable_notification=bool(payload.get("disable_notification", False)),
            reply_markup=self._markup(payload),
            link_preview_options=LinkPreviewOptions(is_disabled=True),
            reply_parameters=ReplyParameters(message_id=reply_to, allow_sending_without_reply=True)
            if reply_to
            else None,
        )

    def _markup(self, payload: dict[str, Any]) -> InlineKeyboardMarkup | None:
        raw = payload.get("reply_markup")
        return InlineKeyboardMarkup.de_json(raw, self.bot) if raw else None

    async def _original_message_id(self, message: OutboxMessage) -> int | None:
        """The alert's Telegram message id; None while it is still queued, -1 if it never went."""
        story_id = message.payload.get("story_id")
        if not story_id:
            return -1
        known = self._delivered.get((message.chat_id, story_id))
        if known is not None:
            return known
        async with self.services.db.sessions() as session:
            alert = await alerts_store.get_alert(
                session, chat_id=message.chat_id, story_id=story_id
            )
            if alert is not None and alert.message_id is not None:
                return alert.message_id
            status = (
                await session.execute(
                    select(OutboxRow.status).where(
                        OutboxRow.dedupe_key == f"alert:{message.chat_id}:{story_id}"
                    )
                )
            ).scalar_one_or_none()
        if status in ("pending", "sending"):
            return None
        return -1

    def _backoff(self, message: OutboxMessage) -> float:
        ceiling = min(
            BACKOFF_MAX_SECONDS, BACKOFF_BASE_SECONDS * 2.0 ** max(message.attempts - 1, 0)
        )
        return ceiling / 2 + random.uniform(0, ceiling / 2)

    # -- recording outcomes ----------------------------------------------------------------

    async def flush(self) -> None:
        """Commit the outcomes collected so far, in one transaction."""
        async with self._flush_lock:
            if not self._outcomes:
                return
            outcomes, self._outcomes = self._outcomes, []
            try:
                await self._flush(outcomes)
            except BaseException:
                # Rolled back: keep them for the next flush rather than forget what was sent.
                self._outcomes[:0] = outcomes
                raise

    async def _flush(self, outcomes: list[_Outcome]) -> None:
        now = self.clock()
        forbidden: set[int] = set()
        migrated: dict[int, int] = {}
        async with self.services.db.sessions() as session, session.begin():
            sent = [o for o in outcomes if o.status == "sent"]
            await outbox.mark_sent_many(session, outbox_ids=[o.message.id for o in sent], now=now)
            await self._after_sent(session, sent, now)
            for o in outcomes:
                m = o.message
                if o.status == "retry":
                    await outbox.mark_retry(
                        session, outbox_id=m.id, now=now, delay=o.delay, error=o.error
                    )
                elif o.status == "release":
                    await _release(session, m.id, now + timedelta(seconds=o.delay), o.error)
                elif o.status == "failed":
                    await outbox.mark_failed(session, outbox_id=m.id, reason=o.error)
                elif o.status == "dead":
                    await outbox.mark_dead(session, outbox_id=m.id, reason=o.error)
                elif o.status == "forbidden":
                    await outbox.mark_dead(session, outbox_id=m.id, reason=o.error)
                    if m.chat_id not in forbidden:
                        forbidden.add(m.chat_id)
                        await _drop_chat(session, m.chat_id, o.error)
                elif o.status == "migrated" and o.new_chat_id is not None:
                    if m.chat_id not in migrated:
                        migrated[m.chat_id] = o.new_chat_id
                        await _move_chat(session, m.chat_id, o.new_chat_id)
                    await _release(session, m.id, now, o.error)
        for chat_id in forbidden:
            self.services.rulebook.forget_chat_now(chat_id)
            log.info("chat %d blocked the bot or is gone: deactivated", chat_id)
        for old, new in migrated.items():
            self.services.rulebook.move_chat(old, new)
            log.info("chat %d migrated to %d", old, new)
        if migrated:
            self.services.notify_outbox()

    async def _after_sent(self, session: AsyncSession, sent: list[_Outcome], now: datetime) -> None:
        """Metrics, and each delivered alert's message id (for later edits), in one statement."""
        delivered = []
        for outcome in sent:
            m = outcome.message
            self.services.metrics.sent.labels(m.kind).inc()
            story_id = m.payload.get("story_id")
            if m.kind != "alert" or not story_id or outcome.message_id is None:
                continue
            delivered.append({"c": m.chat_id, "s": story_id, "mid": outcome.message_id, "at": now})
            self._delivered.pop((m.chat_id, story_id), None)
            published = m.payload.get("published_at")
            with contextlib.suppress(ValueError, TypeError):
                lag = (now - datetime.fromisoformat(str(published))).total_seconds()
                self.services.metrics.alert_lag.observe(max(0.0, lag))
        if delivered:
            # In (chat, story) order, the order the worker writes alert rows in, so the two
            # never wait on each other's row locks in opposite orders (a deadlock).
            delivered.sort(key=lambda row: (row["c"], row["s"]))
            # Core table, not the ORM class: an executemany UPDATE with its own WHERE.
            alerts = cast(Table, AlertRow.__table__)
            await session.execute(
                update(alerts)
                .where(alerts.c.chat_id == bindparam("c"), alerts.c.story_id == bindparam("s"))
                .values(message_id=bindparam("mid"), sent_at=bindparam("at")),
                delivered,
            )


def _seconds(value: object) -> float:
    if isinstance(value, timedelta):
        return value.total_seconds()
    return float(value)  # type: ignore[arg-type]


async def _release(session: AsyncSession, outbox_id: int, when: datetime, note: str) -> None:
    """Back to the queue without using up an attempt (a 429, a busy chat, a pending original)."""
    await session.execute(
        update(OutboxRow)
        .where(OutboxRow.id == outbox_id, OutboxRow.status == "sending")
        .values(
            status="pending",
            claimed_until=None,
            next_attempt_at=when,
            attempts=OutboxRow.attempts - 1,
            last_error=note[:1000] or None,
        )
        .execution_options(synchronize_session=False)
    )


async def _drop_chat(session: AsyncSession, chat_id: int, reason: str) -> None:
    """The chat blocked us or is gone: deactivate it and drop whatever is still queued for it."""
    await subscribers_store.deactivate_subscriber(session, chat_id=chat_id)
    await session.execute(
        update(OutboxRow)
        .where(OutboxRow.chat_id == chat_id, OutboxRow.status.in_(("pending", "sending")))
        .values(status="dead", claimed_until=None, last_error=f"chat unreachable: {reason}"[:1000])
        .execution_options(synchronize_session=False)
    )


async def _move_chat(session: AsyncSession, old: int, new: int) -> None:
    """A group became a supergroup: its subscription, rules, alerts and queue follow it."""
    await session.execute(
        update(OutboxRow)
        .where(OutboxRow.chat_id == old, OutboxRow.status.in_(("pending", "sending")))
        .values(chat_id=new)
        .execution_options(synchronize_session=False)
    )
    chat = await subscribers_store.get_subscriber(session, chat_id=old)
    if chat is None:
        return
    if await subscribers_store.get_subscriber(session, chat_id=new) is None:
        columns = {c.name: getattr(chat, c.name) for c in SubscriberRow.__table__.c}
        columns.update(chat_id=new, kind="supergroup")
        await session.execute(cast(Table, SubscriberRow.__table__).insert().values(**columns))
    for table in (RuleRow, AlertRow):
        await session.execute(
            update(table)
            .where(table.chat_id == old)
            .values(chat_id=new)
            .execution_options(synchronize_session=False)
        )
    # The old chat now holds only finished outbox rows; they go with it.
    await subscribers_store.forget_subscriber(session, chat_id=old)
