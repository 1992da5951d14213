"""Feeds named on the command line: local files are read, http(s) URLs fetched politely.

Shared by `scan` and `rules test`. Each input gives a parsed feed or one clear error line.
"""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from feeds.models import Source
from feeds.parse import ParsedFeed, parse_feed

_URL_PREFIXES = ("http://", "https://")


@dataclass(frozen=True, slots=True)
class FeedInput:
    label: str  # the input as the user typed it
    feed: ParsedFeed | None = None
    error: str | None = None


async def read_feeds(inputs: Sequence[str], *, allow_private: bool) -> list[FeedInput]:
    """One result per input, in order; URLs are fetched concurrently."""
    urls = [value for value in inputs if value.startswith(_URL_PREFIXES)]
    fetched: dict[str, FeedInput] = {}
    if urls:
        fetched = await _fetch_all(urls, allow_private=allow_private)
    return [fetched[value] if value in fetched else _read_file(value) for value in inputs]


def _read_file(value: str) -> FeedInput:
    if "://" in value:
        return FeedInput(value, error="only http:// and https:// URLs or local files can be read")
    path = Path(value)
    try:
        content = path.read_bytes()
    except FileNotFoundError:
        return FeedInput(value, error="file not found")
    except IsADirectoryError:
        return FeedInput(value, error="is a directory, not a feed file")
    except PermissionError:
        return FeedInput(value, error="permission denied")
    except OSError as exc:
        return FeedInput(value, error=f"cannot read the file: {exc.strerror or exc}")
    source = Source(url=path.resolve().as_uri(), name=path.name)
    return _parsed(value, parse_feed(content, source=source, fetched_at=datetime.now(UTC)))


async def _fetch_all(urls: Sequence[str], *, allow_private: bool) -> dict[str, FeedInput]:
    # Imported here so that scanning local files needs neither httpx nor the settings.
    from bot.config import ConfigError, load_settings
    from feeds.errors import FeedError
    from feeds.fetch import FetchLimits, fetch, make_client

    try:
        settings = load_settings()
    except ConfigError as exc:
        message = str(exc).replace("\n", "; ")
        return {url: FeedInput(url, error=message) for url in urls}
    limits = FetchLimits(allow_private_hosts=allow_private or settings.allow_private_feed_hosts)

    async def one(client: Any, url: str) -> FeedInput:
        try:
            result = await fetch(client, url, limits=limits)
        except FeedError as exc:
            return FeedInput(url, error=exc.message)
        source = Source(url=result.url, name=_host(result.url))
        content = result.content or b""
        parsed = parse_feed(
            content, source=source, headers=result.headers, fetched_at=result.fetched_at
        )
        return _parsed(url, parsed)

    async with make_client(user_agent=settings.user_agent, limits=limits) as client:
        outcomes = await asyncio.gather(*(one(client, url) for url in dict.fromkeys(urls)))
    return {outcome.label: outcome for outcome in outcomes}


def _parsed(label: str, feed: ParsedFeed) -> FeedInput:
    if not feed.is_feed:
        detail = "; ".join(feed.problems[:2]) or "no feed structure found"
        return FeedInput(label, error=f"not a feed: {detail}")
    if feed.title:  # name items after the feed, which says more than a file or host name
        items = tuple(dataclasses.replace(item, source_name=feed.title) for item in feed.items)
        feed = dataclasses.replace(feed, items=items)
    return FeedInput(label, feed=feed)


def _host(url: str) -> str:
    return url.split("://", 1)[-1].split("/", 1)[0]
