"""Shared fixtures for the feed tests: a real local HTTP server, the real feed samples and a
client with limits small enough to keep the tests fast.
"""

from __future__ import annotations

import gzip
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from feeds.fetch import FetchLimits, make_client

FEEDS_DIR = Path(__file__).resolve().parents[1] / "data" / "feeds"

TEST_USER_AGENT = "UkraineWinterAlertsBot-tests/0.1 (+https://example.org/tests)"


def sample(name: str) -> bytes:
    """The bytes of a real feed sample from `tests/data/feeds/`."""
    return (FEEDS_DIR / name).read_bytes()


def gzipped(body: bytes) -> bytes:
    return gzip.compress(body, mtime=0)


def feed_response(
    body: bytes,
    *,
    status: int = 200,
    content_type: str = "application/rss+xml",
    headers: dict[str, str] | None = None,
) -> Response:
    """A werkzeug response carrying a feed body as is (no re-encoding)."""
    return Response(body, status=status, content_type=content_type, headers=headers or {})


@pytest.fixture(scope="session")
def _feed_server_session() -> Iterator[HTTPServer]:
    # Threaded, so that a stalling handler or a concurrency test does not block the others.
    server = HTTPServer(host="127.0.0.1", port=0, threaded=True)
    server.start()
    yield server
    server.clear()
    if server.is_running():
        server.stop()


@pytest.fixture
def feed_server(_feed_server_session: HTTPServer) -> Iterator[HTTPServer]:
    """A real local HTTP server (pytest-httpserver), cleared for each test.

    Register behaviour with `feed_server.expect_request(path).respond_with_...`;
    `feed_server.log` lists the (request, response) pairs it saw.
    """
    server = _feed_server_session
    server.clear()
    yield server
    server.check_handler_errors()
    server.clear()


@pytest.fixture
def test_limits() -> FetchLimits:
    """Limits for the local server: private hosts allowed, tiny timeouts and backoff."""
    return FetchLimits(
        connect_timeout=2.0,
        read_timeout=2.0,
        total_timeout=5.0,
        retries=2,
        backoff_base=0.01,
        backoff_max=0.05,
        retry_after_cap=2.0,
        allow_private_hosts=True,
    )


@pytest.fixture
async def client(test_limits: FetchLimits) -> AsyncIterator[httpx.AsyncClient]:
    """The shared-client shape the product uses, with a test User-Agent."""
    async with make_client(user_agent=TEST_USER_AGENT, limits=test_limits) as shared:
        yield shared


def requests_to(server: HTTPServer, path: str) -> list[Request]:
    """The requests the server received for `path`, in order."""
    return [request for request, _response in server.log if request.path == path]
