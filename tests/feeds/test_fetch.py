"""`feeds.fetch.fetch` against a real local server that misbehaves on demand."""

from __future__ import annotations

import asyncio
import hashlib
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from feeds.errors import (
    FetchError,
    HTTPStatusError,
    InvalidURLError,
    PrivateAddressError,
    TooLargeError,
    TooManyRedirectsError,
)
from feeds.fetch import (
    DEFAULT_USER_AGENT,
    FetchLimits,
    Validators,
    _wait_seconds,
    fetch,
    make_client,
    parse_retry_after,
)
from feeds.transport import FeedTransport
from tests.feeds.conftest import (
    TEST_USER_AGENT,
    feed_response,
    gzipped,
    requests_to,
    sample,
)

UNIAN = "tehtehteh_stub_unian_rss.xml"
PRAVDA_1251 = "tehtehteh_stub_pravda_rss.xml"
GDACS_BOM = "gdacs_rss_24h_2019-12-30.xml"


async def test_plain_fetch_returns_the_exact_bytes_and_validators(
    feed_server: HTTPServer, client: httpx.AsyncClient, test_limits: FetchLimits
) -> None:
    body = sample(UNIAN)
    feed_server.expect_request("/rss").respond_with_response(
        feed_response(
            body, headers={"ETag": '"v1"', "Last-Modified": "Mon, 01 Jan 2024 10:00:00 GMT"}
        )
    )

    result = await fetch(client, feed_server.url_for("/rss"), limits=test_limits)

    assert result.status == 200
    assert result.content == body
    assert not result.not_modified
    assert result.url == feed_server.url_for("/rss")
    assert result.permanent_url is None
    assert result.validators == Validators(
        etag='"v1"',
        last_modified="Mon, 01 Jan 2024 10:00:00 GMT",
        content_hash=hashlib.sha256(body).hexdigest(),
    )
    assert result.headers["content-type"].startswith("application/rss+xml")
    assert all(key == key.lower() for key in result.headers)
    assert result.fetched_at.tzinfo is not None
    assert abs(result.fetched_at - datetime.now(UTC)) < timedelta(seconds=30)
    (request,) = requests_to(feed_server, "/rss")
    assert request.headers["User-Agent"] == TEST_USER_AGENT
    assert "If-None-Match" not in request.headers


@pytest.mark.parametrize("name", [PRAVDA_1251, GDACS_BOM], ids=["windows-1251", "utf8-bom"])
async def test_bytes_are_not_re_encoded(
    feed_server: HTTPServer, client: httpx.AsyncClient, test_limits: FetchLimits, name: str
) -> None:
    # The parser needs the raw bytes (XML declaration, BOM) to pick the encoding itself.
    body = sample(name)
    feed_server.expect_request("/f").respond_with_response(
        feed_response(body, content_type="text/xml")
    )
    result = await fetch(client, feed_server.url_for("/f"), limits=test_limits)
    assert result.content == body


async def test_etag_gets_a_304_and_no_content(
    feed_server: HTTPServer, client: httpx.AsyncClient, test_limits: FetchLimits
) -> None:
    body = sample(UNIAN)

    def handler(request: Request) -> Response:
        if request.headers.get("If-None-Match") == '"v1"':
            return Response(status=304, headers={"ETag": '"v1"'})
        return feed_response(body, headers={"ETag": '"v1"'})

    feed_server.expect_request("/rss").respond_with_handler(handler)
    url = feed_server.url_for("/rss")

    first = await fetch(client, url, limits=test_limits)
    second = await fetch(client, url, validators=first.validators, limits=test_limits)

    assert first.content == body
    assert second.status == 304
    assert second.content is None
    assert second.not_modified
    assert second.validators == first.validators
    assert [r.headers.get("If-None-Match") for r in requests_to(feed_server, "/rss")] == [
        None,
        '"v1"',
    ]


async def test_last_modified_is_sent_back_as_if_modified_since(
    feed_server: HTTPServer, client: httpx.AsyncClient, test_limits: FetchLimits
) -> None:
    stamp = "Tue, 02 Jan 2024 08:30:00 GMT"

    def handler(request: Request) -> Response:
        if request.headers.get("If-Modified-Since") == stamp:
            return Response(status=304)
        return feed_response(sample(UNIAN), headers={"Last-Modified": stamp})

    feed_server.expect_request("/rss").respond_with_handler(handler)
    url = feed_server.url_for("/rss")
    first = await fetch(client, url, limits=test_limits)
    second = await fetch(client, url, validators=first.validators, limits=test_limits)

    assert first.validators.last_modified == stamp
    assert second.status == 304 and second.not_modified
    # The 304 carried no Last-Modified: the one we had is kept.
    assert second.validators.last_modified == stamp


async def test_identical_body_without_validators_is_not_returned_again(
    feed_server: HTTPServer, client: httpx.AsyncClient, test_limits: FetchLimits
) -> None:
    bodies = iter([sample(UNIAN), sample(UNIAN), sample(PRAVDA_1251)])
    feed_server.expect_request("/rss").respond_with_handler(
        lambda _request: feed_response(next(bodies))
    )
    url = feed_server.url_for("/rss")

    first = await fetch(client, url, limits=test_limits)
    same = await fetch(client, url, validators=first.validators, limits=test_limits)
    changed = await fetch(client, url, validators=same.validators, limits=test_limits)

    assert first.content is not None
    assert same.status == 200 and same.content is None and same.not_modified
    assert same.validators.content_hash == first.validators.content_hash
    assert changed.content == sample(PRAVDA_1251)


async def test_gzip_is_decoded(
    feed_server: HTTPServer, client: httpx.AsyncClient, test_limits: FetchLimits
) -> None:
    body = sample(UNIAN)
    feed_server.expect_request("/gz").respond_with_response(
        feed_response(gzipped(body), headers={"Content-Encoding": "gzip"})
    )
    result = await fetch(client, feed_server.url_for("/gz"), limits=test_limits)
    assert result.content == body
    (request,) = requests_to(feed_server, "/gz")
    assert "gzip" in request.headers["Accept-Encoding"]


async def test_gzip_bomb_is_stopped_by_the_decoded_size(
    feed_server: HTTPServer, client: httpx.AsyncClient, test_limits: FetchLimits
) -> None:
    # 4 MB of spaces compress to a few KB: the limit must count what we decode.
    small = replace(test_limits, max_bytes=1_000_000)
    compressed = gzipped(b"<rss>" + b" " * 4_000_000 + b"</rss>")
    assert len(compressed) < 100_000
    feed_server.expect_request("/bomb").respond_with_response(
        feed_response(compressed, headers={"Content-Encoding": "gzip"})
    )
    with pytest.raises(TooLargeError):
        await fetch(client, feed_server.url_for("/bomb"), limits=small)


async def test_content_length_over_the_limit_is_refused_up_front(
    feed_server: HTTPServer, client: httpx.AsyncClient, test_limits: FetchLimits
) -> None:
    small = replace(test_limits, max_bytes=10_000)
    feed_server.expect_request("/big").respond_with_response(feed_response(b"x" * 10_001))
    with pytest.raises(TooLargeError) as caught:
        await fetch(client, feed_server.url_for("/big"), limits=small)
    assert caught.value.limit == 10_000
    # Exactly at the limit is fine.
    feed_server.expect_request("/edge").respond_with_response(feed_response(b"x" * 10_000))
    assert (await fetch(client, feed_server.url_for("/edge"), limits=small)).content


async def test_endless_body_without_content_length_is_cut_while_streaming(
    feed_server: HTTPServer, client: httpx.AsyncClient, test_limits: FetchLimits
) -> None:
    small = replace(test_limits, max_bytes=200_000)

    def endless() -> Iterator[bytes]:
        yield b"<rss><channel>"
        while True:  # would never end: only an abort while streaming can pass this test
            yield b"<item><title>x</title></item>" * 100

    feed_server.expect_request("/endless").respond_with_response(
        Response(endless(), content_type="application/rss+xml", direct_passthrough=True)
    )
    started = time.monotonic()
    with pytest.raises(TooLargeError):
        await fetch(client, feed_server.url_for("/endless"), limits=small)
    assert time.monotonic() - started < small.total_timeout


async def test_permanent_redirect_chain_sets_permanent_url(
    feed_server: HTTPServer, client: httpx.AsyncClient, test_limits: FetchLimits
) -> None:
    feed_server.expect_request("/old").respond_with_response(
        Response(status=301, headers={"Location": "/older-new"})
    )
    feed_server.expect_request("/older-new").respond_with_response(
        Response(status=308, headers={"Location": feed_server.url_for("/new")})
    )
    feed_server.expect_request("/new").respond_with_response(feed_response(sample(UNIAN)))

    result = await fetch(client, feed_server.url_for("/old"), limits=test_limits)

    assert result.content == sample(UNIAN)
    assert result.url == feed_server.url_for("/new")
    assert result.permanent_url == feed_server.url_for("/new")


async def test_temporary_hop_ends_the_permanent_part_of_the_chain(
    feed_server: HTTPServer, client: httpx.AsyncClient, test_limits: FetchLimits
) -> None:
    feed_server.expect_request("/a").respond_with_response(
        Response(status=301, headers={"Location": "/b"})
    )
    feed_server.expect_request("/b").respond_with_response(
        Response(status=302, headers={"Location": "/c"})
    )
    feed_server.expect_request("/c").respond_with_response(feed_response(sample(UNIAN)))
    feed_server.expect_request("/t").respond_with_response(
        Response(status=307, headers={"Location": "/c"})
    )

    moved = await fetch(client, feed_server.url_for("/a"), limits=test_limits)
    temporary = await fetch(client, feed_server.url_for("/t"), limits=test_limits)

    # /a moved to /b for good; /b only sends us elsewhere for now.
    assert moved.permanent_url == feed_server.url_for("/b")
    assert moved.url == feed_server.url_for("/c")
    assert temporary.permanent_url is None
    assert temporary.url == feed_server.url_for("/c")


async def test_redirect_loop_is_refused(
    feed_server: HTTPServer, client: httpx.AsyncClient, test_limits: FetchLimits
) -> None:
    feed_server.expect_request("/ping").respond_with_response(
        Response(status=302, headers={"Location": "/pong"})
    )
    feed_server.expect_request("/pong").respond_with_response(
        Response(status=302, headers={"Location": "/ping"})
    )
    with pytest.raises(TooManyRedirectsError, match="loop"):
        await fetch(client, feed_server.url_for("/ping"), limits=test_limits)
    assert len(requests_to(feed_server, "/ping")) == 1  # not retried


@pytest.mark.parametrize(("hops", "ok"), [(5, True), (6, False)])
async def test_at_most_five_redirects(
    feed_server: HTTPServer,
    client: httpx.AsyncClient,
    test_limits: FetchLimits,
    hops: int,
    ok: bool,
) -> None:
    for n in range(hops):
        feed_server.expect_request(f"/hop{n}").respond_with_response(
            Response(status=302, headers={"Location": f"/hop{n + 1}"})
        )
    feed_server.expect_request(f"/hop{hops}").respond_with_response(feed_response(b"<rss/>"))
    url = feed_server.url_for("/hop0")
    if ok:
        assert (await fetch(client, url, limits=test_limits)).content == b"<rss/>"
    else:
        with pytest.raises(TooManyRedirectsError):
            await fetch(client, url, limits=test_limits)


@pytest.mark.parametrize("status", [404, 410, 401, 403, 400])
async def test_client_errors_are_typed_and_not_retried(
    feed_server: HTTPServer, client: httpx.AsyncClient, test_limits: FetchLimits, status: int
) -> None:
    feed_server.expect_request("/x").respond_with_data("nope", status=status)
    with pytest.raises(HTTPStatusError) as caught:
        await fetch(client, feed_server.url_for("/x"), limits=test_limits)
    assert caught.value.status == status
    assert caught.value.gone == (status == 410)
    assert caught.value.url == feed_server.url_for("/x")
    assert len(requests_to(feed_server, "/x")) == 1


async def test_server_error_is_retried_then_reported(
    feed_server: HTTPServer, client: httpx.AsyncClient, test_limits: FetchLimits
) -> None:
    feed_server.expect_request("/down").respond_with_data("oops", status=500)
    with pytest.raises(FetchError) as caught:
        await fetch(client, feed_server.url_for("/down"), limits=test_limits)
    assert caught.value.status == 500
    assert len(requests_to(feed_server, "/down")) == test_limits.retries + 1


async def test_transient_failure_recovers(
    feed_server: HTTPServer, client: httpx.AsyncClient, test_limits: FetchLimits
) -> None:
    answers = iter([Response("busy", status=503), Response("busy", status=502)])

    def handler(_request: Request) -> Response:
        return next(answers, None) or feed_response(sample(UNIAN))

    feed_server.expect_request("/flaky").respond_with_handler(handler)
    result = await fetch(client, feed_server.url_for("/flaky"), limits=test_limits)
    assert result.content == sample(UNIAN)
    assert len(requests_to(feed_server, "/flaky")) == 3


async def test_429_retry_after_is_honoured(
    feed_server: HTTPServer, client: httpx.AsyncClient, test_limits: FetchLimits
) -> None:
    answers = iter([Response("slow down", status=429, headers={"Retry-After": "1"})])
    feed_server.expect_request("/limited").respond_with_handler(
        lambda _request: next(answers, None) or feed_response(sample(UNIAN))
    )
    started = time.monotonic()
    result = await fetch(client, feed_server.url_for("/limited"), limits=test_limits)
    waited = time.monotonic() - started

    assert result.content == sample(UNIAN)
    # The backoff alone would wait at most backoff_max (0.05 s); Retry-After says 1 s.
    assert waited >= 0.95


async def test_retry_after_beyond_the_cap_gives_up_at_once(
    feed_server: HTTPServer, client: httpx.AsyncClient, test_limits: FetchLimits
) -> None:
    feed_server.expect_request("/later").respond_with_response(
        Response("come back in an hour", status=429, headers={"Retry-After": "3600"})
    )
    started = time.monotonic()
    with pytest.raises(FetchError) as caught:
        await fetch(client, feed_server.url_for("/later"), limits=test_limits)
    assert time.monotonic() - started < 1.0
    assert caught.value.status == 429
    assert caught.value.retry_after == 3600  # for the scheduler
    assert len(requests_to(feed_server, "/later")) == 1


async def test_stalling_server_times_out(
    feed_server: HTTPServer, client: httpx.AsyncClient, test_limits: FetchLimits
) -> None:
    quick = replace(test_limits, read_timeout=0.2, retries=1)

    arrived: list[float] = []

    def stall(_request: Request) -> Response:
        arrived.append(time.monotonic())  # the log is written only after the answer
        time.sleep(1.0)
        return feed_response(b"<rss/>")

    feed_server.expect_request("/stall").respond_with_handler(stall)
    started = time.monotonic()
    with pytest.raises(FetchError, match="timed out"):
        await fetch(client, feed_server.url_for("/stall"), limits=quick)
    assert time.monotonic() - started < 1.0
    assert len(arrived) == 2  # first try + one retry


async def test_dripping_server_hits_the_total_timeout(
    feed_server: HTTPServer, client: httpx.AsyncClient, test_limits: FetchLimits
) -> None:
    # Each byte arrives well within read_timeout, but the whole body would take 10 s.
    drip = replace(test_limits, total_timeout=0.5, retries=0)

    def slowly() -> Iterator[bytes]:
        for _ in range(100):
            time.sleep(0.1)
            yield b" "

    feed_server.expect_request("/drip").respond_with_response(
        Response(slowly(), content_type="application/rss+xml", direct_passthrough=True)
    )
    started = time.monotonic()
    with pytest.raises(FetchError, match="no complete answer"):
        await fetch(client, feed_server.url_for("/drip"), limits=drip)
    assert time.monotonic() - started < 2.0


async def test_connection_refused_is_a_fetch_error(
    client: httpx.AsyncClient, test_limits: FetchLimits
) -> None:
    # Port 9 (discard) is closed on the test machine; nothing listens there.
    with pytest.raises(FetchError):
        await fetch(client, "http://127.0.0.1:9/rss", limits=test_limits)


async def test_local_server_is_refused_without_allow_private_hosts(
    feed_server: HTTPServer, client: httpx.AsyncClient, test_limits: FetchLimits
) -> None:
    strict = replace(test_limits, allow_private_hosts=False)
    feed_server.expect_request("/rss").respond_with_response(feed_response(sample(UNIAN)))
    with pytest.raises(PrivateAddressError):
        await fetch(client, feed_server.url_for("/rss"), limits=strict)
    with pytest.raises(PrivateAddressError):
        await fetch(client, feed_server.url_for("/rss").replace("127.0.0.1", "localhost"))
    assert requests_to(feed_server, "/rss") == []  # refused before any request was sent


async def test_redirect_to_a_private_address_is_refused(
    feed_server: HTTPServer, client: httpx.AsyncClient, test_limits: FetchLimits
) -> None:
    # The test server itself is allow-listed; the redirect leads to another loopback name.
    strict = replace(
        test_limits, allow_private_hosts=False, allowed_private_hosts=frozenset({"127.0.0.1"})
    )
    target = feed_server.url_for("/internal").replace("127.0.0.1", "127.0.0.2")
    feed_server.expect_request("/rss").respond_with_response(
        Response(status=302, headers={"Location": target})
    )
    feed_server.expect_request("/internal").respond_with_response(feed_response(b"secret"))

    with pytest.raises(PrivateAddressError) as caught:
        await fetch(client, feed_server.url_for("/rss"), limits=strict)

    assert caught.value.host == "127.0.0.2"
    assert requests_to(feed_server, "/internal") == []


async def test_redirect_from_a_public_name_to_a_private_one_with_mock_transport() -> None:
    # Public-looking names resolved by an injected resolver; the transport is a function.
    addresses = {"news.example.org": ["93.184.216.34"], "cdn.example.net": ["10.1.2.3"]}
    seen: list[str] = []

    async def resolver(host: str, _port: int) -> list[str]:
        return addresses[host]

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        return httpx.Response(302, headers={"Location": "https://cdn.example.net/rss"})

    limits = FetchLimits(retries=0)
    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as mock_client:
        with pytest.raises(PrivateAddressError) as caught:
            await fetch(
                mock_client, "https://news.example.org/rss", limits=limits, resolver=resolver
            )
    assert caught.value.address == "10.1.2.3"
    assert seen == ["https://news.example.org/rss"]


@pytest.mark.parametrize(
    "url",
    ["file:///etc/passwd", "ftp://example.org/rss", "not a url", "http://", "/relative/rss"],
)
async def test_non_http_urls_are_refused(
    client: httpx.AsyncClient, test_limits: FetchLimits, url: str
) -> None:
    with pytest.raises(InvalidURLError):
        await fetch(client, url, limits=test_limits)


async def test_make_client_names_the_bot_by_default(
    feed_server: HTTPServer, test_limits: FetchLimits
) -> None:
    feed_server.expect_request("/rss").respond_with_response(feed_response(b"<rss/>"))
    async with make_client(limits=test_limits) as default_client:
        await fetch(default_client, feed_server.url_for("/rss"), limits=test_limits)
    (request,) = requests_to(feed_server, "/rss")
    assert request.headers["User-Agent"] == DEFAULT_USER_AGENT
    assert "+https://" in DEFAULT_USER_AGENT  # a contact URL
    assert "rss+xml" in request.headers["Accept"]


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        pytest.param("120", 120.0, id="seconds"),
        pytest.param(" 0 ", 0.0, id="zero"),
        pytest.param("Wed, 01 Jan 2025 12:01:30 GMT", 90.0, id="http-date"),
        pytest.param("Wed, 01 Jan 2025 11:00:00 GMT", 0.0, id="date-in-the-past"),
        pytest.param("soon", None, id="garbage"),
        pytest.param("-5", None, id="negative"),
        pytest.param(None, None, id="absent"),
    ],
)
def test_parse_retry_after(value: str | None, expected: float | None) -> None:
    now = datetime(2025, 1, 1, 12, 0, 0, tzinfo=UTC)
    assert parse_retry_after(value, now=now) == expected


def test_retry_after_date_roundtrip() -> None:
    now = datetime(2025, 6, 1, 8, 0, 0, tzinfo=UTC)
    assert (
        parse_retry_after(format_datetime(now + timedelta(seconds=45), usegmt=True), now=now) == 45
    )


async def test_shared_client_keeps_connections_alive_and_bounded(
    test_limits: FetchLimits,
) -> None:
    # A minimal keep-alive HTTP/1.1 server (werkzeug's closes every connection), counting
    # the TCP connections it accepts and the requests it answers.
    body = sample(UNIAN)
    answer = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
    connections = requests = 0

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal connections, requests
        connections += 1
        try:
            while True:
                await reader.readuntil(b"\r\n\r\n")
                requests += 1
                await asyncio.sleep(0.02)
                writer.write(answer)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    url = f"http://127.0.0.1:{server.sockets[0].getsockname()[1]}/rss"
    async with server, make_client(limits=test_limits, max_connections=3) as shared:
        pool = shared._transport
        assert isinstance(pool, FeedTransport)
        for _ in range(4):  # one after the other: one connection, reused
            assert (await fetch(shared, url, limits=test_limits)).content == body
        assert connections == 1
        # Ten at once through a pool of three: all served, never more than three sockets.
        results = await asyncio.gather(
            *(fetch(shared, f"{url}?n={n}", limits=test_limits) for n in range(10))
        )
        assert all(r.content == body for r in results)
        assert connections == 3
        assert pool.open_connections == pool.idle_connections == 3
    assert requests == 14


def test_retry_waits_back_off_exponentially_or_follow_retry_after() -> None:
    limits = FetchLimits(backoff_base=1.0, backoff_max=5.0, retry_after_cap=30.0)
    plain = FetchError("https://example.org/rss", "boom")
    for attempt, ceiling in [(1, 1.0), (2, 2.0), (3, 4.0), (4, 5.0), (9, 5.0)]:
        waits = [_wait_seconds(plain, attempt, limits) for _ in range(200)]
        assert all(0.0 <= w <= ceiling for w in waits)
        assert max(waits) > ceiling / 2  # full jitter reaches up towards the ceiling
    told = FetchError("https://example.org/rss", "busy", status=429, retry_after=12.0)
    assert _wait_seconds(told, 1, limits) == 12.0
    too_long = FetchError("https://example.org/rss", "busy", status=429, retry_after=99.0)
    assert _wait_seconds(too_long, 3, limits) == 30.0
