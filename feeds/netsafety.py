"""Refuse feed URLs whose host is not a public internet address (SSRF protection).

A feed URL comes from configuration or, later, from users: without this check it could make
the bot read its own metadata service (169.254.169.254), a database on localhost, or a
router's admin page, and show the answer back as "news".

DNS rebinding: `ensure_public_host` returns the addresses it judged, and `feeds.fetch` pins
the connection to them (`feeds.transport.PINNED_ADDRESSES`), so a DNS server that answers
with a public address for the check and a private one for the connection gets nowhere; every
redirect hop is checked and pinned again. The default resolver caches each (host, port)'s
addresses for `DNS_CACHE_TTL` seconds (a lookup per request cost a thread-pool hop and a DNS
round trip): a feed whose name moves to another public address is followed within that time.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
import time
from collections.abc import Awaitable, Callable, Collection

import httpx

from feeds.errors import FetchError, PrivateAddressError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# host, port -> every address the name resolves to (as text). Injectable so tests can resolve a
# public-looking name to a private address without touching real DNS.
Resolver = Callable[[str, int], Awaitable[list[str]]]

_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")

# Long enough that one poll cycle resolves each feed host once, short enough that a host that
# moves is followed within a minute (and that a rebinding attacker gains little; see above).
DNS_CACHE_TTL = 60.0


async def system_resolver(host: str, port: int) -> list[str]:
    """Resolve `host` with the operating system's resolver, off the event loop."""
    loop = asyncio.get_running_loop()
    infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    return [str(info[4][0]) for info in infos]


class CachingResolver:
    """A `Resolver` that remembers each (host, port)'s addresses for `ttl` seconds.

    Only answers with at least one address are kept: a failed or empty lookup is asked
    again next time (DNS failures are usually transient). The verdict is not cached, only
    the addresses: `ensure_public_host` judges them afresh on every call (microseconds).
    The cache holds plain data, so one instance may serve several event loops.
    """

    def __init__(
        self,
        resolver: Resolver = system_resolver,
        *,
        ttl: float = DNS_CACHE_TTL,
        max_entries: int = 10_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._resolver = resolver
        self._ttl = ttl
        self._max_entries = max_entries
        self._clock = clock
        self._entries: dict[tuple[str, int], tuple[float, tuple[str, ...]]] = {}

    async def __call__(self, host: str, port: int) -> list[str]:
        key = (host, port)
        now = self._clock()
        entry = self._entries.get(key)
        if entry is not None and entry[0] > now:
            return list(entry[1])
        addresses = await self._resolver(host, port)
        if addresses:
            if len(self._entries) >= self._max_entries:
                self._drop_expired(now)
            if len(self._entries) >= self._max_entries:
                self._entries.clear()  # a flood of distinct names: start over, stay bounded
            self._entries[key] = (now + self._ttl, tuple(addresses))
        return addresses

    def clear(self) -> None:
        self._entries.clear()

    def _drop_expired(self, now: float) -> None:
        for key in [key for key, (expires, _) in self._entries.items() if expires <= now]:
            del self._entries[key]


# What `ensure_public_host` uses when no resolver is passed in.
default_resolver = CachingResolver(system_resolver)


def _embedded_ipv4(address: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    """The IPv4 address hidden in an IPv6 one (mapped, 6to4, Teredo, NAT64), if any."""
    if address.ipv4_mapped is not None:
        return address.ipv4_mapped
    if address.sixtofour is not None:
        return address.sixtofour
    if address.teredo is not None:
        return address.teredo[1]
    if address in _NAT64:
        return ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
    return None


def is_public_address(address: IPAddress) -> bool:
    """True for a globally routable unicast address; False for loopback, private, etc."""
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:  # ::ffff:a.b.c.d is just a.b.c.d
            return is_public_address(address.ipv4_mapped)
        embedded = _embedded_ipv4(address)
        if embedded is not None and not is_public_address(embedded):
            return False
    # `is_global` already excludes private, loopback, link-local, reserved, unspecified and
    # shared (100.64/10) space; multicast counts as "global" to the ipaddress module.
    return address.is_global and not address.is_multicast


def _literal_address(host: str) -> IPAddress | None:
    try:
        return ipaddress.ip_address(host.strip("[]").split("%", 1)[0])
    except ValueError:
        return None


async def ensure_public_host(
    url: str | httpx.URL,
    *,
    resolver: Resolver | None = None,
    allowed_hosts: Collection[str] = (),
) -> tuple[str, ...] | None:
    """Raise `PrivateAddressError` unless every address `url`'s host resolves to is public.

    Returns the addresses judged, for the connection to be pinned to; None when there is
    nothing to pin (an exempt host, or a host that is itself an IP address).

    `resolver` defaults to `default_resolver` (the system resolver, cached for
    `DNS_CACHE_TTL` seconds); an injected resolver is used as is, uncached. `allowed_hosts`
    names hosts exempt from the check (lower-case, exact match), for an operator's own feed
    server or a test server. A name that does not resolve raises
    `FetchError` (DNS failures are usually transient).
    """
    parsed = url if isinstance(url, httpx.URL) else httpx.URL(url)
    where = str(url)
    host = parsed.host.lower().rstrip(".")
    if host in allowed_hosts:
        return None
    if not host:
        raise PrivateAddressError(where, "(no host)")
    if host == "localhost" or host.endswith(".localhost"):
        raise PrivateAddressError(where, host)

    literal = _literal_address(host)
    if literal is not None:
        if not is_public_address(literal):
            raise PrivateAddressError(where, host, str(literal))
        return None

    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    try:
        addresses = await (resolver or default_resolver)(host, port)
    except (OSError, UnicodeError) as exc:
        raise FetchError(where, f"cannot resolve host {host}: {exc}") from exc
    if not addresses:
        raise FetchError(where, f"host {host} has no address")
    for text in addresses:
        address = _literal_address(text)
        # An address we cannot even parse is not one we can vouch for.
        if address is None or not is_public_address(address):
            raise PrivateAddressError(where, host, text)
    return tuple(dict.fromkeys(addresses))
