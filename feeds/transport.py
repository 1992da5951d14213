"""A lean HTTP/1.1 transport for the shared feed client: keep-alive connections on asyncio,
h11 for the protocol, and each connection pinned to the addresses the safety check approved.

httpx's default transport (httpcore on anyio) spent most of a 304 poll's CPU in its own
layers (see bench/README.md). This one does what polling feeds needs: HTTP/1.1 with
keep-alive (content-length, chunked and close-delimited bodies; httpx decodes gzip and
deflate above it), TLS through an `ssl.SSLContext`, and httpx's connect, read, write and pool
timeouts. No HTTP/2 and no proxies: a client configured with a proxy mounts httpx's own
transport for it.

Pinning: a request whose extensions carry `PINNED_ADDRESSES` (IP addresses as text) connects
only to those, in order, and still sends the URL's host as `Host` and as the TLS server name.
`feeds.fetch` passes the addresses `feeds.netsafety` has just judged public, so a DNS answer
that changes between the check and the connection (DNS rebinding) cannot move the request to
a private address. A request without the extension connects to the URL's host as usual.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import ssl
import time
from collections import deque
from collections.abc import AsyncIterator, Iterable, Mapping
from typing import Any

import h11
import httpx

# Request extension: a tuple of IP address texts to connect to instead of resolving the host.
PINNED_ADDRESSES = "feeds.pinned_addresses"

# How long an idle keep-alive connection is kept (httpx's default, and below the usual 15 s+
# of servers, so we rarely reuse a socket the server is just closing).
DEFAULT_KEEPALIVE_EXPIRY = 5.0

# Largest response head h11 will buffer (httpcore's choice too; h11's own is 16 KiB).
_MAX_HEAD_SIZE = 64 * 1024
# Stop reading from the socket while this much is buffered and not yet consumed.
_HIGH_WATER = 256 * 1024
# At most this much of an unread body is read and dropped to keep a connection (see
# `_Connection.finish_from_buffer`); a larger rest costs less as a new connection.
_MAX_DRAIN = 64 * 1024
_DEFAULT_PORTS = {b"http": 80, b"https": 443}

# scheme, host, port, pinned addresses: connections are shared only between equal keys.
_Key = tuple[bytes, str, int, tuple[str, ...]]


class _Link(asyncio.Protocol):
    """One socket's incoming bytes, buffered as they arrive and read with a deadline."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._loop = loop
        self.transport: asyncio.Transport | None = None
        self._chunks: deque[bytes] = deque()
        self._buffered = 0
        self._paused = False
        self.eof = False
        self._waiter: asyncio.Future[None] | None = None
        self._writable: asyncio.Future[None] | None = None

    # -- asyncio callbacks
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self._chunks.append(data)
        self._buffered += len(data)
        if self._buffered > _HIGH_WATER and not self._paused and self.transport is not None:
            self._paused = True
            self.transport.pause_reading()
        self._wake()

    def eof_received(self) -> bool | None:
        self.eof = True
        self._wake()
        return None  # let the transport close itself

    def connection_lost(self, exc: Exception | None) -> None:
        self.eof = True
        self._wake()
        self.resume_writing()

    def pause_writing(self) -> None:
        if self._writable is None:
            self._writable = self._loop.create_future()

    def resume_writing(self) -> None:
        writable, self._writable = self._writable, None
        if writable is not None and not writable.done():
            writable.set_result(None)

    def _wake(self) -> None:
        waiter = self._waiter
        if waiter is not None and not waiter.done():
            waiter.set_result(None)

    # -- used by the connection
    @property
    def idle_and_open(self) -> bool:
        """Nothing unread and still connected: safe to send the next request on."""
        return (
            not self._chunks
            and not self.eof
            and self.transport is not None
            and not self.transport.is_closing()
        )

    def _emptied(self) -> None:
        """The buffer was handed over: count it empty and let the socket read again."""
        self._chunks.clear()
        self._buffered = 0
        if self._paused and self.transport is not None:
            self._paused = False
            self.transport.resume_reading()

    def take_buffered(self) -> bytes:
        """Whatever has arrived and not been read yet, without waiting."""
        data = b"".join(self._chunks)
        self._emptied()
        return data

    async def read(self, within: float | None) -> bytes:
        """Everything buffered so far, waiting for some if there is none; b"" at end of input."""
        if not self._chunks and not self.eof:
            waiter = self._waiter = self._loop.create_future()
            expiry = None if within is None else self._loop.call_later(within, _expire, waiter)
            try:
                await waiter
            finally:
                self._waiter = None
                if expiry is not None:
                    expiry.cancel()
        if not self._chunks:
            return b""
        data = self._chunks.popleft() if len(self._chunks) == 1 else b"".join(self._chunks)
        self._emptied()
        return data

    async def write(self, data: bytes, within: float | None) -> None:
        if self.transport is None or self.transport.is_closing():
            raise httpx.WriteError("connection closed before the request was sent")
        self.transport.write(data)
        if self._writable is not None:  # the kernel's buffer is full: wait for room
            try:
                async with asyncio.timeout(within):
                    await asyncio.shield(self._writable)
            except TimeoutError as exc:
                raise httpx.WriteTimeout("timed out sending the request") from exc

    def close(self) -> None:
        if self.transport is not None:
            self.transport.close()


def _expire(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_exception(httpx.ReadTimeout("timed out waiting for the server"))


class _Connection:
    """An HTTP/1.1 connection: one request at a time, reused while both sides allow it."""

    __slots__ = ("idle_since", "key", "link", "state")

    def __init__(self, key: _Key, link: _Link) -> None:
        self.key = key
        self.link = link
        self.state = h11.Connection(h11.CLIENT, max_incomplete_event_size=_MAX_HEAD_SIZE)
        self.idle_since = 0.0

    def reusable(self, now: float, expiry: float) -> bool:
        return (
            self.state.our_state is h11.IDLE
            and now - self.idle_since < expiry
            and self.link.idle_and_open
        )

    async def send(self, request: httpx.Request, timeouts: Mapping[str, Any]) -> h11.Response:
        """Send `request` and read the response's head (its body is read by the caller)."""
        write_timeout = timeouts.get("write")
        body = request.stream
        assert isinstance(body, httpx.AsyncByteStream), "FeedTransport serves async clients"
        try:
            head = h11.Request(
                method=request.method, target=request.url.raw_path, headers=request.headers.raw
            )
            await self._write(head, write_timeout)
            async for chunk in body:
                if chunk:
                    await self._write(h11.Data(data=chunk), write_timeout)
            await self._write(h11.EndOfMessage(), write_timeout)
        except h11.LocalProtocolError as exc:
            raise httpx.LocalProtocolError(str(exc)) from exc
        while True:
            event = await self.next_event(timeouts.get("read"))
            if isinstance(event, h11.Response):
                return event
            if not isinstance(event, h11.InformationalResponse):  # 1xx: wait for the real one
                raise httpx.RemoteProtocolError("server disconnected without sending a response")

    async def _write(self, event: h11.Event, within: float | None) -> None:
        data = self.state.send(event)
        if data:
            await self.link.write(data, within)

    async def next_event(self, read_timeout: float | None) -> h11.Event | type[h11.PAUSED]:
        state = self.state
        while True:
            try:
                event = state.next_event()
            except h11.RemoteProtocolError as exc:
                raise httpx.RemoteProtocolError(str(exc)) from exc
            if event is not h11.NEED_DATA:
                return event  # type: ignore[return-value]
            # A reset or a close shows as the end of input: h11 then tells a complete body
            # (close-delimited) from a cut one (RemoteProtocolError).
            state.receive_data(await self.link.read(read_timeout))

    def finish_from_buffer(self) -> bool:
        """End the current response with the bytes already received, without waiting.

        A caller that closes a response without reading its body (a 304, a redirect, an
        error page) would otherwise cost the connection: when the rest of the body is
        already here, and small, it is read and dropped so the connection can be reused.
        """
        state = self.state
        drained = 0
        while True:
            try:
                event = state.next_event()
            except h11.RemoteProtocolError:
                return False
            if isinstance(event, h11.EndOfMessage):
                return True
            if event is h11.NEED_DATA:
                data = self.link.take_buffered()
                drained += len(data)
                if not data or drained > _MAX_DRAIN:
                    return False
                state.receive_data(data)
            elif not isinstance(event, h11.Data):
                return False

    def close(self) -> None:
        self.link.close()


class _ResponseBody(httpx.AsyncByteStream):
    """A response's body as it arrives; closing it hands the connection back to the pool."""

    def __init__(
        self, transport: FeedTransport, connection: _Connection, read_timeout: float | None
    ) -> None:
        self._transport = transport
        self._connection = connection
        self._read_timeout = read_timeout
        self._complete = False
        self._closed = False

    async def __aiter__(self) -> AsyncIterator[bytes]:
        connection = self._connection
        while True:
            event = await connection.next_event(self._read_timeout)
            if isinstance(event, h11.Data):
                yield bytes(event.data)
            elif isinstance(event, h11.EndOfMessage):
                self._complete = True
                return
            else:
                raise httpx.RemoteProtocolError("server disconnected before the body ended")

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        if not self._complete:
            self._complete = self._connection.finish_from_buffer()
        state = self._connection.state
        # Reusable only if this exchange ended cleanly on both sides (a body left unread and
        # not already here, `Connection: close` or an error all end the connection).
        reuse = self._complete and state.our_state is h11.DONE and state.their_state is h11.DONE
        if reuse:
            state.start_next_cycle()
        self._transport._release(self._connection, reuse=reuse)


class FeedTransport(httpx.AsyncBaseTransport):
    """Keep-alive HTTP/1.1 connections, at most `max_connections` open at once.

    Idle connections are reused newest first for the same scheme, host, port and pin, and
    closed after `keepalive_expiry` seconds; when the limit is reached a request takes over
    an idle connection to another host, or waits (up to httpx's pool timeout) for one.
    """

    def __init__(
        self,
        *,
        max_connections: int = 100,
        keepalive_expiry: float = DEFAULT_KEEPALIVE_EXPIRY,
        ssl_context: ssl.SSLContext | None = None,
    ) -> None:
        if max_connections < 1:
            raise ValueError("max_connections must be at least 1")
        self._max_connections = max_connections
        self._keepalive_expiry = keepalive_expiry
        self._ssl_context = ssl_context
        self._idle: dict[_Key, list[_Connection]] = {}
        self._open = 0  # connecting, busy or idle
        self._waiters: deque[asyncio.Future[None]] = deque()
        self._next_sweep = 0.0
        self._closed = False

    @property
    def open_connections(self) -> int:
        return self._open

    @property
    def idle_connections(self) -> int:
        return sum(len(idle) for idle in self._idle.values())

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if self._closed:
            raise RuntimeError("the transport is closed")
        url = request.url
        scheme = url.raw_scheme
        if scheme not in _DEFAULT_PORTS:
            raise httpx.UnsupportedProtocol(f"unsupported URL scheme {url.scheme!r}")
        timeouts: Mapping[str, Any] = request.extensions.get("timeout", {})
        pinned = tuple(request.extensions.get(PINNED_ADDRESSES) or ())
        key = (scheme, url.host, url.port or _DEFAULT_PORTS[scheme], pinned)
        connection = await self._acquire(key, timeouts)
        try:
            head = await connection.send(request, timeouts)
        except BaseException:
            self._release(connection, reuse=False)
            raise
        return httpx.Response(
            status_code=head.status_code,
            headers=head.headers.raw_items(),
            stream=_ResponseBody(self, connection, timeouts.get("read")),
            extensions={"http_version": b"HTTP/" + head.http_version, "reason_phrase": head.reason},
        )

    async def aclose(self) -> None:
        self._closed = True
        for idle in self._idle.values():
            for connection in idle:
                connection.close()
                self._open -= 1
        self._idle.clear()

    # -- the pool
    async def _acquire(self, key: _Key, timeouts: Mapping[str, Any]) -> _Connection:
        loop = asyncio.get_running_loop()
        deadline: float | None = None
        while True:
            connection = self._take_idle(key)
            if connection is not None:
                return connection
            if self._open < self._max_connections:
                self._open += 1
                try:
                    return await self._connect(key, timeouts.get("connect"))
                except BaseException:
                    self._open -= 1
                    self._wake_one()
                    raise
            if self._close_one_idle():
                continue
            if deadline is None:
                pool_timeout = timeouts.get("pool")
                deadline = math.inf if pool_timeout is None else loop.time() + pool_timeout
            await self._wait_for_room(loop, deadline)

    def _take_idle(self, key: _Key) -> _Connection | None:
        now = time.monotonic()
        if now >= self._next_sweep:
            self._sweep(now)
        idle = self._idle.get(key)
        if idle is None:
            return None
        found = None
        while idle and found is None:
            connection = idle.pop()  # the newest: least likely to have been closed by the server
            if connection.reusable(now, self._keepalive_expiry):
                found = connection
            else:
                self._discard(connection)
        if not idle:
            del self._idle[key]
        return found

    def _sweep(self, now: float) -> None:
        """Close every idle connection past its expiry (at most once a second)."""
        self._next_sweep = now + 1.0
        for key, idle in list(self._idle.items()):
            keep = [c for c in idle if c.reusable(now, self._keepalive_expiry)]
            for connection in idle:
                if connection not in keep:
                    self._discard(connection)
            if keep:
                self._idle[key] = keep
            else:
                del self._idle[key]

    def _close_one_idle(self) -> bool:
        for key, idle in self._idle.items():
            if idle:
                self._discard(idle.pop(0))  # the oldest of some other host's idle connections
                if not idle:
                    del self._idle[key]
                return True
        return False

    def _discard(self, connection: _Connection) -> None:
        connection.close()
        self._open -= 1

    async def _wait_for_room(self, loop: asyncio.AbstractEventLoop, deadline: float) -> None:
        """Wait until a connection closes or goes idle (`deadline` is on the loop's clock)."""
        waiter = loop.create_future()
        self._waiters.append(waiter)
        try:
            async with asyncio.timeout_at(None if deadline == math.inf else deadline):
                await waiter
        except BaseException as exc:
            if waiter.done() and not waiter.cancelled():
                self._wake_one()  # woken, but leaving (cancelled or timed out): pass it on
            if isinstance(exc, TimeoutError):
                raise httpx.PoolTimeout("no connection became free in time") from exc
            raise
        finally:
            if not waiter.done():
                waiter.cancel()
            with contextlib.suppress(ValueError):  # already taken by `_wake_one`
                self._waiters.remove(waiter)

    def _wake_one(self) -> None:
        while self._waiters:
            waiter = self._waiters.popleft()
            if not waiter.done():
                waiter.set_result(None)
                return

    def _release(self, connection: _Connection, *, reuse: bool) -> None:
        if reuse and not self._closed and connection.link.idle_and_open:
            connection.idle_since = time.monotonic()
            self._idle.setdefault(connection.key, []).append(connection)
        else:
            self._discard(connection)
        self._wake_one()

    async def _connect(self, key: _Key, connect_timeout: float | None) -> _Connection:
        scheme, host, port, pinned = key
        context = self._tls() if scheme == b"https" else None
        loop = asyncio.get_running_loop()
        addresses = pinned or (host,)
        deadline = None if connect_timeout is None else loop.time() + connect_timeout
        error: httpx.TransportError = httpx.ConnectError(f"no address to connect to for {host}")
        for index, address in enumerate(addresses):
            # The connect timeout covers all the addresses: each gets an equal share of what
            # is left, so one that drops packets does not use up the others' time.
            left = len(addresses) - index
            share = None if deadline is None else (deadline - loop.time()) / left
            try:
                async with asyncio.timeout(share):
                    _, link = await loop.create_connection(
                        lambda: _Link(loop),
                        host=address,
                        port=port,
                        ssl=context,
                        server_hostname=host if context is not None else None,
                    )
            except TimeoutError:
                error = httpx.ConnectTimeout(f"timed out connecting to {address} port {port}")
            except OSError as exc:  # refused, unreachable, DNS failure, TLS failure
                error = httpx.ConnectError(str(exc) or type(exc).__name__)
            else:
                return _Connection(key, link)
        raise error

    def _tls(self) -> ssl.SSLContext:
        if self._ssl_context is None:
            # httpx's own default (certifi's CA bundle), built on first use: it takes ~20 ms.
            self._ssl_context = httpx.create_ssl_context()
            self._ssl_context.set_alpn_protocols(["http/1.1"])
        return self._ssl_context


def pinned(addresses: Iterable[str] | None) -> dict[str, Any]:
    """Request extensions that pin a request to `addresses` (none when there is nothing to pin)."""
    return {PINNED_ADDRESSES: tuple(addresses)} if addresses else {}
