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
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from feeds.extract import extract
from feeds.models import Item, Signals, Source
from feeds.parse import ParsedFeed, parse_feed

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
    outcomes = asyncio.run(_scan_all(args.inputs, allow_private=args.allow_private))
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


@dataclass(frozen=True, slots=True)
class _Outcome:
    label: str  # the input as the user typed it
    feed: ParsedFeed | None = None
    error: str | None = None


async def _scan_all(inputs: Sequence[str], *, allow_private: bool) -> list[_Outcome]:
    urls = [value for value in inputs if value.startswith(_URL_PREFIXES)]
    fetched: dict[str, _Outcome] = {}
    if urls:
        fetched = await _fetch_all(urls, allow_private=allow_private)
    return [fetched[value] if value in fetched else _read_file(value) for value in inputs]


def _read_file(value: str) -> _Outcome:
    if "://" in value:
        return _Outcome(value, error="only http:// and https:// URLs or local files can be read")
    path = Path(value)
    try:
        content = path.read_bytes()
    except FileNotFoundError:
        return _Outcome(value, error="file not found")
    except IsADirectoryError:
        return _Outcome(value, error="is a directory, not a feed file")
    except PermissionError:
        return _Outcome(value, error="permission denied")
    except OSError as exc:
        return _Outcome(value, error=f"cannot read the file: {exc.strerror or exc}")
    source = Source(url=path.resolve().as_uri(), name=path.name)
    return _parsed(value, parse_feed(content, source=source, fetched_at=datetime.now(UTC)))


async def _fetch_all(urls: Sequence[str], *, allow_private: bool) -> dict[str, _Outcome]:
    # Imported here so that scanning local files needs neither httpx nor the settings.
    from bot.config import ConfigError, load_settings
    from feeds.errors import FeedError
    from feeds.fetch import FetchLimits, fetch, make_client

    try:
        settings = load_settings()
    except ConfigError as exc:
        message = str(exc).replace("\n", "; ")
        return {url: _Outcome(url, error=message) for url in urls}
    limits = FetchLimits(allow_private_hosts=allow_private or settings.allow_private_feed_hosts)

    async def one(client: Any, url: str) -> _Outcome:
        try:
            result = await fetch(client, url, limits=limits)
        except FeedError as exc:
            return _Outcome(url, error=exc.message)
        source = Source(url=result.url, name=_host(result.url))
        content = result.content or b""
        parsed = parse_feed(
            content, source=source, headers=result.headers, fetched_at=result.fetched_at
        )
        return _parsed(url, parsed)

    async with make_client(user_agent=settings.user_agent, limits=limits) as client:
        outcomes = await asyncio.gather(*(one(client, url) for url in dict.fromkeys(urls)))
    return {outcome.label: outcome for outcome in outcomes}


def _parsed(label: str, feed: ParsedFeed) -> _Outcome:
    if not feed.is_feed:
        detail = "; ".join(feed.problems[:2]) or "no feed structure found"
        return _Outcome(label, error=f"not a feed: {detail}")
    if feed.title:  # name items after the feed, which says more than a file or host name
        items = tuple(dataclasses.replace(item, source_name=feed.title) for item in feed.items)
        feed = dataclasses.replace(feed, items=items)
    return _Outcome(label, feed=feed)


def _host(url: str) -> str:
    return url.split("://", 1)[-1].split("/", 1)[0]


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
