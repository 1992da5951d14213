"""The sender: drains the outbox into Telegram within its limits and records every outcome.

Outcomes: delivered -> `sent` (an alert's message id is kept for later edits); `RetryAfter`
-> every send pauses for the time Telegram asked, the row is retried; transient errors
(network, time-outs, 5xx) -> retried with exponential backoff, given up after
`MAX_ATTEMPTS`; `Forbidden` (blocked, kicked, deleted) -> the chat is deactivated and its
queued rows dropped; `ChatMigrated` -> the chat (rules, alerts, queue) moves to the new id and
the row is retried there; other `BadRequest`s -> `failed` ("message is not modified" counts as
sent: the edit is already showing).

Crash safety (at most one duplicate per chat): a row is claimed (`sending`, until
`claimed_until`) before it is sent and marked `sent` after Telegram answered, in a commit
made at most `FLUSH_SECONDS` later. A crash between the two leaves the row `sending`; it is
sent again, so the sender never has two messages to one chat in flight, and a crash can
repeat at most the one message per chat that was in flight; no queued message is lost.
Who sends it again: in one-process mode (`recover_on_start`) the next start re-queues every
row left `sending` at once, since no other sender can exist. A standby sender that takes
over (the `sender` role) must not: the previous one may be alive with sends in flight (it
lost its lock because its connection was cut) and will record them. So it leaves their
claims to lapse (`CLAIM_SECONDS`), and a claim always outlives the sends made under it:
none starts after `SEND_DEADLINE_SECONDS`, and each is cut off by the request time-outs.
Outcomes that put a row back in the queue only apply while the row is still under the
claim they were made under, so a late outcome cannot undo another sender's newer claim.

Exactly one sender may run per deployment (Telegram's limits are per token): the `sender`
role holds a PostgreSQL advisory lock while it runs this (bot/commands/sender.py).
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import logging
import math
import random
import time
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from typing import cast

from sqlalchemy import Table, select, update
from sqlalchemy.ext.asyncio import AsyncSession
from telegram import Bot
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
from telegram.request import BaseRequest, RequestData

# PTB builds every RequestData from these (internal to PTB, pinned <23 in pyproject.toml).
from telegram.request._requestparameter import RequestParameter

from bot.delivery import bundles
from bot.delivery.limits import SendLimits, SendScheduler
from bot.delivery.request import H11Request, uses_proxy
from bot.roles import Backoff, log_step_failure
from bot.services import Services
from bot.storage import alerts as alerts_store
from bot.storage import outbox
from bot.storage import subscribers as subscribers_store
from bot.storage.alerts import Delivery, Original
from bot.storage.db import utc_now
from bot.storage.outbox import OutboxMessage
from bot.storage.tables import AlertRow, OutboxRow, RuleRow, SubscriberRow

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 12
BACKOFF_BASE_SECONDS = 2.0
BACKOFF_MAX_SECONDS = 600.0
# A claim's life; no send of the batch starts after SEND_DEADLINE_SECONDS, and one started
# then ends within REQUEST_SECONDS (connect + write + read time-outs of `_own_request`),
# leaving the rest for recording its outcome before a standby may claim the row again.
CLAIM_SECONDS = 45.0
SEND_DEADLINE_SECONDS = 10.0
CONNECT_TIMEOUT, WRITE_TIMEOUT, READ_TIMEOUT = 5.0, 10.0, 15.0
REQUEST_SECONDS = CONNECT_TIMEOUT + WRITE_TIMEOUT + READ_TIMEOUT
FLUSH_SECONDS = 0.25
# The next batch is claimed when this many seconds of sending are left in the current one.
PREFETCH_SECONDS = 0.5
# Sends in flight (see `_Window`): the most covers 1000/s with round trips up to 200 ms; the
# least keeps 1000/s going when a busy machine stretches a local round trip to 25-30 ms
# (16 held a load test's sending to 630/s, 32 gave 675/s).
MIN_IN_FLIGHT = 32
MAX_IN_FLIGHT = 200
# Round trips per sample window: the shortest of the last one or two windows is used.
ROUND_TRIP_WINDOW = 256
# While the original alert is still queued, an edit or reply to it waits this long.
WAIT_FOR_ORIGINAL_SECONDS = 1.0
BUNDLED_NOT_EDITED = "its alert went out in one message with others, which is not edited"


# A late wake-up (a busy event loop) is made up for, by at most this much: the pace holds at
# 1000/s, and no window of one second sees more than the limit (see `_Pace`).
CATCH_UP_SECONDS = 0.01
# Paced under the limit, so that neither catching up nor the server receiving in one burst
# what was in flight while it stalled (up to `MIN_IN_FLIGHT` on a local network) crosses it:
# at 1000/s, 950 + 10 + 32 a second at most.
HEADROOM = 0.95


# Telegram counts a chat's messages as they arrive, we space them as they leave: a message
# that waited longer on the way than the next one would land less than the interval before
# it, and a 429 pauses every send. The margin absorbs that jitter.
CHAT_SPACING_MARGIN = 0.1
# Message ids of original alerts looked up ahead for a claimed batch's edits and replies.
MAX_KNOWN_ORIGINALS = 100_000


def send_limits_for(per_second: float) -> SendLimits:
    defaults = SendLimits()
    return SendLimits(
        per_second=per_second,
        private_chat_interval=defaults.private_chat_interval + CHAT_SPACING_MARGIN,
        group_chat_interval=defaults.group_chat_interval + CHAT_SPACING_MARGIN,
    )


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
    """How many sends may be in flight: enough to keep the pace over the network's round trip
    (twice the rate times the shortest round trip seen lately), and no more.

    More would not raise the rate (the pace sets it) but would let a server that stalls
    collect a burst: requests written during a 100 ms stall all arrive when it resumes, and
    Telegram counts them within one second with the ones that follow (a 429 and a pause for
    every sender). Round trips longer than the shortest are queueing (in the server or in
    our own event loop), which more concurrency does not shorten, so only the shortest is
    used: 60 ms away at 1000/s that is 120 in flight, on a local network `MIN_IN_FLIGHT`.
    (An earlier limit also shrank when round trips grew, to spare httpx's pool, whose CPU
    per request grew with its connections; `H11Request` costs the same at 2 connections or
    128, and that limit sat at 4 in flight and held 1000/s down to 600-800/s.)
    """

    def __init__(self, per_second: float) -> None:
        self.per_second = per_second
        self.limit = MIN_IN_FLIGHT
        self.count = 0
        self._freed = asyncio.Event()
        self._samples = 0
        self._window_min = math.inf
        self._previous_min = math.inf

    @property
    def full(self) -> bool:
        return self.count >= self.limit

    async def acquire(self) -> None:
        while self.full:
            self._freed.clear()
            await self._freed.wait()
        self.count += 1

    def release(self, round_trip: float | None) -> None:
        self.count -= 1
        if round_trip is not None:
            self._observe(round_trip)
        self._freed.set()

    def _observe(self, round_trip: float) -> None:
        self._window_min = min(self._window_min, round_trip)
        self._samples += 1
        if self._samples >= ROUND_TRIP_WINDOW:
            # A new window, so that a route that became slower is noticed.
            self._previous_min, self._window_min, self._samples = self._window_min, math.inf, 0
        shortest = min(self._window_min, self._previous_min)
        wanted = math.ceil(2 * self.per_second * shortest)
        self.limit = max(MIN_IN_FLIGHT, min(MAX_IN_FLIGHT, wanted))


@dataclass(frozen=True, slots=True)
class _Outcome:
    """What happened to one row; applied to the database in the next flush."""

    message: OutboxMessage
    status: str  # sent | retry | failed | dead | forbidden | migrated | release
    message_id: int | None = None
    delay: float = 0.0
    error: str = ""
    new_chat_id: int | None = None
    # A release that keeps the row's place in the queue (it only waited for its chat).
    keep_place: bool = False
    # Sent in one message with other alerts of the chat (`bundles`).
    bundled: bool = False


class Sender:
    """Drains the outbox; run one per deployment (`run_forever`), or call `drain_once` and
    `aclose` at the end.

    Messages go out through `request`, PTB's request layer (which raises its typed errors),
    to the `bot`'s API URL. By default the sender opens its own `H11Request` (its CPU per
    message is what lets one process keep 1000 messages/s) and closes it in `aclose`; with a
    proxy configured in the environment it uses the bot's own request (httpx honours those).
    """

    def __init__(
        self,
        services: Services,
        bot: Bot,
        *,
        request: BaseRequest | None = None,
        limits: SendLimits | None = None,
        clock: Callable[[], datetime] = utc_now,
        idle_seconds: float = 0.5,
        recover_on_start: bool = True,
    ) -> None:
        self.services = services
        # False for a sender that may be taking over from one still alive (see the module).
        self.recover_on_start = recover_on_start
        self.bot = bot
        self._owns_request = request is None and not uses_proxy()
        if request is None:
            request = _own_request() if self._owns_request else bot.request
        self.request = request
        self.limits = limits or send_limits_for(services.settings.send_rate_per_second)
        # The scheduler keeps the per-chat spacing and RetryAfter pauses; `_Pace` the overall
        # rate (the scheduler's own global pace is set out of the way).
        self.scheduler = SendScheduler(replace(self.limits, per_second=1e9))
        self.pace = _Pace(self.limits.per_second, time.monotonic)
        self.window = _Window(self.limits.per_second)
        self.clock = clock
        self.idle_seconds = idle_seconds
        # Set by `request_stop`: finish the messages in flight, hand the rest back, return.
        self._stopping = False
        self._in_flight: set[int] = set()  # chats
        self._in_flight_rows: set[int] = set()  # outbox ids
        # Chats that refused a message in this batch: their other rows are dropped unsent.
        self._unreachable: set[int] = set()
        self._outcomes: list[_Outcome] = []
        # One write transaction (flush or claim) at a time: two would fight over SQLite's lock.
        self._write_lock = asyncio.Lock()
        # Messages of alerts delivered but maybe not flushed yet, for edits right after.
        self._delivered: dict[tuple[int, str], Original] = {}
        # Messages of delivered alerts that claimed edits and replies point at, looked up
        # for a whole batch in a few statements instead of one query per edit.
        self._originals: dict[tuple[int, str], Original] = {}

    @property
    def batch_size(self) -> int:
        # About two seconds of sending: big enough to keep the pace, small enough that a
        # claim never lapses while its rows wait for their turn.
        return int(min(2000, max(20, self.limits.per_second * 2)))

    async def aclose(self) -> None:
        """Close the sender's own connections (a request passed in is left to its owner)."""
        if self._owns_request:
            await self.request.shutdown()

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
        _freeze_startup_heap()
        try:
            await self._run()
        finally:
            await self.aclose()

    async def _run(self) -> None:
        backoff = Backoff()
        while not self._stopping:
            try:
                recovered = await self.recover() if self.recover_on_start else 0
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
        """Send due rows at the allowed pace, a claimed batch at a time, until a batch comes
        back short (nothing more is due); returns rows handled.

        While the last rows of a full batch go out, the next batch is already being claimed:
        at 1000/s a pause between batches for the claim and the last flush would cost a tenth
        of the rate.
        """
        loop = asyncio.get_running_loop()
        claimed_at = loop.time()
        batch = await self._claim()
        if not batch:
            return 0
        handled = 0
        tasks: set[asyncio.Task[None]] = set()
        done = asyncio.Event()
        flusher = asyncio.create_task(self._flush_periodically(done))
        upcoming: asyncio.Task[list[OutboxMessage]] | None = None

        def claim_next() -> None:
            nonlocal upcoming, claimed_at
            if upcoming is None and not self._stopping:
                claimed_at = loop.time()  # no later than the claim's own clock reading
                upcoming = asyncio.create_task(self._claim())

        def next_ready() -> bool:
            return upcoming is not None and upcoming.done()

        # Rows of a batch still waiting for their chats (Telegram's 1/s per chat) when the
        # next batch is in: they go on with it, with their own claim's deadline, rather than
        # hold the other chats' messages back until the last of them may leave.
        carried: list[tuple[OutboxMessage, float]] = []
        try:
            while True:
                handled += len(batch)
                rows = carried + [(m, claimed_at + SEND_DEADLINE_SECONDS) for m in batch]
                if carried:
                    # First news before follow-ups here too: a chat's alert claimed now
                    # takes the chat's next turn ahead of its edits carried from before.
                    rows.sort(key=_follow_up_row)
                # A short batch means nothing more was due: no need to claim ahead.
                full = len(batch) >= self.batch_size
                carried = await self._send_batch(
                    rows, tasks, claim_next if full else None, next_ready
                )
                if upcoming is None:
                    break
                try:
                    batch = await upcoming
                finally:
                    upcoming = None
                if not batch and not carried:
                    break
            if tasks:
                await asyncio.gather(*tasks)
        finally:
            if upcoming is not None:
                # Cut short while the next batch was being claimed: its rows go back to the
                # queue. Awaited, not cancelled, for the same reason as the flusher below.
                with contextlib.suppress(Exception):
                    unsent = await upcoming
                    self._outcomes.extend(
                        _Outcome(m, "release", error="claimed, not sent") for m in unsent
                    )
            # Told to stop, not cancelled: a flush cut off mid-transaction could leave its
            # connection holding SQLite's write lock (the next flush then times out).
            done.set()
            await flusher
            await self.flush()
            self._unreachable.clear()
        return handled

    async def _claim(self) -> list[OutboxMessage]:
        async with (
            self._write_lock,
            self.services.db.sessions() as session,
            session.begin(),
        ):
            claimed = await outbox.claim_batch(
                session, now=self.clock(), limit=self.batch_size, claim_seconds=CLAIM_SECONDS
            )
            # A row still in flight here, or whose outcome we hold but could not record (the
            # database went away after it was sent), is claimable again once its claim
            # expires: it is not sent again; its outcome will be recorded.
            mine = self._in_flight_rows | {o.message.id for o in self._outcomes}
            batch = [m for m in claimed if m.id not in mine] if mine else claimed
            await self._learn_originals(session, batch)
            return batch

    async def _learn_originals(self, session: AsyncSession, batch: list[OutboxMessage]) -> None:
        pointers = (
            (m.chat_id, str(m.payload["story_id"]))
            for m in batch
            if m.kind in ("edit", "reply") and m.payload.get("story_id")
        )
        # Looked up one by one: a union of the known keys would copy up to 100k of them.
        wanted = {p for p in pointers if p not in self._delivered and p not in self._originals}
        if not wanted:
            return
        if len(self._originals) > MAX_KNOWN_ORIGINALS:
            self._originals.clear()
        self._originals.update(await alerts_store.message_ids(session, pairs=wanted))

    async def _send_batch(
        self,
        batch: list[tuple[OutboxMessage, float]],
        tasks: set[asyncio.Task[None]],
        claim_next: Callable[[], None] | None,
        next_ready: Callable[[], bool],
    ) -> list[tuple[OutboxMessage, float]]:
        """Start a send for every (row, deadline) of `batch` (added to `tasks`) at the pace
        and within the per-chat limits; `claim_next` is called when half a second of them is
        left. Returns the rows that only wait for their chats once `next_ready()` (the next
        batch is claimed): the caller sends them on with it."""
        loop = asyncio.get_running_loop()
        # Rows left to start when the next batch is claimed: about half a second of sending.
        claim_next_at = max(1, int(self.limits.per_second * PREFETCH_SECONDS))
        waiting = list(batch)
        left = len(waiting)
        # Rows gone out in another row's bundle (`bundles`): nothing left to do for them.
        bundled: set[int] = set()
        while waiting:
            if self._stopping:
                self._outcomes.extend(
                    _Outcome(m, "release", error="sender stopping")
                    for m, _ in waiting
                    if m.id not in bundled
                )
                break
            deferred: list[tuple[OutboxMessage, float]] = []
            progressed = False
            alerts_of = _alerts_by_chat(waiting)
            for message, deadline in waiting:
                if message.id in bundled:
                    left -= 1
                    continue
                if claim_next is not None and left <= claim_next_at:
                    claim_next()
                if self._stopping:
                    deferred.append((message, deadline))
                    continue
                chat = message.chat_id
                if chat in self._unreachable:
                    self._outcomes.append(_Outcome(message, "forbidden", error="unreachable"))
                    left -= 1
                    continue
                if chat in self._in_flight or self.scheduler.chat_wait(chat) > 0:
                    deferred.append((message, deadline))
                    continue
                wait = max(self.scheduler.wait_for(chat), self.pace.wait())
                if wait > 0:
                    await asyncio.sleep(wait)
                    if self.scheduler.chat_wait(chat) > 0 or chat in self._in_flight:
                        deferred.append((message, deadline))
                        continue
                await self.window.acquire()
                self.scheduler.record_send(chat)
                self.pace.take()
                self._in_flight.add(chat)
                self._in_flight_rows.add(message.id)
                others = [m for m in alerts_of.get(chat, ()) if m.id not in bundled]
                joining = bundles.companions(message, others) if len(others) > 1 else []
                for other in joining:
                    bundled.add(other.id)
                    self._in_flight_rows.add(other.id)
                task = asyncio.create_task(self._send_one(message, joining))
                tasks.add(task)
                task.add_done_callback(tasks.discard)
                progressed = True
                left -= 1
            # Counted from each row's claim, so a row never outlives its claim: chats with
            # long backlogs hand their rows back rather than hold claims.
            now = loop.time()
            deferred = [(m, d) for m, d in deferred if m.id not in bundled]
            expired = [m for m, deadline in deferred if now > deadline]
            # They keep their place: released to the back, a busy chat's alert would wait for
            # the whole queue on top of its own chat's.
            self._outcomes.extend(
                _Outcome(m, "release", error="chat busy", keep_place=True) for m in expired
            )
            waiting = [(m, d) for m, d in deferred if now <= d] if expired else deferred
            if waiting and not progressed:
                if next_ready():
                    return waiting
                await asyncio.sleep(self._next_chat_ready(waiting))
        return []

    def _next_chat_ready(self, waiting: list[tuple[OutboxMessage, float]]) -> float:
        waits = [self.scheduler.chat_wait(m.chat_id) for m, _ in waiting]
        return max(0.005, min(waits)) if waits else 0.005

    async def _flush_periodically(self, done: asyncio.Event) -> None:
        while not done.is_set():
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(done.wait(), FLUSH_SECONDS)
            await self.flush()

    # -- one message -----------------------------------------------------------------------

    async def _send_one(
        self, message: OutboxMessage, companions: Sequence[OutboxMessage] = ()
    ) -> None:
        """Send `message` (with `companions`, alerts of the same chat, as one message)."""
        started = time.monotonic()
        round_trip: float | None = None
        try:
            if companions:
                outcomes = await self._deliver_bundle([message, *companions])
            else:
                outcomes = [await self._deliver(message)]
            if outcomes[0].error != "waiting":  # it went to Telegram and came back
                round_trip = time.monotonic() - started
        except Exception as exc:  # a bug must not lose the rows: retry them later
            log.exception("unexpected error sending outbox row %d", message.id)
            outcomes = [
                _Outcome(m, "retry", delay=self._backoff(m), error=repr(exc))
                for m in (message, *companions)
            ]
        finally:
            self._in_flight.discard(message.chat_id)
            self._in_flight_rows.difference_update(m.id for m in (message, *companions))
            self.window.release(round_trip)
        if outcomes[0].status == "forbidden":
            self._unreachable.add(message.chat_id)
        self._outcomes.extend(outcomes)
        if len(self._outcomes) >= 500:
            await self.flush()

    async def _deliver_bundle(self, alerts: list[OutboxMessage]) -> list[_Outcome]:
        """One message for several alerts of a chat; each row gets its outcome."""
        lead = alerts[0]
        carrier = replace(lead, payload=bundles.bundle_payload(alerts))
        outcome = await self._deliver(carrier)
        bundled = outcome.status == "sent"
        if bundled and outcome.message_id is not None:
            for alert in alerts:
                story_id = alert.payload.get("story_id")
                if story_id:
                    self._delivered[(alert.chat_id, str(story_id))] = Original(
                        outcome.message_id, bundled=True
                    )
        return [replace(outcome, message=alert, bundled=bundled) for alert in alerts]

    async def _deliver(self, message: OutboxMessage) -> _Outcome:
        payload = message.payload
        try:
            if message.kind in ("edit", "reply"):
                original = await self._original(message)
                if original is None:
                    return _Outcome(
                        message, "release", delay=WAIT_FOR_ORIGINAL_SECONDS, error="waiting"
                    )
                target = original.message_id
                if message.kind == "edit":
                    if target < 0:
                        return _Outcome(message, "failed", error="original alert not delivered")
                    if original.bundled:
                        # Queued before the worker could know; editing would drop the others.
                        return _Outcome(message, "failed", error=BUNDLED_NOT_EDITED)
                    await self._call("editMessageText", _edit_fields(message, target))
                    return _Outcome(message, "sent")
                fields = _send_fields(message, reply_to=target if target > 0 else None)
                sent = await self._call("sendMessage", fields)
                return _Outcome(message, "sent", message_id=_message_id(sent))
            sent = await self._call("sendMessage", _send_fields(message, reply_to=None))
            message_id = _message_id(sent)
            if message.kind == "alert" and "story_id" in payload and message_id is not None:
                self._delivered[(message.chat_id, payload["story_id"])] = Original(message_id)
            return _Outcome(message, "sent", message_id=message_id)
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

    async def _call(self, method: str, fields: list[tuple[str, str]]) -> object:
        """One Bot API call through PTB's request layer; the answer's `result`, unparsed.

        `Bot.send_message` would build a `Message` from every answer (half a millisecond of
        CPU at 1000/s) where the sender needs only its message_id.
        """
        data = RequestData([RequestParameter(name, value, None) for name, value in fields])
        return await self.request.post(f"{self.bot.base_url}/{method}", data)

    async def _original(self, message: OutboxMessage) -> Original | None:
        """The message that carried the alert; None while it is still queued, message id -1
        if it never went."""
        story_id = message.payload.get("story_id")
        if not story_id:
            return Original(-1)
        known = self._delivered.get((message.chat_id, story_id))
        if known is None:
            known = self._originals.get((message.chat_id, story_id))
        if known is not None:
            return known
        async with self.services.db.sessions() as session:
            alert = await alerts_store.get_alert(
                session, chat_id=message.chat_id, story_id=story_id
            )
            if alert is not None and alert.message_id is not None:
                return Original(alert.message_id, alert.bundled)
            status = (
                await session.execute(
                    select(OutboxRow.status).where(
                        OutboxRow.dedupe_key == f"alert:{message.chat_id}:{story_id}"
                    )
                )
            ).scalar_one_or_none()
        if status in ("pending", "sending"):
            return None
        return Original(-1)

    def _backoff(self, message: OutboxMessage) -> float:
        ceiling = min(
            BACKOFF_MAX_SECONDS, BACKOFF_BASE_SECONDS * 2.0 ** max(message.attempts - 1, 0)
        )
        return ceiling / 2 + random.uniform(0, ceiling / 2)

    # -- recording outcomes ----------------------------------------------------------------

    async def flush(self) -> None:
        """Commit the outcomes collected so far, in one transaction."""
        async with self._write_lock:
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
            # Alert rows, then outbox rows, each in chat order: the order a worker matching a
            # story takes them in, so neither ever waits on the other in a cycle.
            await alerts_store.record_deliveries(session, delivered=_deliveries(sent), at=now)
            await outbox.lock_in_chat_order(session, outbox_ids=[o.message.id for o in outcomes])
            await outbox.mark_sent_many(session, outbox_ids=[o.message.id for o in sent], now=now)
            for o in outcomes:
                m = o.message
                if o.status == "retry":
                    await outbox.mark_retry(
                        session,
                        outbox_id=m.id,
                        now=now,
                        delay=o.delay,
                        error=o.error,
                        claimed_until=m.claimed_until,
                    )
                elif o.status == "release":
                    when = m.next_attempt_at if o.keep_place else now + timedelta(seconds=o.delay)
                    await _release(session, m, when, o.error)
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
                    await _release(session, m, now, o.error)
        self._count_sent(sent, now)  # committed: a flush tried again must not count twice
        for chat_id in forbidden:
            self.services.rulebook.forget_chat_now(chat_id)
            log.info("chat %d blocked the bot or is gone: deactivated", chat_id)
        for old, new in migrated.items():
            self.services.rulebook.move_chat(old, new)
            log.info("chat %d migrated to %d", old, new)
        if migrated:
            self.services.notify_outbox()

    def _count_sent(self, sent: list[_Outcome], now: datetime) -> None:
        """Metrics of recorded deliveries; delivered alerts' ids are in the database now."""
        for outcome in sent:
            m = outcome.message
            self.services.metrics.sent.labels(m.kind).inc()
            story_id = m.payload.get("story_id")
            if m.kind != "alert" or not story_id or outcome.message_id is None:
                continue
            self._delivered.pop((m.chat_id, story_id), None)
            published = m.payload.get("published_at")
            with contextlib.suppress(ValueError, TypeError):
                lag = (now - datetime.fromisoformat(str(published))).total_seconds()
                self.services.metrics.alert_lag.observe(max(0.0, lag))


def _follow_up_row(row: tuple[OutboxMessage, float]) -> bool:
    return row[0].kind in outbox.FOLLOW_UP_KINDS


def _alerts_by_chat(
    rows: list[tuple[OutboxMessage, float]],
) -> dict[int, list[OutboxMessage]]:
    """The alert rows among `rows`, by chat (in their order): who may share a bundle."""
    found: dict[int, list[OutboxMessage]] = {}
    for message, _ in rows:
        if message.kind == "alert":
            found.setdefault(message.chat_id, []).append(message)
    return found


def _deliveries(sent: list[_Outcome]) -> list[Delivery]:
    """The message of each delivered alert, for later edits and replies."""
    return [
        Delivery(o.message.chat_id, str(o.message.payload["story_id"]), o.message_id, o.bundled)
        for o in sent
        if o.message.kind == "alert"
        and o.message.payload.get("story_id")
        and o.message_id is not None
    ]


# Field values as the Bot API reads them: strings raw, everything else JSON.
_NO_LINK_PREVIEW = ("link_preview_options", '{"is_disabled":true}')


def _own_request() -> H11Request:
    # Room for `_Window`'s largest limit; timeouts as the sender role's Bot has them.
    return H11Request(
        connection_pool_size=MAX_IN_FLIGHT,
        connect_timeout=CONNECT_TIMEOUT,
        read_timeout=READ_TIMEOUT,
        write_timeout=WRITE_TIMEOUT,
        pool_timeout=SEND_DEADLINE_SECONDS,
    )


def _common_fields(message: OutboxMessage) -> list[tuple[str, str]]:
    payload = message.payload
    fields = [("chat_id", str(message.chat_id)), ("text", str(payload["text"]))]
    if payload.get("parse_mode"):
        fields.append(("parse_mode", str(payload["parse_mode"])))
    markup = payload.get("reply_markup")
    if markup:
        fields.append(("reply_markup", json.dumps(markup, separators=(",", ":"))))
    fields.append(_NO_LINK_PREVIEW)
    return fields


def _send_fields(message: OutboxMessage, *, reply_to: int | None) -> list[tuple[str, str]]:
    fields = _common_fields(message)
    if message.payload.get("disable_notification"):
        fields.append(("disable_notification", "true"))
    if reply_to:
        reply = {"message_id": reply_to, "allow_sending_without_reply": True}
        fields.append(("reply_parameters", json.dumps(reply, separators=(",", ":"))))
    return fields


def _edit_fields(message: OutboxMessage, target: int) -> list[tuple[str, str]]:
    return [*_common_fields(message), ("message_id", str(target))]


def _message_id(result: object) -> int | None:
    # Telegram accepted the message: without an id it is still sent (never sent twice), only
    # its later edits cannot be made.
    message_id = result.get("message_id") if isinstance(result, dict) else None
    if isinstance(message_id, int):
        return message_id
    log.warning("sendMessage answered without a message_id: %.200r", result)
    return None


def _freeze_startup_heap() -> None:
    """Take what the process holds when sending starts out of the collector's full passes.

    That is the gazetteer, the rule index and the modules, all kept for the process's life.
    At 1000/s every batch of rows and tasks outlives the young generations, and that
    triggered a full pass every few seconds, 80-180 ms each with nothing to collect, when no
    message went out. Frozen objects are still freed by reference counting; only garbage
    cycles present at this moment stay. Once per process (a test process starts many senders).
    """
    if gc.get_freeze_count() == 0:
        gc.freeze()


def _seconds(value: object) -> float:
    if isinstance(value, timedelta):
        return value.total_seconds()
    return float(value)  # type: ignore[arg-type]


async def _release(
    session: AsyncSession, message: OutboxMessage, when: datetime, note: str
) -> None:
    """Back to the queue without using up an attempt (a 429, a busy chat, a pending original),
    unless another claim has been made on the row since ours lapsed."""
    await session.execute(
        update(OutboxRow)
        .where(
            OutboxRow.id == message.id,
            OutboxRow.status == "sending",
            outbox.under_claim(message.claimed_until),
        )
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
