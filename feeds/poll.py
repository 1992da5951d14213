"""Poll many feeds at once: fetch concurrently under per-host and global caps, parse off the
event loop, and hand back what to store (validators, failures, next poll time, moved URL).
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import multiprocessing
import os
from collections.abc import AsyncIterator, Callable, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from urllib.parse import urlsplit

import httpx

from feeds.errors import FeedError, FetchError, HTTPStatusError, NotAFeedError
from feeds.fetch import (
    DEFAULT_LIMITS,
    DEFAULT_MAX_CONNECTIONS,
    FetchLimits,
    FetchResult,
    Validators,
    fetch,
)
from feeds.models import Item, Source
from feeds.netsafety import Resolver
from feeds.parse import ParsedFeed, parse_feed
from feeds.schedule import UNHEALTHY_AFTER, feed_phase, is_unhealthy, next_poll_at

DEFAULT_PER_HOST = 4
# Requests in flight at once, over all hosts. Polling is mostly waiting on the network, so
# more in flight means a shorter cycle; the cost is open sockets and, at worst, this many
# bodies of up to `FetchLimits.max_bytes` in memory (100 x ~0.1-1 MB typical). It equals the
# shared client's pool size (`make_client`), so no request waits for a connection.
DEFAULT_GLOBAL_LIMIT = DEFAULT_MAX_CONNECTIONS


@dataclass(frozen=True, slots=True)
class PollPolicy:
    """How often to poll: `Source.interval_seconds` overrides `interval` per feed. Each feed
    is polled at its own place in the interval (`feeds.schedule.on_phase`), not all at once.
    """

    interval: timedelta = timedelta(minutes=5)
    min_interval: timedelta = timedelta(minutes=1)
    max_interval: timedelta = timedelta(hours=1)
    unhealthy_after: int = UNHEALTHY_AFTER


@dataclass(frozen=True, slots=True)
class SourceState:
    """What we remember about a source between polls."""

    source: Source
    validators: Validators = field(default_factory=Validators)
    consecutive_failures: int = 0
    # The feed's last <ttl>, so that a 304 (nothing parsed) still honours it.
    ttl_seconds: int | None = None


@dataclass(frozen=True, slots=True)
class PollOutcome:
    """One source's poll: the items parsed (or the error) and the state to store.

    `items` is empty when the feed did not change (`not_modified`) or the poll failed.
    `state` is the next `SourceState`: new validators, the failure count, and a source
    whose URL follows a permanent redirect.
    """

    state: SourceState
    items: tuple[Item, ...] = ()
    error: FeedError | None = None
    not_modified: bool = False
    problems: tuple[str, ...] = ()
    next_poll_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    permanent_url: str | None = None
    unhealthy: bool = False
    feed_title: str | None = None
    feed_language: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def source(self) -> Source:
        return self.state.source


def make_parse_executor(workers: int | None = None) -> ProcessPoolExecutor:
    """A process pool for `poll_many(executor=...)`: parsing is CPU-bound Python, so threads
    share one core while processes use them all (see bench/README.md for the figures).

    "spawn" because forking a process that runs an event loop and threads is unsafe.
    The caller owns the pool: `shutdown()` it on exit.
    """
    return ProcessPoolExecutor(
        max_workers=workers or os.cpu_count() or 1,
        mp_context=multiprocessing.get_context("spawn"),
    )


async def poll_source(
    client: httpx.AsyncClient,
    state: SourceState,
    *,
    limits: FetchLimits = DEFAULT_LIMITS,
    policy: PollPolicy = PollPolicy(),
    now: datetime | None = None,
    executor: Executor | None = None,
    resolver: Resolver | None = None,
) -> PollOutcome:
    """Fetch and parse one source. Never raises a `FeedError`: it comes back in the outcome.

    Parsing runs in `executor` (the loop's default thread pool when None; a process pool
    parses in parallel on several cores), so a 1.5 MB feed does not stall the event loop.
    """
    return await _poll(
        client,
        state,
        limits=limits,
        policy=policy,
        now=now,
        executor=executor,
        resolver=resolver,
        slot=None,
    )


async def poll_many(
    client: httpx.AsyncClient,
    states: Sequence[SourceState],
    *,
    limits: FetchLimits = DEFAULT_LIMITS,
    policy: PollPolicy = PollPolicy(),
    per_host: int = DEFAULT_PER_HOST,
    global_limit: int = DEFAULT_GLOBAL_LIMIT,
    now: datetime | None = None,
    executor: Executor | None = None,
    resolver: Resolver | None = None,
    deadline: float | None = None,
) -> list[PollOutcome]:
    """Poll every source concurrently; outcomes come back in the order of `states`.

    See `poll_each`, which yields each outcome as soon as it is ready.
    """
    outcomes: list[PollOutcome | None] = [None] * len(states)
    async for index, outcome in poll_each(
        client,
        states,
        limits=limits,
        policy=policy,
        per_host=per_host,
        global_limit=global_limit,
        now=now,
        executor=executor,
        resolver=resolver,
        deadline=deadline,
    ):
        outcomes[index] = outcome
    return [outcome for outcome in outcomes if outcome is not None]


async def poll_each(
    client: httpx.AsyncClient,
    states: Sequence[SourceState],
    *,
    limits: FetchLimits = DEFAULT_LIMITS,
    policy: PollPolicy = PollPolicy(),
    per_host: int = DEFAULT_PER_HOST,
    global_limit: int = DEFAULT_GLOBAL_LIMIT,
    now: datetime | None = None,
    executor: Executor | None = None,
    resolver: Resolver | None = None,
    deadline: float | None = None,
) -> AsyncIterator[tuple[int, PollOutcome]]:
    """Poll every source concurrently and yield `(index in states, outcome)` as each ends.

    A stalled feed then delays nobody else's news. At most `per_host` requests run against
    one host and `global_limit` in all. The caps cover each network attempt only: neither
    the waits between retries nor the parsing hold a slot. `deadline` bounds one source's
    poll, retries included (a stalled server otherwise costs every retry's timeout).
    Without an `executor`, parsing runs on one dedicated thread: the loop's default pool
    also serves DNS lookups, which must not queue behind a pile of parses.
    """
    caps = _Caps(per_host=per_host, global_limit=global_limit)
    own_pool = None if executor is not None else ThreadPoolExecutor(1, "feed-parse")
    parse_pool = executor or own_pool

    async def one(index: int, state: SourceState) -> tuple[int, PollOutcome]:
        try:
            async with asyncio.timeout(deadline):
                outcome = await _poll(
                    client,
                    state,
                    limits=limits,
                    policy=policy,
                    now=now,
                    executor=parse_pool,
                    resolver=resolver,
                    slot=functools.partial(caps.slot, state.source.url),
                )
        except TimeoutError:
            error: FeedError = FetchError(
                state.source.url, f"no complete answer within {deadline:.0f} s"
            )
            outcome = _failed(state, error, policy=policy, now=now or datetime.now(UTC))
        except Exception as exc:  # a bug in one feed's poll must not cancel the others
            error = FeedError(state.source.url, f"unexpected {type(exc).__name__}: {exc}")
            outcome = _failed(state, error, policy=policy, now=now or datetime.now(UTC))
        return index, outcome

    tasks = [asyncio.create_task(one(i, state)) for i, state in enumerate(states)]
    try:
        for finished in asyncio.as_completed(tasks):
            yield await finished
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if own_pool is not None:
            own_pool.shutdown(wait=False, cancel_futures=True)


class _Caps:
    """A global semaphore plus one per host, created on first use."""

    def __init__(self, *, per_host: int, global_limit: int) -> None:
        if per_host < 1 or global_limit < 1:
            raise ValueError("concurrency caps must be at least 1")
        self._per_host = per_host
        self._global = asyncio.Semaphore(global_limit)
        self._hosts: dict[str, asyncio.Semaphore] = {}

    @contextlib.asynccontextmanager
    async def slot(self, url: str) -> AsyncIterator[None]:
        try:
            # Only a grouping key: urlsplit is several times cheaper than httpx.URL.
            host = urlsplit(url).hostname or ""
        except ValueError:
            host = ""  # fetch reports the bad URL; it still takes a slot
        host_cap = self._hosts.setdefault(host, asyncio.Semaphore(self._per_host))
        # Host first: a feed waiting for its busy host must not hold a global slot.
        async with host_cap, self._global:
            yield


async def _poll(
    client: httpx.AsyncClient,
    state: SourceState,
    *,
    limits: FetchLimits,
    policy: PollPolicy,
    now: datetime | None,
    executor: Executor | None,
    resolver: Resolver | None,
    slot: Callable[[], AbstractAsyncContextManager[object]] | None,
) -> PollOutcome:
    started = now or datetime.now(UTC)
    source = state.source
    try:
        result = await fetch(
            client,
            source.url,
            validators=state.validators,
            limits=limits,
            resolver=resolver,
            slot=slot,
        )
    except FeedError as fetch_error:
        return _failed(state, fetch_error, policy=policy, now=started)

    moved = replace(source, url=result.permanent_url) if result.permanent_url else source
    if result.content is None:
        return _succeeded(state, moved, result, None, policy=policy, now=started)

    loop = asyncio.get_running_loop()
    parsed = await loop.run_in_executor(
        executor,
        functools.partial(
            parse_feed,
            result.content,
            source=source,
            headers=result.headers,
            fetched_at=result.fetched_at,
        ),
    )
    if not parsed.is_feed:
        detail = "; ".join(parsed.problems[:2]) or "no feed found in the response"
        not_a_feed = NotAFeedError(result.url, f"not a feed: {detail}")
        # Old validators stay: storing the page's hash would make the same page look like an
        # unchanged, healthy feed on the next poll.
        return _failed(state, not_a_feed, policy=policy, now=started)
    return _succeeded(state, moved, result, parsed, policy=policy, now=started)


def _succeeded(
    state: SourceState,
    source: Source,
    result: FetchResult,
    parsed: ParsedFeed | None,
    *,
    policy: PollPolicy,
    now: datetime,
) -> PollOutcome:
    ttl_seconds = parsed.ttl_seconds if parsed else state.ttl_seconds
    return PollOutcome(
        state=SourceState(
            source=source,
            validators=result.validators,
            consecutive_failures=0,
            ttl_seconds=ttl_seconds,
        ),
        items=parsed.items if parsed else (),
        not_modified=parsed is None,
        problems=parsed.problems if parsed else (),
        next_poll_at=next_poll_at(
            now=now,
            interval=_interval(source, policy),
            ttl_seconds=ttl_seconds,
            cache_control=result.headers.get("cache-control"),
            expires=result.headers.get("expires"),
            min_interval=policy.min_interval,
            max_interval=policy.max_interval,
            phase=feed_phase(source.url),
        ),
        permanent_url=result.permanent_url,
        feed_title=parsed.title if parsed else None,
        feed_language=parsed.language if parsed else None,
    )


def _failed(
    state: SourceState, error: FeedError, *, policy: PollPolicy, now: datetime
) -> PollOutcome:
    failures = state.consecutive_failures + 1
    gone = isinstance(error, HTTPStatusError) and error.gone
    return PollOutcome(
        state=replace(state, consecutive_failures=failures),
        error=error,
        next_poll_at=next_poll_at(
            now=now,
            interval=_interval(state.source, policy),
            min_interval=policy.min_interval,
            max_interval=policy.max_interval,
            consecutive_failures=failures,
            retry_after=getattr(error, "retry_after", None),
        ),
        # 410 Gone is the publisher saying the feed will not come back: no need to wait.
        unhealthy=gone or is_unhealthy(failures, policy.unhealthy_after),
    )


def _interval(source: Source, policy: PollPolicy) -> timedelta:
    if source.interval_seconds and source.interval_seconds > 0:
        return timedelta(seconds=source.interval_seconds)
    return policy.interval
