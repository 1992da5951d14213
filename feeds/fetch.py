"""Fetch one feed politely and safely: conditional GET, size/time limits, checked redirects
and tenacity retries for transient failures only.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import random
from collections.abc import Callable, Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

import httpx
from tenacity import AsyncRetrying, RetryCallState, retry_if_exception, stop_after_attempt

from feeds.errors import (
    FeedError,
    FetchError,
    HTTPStatusError,
    InvalidURLError,
    TooLargeError,
    TooManyRedirectsError,
)
from feeds.netsafety import Resolver, ensure_public_host
from feeds.transport import FeedTransport, pinned

# The shared client's connection pool: sized for `feeds.poll`'s default global cap, so that
# every request in flight has a connection and finished ones stay open for the next request
# to the same host (keep-alive) instead of being closed to make room.
DEFAULT_MAX_CONNECTIONS = 100

DEFAULT_USER_AGENT = "UkraineWinterAlertsBot/0.1 (+https://github.com/ukraine-winter-alerts/bot)"

# Feeds first, but accept anything: many servers send RSS as text/html or octet-stream.
ACCEPT = (
    "application/rss+xml, application/atom+xml, application/feed+json, "
    "application/xml;q=0.9, text/xml;q=0.9, */*;q=0.8"
)

_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_PERMANENT_REDIRECTS = frozenset({301, 308})


@dataclass(frozen=True, slots=True)
class Validators:
    """What we stored from the last successful fetch, sent back to ask "changed since?"."""

    etag: str | None = None
    last_modified: str | None = None
    content_hash: str | None = None


@dataclass(frozen=True, slots=True)
class FetchLimits:
    """Timeouts (seconds), size and redirect limits, retry policy and the private-host rule.

    `total_timeout` bounds one attempt (it stops a server that drips bytes just fast enough
    to beat `read_timeout`). Retries wait `backoff_base * 2**n` seconds at most, with full
    jitter, capped at `backoff_max`; a `Retry-After` up to `retry_after_cap` is waited out,
    a longer one ends the fetch with a `FetchError` carrying `.retry_after` for the scheduler.
    `allowed_private_hosts` exempts named hosts (an operator's own server, a test server)
    from the private-address check even when `allow_private_hosts` is off.
    """

    connect_timeout: float = 10.0
    read_timeout: float = 20.0
    total_timeout: float = 60.0
    max_bytes: int = 5 * 1024 * 1024
    max_redirects: int = 5
    retries: int = 3
    retry_after_cap: float = 120.0
    allow_private_hosts: bool = False
    backoff_base: float = 1.0
    backoff_max: float = 30.0
    allowed_private_hosts: frozenset[str] = field(default_factory=frozenset)


DEFAULT_LIMITS = FetchLimits()


@dataclass(frozen=True, slots=True)
class FetchResult:
    """The outcome of a successful fetch; `content` is None when nothing changed."""

    url: str
    status: int
    content: bytes | None
    headers: Mapping[str, str]
    validators: Validators
    permanent_url: str | None
    fetched_at: datetime

    @property
    def not_modified(self) -> bool:
        """304, or a body identical to the last one: there is nothing new to parse."""
        return self.content is None


def make_client(
    *,
    user_agent: str = DEFAULT_USER_AGENT,
    limits: FetchLimits,
    max_connections: int = DEFAULT_MAX_CONNECTIONS,
) -> httpx.AsyncClient:
    """The one shared client: names the bot, never follows redirects on its own.

    Use one client for every poll: its pool keeps connections alive between requests.
    `max_connections` should be at least the poll's global cap (see `feeds.poll`). Its
    transport (`feeds.transport.FeedTransport`) connects to the addresses `fetch` checked;
    a client with another transport still works, without that pinning.
    """
    return httpx.AsyncClient(
        headers={"User-Agent": user_agent, "Accept": ACCEPT},
        timeout=_timeout(limits),
        transport=FeedTransport(max_connections=max_connections),
        follow_redirects=False,
    )


async def fetch(
    client: httpx.AsyncClient,
    url: str,
    *,
    validators: Validators | None = None,
    limits: FetchLimits = DEFAULT_LIMITS,
    resolver: Resolver | None = None,
    slot: Callable[[], AbstractAsyncContextManager[object]] | None = None,
) -> FetchResult:
    """GET `url` with conditional headers from `validators`; raise a `FeedError` on failure.

    Transient failures (connection errors, timeouts, 5xx, 429) are retried `limits.retries`
    times; anything else raises at once. `resolver` replaces DNS for the private-address check.
    `slot`, when given, is entered around each attempt (not the waits between attempts), so
    a concurrency cap is not held by a fetch that is only sleeping before its retry.
    """
    previous = validators or Validators()
    parsed = _check_url(url)
    enter_slot = slot or contextlib.nullcontext
    # Fast path: most fetches succeed (or fail for good) at the first attempt, so tenacity is
    # only set up once a retryable failure has happened.
    try:
        return await _attempt(client, url, parsed, previous, limits, resolver, enter_slot)
    except FetchError as exc:
        if limits.retries < 1 or not _retryable(exc, limits):
            raise
        await asyncio.sleep(_wait_seconds(exc, 1, limits))
    retrying = AsyncRetrying(
        stop=stop_after_attempt(limits.retries),
        wait=_RetryWait(limits, attempts_before=1),
        retry=retry_if_exception(lambda exc: _retryable(exc, limits)),
        reraise=True,
    )
    result: FetchResult = await retrying(
        _attempt, client, url, parsed, previous, limits, resolver, enter_slot
    )
    return result


def _check_url(url: str | httpx.URL) -> httpx.URL:
    try:
        parsed = httpx.URL(url)
    except (httpx.InvalidURL, TypeError, ValueError) as exc:
        raise InvalidURLError(str(url), f"not a valid URL: {exc}") from exc
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise InvalidURLError(str(url), "only absolute http:// and https:// feed URLs are allowed")
    return parsed


def _timeout(limits: FetchLimits) -> httpx.Timeout:
    return httpx.Timeout(
        connect=limits.connect_timeout,
        read=limits.read_timeout,
        write=limits.read_timeout,
        pool=limits.total_timeout,
    )


async def _attempt(
    client: httpx.AsyncClient,
    url: str,
    parsed: httpx.URL,
    previous: Validators,
    limits: FetchLimits,
    resolver: Resolver | None,
    slot: Callable[[], AbstractAsyncContextManager[object]],
) -> FetchResult:
    try:
        # Waiting for a slot is not part of the attempt's time budget.
        async with slot(), asyncio.timeout(limits.total_timeout):
            return await _follow(client, url, parsed, previous, limits, resolver)
    except TimeoutError as exc:
        raise FetchError(url, f"no complete answer within {limits.total_timeout:g} s") from exc
    except httpx.TimeoutException as exc:
        raise FetchError(url, f"timed out ({type(exc).__name__})") from exc
    except httpx.InvalidURL as exc:
        raise InvalidURLError(url, f"not a valid URL: {exc}") from exc
    except httpx.HTTPError as exc:
        # Connection refused/reset, protocol errors, undecodable gzip: all worth a retry.
        raise FetchError(url, f"{type(exc).__name__}: {exc or 'connection failed'}") from exc


async def _follow(
    client: httpx.AsyncClient,
    url: str,
    current: httpx.URL,
    previous: Validators,
    limits: FetchLimits,
    resolver: Resolver | None,
) -> FetchResult:
    """Walk the redirect chain by hand so that every hop's host is checked (and the
    connection pinned to the addresses checked)."""
    visited = {str(current)}
    permanent_url: str | None = None
    still_permanent = True
    headers = _conditional_headers(previous)
    timeout = _timeout(limits)

    for _hop in range(limits.max_redirects + 1):
        addresses = None
        if not limits.allow_private_hosts:
            addresses = await ensure_public_host(
                current, resolver=resolver, allowed_hosts=limits.allowed_private_hosts
            )
        async with client.stream(
            "GET",
            current,
            headers=headers,
            timeout=timeout,
            follow_redirects=False,
            extensions=pinned(addresses),
        ) as response:
            status = response.status_code
            if status in _REDIRECTS:
                location = response.headers.get("location")
                if not location:
                    raise HTTPStatusError(url, status, f"redirect ({status}) without a Location")
                target = _check_url(current.join(location))
                if str(target) in visited:
                    raise TooManyRedirectsError(url, f"redirect loop back to {target}")
                visited.add(str(target))
                still_permanent = still_permanent and status in _PERMANENT_REDIRECTS
                if still_permanent:
                    permanent_url = str(target)
                current = target
                continue
            return await _finish(response, url, previous, limits, permanent_url)

    raise TooManyRedirectsError(url, f"more than {limits.max_redirects} redirects")


async def _finish(
    response: httpx.Response,
    url: str,
    previous: Validators,
    limits: FetchLimits,
    permanent_url: str | None,
) -> FetchResult:
    status = response.status_code
    headers = {key.lower(): value for key, value in response.headers.items()}
    fetched_at = datetime.now(UTC)
    final_url = str(response.url)

    if status == 304:
        return FetchResult(
            url=final_url,
            status=304,
            content=None,
            headers=headers,
            # A 304 may carry fresh validators; the body (and its hash) is the one we had.
            validators=Validators(
                etag=headers.get("etag", previous.etag),
                last_modified=headers.get("last-modified", previous.last_modified),
                content_hash=previous.content_hash,
            ),
            permanent_url=permanent_url,
            fetched_at=fetched_at,
        )
    if status == 429 or status >= 500:
        raise FetchError(
            url,
            f"server busy or failing (HTTP {status})",
            status=status,
            retry_after=parse_retry_after(headers.get("retry-after"), now=fetched_at),
        )
    if not 200 <= status < 300:
        raise HTTPStatusError(url, status)

    body, digest = await _read_limited(response, url, limits.max_bytes)
    return FetchResult(
        url=final_url,
        status=status,
        content=None if digest == previous.content_hash else body,
        headers=headers,
        validators=Validators(
            etag=headers.get("etag"),
            last_modified=headers.get("last-modified"),
            content_hash=digest,
        ),
        permanent_url=permanent_url,
        fetched_at=fetched_at,
    )


async def _read_limited(response: httpx.Response, url: str, max_bytes: int) -> tuple[bytes, str]:
    """Read the (decoded) body, giving up as soon as it passes `max_bytes`; hash it on the way.

    The chunks are hashed as they arrive and joined once: no second pass over the body and
    no intermediate buffer to copy.
    """
    declared = response.headers.get("content-length", "")
    # Content-Length is the encoded size; a decoded body is never smaller, so refuse early.
    if declared.isdigit() and int(declared) > max_bytes:
        raise TooLargeError(url, max_bytes)
    chunks: list[bytes] = []
    size = 0
    digest = hashlib.sha256()
    async for chunk in response.aiter_bytes():
        size += len(chunk)
        if size > max_bytes:
            raise TooLargeError(url, max_bytes)
        digest.update(chunk)
        chunks.append(chunk)
    body = chunks[0] if len(chunks) == 1 else b"".join(chunks)
    return body, digest.hexdigest()


def _conditional_headers(previous: Validators) -> dict[str, str]:
    headers = {}
    if previous.etag:
        headers["If-None-Match"] = previous.etag
    if previous.last_modified:
        headers["If-Modified-Since"] = previous.last_modified
    return headers


def parse_retry_after(value: str | None, *, now: datetime) -> float | None:
    """Seconds to wait from a `Retry-After` header (delta-seconds or an HTTP date)."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - now).total_seconds())


def _retryable(exc: BaseException, limits: FetchLimits) -> bool:
    if not isinstance(exc, FetchError):
        return False  # 4xx, too large, private address, redirects: retrying will not help
    # A server asking us to stay away longer than we are willing to block: give up now and
    # let the scheduler come back later (the error carries `.retry_after`).
    return exc.retry_after is None or exc.retry_after <= limits.retry_after_cap


def _wait_seconds(exc: BaseException | None, attempt_number: int, limits: FetchLimits) -> float:
    """Before retry `attempt_number` (1 = after the first failure): the server's Retry-After
    when it gave one, else exponential backoff with full jitter."""
    if isinstance(exc, FetchError) and exc.retry_after is not None:
        return min(exc.retry_after, limits.retry_after_cap)
    ceiling = limits.backoff_base * 2 ** (attempt_number - 1)
    return random.uniform(0, min(ceiling, limits.backoff_max))


class _RetryWait:
    """tenacity's wait: `_wait_seconds`, counting the attempts made before tenacity took over."""

    def __init__(self, limits: FetchLimits, *, attempts_before: int = 0) -> None:
        self._limits = limits
        self._attempts_before = attempts_before

    def __call__(self, retry_state: RetryCallState) -> float:
        exc = retry_state.outcome.exception() if retry_state.outcome else None
        attempt = retry_state.attempt_number + self._attempts_before
        return _wait_seconds(exc, attempt, self._limits)


__all__ = [
    "ACCEPT",
    "DEFAULT_LIMITS",
    "DEFAULT_MAX_CONNECTIONS",
    "DEFAULT_USER_AGENT",
    "FeedError",
    "FetchLimits",
    "FetchResult",
    "Validators",
    "fetch",
    "make_client",
    "parse_retry_after",
]
