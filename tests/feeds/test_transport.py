"""`feeds.transport.FeedTransport` against a real local server that answers with exact bytes:
keep-alive, body framings, connection limits, timeouts, TLS, and pinned addresses."""

from __future__ import annotations

import asyncio
import datetime as dt
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest

from feeds.errors import TooLargeError
from feeds.fetch import FetchLimits, fetch, make_client
from feeds.transport import PINNED_ADDRESSES, FeedTransport, pinned
from tests.feeds.conftest import gzipped, sample

UNIAN = "tehtehteh_stub_unian_rss.xml"

# Given the request head (the body, if any, is still in the reader), write the answer.
Answer = Callable[[bytes, asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


@dataclass
class RawServer:
    """What the server saw: connections accepted and request heads, in order."""

    port: int = 0
    connections: int = 0
    heads: list[bytes] = field(default_factory=list)

    def url(self, path: str = "/rss", host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"


@asynccontextmanager
async def raw_server(
    answer: Answer, *, host: str = "127.0.0.1", tls: ssl.SSLContext | None = None
) -> AsyncIterator[RawServer]:
    seen = RawServer()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        seen.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                seen.heads.append(head)
                await answer(head, reader, writer)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, ssl.SSLError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, host, 0, ssl=tls)
    seen.port = server.sockets[0].getsockname()[1]
    async with server:
        yield seen


def respond(raw: bytes, *, close: bool = False) -> Answer:
    async def answer(
        _head: bytes, _reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        writer.write(raw)
        if close:
            await writer.drain()
            writer.close()

    return answer


def fixed(body: bytes, *extra: str) -> bytes:
    head = "".join(f"{line}\r\n" for line in extra)
    return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n%s\r\n%s" % (len(body), head.encode(), body)


def chunked(body: bytes, size: int = 4000) -> bytes:
    parts = [
        b"%x\r\n%s\r\n" % (len(body[i : i + size]), body[i : i + size])
        for i in range(0, len(body), size)
    ]
    return b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n" + b"".join(parts) + b"0\r\n\r\n"


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(transport=FeedTransport(max_connections=4), timeout=2.0) as c:
        yield c


async def test_keep_alive_reuses_one_connection_for_every_framing(
    client: httpx.AsyncClient,
) -> None:
    body = sample(UNIAN)
    answers = iter([fixed(body), chunked(body), fixed(gzipped(body), "Content-Encoding: gzip")])

    async def answer(
        _head: bytes, _reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        writer.write(next(answers))

    async with raw_server(answer) as server:
        for _ in range(3):
            response = await client.get(server.url())
            assert response.status_code == 200
            assert response.content == body  # gzip decoded by httpx above the transport
        assert server.connections == 1
        assert len(server.heads) == 3
    assert server.heads[0].startswith(b"GET /rss HTTP/1.1\r\n")
    assert f"host: 127.0.0.1:{server.port}".encode() in server.heads[0].lower()


async def test_a_body_delimited_by_close_ends_the_connection(client: httpx.AsyncClient) -> None:
    raw = b"HTTP/1.1 200 OK\r\nContent-Type: text/xml\r\n\r\n<rss/>"
    async with raw_server(respond(raw, close=True)) as server:
        assert (await client.get(server.url())).content == b"<rss/>"
        assert (await client.get(server.url())).content == b"<rss/>"
        assert server.connections == 2


async def test_connection_close_header_is_honoured(client: httpx.AsyncClient) -> None:
    raw = fixed(b"<rss/>", "Connection: close")
    async with raw_server(respond(raw)) as server:
        for _ in range(2):
            assert (await client.get(server.url())).content == b"<rss/>"
        assert server.connections == 2
    transport = client._transport
    assert isinstance(transport, FeedTransport)
    assert transport.open_connections == 0


async def test_a_304_has_no_body_and_keeps_the_connection(client: httpx.AsyncClient) -> None:
    raw = b'HTTP/1.1 304 Not Modified\r\nETag: "v1"\r\n\r\n'
    async with raw_server(respond(raw)) as server:
        for _ in range(3):
            response = await client.get(server.url(), headers={"If-None-Match": '"v1"'})
            assert response.status_code == 304
            assert response.headers["etag"] == '"v1"'
        assert server.connections == 1
    assert b'if-none-match: "v1"' in server.heads[0].lower()


async def test_a_connection_the_server_closed_while_idle_is_not_reused(
    client: httpx.AsyncClient,
) -> None:
    async with raw_server(respond(fixed(b"<rss/>"), close=True)) as server:
        assert (await client.get(server.url())).content == b"<rss/>"
        await asyncio.sleep(0.05)  # the server's FIN arrives while the connection is idle
        assert (await client.get(server.url())).content == b"<rss/>"
        assert server.connections == 2


async def test_a_truncated_body_is_a_protocol_error(client: httpx.AsyncClient) -> None:
    raw = b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n<rss>only part"
    async with raw_server(respond(raw, close=True)) as server:
        with pytest.raises(httpx.RemoteProtocolError):
            await client.get(server.url())


async def test_garbage_instead_of_http_is_a_protocol_error(client: httpx.AsyncClient) -> None:
    async with raw_server(respond(b"SSH-2.0-OpenSSH_9.6\r\n\r\n", close=True)) as server:
        with pytest.raises(httpx.RemoteProtocolError):
            await client.get(server.url())


async def test_a_silent_server_is_a_read_timeout() -> None:
    async def never(
        _head: bytes, _reader: asyncio.StreamReader, _writer: asyncio.StreamWriter
    ) -> None:
        await asyncio.sleep(5)

    async with (
        raw_server(never) as server,
        httpx.AsyncClient(transport=FeedTransport(), timeout=0.2) as client,
    ):
        with pytest.raises(httpx.ReadTimeout):
            await client.get(server.url())
        assert client._transport.open_connections == 0  # type: ignore[attr-defined]


async def test_the_connection_limit_holds_and_the_pool_timeout_applies() -> None:
    async def slow(
        _head: bytes, _reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        await asyncio.sleep(0.1)
        writer.write(fixed(b"<rss/>"))

    transport = FeedTransport(max_connections=2)
    async with raw_server(slow) as server, httpx.AsyncClient(transport=transport) as client:
        responses = await asyncio.gather(*(client.get(server.url()) for _ in range(6)))
        assert all(r.content == b"<rss/>" for r in responses)
        assert server.connections == 2
        assert transport.open_connections == transport.idle_connections == 2

        # Two slow requests hold both connections; a third may wait 0.05 s only.
        busy = [asyncio.create_task(client.get(server.url())) for _ in range(2)]
        await asyncio.sleep(0.02)
        with pytest.raises(httpx.PoolTimeout):
            await client.get(server.url(), timeout=httpx.Timeout(2.0, pool=0.05))
        await asyncio.gather(*busy)


async def test_at_the_limit_an_idle_connection_to_another_host_makes_room() -> None:
    transport = FeedTransport(max_connections=1)
    async with (
        raw_server(respond(fixed(b"one"))) as first,
        raw_server(respond(fixed(b"two"))) as second,
        httpx.AsyncClient(transport=transport, timeout=2.0) as client,
    ):
        assert (await client.get(first.url())).content == b"one"
        assert (await client.get(second.url())).content == b"two"
        assert transport.open_connections == 1


async def test_idle_connections_expire() -> None:
    transport = FeedTransport(keepalive_expiry=0.05)
    async with (
        raw_server(respond(fixed(b"<rss/>"))) as server,
        httpx.AsyncClient(transport=transport, timeout=2.0) as client,
    ):
        await client.get(server.url())
        await asyncio.sleep(0.1)
        await client.get(server.url())
        assert server.connections == 2


async def test_a_request_body_is_sent(client: httpx.AsyncClient) -> None:
    async def echo(head: bytes, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        length = next(
            int(line.split(b":")[1])
            for line in head.lower().split(b"\r\n")
            if line.startswith(b"content-length:")
        )
        writer.write(fixed(await reader.readexactly(length)))

    async with raw_server(echo) as server:
        for text in (b"first", b"second"):  # the connection stays in step after a body
            assert (await client.post(server.url(), content=text)).content == text
        assert server.connections == 1
    assert server.heads[0].startswith(b"POST /rss HTTP/1.1")


# ---------------------------------------------------------------- pinning (DNS rebinding)


async def test_a_pinned_request_connects_to_the_pin_and_names_the_url_host(
    client: httpx.AsyncClient,
) -> None:
    async with raw_server(respond(fixed(b"<rss/>"))) as server:
        # `.invalid` never resolves: only the pin can have brought the request here.
        url = server.url(host="feed.invalid")
        response = await client.get(url, extensions=pinned(["127.0.0.1"]))
        assert response.content == b"<rss/>"
    assert f"host: feed.invalid:{server.port}".encode() in server.heads[0].lower()


async def test_a_pinned_request_never_reaches_what_the_url_host_points_at(
    client: httpx.AsyncClient,
) -> None:
    # The URL's host is where a server listens (as a rebinding DNS answer would make it);
    # the pin names another address, where nothing listens: the request must fail there.
    async with raw_server(respond(fixed(b"secret"))) as server:
        with pytest.raises(httpx.ConnectError):
            await client.get(server.url(), extensions={PINNED_ADDRESSES: ("127.0.0.2",)})
        assert server.connections == 0


async def test_a_pin_falls_back_to_its_next_address(client: httpx.AsyncClient) -> None:
    async with raw_server(respond(fixed(b"<rss/>"))) as server:
        response = await client.get(
            server.url(host="feed.invalid"), extensions=pinned(["127.0.0.2", "127.0.0.1"])
        )
        assert response.content == b"<rss/>"


async def test_connections_are_not_shared_between_pins(client: httpx.AsyncClient) -> None:
    async with raw_server(respond(fixed(b"<rss/>"))) as server:
        url = server.url(host="feed.invalid")
        await client.get(url, extensions=pinned(["127.0.0.1"]))
        await client.get(url, extensions=pinned(["127.0.0.1"]))
        assert server.connections == 1
        with pytest.raises(httpx.ConnectError):  # same host, other pin: a new connection
            await client.get(url, extensions=pinned(["127.0.0.2"]))
        assert server.connections == 1


async def test_tls_uses_the_url_host_as_server_name_when_pinned(tmp_path: Path) -> None:
    server_context, client_context = _tls_pair(tmp_path, "feed.example")
    transport = FeedTransport(ssl_context=client_context)
    async with (
        raw_server(respond(fixed(b"<rss/>")), tls=server_context) as server,
        httpx.AsyncClient(transport=transport, timeout=2.0) as client,
    ):
        url = f"https://feed.example:{server.port}/rss"
        assert (await client.get(url, extensions=pinned(["127.0.0.1"]))).content == b"<rss/>"
        # The certificate names feed.example: asked for by another name, verification fails.
        with pytest.raises(httpx.ConnectError):
            await client.get(
                f"https://other.example:{server.port}/rss", extensions=pinned(["127.0.0.1"])
            )


def _tls_pair(directory: Path, name: str) -> tuple[ssl.SSLContext, ssl.SSLContext]:
    """A server context with a self-signed certificate for `name`, and a client trusting it."""
    pytest.importorskip("cryptography")
    from cryptography import x509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=1))
        .not_valid_after(now + dt.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = directory / "cert.pem", directory / "key.pem"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    server = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    server.load_cert_chain(cert_file, key_file)
    client = ssl.create_default_context(cafile=str(cert_file))
    return server, client


# ---------------------------------------------------------------- through fetch


async def test_the_size_limit_stops_an_endless_body_and_drops_the_connection() -> None:
    async def endless(
        _head: bytes, _reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        block = b"%x\r\n%s\r\n" % (16384, b"x" * 16384)
        for _ in range(10_000):  # 160 MB if nobody stops reading
            writer.write(block)
            await writer.drain()

    limits = FetchLimits(allow_private_hosts=True, max_bytes=100_000, retries=0)
    async with raw_server(endless) as server, make_client(limits=limits) as client:
        with pytest.raises(TooLargeError):
            await fetch(client, server.url(), limits=limits)
        transport = client._transport
        assert isinstance(transport, FeedTransport)
        assert transport.open_connections == 0


async def test_a_waiter_cancelled_as_it_is_woken_passes_its_turn_on() -> None:
    transport = FeedTransport(max_connections=1)
    async with (
        raw_server(respond(fixed(b"<rss/>"))) as server,
        httpx.AsyncClient(transport=transport, timeout=2.0) as client,
    ):
        holding = await client.send(client.build_request("GET", server.url()), stream=True)
        second = asyncio.create_task(client.get(server.url()))
        third = asyncio.create_task(client.get(server.url()))
        await asyncio.sleep(0.02)  # both wait for the only connection
        await holding.aread()
        await holding.aclose()  # wakes `second`...
        second.cancel()  # ...which leaves before it runs: `third` must get the connection
        assert (await asyncio.wait_for(third, 1.0)).content == b"<rss/>"
        with pytest.raises(asyncio.CancelledError):
            await second


async def test_a_response_closed_unread_keeps_its_connection_only_if_its_rest_is_here(
    client: httpx.AsyncClient,
) -> None:
    big = b"x" * 1_000_000
    answers = iter(
        [
            b'HTTP/1.1 304 Not Modified\r\nETag: "v1"\r\n\r\n',
            b"HTTP/1.1 302 Found\r\nLocation: /elsewhere\r\nContent-Length: 5\r\n\r\nmoved",
            fixed(big),  # too much to drain: this one costs the connection
            fixed(b"<rss/>"),
        ]
    )

    async def answer(
        _head: bytes, _reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        writer.write(next(answers))

    async with raw_server(answer) as server:
        for expected in (304, 302, 200):
            async with client.stream("GET", server.url()) as response:
                assert response.status_code == expected
                await asyncio.sleep(0.02)  # let the rest of the answer arrive
        assert server.connections == 1  # the 304 and the 302 left it reusable
        assert (await client.get(server.url())).content == b"<rss/>"
        assert server.connections == 2
