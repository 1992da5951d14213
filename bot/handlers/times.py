"""Times people type: `08:00`, `8.30`, `23:00-07:00`; a clear error for `25:99`."""

from __future__ import annotations

import re
from datetime import time
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

_TIME = re.compile(r"^\s*(\d{1,2})(?:[:.h ](\d{2}))?\s*$")
_RANGE_SPLIT = re.compile(r"\s*(?:-|–|—|to|до)\s*")


class TimeInputError(ValueError):
    """The text is not a time of day (or a range of them)."""


def parse_time_of_day(text: str) -> time:
    """`"08:00"`, `"8:30"`, `"8.30"`, `"8"` -> a time; raises `TimeInputError` otherwise."""
    match = _TIME.match(text)
    if match is None:
        raise TimeInputError(text)
    hour, minute = int(match.group(1)), int(match.group(2) or 0)
    if hour > 23 or minute > 59:
        raise TimeInputError(text)
    return time(hour, minute)


def parse_time_range(text: str) -> tuple[time, time]:
    """`"23:00-07:00"` -> (23:00, 07:00); the range may span midnight but not be empty."""
    parts = _RANGE_SPLIT.split(text.strip(), maxsplit=1)
    if len(parts) != 2:
        raise TimeInputError(text)
    start, end = parse_time_of_day(parts[0]), parse_time_of_day(parts[1])
    if start == end:
        raise TimeInputError(text)
    return start, end


def format_time(value: time) -> str:
    return value.strftime("%H:%M")


def parse_timezone(text: str) -> str:
    """An IANA zone name as typed (`europe/kyiv` works too); raises `TimeInputError`."""
    name = text.strip()
    if not name or len(name) > 64 or ".." in name or name.startswith("/"):
        raise TimeInputError(text)
    candidates = [name, "/".join(part[:1].upper() + part[1:] for part in name.split("/"))]
    if name.lower() in ("kiev", "kyiv"):
        candidates.insert(0, "Europe/Kyiv")
    for candidate in candidates:
        try:
            ZoneInfo(candidate)
        except (ZoneInfoNotFoundError, ValueError, OSError):  # OSError: "Europe" is a folder
            continue
        return candidate
    raise TimeInputError(text)
