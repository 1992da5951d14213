"""When to poll a feed next: pure functions of the interval, the feed's own caching hints
and its recent failures.
"""

from __future__ import annotations

import math
import re
import zlib
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

UNHEALTHY_AFTER = 5
# How much sooner than a whole interval a feed may come round again to keep its slot: a poll
# runs after its slot by however long leasing and queueing took.
SLOT_EARLY = 0.1

_MAX_AGE = re.compile(r"(?:^|[,\s])max-age\s*=\s*\"?(\d+)\"?", re.IGNORECASE)
_NO_CACHE = re.compile(r"(?:^|[,\s])(?:no-cache|no-store)(?:$|[,\s=])", re.IGNORECASE)
# Doubling stops mattering long before this; it keeps 2**n from growing without bound.
_MAX_DOUBLINGS = 30


def max_age_seconds(cache_control: str | None) -> int | None:
    """`max-age` from a Cache-Control header; None when absent or when caching is refused."""
    if not cache_control or _NO_CACHE.search(cache_control):
        return None
    match = _MAX_AGE.search(cache_control)
    return int(match.group(1)) if match else None


def expires_in(expires: str | None, *, now: datetime) -> timedelta | None:
    """How far in the future an `Expires` date is; None for a past or invalid date ("0")."""
    if not expires:
        return None
    try:
        when = parsedate_to_datetime(expires.strip())
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    delta = when - now
    return delta if delta > timedelta(0) else None


def next_poll_at(
    *,
    now: datetime,
    interval: timedelta,
    ttl_seconds: int | None = None,
    cache_control: str | None = None,
    expires: str | None = None,
    min_interval: timedelta,
    max_interval: timedelta,
    consecutive_failures: int = 0,
    retry_after: float | None = None,
    phase: float | None = None,
) -> datetime:
    """The next time to poll a feed.

    Politeness first: the wait is the longest of our `interval`, the feed's `<ttl>`, its
    `Cache-Control: max-age` and its `Expires` (the publisher asked us not to come back
    sooner), then clamped to [`min_interval`, `max_interval`] so that a silly hint neither
    hammers the server nor hides news for days. After failures the wait doubles per failure
    (capped at `max_interval`); a server's `Retry-After` (seconds) is honoured up to the cap.

    With a `phase` (see `feed_phase`) and nothing but our own interval to go by, the poll
    lands on the feed's next slot at least an interval away instead (`on_phase`): feeds keep
    their own places in the interval, so a thousand feeds added at once are not polled in one
    herd every round ever after, and the work (and the news) comes in evenly.
    """
    wait = interval
    hints = [
        timedelta(seconds=ttl_seconds) if ttl_seconds and ttl_seconds > 0 else None,
        _seconds(max_age_seconds(cache_control)),
        expires_in(expires, now=now),
        _seconds(retry_after),
    ]
    for hint in hints:
        if hint is not None and hint > wait:
            wait = hint
    if consecutive_failures > 0:
        # In float seconds: a timedelta would overflow long before the cap applies.
        backoff = interval.total_seconds() * 2.0 ** min(consecutive_failures, _MAX_DOUBLINGS)
        wait = timedelta(seconds=min(backoff, max_interval.total_seconds()))
        retry = _seconds(retry_after)
        if retry is not None and retry > wait:
            wait = retry
    elif phase is not None and wait == interval:
        # The slot grid of the clamped interval, unclamped again: clamping a slot that lies
        # a little less than an interval away up to `min_interval` (when the two are equal)
        # would push the feed off its slot by the lag of every poll.
        return on_phase(now, min(max(interval, min_interval), max_interval), phase)
    return now + min(max(wait, min_interval), max_interval)


def feed_phase(url: str) -> float:
    """A feed's own place in the poll interval, as a fraction in [0, 1): stable across
    processes and restarts (a CRC of the URL, not Python's salted `hash`)."""
    return zlib.crc32(url.encode("utf-8")) / 2**32


def on_phase(now: datetime, interval: timedelta, phase: float) -> datetime:
    """The feed's first slot at least `1 - SLOT_EARLY` intervals after `now`; its slots lie
    `phase` of the way into each interval, counted from the epoch.

    On the grid, polls are exactly one interval apart: a poll runs a little after its slot
    (lease, queue), and the following slot one interval on is still far enough. Off it (a new
    feed, or after a failure or a long hint) the one poll that finds the slot waits up to a
    second interval. A poll that ran later than `SLOT_EARLY` of an interval skips a slot rather
    than come back sooner.
    """
    period = interval.total_seconds()
    if period <= 0:
        return now + interval
    earliest = now.timestamp() + period * (1 - SLOT_EARLY)
    offset = (phase % 1.0) * period
    slot = math.ceil((earliest - offset) / period) * period + offset
    return datetime.fromtimestamp(slot, UTC)


def is_unhealthy(consecutive_failures: int, threshold: int = UNHEALTHY_AFTER) -> bool:
    """A source that failed `threshold` times in a row needs a person to look at it."""
    return consecutive_failures >= threshold


def _seconds(value: float | None) -> timedelta | None:
    return timedelta(seconds=value) if value is not None and value > 0 else None
