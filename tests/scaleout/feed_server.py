"""A local news site with many RSS feeds, in its own process: counts every request per feed,
publishes new items at run time and misbehaves per feed on request.

Behaviours (`FeedServer.behave(feed, mode)`): `ok`; `slow` (answer after `seconds`);
`stall` (read the request, never answer; hang up after `seconds` or when the client does);
`reset` (TCP RST instead of an answer); `garbage` (200 with random bytes); `huge` (200 with a
1 GiB body, generated while streamed, never stored); `error` (HTTP `code`, 503 by default).
The `ok` answer carries an ETag and honours If-None-Match (304), as real feeds do.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import random
import re
import socket
import struct
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any

from tests.scaleout.child import ChildService

GIGABYTE = 1024**3
MODES = frozenset({"ok", "slow", "stall", "reset", "garbage", "huge", "error"})
_PATH = re.compile(r"/feed/(\d+)\.xml")
_CHUNK = 64 * 1024


@dataclass(frozen=True, slots=True)
class Request:
    """One request the server received: which feed, when (time.monotonic, which is shared by
    the processes of this machine), how it was answered, and the body bytes written."""

    feed: int
    at: float
    answer: str
    sent_bytes: int = 0


@dataclass
class _Feed:
    items: list[dict[str, str]] = field(default_factory=list)
    version: int = 0
    mode: str = "ok"
    params: dict[str, Any] = field(default_factory=dict)


class FeedService:
    """The server side (runs in the child process)."""

    def __init__(self, *, feeds: int, seed: int = 0) -> None:
        self.feeds = {n: _Feed() for n in range(feeds)}
        self.log: list[list[Any]] = []  # [feed, at, answer, sent_bytes], mutable while streaming
        self.rng = random.Random(seed)
        self.server: asyncio.Server | None = None
        self.connections: set[asyncio.Task[None]] = set()

    async def start(self) -> dict[str, Any]:
        self.server = await asyncio.start_server(self._connection, "127.0.0.1", 0, backlog=1024)
        port = self.server.sockets[0].getsockname()[1]
        return {"url": f"http://127.0.0.1:{port}", "feeds": len(self.feeds)}

    async def stop(self) -> None:
        if self.server is not None:
            self.server.close()
        for task in list(self.connections):
            task.cancel()
        await asyncio.gather(*self.connections, return_exceptions=True)

    # -- control -------------------------------------------------------------------------

    async def rpc_publish(self, *, feed: int, items: list[dict[str, str]]) -> int:
        state = self.feeds[feed]
        state.items.extend(items)
        state.version += 1
        return state.version

    async def rpc_behave(self, *, feed: int, mode: str, **params: Any) -> None:
        if mode not in MODES:
            raise ValueError(f"unknown mode {mode!r}")
        self.feeds[feed].mode = mode
        self.feeds[feed].params = params

    async def rpc_requests(self) -> list[tuple[int, float, str, int]]:
        return [(f, at, answer, sent) for f, at, answer, sent in self.log]

    # -- HTTP ----------------------------------------------------------------------------

    async def _connection(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self.connections.add(task)
        try:
            await self._serve(reader, writer)
        except (ConnectionError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            pass
        except TimeoutError:
            pass
        finally:
            self.connections.discard(task)
            with contextlib.suppress(Exception):
                writer.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 30)
        lines = head.decode("latin-1").split("\r\n")
        parts = lines[0].split(" ")
        headers = {}
        for line in lines[1:]:
            name, _, value = line.partition(":")
            if name:
                headers[name.strip().lower()] = value.strip()
        match = _PATH.fullmatch(parts[1] if len(parts) > 1 else "")
        if match is None or int(match[1]) not in self.feeds:
            await _answer(writer, 404, b"no such feed", "text/plain")
            return
        number = int(match[1])
        feed = self.feeds[number]
        entry: list[Any] = [number, time.monotonic(), feed.mode, 0]
        self.log.append(entry)
        mode, params = feed.mode, feed.params
        if mode == "slow":
            await asyncio.sleep(float(params.get("seconds", 3.0)))
            mode = "ok"
        if mode == "ok":
            etag = f'"{number}-{feed.version}"'
            if headers.get("if-none-match") == etag:
                entry[2] = "304"
                await _answer(writer, 304, b"", None, extra={"ETag": etag})
                return
            body = _rss(number, feed.items)
            entry[2], entry[3] = "200", len(body)
            await _answer(writer, 200, body, "application/rss+xml; charset=utf-8", {"ETag": etag})
        elif mode == "stall":
            # Hold the connection open without a byte; the client's timeout must end it.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(reader.read(), float(params.get("seconds", 3600)))
        elif mode == "reset":
            sock = writer.get_extra_info("socket")
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.transport.abort()
        elif mode == "garbage":
            body = self.rng.randbytes(int(params.get("size", 20_000)))
            entry[3] = len(body)
            await _answer(writer, 200, body, "application/rss+xml")
        elif mode == "huge":
            await self._stream_huge(writer, entry, int(params.get("size", GIGABYTE)))
        elif mode == "error":
            code = int(params.get("code", 503))
            await _answer(writer, code, b"server trouble", "text/plain")

    async def _stream_huge(self, writer: asyncio.StreamWriter, entry: list[Any], size: int) -> None:
        """A chunked body of `size` bytes that starts like a feed; no Content-Length, so only
        the client's own size limit can stop it."""
        writer.write(
            b"HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml\r\n"
            b"Transfer-Encoding: chunked\r\nConnection: close\r\n\r\n"
        )
        prefix = b'<?xml version="1.0"?><rss version="2.0"><channel><title>huge</title>'
        filler = (b"<item><title>" + b"x" * 100 + b"</title></item>") * (_CHUNK // 128)
        sent = 0
        while sent < size:
            chunk = prefix if sent == 0 else filler[: size - sent]
            writer.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
            await writer.drain()  # back-pressure: we go as fast as the client reads
            sent += len(chunk)
            entry[3] = sent
        writer.write(b"0\r\n\r\n")
        await writer.drain()


async def _answer(
    writer: asyncio.StreamWriter,
    status: int,
    body: bytes,
    content_type: str | None,
    extra: dict[str, str] | None = None,
) -> None:
    headers = [f"HTTP/1.1 {status} X", f"Content-Length: {len(body)}", "Connection: close"]
    if content_type:
        headers.append(f"Content-Type: {content_type}")
    headers.extend(f"{k}: {v}" for k, v in (extra or {}).items())
    writer.write(("\r\n".join(headers) + "\r\n\r\n").encode("latin-1") + body)
    await writer.drain()


def _rss(number: int, items: list[dict[str, str]]) -> bytes:
    entries = "".join(
        "<item>"
        f"<title>{html.escape(item['title'])}</title>"
        f"<link>https://news{number}.example.org/{html.escape(item['guid'])}</link>"
        f'<guid isPermaLink="false">{html.escape(item["guid"])}</guid>'
        f"<pubDate>{format_datetime(datetime.fromisoformat(item['published']).astimezone(UTC))}"
        "</pubDate>"
        f"<description>{html.escape(item.get('description', ''))}</description>"
        "</item>"
        for item in items
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel>'
        f"<title>Outlet {number}</title><link>https://news{number}.example.org/</link>"
        f"<description>test feed {number}</description>{entries}</channel></rss>"
    ).encode()


class FeedServer:
    """The test's handle on the feed server process."""

    def __init__(self, *, feeds: int) -> None:
        self._child = ChildService(FeedService, feeds=feeds)
        self.url: str = self._child.info["url"]
        self.count: int = feeds

    def feed_url(self, feed: int) -> str:
        return f"{self.url}/feed/{feed}.xml"

    def catalogue_toml(self) -> str:
        """A FEEDS_FILE catalogue of every feed (no per-feed interval: the setting rules)."""
        return "".join(
            f'[[source]]\nurl = "{self.feed_url(n)}"\nname = "Outlet {n}"\nlanguage = "en"\n\n'
            for n in range(self.count)
        )

    def publish(self, feed: int, *, guid: str, title: str, published: datetime) -> None:
        item = {"guid": guid, "title": title, "published": published.isoformat()}
        self._child.call("publish", feed=feed, items=[item])

    def behave(self, feed: int, mode: str, **params: Any) -> None:
        self._child.call("behave", feed=feed, mode=mode, **params)

    def requests(self) -> list[Request]:
        return [Request(*row) for row in self._child.call("requests")]

    def counts(self) -> Counter[int]:
        return Counter(r.feed for r in self.requests())

    def close(self) -> None:
        self._child.close()
