"""When to poll a feed next: pure functions of the interval, the feed's own caching hints
and its recent failures.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from email.utils import parsedate_to_datetime

UNHEALTHY_AFTER = 5

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
) -> datetime:
    """The next time to poll a feed.

    Politeness first: the wait is the longest of our `interval`, the feed's `<ttl>`, its
    `Cache-Control: max-age` and its `Expires` (the publisher asked us not to come back
    sooner), then clamped to [`min_interval`, `max_interval`] so that a silly hint neither
    hammers the server nor hides news for days. After failures the wait doubles per failure
    (capped at `max_interval`); a server's `Retry-After` (seconds) is honoured up to the cap.
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
    return now + min(max(wait, min_interval), max_interval)


def is_unhealthy(consecutive_failures: int, threshold: int = UNHEALTHY_AFTER) -> bool:
    """A source that failed `threshold` times in a row needs a person to look at it."""
    return consecutive_failures >= threshold


def _seconds(value: float | None) -> timedelta | None:
    return timedelta(seconds=value) if value is not None and value > 0 else None
