"""How fresh a source is, in words a person can act on: up to date, stale, failing, or not
checked yet — so /status never implies "no outages" when the news simply is not arriving.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from bot.storage.sources import StoredSource

# A source counts as stale after missing this many of its polls (and at least STALE_MIN).
STALE_AFTER_POLLS = 3
STALE_MIN = timedelta(minutes=30)


class Health(StrEnum):
    OK = "ok"
    STALE = "stale"
    FAILING = "failing"
    PENDING = "pending"


@dataclass(frozen=True, slots=True)
class SourceHealth:
    source: StoredSource
    health: Health
    # Since the last successful poll (OK, STALE, FAILING with an earlier success), else None.
    age: timedelta | None


def source_health(
    source: StoredSource, *, now: datetime, default_interval_seconds: int
) -> SourceHealth:
    """Classify one source at `now`."""
    interval = timedelta(seconds=source.interval_seconds or default_interval_seconds)
    age = now - source.last_success_at if source.last_success_at else None
    if source.consecutive_failures > 0:
        return SourceHealth(source, Health.FAILING, age)
    if age is None:
        return SourceHealth(source, Health.PENDING, None)
    if age > max(STALE_MIN, interval * STALE_AFTER_POLLS):
        return SourceHealth(source, Health.STALE, age)
    return SourceHealth(source, Health.OK, age)


def age_parts(age: timedelta) -> tuple[str, int]:
    """("minutes" | "hours" | "days", count) for a human "… ago"."""
    seconds = max(0, int(age.total_seconds()))
    if seconds < 2 * 3600:
        return "minutes", max(1, seconds // 60)
    if seconds < 2 * 86400:
        return "hours", seconds // 3600
    return "days", seconds // 86400
