"""Private-address refusal: which addresses count as public, and how hosts are checked."""

from __future__ import annotations

import ipaddress

import pytest

from feeds.errors import FetchError, PrivateAddressError
from feeds.netsafety import (
    DNS_CACHE_TTL,
    CachingResolver,
    Resolver,
    default_resolver,
    ensure_public_host,
    is_public_address,
    system_resolver,
)


@pytest.mark.parametrize(
    ("address", "public"),
    [
        pytest.param("93.184.216.34", True, id="public-v4"),
        pytest.param("2606:4700:4700::1111", True, id="public-v6"),
        pytest.param("127.0.0.1", False, id="loopback"),
        pytest.param("127.255.0.9", False, id="loopback-range"),
        pytest.param("10.0.0.1", False, id="private-10"),
        pytest.param("172.16.5.4", False, id="private-172"),
        pytest.param("192.168.1.1", False, id="private-192"),
        pytest.param("169.254.169.254", False, id="link-local-metadata"),
        pytest.param("100.64.0.1", False, id="shared-cgnat"),
        pytest.param("0.0.0.0", False, id="unspecified-v4"),
        pytest.param("224.0.0.1", False, id="multicast-v4"),
        pytest.param("240.0.0.1", False, id="reserved-v4"),
        pytest.param("192.0.2.10", False, id="documentation"),
        pytest.param("::1", False, id="loopback-v6"),
        pytest.param("::", False, id="unspecified-v6"),
        pytest.param("fe80::1", False, id="link-local-v6"),
        pytest.param("fd00::1", False, id="unique-local-v6"),
        pytest.param("ff02::1", False, id="multicast-v6"),
        pytest.param("::ffff:127.0.0.1", False, id="v4-mapped-loopback"),
        pytest.param("::ffff:10.0.0.1", False, id="v4-mapped-private"),
        pytest.param("::ffff:93.184.216.34", True, id="v4-mapped-public"),
        pytest.param("2002:7f00:1::1", False, id="6to4-loopback"),
        pytest.param("2002:5db8:d822::1", True, id="6to4-public"),
        pytest.param("64:ff9b::a00:1", False, id="nat64-private"),
    ],
)
def test_is_public_address(address: str, public: bool) -> None:
    assert is_public_address(ipaddress.ip_address(address)) is public


def _resolver(table: dict[str, list[str]]) -> Resolver:
    async def resolve(host: str, _port: int) -> list[str]:
        if host not in table:
            raise OSError(f"unknown host {host}")
        return table[host]

    return resolve


async def test_public_name_passes_and_gives_the_addresses_to_pin() -> None:
    answer = ["93.184.216.34", "2606:2800:220:1::1", "93.184.216.34"]
    resolve = _resolver({"news.example.org": answer})
    addresses = await ensure_public_host("https://news.example.org/rss", resolver=resolve)
    assert addresses == ("93.184.216.34", "2606:2800:220:1::1")


@pytest.mark.parametrize(
    ("url", "allowed"),
    [
        pytest.param("https://93.184.216.34/rss", (), id="literal-address"),
        pytest.param("http://[2606:2800:220:1::1]/rss", (), id="literal-v6"),
        pytest.param("http://feeds.internal/rss", ("feeds.internal",), id="exempt-host"),
    ],
)
async def test_nothing_to_pin_for_literal_or_exempt_hosts(url: str, allowed: tuple[str]) -> None:
    resolve = _resolver({})  # asking it would raise
    assert await ensure_public_host(url, resolver=resolve, allowed_hosts=allowed) is None


async def test_any_private_address_among_several_is_refused() -> None:
    resolve = _resolver({"mixed.example.org": ["93.184.216.34", "10.0.0.7"]})
    with pytest.raises(PrivateAddressError) as caught:
        await ensure_public_host("https://mixed.example.org/rss", resolver=resolve)
    assert caught.value.host == "mixed.example.org"
    assert caught.value.address == "10.0.0.7"
    assert "10.0.0.7" in str(caught.value)


@pytest.mark.parametrize(
    "url",
    [
        "http://localhost/rss",
        "http://LOCALHOST.:8080/rss",
        "http://feeds.localhost/rss",
        "http://127.0.0.1/rss",
        "http://[::1]:8000/rss",
        "http://[::ffff:127.0.0.1]/rss",
        "http://169.254.169.254/latest/meta-data/",
    ],
)
async def test_literal_and_local_hosts_are_refused_without_dns(url: str) -> None:
    resolve = _resolver({})  # any lookup would fail with OSError, not PrivateAddressError
    with pytest.raises(PrivateAddressError):
        await ensure_public_host(url, resolver=resolve)


@pytest.mark.parametrize("url", ["http://127.1/rss", "http://2130706433/rss", "http://0x7f.1/"])
async def test_odd_spellings_of_loopback_are_caught_by_the_system_resolver(url: str) -> None:
    # getaddrinfo turns these into 127.0.0.1; no network is needed.
    with pytest.raises(PrivateAddressError):
        await ensure_public_host(url, resolver=system_resolver)


async def test_allow_list_exempts_a_named_host() -> None:
    resolve = _resolver({})
    await ensure_public_host(
        "http://localhost:8080/rss", resolver=resolve, allowed_hosts={"localhost"}
    )


async def test_unresolvable_host_is_a_fetch_error() -> None:
    with pytest.raises(FetchError, match="cannot resolve"):
        await ensure_public_host("https://nowhere.invalid/rss", resolver=_resolver({}))


async def test_empty_answer_is_a_fetch_error() -> None:
    with pytest.raises(FetchError, match="no address"):
        await ensure_public_host(
            "https://empty.example/rss", resolver=_resolver({"empty.example": []})
        )


class _CountingResolver:
    """A fake DNS that answers from a table (which a test may change) and counts lookups."""

    def __init__(self, table: dict[str, list[str]]) -> None:
        self.table = table
        self.lookups: list[tuple[str, int]] = []

    async def __call__(self, host: str, port: int) -> list[str]:
        self.lookups.append((host, port))
        if host not in self.table:
            raise OSError(f"unknown host {host}")
        return list(self.table[host])


class _Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


async def test_caching_resolver_asks_once_per_host_and_port_within_the_ttl() -> None:
    dns = _CountingResolver({"news.example.org": ["93.184.216.34"]})
    clock = _Clock()
    cached = CachingResolver(dns, ttl=60.0, clock=clock)

    for _ in range(3):
        await ensure_public_host("https://news.example.org/rss", resolver=cached)
    await ensure_public_host("http://news.example.org/other", resolver=cached)  # port 80
    assert dns.lookups == [("news.example.org", 443), ("news.example.org", 80)]

    clock.now += 61.0  # expired: asked again
    await ensure_public_host("https://news.example.org/rss", resolver=cached)
    assert dns.lookups[-1] == ("news.example.org", 443) and len(dns.lookups) == 3


async def test_a_host_that_moves_to_a_private_address_is_refused_once_the_ttl_ends() -> None:
    # The documented limit: within the TTL the cached public answer stands; after it, the
    # new private address is seen and refused.
    dns = _CountingResolver({"moving.example.org": ["93.184.216.34"]})
    clock = _Clock()
    cached = CachingResolver(dns, ttl=60.0, clock=clock)
    await ensure_public_host("https://moving.example.org/rss", resolver=cached)

    dns.table["moving.example.org"] = ["10.0.0.5"]
    clock.now += 30.0
    await ensure_public_host("https://moving.example.org/rss", resolver=cached)
    clock.now += 31.0
    with pytest.raises(PrivateAddressError) as caught:
        await ensure_public_host("https://moving.example.org/rss", resolver=cached)
    assert caught.value.address == "10.0.0.5"


async def test_cached_private_answers_are_still_refused_every_time() -> None:
    dns = _CountingResolver({"intranet.example.org": ["93.184.216.34", "192.168.0.9"]})
    cached = CachingResolver(dns, ttl=60.0, clock=_Clock())
    for _ in range(2):
        with pytest.raises(PrivateAddressError):
            await ensure_public_host("https://intranet.example.org/", resolver=cached)
    assert len(dns.lookups) == 1


async def test_failed_and_empty_lookups_are_not_cached() -> None:
    dns = _CountingResolver({"empty.example": []})
    cached = CachingResolver(dns, ttl=60.0, clock=_Clock())
    for _ in range(2):
        with pytest.raises(FetchError, match="cannot resolve"):
            await ensure_public_host("https://nowhere.invalid/rss", resolver=cached)
        with pytest.raises(FetchError, match="no address"):
            await ensure_public_host("https://empty.example/rss", resolver=cached)
    assert len(dns.lookups) == 4

    dns.table["nowhere.invalid"] = ["93.184.216.34"]  # DNS recovered: no stale failure
    await ensure_public_host("https://nowhere.invalid/rss", resolver=cached)


async def test_caching_resolver_stays_bounded() -> None:
    dns = _CountingResolver({f"h{n}.example.org": ["93.184.216.34"] for n in range(10)})
    cached = CachingResolver(dns, ttl=60.0, max_entries=4, clock=_Clock())
    for n in range(10):
        await cached(f"h{n}.example.org", 443)
    assert len(cached._entries) <= 4
    await cached("h9.example.org", 443)  # the newest entry survived
    assert len(dns.lookups) == 10


def test_the_default_resolver_is_the_cached_system_resolver() -> None:
    assert isinstance(default_resolver, CachingResolver)
    assert DNS_CACHE_TTL == 60.0
