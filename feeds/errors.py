"""The typed errors a feed fetch or parse can end in; callers catch `FeedError`.

::

    FeedError                  base: .url and a human-readable message
    ├── FetchError             transient (connection, timeout, 5xx, 429) after retries ran out
    ├── HTTPStatusError        a final 4xx (404, 410, 401, 403, ...): not retried; .status, .gone
    ├── TooLargeError          the body is over the size limit (checked while streaming)
    ├── TooManyRedirectsError  more redirects than allowed, or a redirect loop
    ├── PrivateAddressError    the host (or a redirect's host) is not a public address
    ├── NotAFeedError          an HTML page or an unparsable body (raised by the parse layer)
    └── InvalidURLError        not an absolute http(s) URL: nothing was requested
"""

from __future__ import annotations


class FeedError(Exception):
    """Something went wrong with one feed; `str(error)` is fit to show a person."""

    def __init__(self, url: str, message: str) -> None:
        super().__init__(message)
        self.url = url
        self.message = message

    def __str__(self) -> str:
        return f"{self.message} ({self.url})"


class FetchError(FeedError):
    """A transient failure (connection, timeout, 5xx, 429) that outlived the retries.

    `status` is the last HTTP status if there was one; `retry_after` the seconds the server
    asked us to wait (Retry-After), for the scheduler to honour.
    """

    def __init__(
        self,
        url: str,
        message: str,
        *,
        status: int | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(url, message)
        self.status = status
        self.retry_after = retry_after


class HTTPStatusError(FeedError):
    """The server answered with a final error status; retrying will not help."""

    def __init__(self, url: str, status: int, message: str | None = None) -> None:
        super().__init__(url, message or _status_message(status))
        self.status = status

    @property
    def gone(self) -> bool:
        """410: the publisher removed the feed for good; stop polling it."""
        return self.status == 410


class TooLargeError(FeedError):
    """The response body is over the configured limit."""

    def __init__(self, url: str, limit: int) -> None:
        super().__init__(url, f"feed is larger than the {limit:,}-byte limit")
        self.limit = limit


class TooManyRedirectsError(FeedError):
    """More redirects than allowed, or a redirect back to a URL already visited."""


class PrivateAddressError(FeedError):
    """The feed's host is loopback, private, link-local or otherwise not public."""

    def __init__(self, url: str, host: str, address: str | None = None) -> None:
        detail = f"{host} resolves to {address}" if address and address != host else host
        super().__init__(url, f"refused non-public address: {detail}")
        self.host = host
        self.address = address


class NotAFeedError(FeedError):
    """The body is not a feed (e.g. an HTML page) and nothing could be recovered."""


class InvalidURLError(FeedError):
    """The URL is malformed or not http(s) (e.g. ``file:///etc/passwd``)."""


def _status_message(status: int) -> str:
    known = {
        401: "the feed needs authorisation (401)",
        403: "access to the feed is forbidden (403)",
        404: "feed not found (404)",
        410: "feed removed for good (410 Gone)",
    }
    return known.get(status, f"the server refused the request (HTTP {status})")
