"""`python -m bot scan URL_OR_FILE...`: fetch (or read) feeds, print their items and facts.

A readable table by default; `--json` prints one JSON object per item per line. Problems with
one feed go to stderr as `error: <source>: <message>` and make the exit status 1.
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import enum
import json
import sys
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any, TextIO

from bot.feed_inputs import read_feeds
from feeds.extract import extract
from feeds.models import Item, Signals

_URL_PREFIXES = ("http://", "https://")
_TITLE_WIDTH = 60
_SOURCE_WIDTH = 20


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "inputs",
        nargs="+",
        metavar="URL_OR_FILE",
        help="feed URLs (http/https) or local feed files (RSS, Atom, JSON Feed)",
    )
    parser.add_argument(
        "--json", action="store_true", help="print one JSON object per item per line"
    )
    parser.add_argument(
        "--limit",
        type=_positive_int,
        default=None,
        metavar="N",
        help="show at most the N newest items of each feed",
    )
    parser.add_argument(
        "--allow-private",
        action="store_true",
        help="allow URLs on private or loopback addresses (local test servers)",
    )


def run(args: argparse.Namespace) -> int:
    """Scan every input; 0 when all worked, 1 when any feed failed."""
    outcomes = asyncio.run(read_feeds(args.inputs, allow_private=args.allow_private))
    out, err = sys.stdout, sys.stderr
    failed = False
    rows: list[tuple[Item, Signals]] = []
    for outcome in outcomes:
        if outcome.error is not None:
            failed = True
            _report(err, "error", outcome.label, outcome.error)
            continue
        assert outcome.feed is not None  # no error means a parsed feed
        for problem in outcome.feed.problems:
            _report(err, "warning", outcome.label, problem)
        items = sorted(outcome.feed.items, key=lambda item: item.published, reverse=True)
        for item in items[: args.limit]:
            try:
                signals = extract(item)
            except Exception as exc:  # an extractor bug must not hide the other items
                failed = True
                _report(
                    err, "error", outcome.label, f"fact extraction failed for {item.key}: {exc}"
                )
                continue
            if args.json:
                out.write(json.dumps(item_record(item, signals), ensure_ascii=False) + "\n")
            else:
                rows.append((item, signals))
    if not args.json:
        _print_table(out, rows, feeds=sum(o.error is None for o in outcomes))
    return 1 if failed else 0


def item_record(item: Item, signals: Signals) -> dict[str, Any]:
    """Every field of the item plus its `signals`, as JSON-ready values."""
    record: dict[str, Any] = _jsonable(item)
    record["signals"] = _jsonable(signals)
    return record


# --- reading and fetching ------------------------------------------------------------------


# --- output --------------------------------------------------------------------------------


def _report(err: TextIO, kind: str, label: str, message: str) -> None:
    err.write(f"{kind}: {label}: {' '.join(message.split())}\n")


def _print_table(out: TextIO, rows: Sequence[tuple[Item, Signals]], *, feeds: int) -> None:
    header = ("source", "published (UTC)", "title", "facts")
    lines = [
        (
            _cut(item.source_name, _SOURCE_WIDTH),
            item.published.astimezone(UTC).strftime("%Y-%m-%d %H:%M"),
            _cut(item.title or item.summary, _TITLE_WIDTH),
            _facts(signals),
        )
        for item, signals in rows
    ]
    widths = [max([len(header[i]), *(len(line[i]) for line in lines)]) for i in range(3)]
    for line in (header, *lines):
        cells = [cell.ljust(width) for cell, width in zip(line[:3], widths, strict=True)]
        out.write("  ".join([*cells, line[3]]).rstrip() + "\n")
    noun = "feed" if feeds == 1 else "feeds"
    out.write(f"\n{len(rows)} items from {feeds} {noun}\n")


def _facts(signals: Signals) -> str:
    parts = []
    if signals.categories:
        parts.append(",".join(sorted(signals.categories)))
    if signals.temperatures_c:
        parts.append(" ".join(f"{t:g}°C" for t in signals.temperatures_c))
    if signals.places:
        parts.append(",".join(dict.fromkeys(place.name for place in signals.places)))
    if signals.affected is not None:
        parts.append(f"{signals.affected:,} affected")
    elif signals.affected_lower_bound is not None:
        parts.append(f">={signals.affected_lower_bound:,} affected")
    return "; ".join(parts) or "-"


def _cut(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1].rstrip() + "…"


def _jsonable(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, enum.StrEnum):
        return value.value
    if isinstance(value, enum.IntEnum):
        return value.name.lower()
    if isinstance(value, frozenset | set):
        return sorted(_jsonable(v) for v in value)
    if isinstance(value, tuple | list):
        return [_jsonable(v) for v in value]
    return value


def _positive_int(text: str) -> int:
    try:
        number = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if number < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return number
