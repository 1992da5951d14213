"""The sender's HTTP backend for python-telegram-bot: HTTP/1.1 keep-alive on asyncio with h11.

PTB's `BaseRequest.post` still parses every answer and raises its typed errors (RetryAfter,
Forbidden, ChatMigrated, BadRequest, InvalidToken, NetworkError); only the HTTP layer under
it is ours. Why: measured against a local server, httpx (httpcore over anyio) costs 0.8 ms of
CPU a request with four connections and 1.6 ms with sixteen (its pool checks every
connection's socket on each request), too much for 1000 messages/s on one core; this costs
under 0.2 ms (a protocol callback per read, one write per request).

Scope is what the sender needs: form-encoded POSTs and GETs over http or https. No file
uploads and no proxies (`uses_proxy` tells the sender to keep PTB's httpx backend then).
"""

from __future__ import annotations

import asyncio
import os
import ssl
import time
from collections.abc import Callable
from urllib.parse import urlsplit

import h11
import httpx
from telegram._utils.defaultvalue import DefaultValue
from telegram._utils.types import ODVInput
from telegram.error import NetworkError, TimedOut
from telegram.request import BaseRequest, RequestData

_Origin = tuple[str, str, int]
_FORM = "application/x-www-form-urlencoded"
_PROXY_VARIABLES = ("HTTPS_PROXY", "HTTP_PROXY", "ALL_PROXY")


def uses_proxy(environ: dict[str, str] | None = None) -> bool:
    """Whether the environment names a proxy (which httpx honours and `H11Request` does not)."""
    env = os.environ if environ is None else environ
    return any(env.get(name) or env.get(name.lower()) for name in _PROXY_VARIABLES)


class _Connection(asyncio.Protocol):
    """One keep-alive connection; one request at a time."""

    def __init__(self, clock: Callable[[], float]) -> None:
        self.clock = clock
        self.transport: asyncio.Transport | None = None
        self.http = h11.Connection(h11.CLIENT)
        self.closed = False
        self.idle_since = 0.0
        self._answer: asyncio.Future[tuple[int, bytes]] | None = None
        self._status = 0
        self._body: list[bytes] = []
        self._writable: asyncio.Future[None] | None = None

    # -- asyncio.Protocol ------------------------------------------------------------------

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        assert isinstance(transport, asyncio.Transport)
        self.transport = transport

    def data_received(self, data: bytes) -> None:
        self._receive(data)

    def eof_received(self) -> bool:
        self._receive(b"")
        return False  # let the transport close itself

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self._fail(ConnectionResetError(f"connection closed: {exc!r}" if exc else "closed"))
        if self._writable is not None and not self._writable.done():
            self._writable.set_result(None)

    def pause_writing(self) -> None:
        if self._writable is None or self._writable.done():
            self._writable = asyncio.get_running_loop().create_future()

    def resume_writing(self) -> None:
        if self._writable is not None and not self._writable.done():
            self._writable.set_result(None)

    # -- one exchange ----------------------------------------------------------------------

    async def exchange(
        self,
        request: h11.Request,
        body: bytes,
        *,
        write_timeout: float | None,
        read_timeout: float | None,
    ) -> tuple[int, bytes]:
        assert self.transport is not None
        self._status, self._body = 0, []
        answer: asyncio.Future[tuple[int, bytes]] = asyncio.get_running_loop().create_future()
        self._answer = answer
        try:
            events: list[h11.Event] = [request, h11.EndOfMessage()]
            if body:
                events.insert(1, h11.Data(data=body))
            # One write (one segment for a small request): headers and body together.
            self.transport.write(b"".join(self.http.send(event) or b"" for event in events))
            if self._writable is not None and not self._writable.done():
                try:
                    async with asyncio.timeout(write_timeout):
                        await self._writable
                except TimeoutError as exc:
                    raise TimedOut("Timed out writing the request") from exc
            try:
                async with asyncio.timeout(read_timeout):
                    return await answer
            except TimeoutError as exc:
                raise TimedOut("Timed out waiting for the response") from exc
        finally:
            self._answer = None

    def reusable(self) -> bool:
        """After an exchange: ready for the next request on this connection."""
        if self.closed or self.http.our_state is not h11.DONE:
            return False
        if self.http.their_state is not h11.DONE:
            return False
        self.http.start_next_cycle()
        self.idle_since = self.clock()
        return True

    def close(self) -> None:
        self.closed = True
        if self.transport is not None:
            self.transport.close()

    def _receive(self, data: bytes) -> None:
        if self._answer is None:
            # Nothing asked for: the server closed an idle connection (or misbehaved).
            self.close()
            return
        try:
            self.http.receive_data(data)
            while True:
                event = self.http.next_event()
                if event is h11.NEED_DATA or event is h11.PAUSED:
                    return
                if isinstance(event, h11.Response):
                    self._status = event.status_code
                elif isinstance(event, h11.Data):
                    self._body.append(bytes(event.data))
                elif isinstance(event, h11.EndOfMessage):
                    if not self._answer.done():
                        self._answer.set_result((self._status, b"".join(self._body)))
                    return
                elif isinstance(event, h11.ConnectionClosed):
                    raise ConnectionResetError("the server closed the connection mid-answer")
        except (h11.RemoteProtocolError, ConnectionError) as exc:
            self._fail(exc)
            self.close()

    def _fail(self, exc: Exception) -> None:
        if self._answer is not None and not self._answer.done():
            self._answer.set_exception(exc)


class H11Request(BaseRequest):
    """A `telegram.request.BaseRequest` for many small requests to one server.

    Up to `connection_pool_size` requests run at once, each on its own connection; an idle
    connection is reused most-recently-used first (so a steady rate keeps few of them warm)
    and dropped after `keepalive_seconds`. Timeouts follow HTTPXRequest's meaning.
    """

    def __init__(
        self,
        *,
        connection_pool_size: int = 64,
        connect_timeout: float | None = 5.0,
        read_timeout: float | None = 15.0,
        write_timeout: float | None = 15.0,
        pool_timeout: float | None = 10.0,
        keepalive_seconds: float = 5.0,
        ssl_context: ssl.SSLContext | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._pool_size = connection_pool_size
        self._connect_timeout = connect_timeout
        self._read_timeout = read_timeout
        self._write_timeout = write_timeout
        self._pool_timeout = pool_timeout
        self._keepalive_seconds = keepalive_seconds
        self._ssl_context = ssl_context
        self._clock = clock
        self._idle: dict[_Origin, list[_Connection]] = {}
        self._busy: set[_Connection] = set()
        self._slots: asyncio.Semaphore | None = None
        self._origins: dict[str, tuple[_Origin, str, str]] = {}

    @property
    def read_timeout(self) -> float | None:
        return self._read_timeout

    @property
    def open_connections(self) -> int:
        return len(self._busy) + sum(len(idle) for idle in self._idle.values())

    async def initialize(self) -> None:
        """Nothing to open: connections are made on first use."""

    async def shutdown(self) -> None:
        """Close every connection; requests still running fail with a NetworkError."""
        for idle in self._idle.values():
            for connection in idle:
                connection.close()
        self._idle.clear()
        for connection in list(self._busy):
            connection.close()

    async def do_request(
        self,
        url: str,
        method: str,
        request_data: RequestData | None = None,
        read_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        write_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        connect_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
        pool_timeout: ODVInput[float] = BaseRequest.DEFAULT_NONE,
    ) -> tuple[int, bytes]:
        """See `BaseRequest.do_request`."""
        if request_data is not None and request_data.contains_files:
            raise NetworkError("H11Request does not upload files")
        origin, host, target = self._split(url)
        headers = [("Host", host), ("User-Agent", self.USER_AGENT)]
        body = b""
        if request_data is not None:
            body = request_data.url_encoded_parameters().encode()
            headers += [("Content-Type", _FORM), ("Content-Length", str(len(body)))]
        elif method == "POST":
            headers.append(("Content-Length", "0"))
        request = h11.Request(method=method, target=target, headers=headers)

        slots = self._slots
        if slots is None:
            slots = self._slots = asyncio.Semaphore(self._pool_size)
        if slots.locked():  # a timer only when there is a wait (mostly there is none)
            try:
                async with asyncio.timeout(_chosen(pool_timeout, self._pool_timeout)):
                    await slots.acquire()
            except TimeoutError as exc:
                raise TimedOut(
                    "Pool timeout: every connection is busy; the request was not sent"
                ) from exc
        else:
            await slots.acquire()
        connection: _Connection | None = None
        try:
            connection = self._reuse(origin)
            if connection is None:
                try:
                    async with asyncio.timeout(_chosen(connect_timeout, self._connect_timeout)):
                        connection = await self._open(origin)
                except TimeoutError as exc:  # before OSError below, of which it is a subclass
                    raise TimedOut(f"Timed out connecting to {origin[1]}:{origin[2]}") from exc
            self._busy.add(connection)
            answer = await connection.exchange(
                request,
                body,
                write_timeout=_chosen(write_timeout, self._write_timeout),
                read_timeout=_chosen(read_timeout, self._read_timeout),
            )
        except (OSError, h11.ProtocolError) as exc:
            raise NetworkError(f"{type(exc).__name__}: {exc}") from exc
        finally:
            if connection is not None:
                self._busy.discard(connection)
                # An exchange cut short (time-out, cancellation, error) leaves the connection
                # mid-message: it cannot carry another request.
                if connection.reusable():
                    self._idle.setdefault(origin, []).append(connection)
                else:
                    connection.close()
            slots.release()
        return answer

    def _split(self, url: str) -> tuple[_Origin, str, str]:
        # The sender posts to a handful of URLs, many times each.
        known = self._origins.get(url)
        if known is None:
            parts = urlsplit(url)
            if parts.scheme not in ("http", "https") or not parts.hostname:
                raise NetworkError(f"H11Request cannot fetch {url!r}")
            port = parts.port or (443 if parts.scheme == "https" else 80)
            target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
            known = (parts.scheme, parts.hostname, port), parts.netloc.rpartition("@")[2], target
            if len(self._origins) < 1000:
                self._origins[url] = known
        return known

    def _reuse(self, origin: _Origin) -> _Connection | None:
        idle = self._idle.get(origin)
        now = self._clock()
        while idle:
            connection = idle.pop()
            if not connection.closed and now - connection.idle_since < self._keepalive_seconds:
                return connection
            connection.close()
        return None

    async def _open(self, origin: _Origin) -> _Connection:
        scheme, host, port = origin
        context: ssl.SSLContext | None = None
        if scheme == "https":
            if self._ssl_context is None:
                # The certificates PTB's httpx backend trusts (certifi's, or SSL_CERT_FILE):
                # a slim container may have no system store.
                self._ssl_context = httpx.create_ssl_context()
            context = self._ssl_context
        loop = asyncio.get_running_loop()
        _, connection = await loop.create_connection(
            lambda: _Connection(self._clock), host, port, ssl=context
        )
        return connection


def _chosen(value: ODVInput[float], default: float | None) -> float | None:
    return default if isinstance(value, DefaultValue) else value
