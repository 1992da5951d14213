"""Poll scheduling: table-driven tests of the pure functions in `feeds.schedule`."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from feeds.schedule import (
    SLOT_EARLY,
    expires_in,
    feed_phase,
    is_unhealthy,
    max_age_seconds,
    next_poll_at,
    on_phase,
)

NOW = datetime(2025, 1, 15, 12, 0, 0, tzinfo=UTC)
MIN = timedelta(minutes=1)
MAX = timedelta(hours=1)
FIVE = timedelta(minutes=5)


def _next(**overrides: object) -> timedelta:
    arguments: dict[str, object] = {
        "now": NOW,
        "interval": FIVE,
        "min_interval": MIN,
        "max_interval": MAX,
    }
    arguments.update(overrides)
    return next_poll_at(**arguments) - NOW  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        pytest.param({}, FIVE, id="plain-interval"),
        pytest.param({"ttl_seconds": 1800}, timedelta(minutes=30), id="ttl-longer-wins"),
        pytest.param({"ttl_seconds": 60}, FIVE, id="ttl-shorter-ignored"),
        pytest.param({"ttl_seconds": 86400}, MAX, id="ttl-clamped-to-max"),
        pytest.param({"ttl_seconds": 0}, FIVE, id="ttl-zero"),
        pytest.param({"cache_control": "public, max-age=900"}, timedelta(minutes=15), id="max-age"),
        pytest.param({"cache_control": "max-age=10"}, FIVE, id="max-age-short"),
        pytest.param({"cache_control": "no-cache, max-age=900"}, FIVE, id="no-cache-wins"),
        pytest.param({"cache_control": "max-age=abc"}, FIVE, id="max-age-garbage"),
        pytest.param(
            {"expires": "Wed, 15 Jan 2025 12:20:00 GMT"}, timedelta(minutes=20), id="expires"
        ),
        pytest.param({"expires": "0"}, FIVE, id="expires-zero"),
        pytest.param({"expires": "Wed, 15 Jan 2025 11:00:00 GMT"}, FIVE, id="expires-past"),
        pytest.param(
            {"ttl_seconds": 600, "cache_control": "max-age=1200"},
            timedelta(minutes=20),
            id="longest-hint-wins",
        ),
        pytest.param({"interval": timedelta(seconds=10)}, MIN, id="interval-clamped-to-min"),
        pytest.param({"interval": timedelta(hours=3)}, MAX, id="interval-clamped-to-max"),
        pytest.param({"consecutive_failures": 1}, timedelta(minutes=10), id="one-failure"),
        pytest.param({"consecutive_failures": 2}, timedelta(minutes=20), id="two-failures"),
        pytest.param({"consecutive_failures": 3}, timedelta(minutes=40), id="three-failures"),
        pytest.param({"consecutive_failures": 4}, MAX, id="backoff-capped"),
        pytest.param({"consecutive_failures": 10_000}, MAX, id="no-overflow"),
        pytest.param(
            {"interval": timedelta(days=1), "consecutive_failures": 60},
            MAX,
            id="long-interval-no-overflow",
        ),
        pytest.param(
            {"consecutive_failures": 1, "retry_after": 1800.0},
            timedelta(minutes=30),
            id="retry-after-beats-backoff",
        ),
        pytest.param(
            {"consecutive_failures": 1, "retry_after": 86400.0}, MAX, id="retry-after-capped"
        ),
        pytest.param(
            {"consecutive_failures": 1, "ttl_seconds": 3000},
            timedelta(minutes=10),
            id="failure-backoff-not-stretched-by-old-ttl",
        ),
    ],
)
def test_next_poll_at(overrides: dict[str, object], expected: timedelta) -> None:
    assert _next(**overrides) == expected


def test_next_poll_at_is_aware_and_in_the_future() -> None:
    when = next_poll_at(now=NOW, interval=FIVE, min_interval=MIN, max_interval=MAX)
    assert when.tzinfo is not None
    assert when > NOW


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        pytest.param("max-age=300", 300, id="bare"),
        pytest.param("public, max-age=60, must-revalidate", 60, id="among-others"),
        pytest.param('max-age="120"', 120, id="quoted"),
        pytest.param("s-maxage=600", None, id="shared-cache-only"),
        pytest.param("no-store", None, id="no-store"),
        pytest.param("", None, id="empty"),
        pytest.param(None, None, id="absent"),
    ],
)
def test_max_age_seconds(header: str | None, expected: int | None) -> None:
    assert max_age_seconds(header) == expected


def test_expires_in_naive_date_is_read_as_utc() -> None:
    assert expires_in("Wed, 15 Jan 2025 12:10:00", now=NOW) == timedelta(minutes=10)


@pytest.mark.parametrize(
    ("failures", "threshold", "unhealthy"),
    [
        pytest.param(0, 5, False, id="fresh"),
        pytest.param(4, 5, False, id="just-below"),
        pytest.param(5, 5, True, id="at-threshold"),
        pytest.param(9, 5, True, id="above"),
        pytest.param(1, 1, True, id="strict-threshold"),
    ],
)
def test_is_unhealthy(failures: int, threshold: int, unhealthy: bool) -> None:
    assert is_unhealthy(failures, threshold) is unhealthy


def test_default_threshold_is_five() -> None:
    assert not is_unhealthy(4)
    assert is_unhealthy(5)


# --- spreading feeds over the interval ---------------------------------------------------

EARLY = FIVE * SLOT_EARLY


def _slot_phase(when: datetime, interval: timedelta) -> float:
    """Where in the interval `when` lies, as a fraction (the inverse of the slot grid)."""
    period = interval.total_seconds()
    return (when.timestamp() % period) / period


def _on_slot(when: datetime, phase: float) -> bool:
    off = abs(_slot_phase(when, FIVE) - phase)
    return min(off, 1 - off) < 1e-6


def test_a_feed_on_its_slot_is_polled_exactly_one_interval_apart() -> None:
    phase = feed_phase("https://example.org/rss")
    at = on_phase(NOW, FIVE, phase)
    assert _on_slot(at, phase)
    for _ in range(20):
        # The poll runs a little after its slot (lease, fetch); the next slot is unchanged.
        following = on_phase(at + timedelta(seconds=7), FIVE, phase)
        assert following - at == FIVE
        at = following
    # Run exactly at its slot (as stored, to the microsecond), too.
    assert on_phase(at, FIVE, phase) - at == FIVE
    # Run later than SLOT_EARLY of an interval: the slot after next, never sooner.
    assert on_phase(at + EARLY * 1.5, FIVE, phase) - at == 2 * FIVE


@given(
    start=st.floats(min_value=0, max_value=10 * 86400),
    phase=st.floats(min_value=0, max_value=1, exclude_max=True),
    lag=st.floats(min_value=0, max_value=29),
)
def test_any_feed_lands_on_its_slot_at_once_and_keeps_it(
    start: float, phase: float, lag: float
) -> None:
    """`lag`: how long after its scheduled time each poll actually runs."""
    polls = [NOW + timedelta(seconds=start)]
    for _ in range(3):
        ran = polls[-1] + timedelta(seconds=lag)
        following = on_phase(ran, FIVE, phase)
        assert FIVE - EARLY <= following - ran < 2 * FIVE - EARLY
        assert _on_slot(following, phase)
        polls.append(following)


def test_a_thousand_feeds_added_at_once_spread_over_the_interval() -> None:
    urls = [f"https://outlet{n % 100}.example/feeds/{n}.xml" for n in range(1000)]
    polls = [
        next_poll_at(
            now=NOW, interval=FIVE, min_interval=MIN, max_interval=MAX, phase=feed_phase(u)
        )
        for u in urls
    ]
    assert all(NOW + FIVE - EARLY <= when < NOW + 2 * FIVE - EARLY for when in polls)
    # One herd became ten even tenths of the interval.
    tenths = Counter(int(_slot_phase(when, FIVE) * 10) for when in polls)
    assert len(tenths) == 10
    assert all(60 <= count <= 140 for count in tenths.values()), tenths


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        pytest.param({"ttl_seconds": 1800}, timedelta(minutes=30), id="hint-longer-wins"),
        pytest.param({"consecutive_failures": 1}, timedelta(minutes=10), id="backoff"),
        pytest.param({"retry_after": 900.0}, timedelta(minutes=15), id="retry-after"),
    ],
)
def test_the_phase_gives_way_to_hints_and_backoff(
    overrides: dict[str, object], expected: timedelta
) -> None:
    assert _next(phase=0.3, **overrides) == expected


def test_the_phase_is_stable_and_differs_between_feeds() -> None:
    assert feed_phase("https://a.example/rss") == feed_phase("https://a.example/rss")
    assert feed_phase("https://a.example/rss") != feed_phase("https://b.example/rss")
    assert 0 <= feed_phase("") < 1


def test_a_feed_keeps_its_slot_when_the_floor_is_the_interval() -> None:
    """The worker's policy for a 60 s interval has min_interval = interval: polls that run a
    few seconds after their slot still come back on the slot, not a lag later each time."""
    minute = timedelta(seconds=60)
    phase = feed_phase("https://example.org/feed.xml")
    due = next_poll_at(now=NOW, interval=minute, min_interval=minute, max_interval=MAX, phase=phase)
    for lag in (3, 0.5, 5, 2, 4):
        following = next_poll_at(
            now=due + timedelta(seconds=lag),
            interval=minute,
            min_interval=minute,
            max_interval=MAX,
            phase=phase,
        )
        assert following - due == minute
        due = following
    # A feed whose own interval is below the floor is polled on the floor's grid.
    short = next_poll_at(
        now=NOW, interval=timedelta(seconds=10), min_interval=minute, max_interval=MAX, phase=0.5
    )
    assert minute * (1 - SLOT_EARLY) <= short - NOW < 2 * minute
