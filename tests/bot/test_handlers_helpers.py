"""The handlers' pure helpers: times people type and source freshness."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta

import pytest

from bot.handlers.freshness import Health, age_parts, source_health
from bot.handlers.times import (
    TimeInputError,
    parse_time_of_day,
    parse_time_range,
    parse_timezone,
)
from bot.storage.sources import StoredSource

NOW = datetime(2026, 1, 10, 12, 0, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("08:00", time(8, 0), id="hh-mm"),
        pytest.param("8:30", time(8, 30), id="h-mm"),
        pytest.param("7.15", time(7, 15), id="dot"),
        pytest.param("23", time(23, 0), id="hour-only"),
        pytest.param(" 00:00 ", time(0, 0), id="midnight-spaces"),
    ],
)
def test_time_of_day(text: str, expected: time) -> None:
    assert parse_time_of_day(text) == expected


@pytest.mark.parametrize("text", ["25:99", "24:00", "12:60", "noon", "", "8:3", "-1:00", "123:00"])
def test_bad_time_of_day(text: str) -> None:
    with pytest.raises(TimeInputError):
        parse_time_of_day(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("23:00-07:00", (time(23), time(7))),
        ("22:30 – 6:45", (time(22, 30), time(6, 45))),
        ("13:00 to 14:00", (time(13), time(14))),
    ],
)
def test_time_range(text: str, expected: tuple[time, time]) -> None:
    assert parse_time_range(text) == expected


@pytest.mark.parametrize("text", ["23:00", "23:00-23:00", "23:00-25:00", "a-b", "1-2-3"])
def test_bad_time_range(text: str) -> None:
    with pytest.raises(TimeInputError):
        parse_time_range(text)


@pytest.mark.parametrize(
    ("text", "zone"),
    [("Europe/Kyiv", "Europe/Kyiv"), ("europe/warsaw", "Europe/Warsaw"), ("kyiv", "Europe/Kyiv"),
     ("UTC", "UTC")],
)  # fmt: skip
def test_timezone(text: str, zone: str) -> None:
    assert parse_timezone(text) == zone


@pytest.mark.parametrize("text", ["Mars/Base", "Europe", "../etc/passwd", "/etc/passwd", ""])
def test_bad_timezone(text: str) -> None:
    with pytest.raises(TimeInputError):
        parse_timezone(text)


def _source(**state: object) -> StoredSource:
    values: dict[str, object] = {
        "id": 1,
        "url": "https://example.com/rss",
        "name": "Example",
        "language": None,
        "interval_seconds": 300,
        "enabled": True,
        "etag": None,
        "last_modified": None,
        "content_hash": None,
        "next_poll_at": NOW,
        "consecutive_failures": 0,
        "last_success_at": None,
        "last_error": None,
        "last_error_at": None,
        "lease_owner": None,
        "lease_until": None,
        "added_by": None,
        "created_at": NOW,
    }
    values.update(state)
    return StoredSource(**values)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("state", "health"),
    [
        pytest.param({}, Health.PENDING, id="never-polled"),
        pytest.param({"last_success_at": NOW - timedelta(minutes=5)}, Health.OK, id="fresh"),
        pytest.param({"last_success_at": NOW - timedelta(minutes=29)}, Health.OK, id="within-30m"),
        pytest.param({"last_success_at": NOW - timedelta(hours=2)}, Health.STALE, id="stale"),
        pytest.param(
            {"last_success_at": NOW - timedelta(minutes=1), "consecutive_failures": 1},
            Health.FAILING,
            id="failing",
        ),
        pytest.param(
            {"last_success_at": NOW - timedelta(hours=2), "interval_seconds": 3600},
            Health.OK,
            id="slow-feed-not-stale",
        ),
    ],
)
def test_source_health(state: dict[str, object], health: Health) -> None:
    assert source_health(_source(**state), now=NOW, default_interval_seconds=300).health is health


def test_age_parts() -> None:
    assert age_parts(timedelta(seconds=20)) == ("minutes", 1)
    assert age_parts(timedelta(minutes=90)) == ("minutes", 90)
    assert age_parts(timedelta(hours=5)) == ("hours", 5)
    assert age_parts(timedelta(days=3)) == ("days", 3)
