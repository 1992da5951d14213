"""User-added feed URLs cannot reach private addresses (ALLOW_PRIVATE_FEED_HOSTS off): /addsource
refuses loopback, private, link-local, unspecified, decimal and IPv4-mapped hosts, names that
resolve to them and redirects to them, with a friendly message and BEFORE any connection (the
feed network is a recording `httpx.MockTransport`: nothing leaves the process)."""

from __future__ import annotations

import contextlib
from pathlib import Path

import httpx
import pytest

from feeds.errors import PrivateAddressError
from feeds.fetch import FetchLimits, fetch
from feeds.netsafety import ensure_public_host
from feeds.transport import PINNED_ADDRESSES
from tests.fakes import FakeTelegramAPI
from tests.security.support import (
    ADMIN,
    TEST_FEED_HOST,
    FeedNetwork,
    error_records,
    hostile_bot,
    serve_redirect,
)
from tests.security.support import snapshot as db_snapshot

REFUSED = "Could not fetch that feed: refused non-public address"

PRIVATE_URLS = [
    "http://127.0.0.1/feed",
    "http://localhost/feed",
    "http://LOCALHOST./feed",
    "http://feeds.localhost/rss",
    "http://[::1]/feed",
    "http://10.0.0.1/feed",
    "http://192.168.1.1/rss",
    "http://172.16.0.1/rss",
    "http://100.64.0.1/rss",  # carrier-grade NAT
    "http://169.254.169.254/latest/meta-data/",  # cloud metadata
    "http://0.0.0.0/feed",
    "http://0/feed",
    "http://2130706433/",  # 127.0.0.1 as one decimal number
    "http://0x7f000001/",
    "http://127.1/",
    "http://[::ffff:127.0.0.1]/feed",  # IPv4-mapped IPv6
    "http://[::ffff:a9fe:a9fe]/latest/meta-data/",  # 169.254.169.254, mapped and in hex
    "http://[64:ff9b::a00:1]/",  # NAT64 of 10.0.0.1
    "http://[fe80::1]/",
    "http://[fc00::1]/",
    "http://[::]/",
    "https://user:pass@127.0.0.1:8443/feed",
    "http://127.0.0.1:5432/",  # the local PostgreSQL
]


# Refused as malformed (octal dotted quad, bad port, unclosed IPv6 bracket, which crashed the
# handler before the fix), also before any connection.
INVALID_URLS = ["http://0177.0.0.1/", "http://127.0.0.1:99999/", "http://[::1/", "http://[10.0.0.1"]


def _loopback_names() -> list[str]:
    """Names /etc/hosts maps to a loopback address, other than "localhost" itself: public-
    looking hosts that the system resolver answers with a private address (from the file, so
    no DNS query leaves the machine)."""
    names: set[str] = set()
    with contextlib.suppress(OSError):
        for line in Path("/etc/hosts").read_text(encoding="utf-8").splitlines():
            address, *aliases = line.split("#", 1)[0].split() or [""]
            if not address.startswith(("127.", "::1")):
                continue
            names |= {a for a in aliases if "localhost" not in a.lower() and "." not in a}
    return sorted(names)


async def test_addsource_refuses_private_addresses_before_connecting(
    fake_telegram: FakeTelegramAPI, tmp_path: Path
) -> None:
    names = _loopback_names()
    urls = PRIVATE_URLS + [f"http://{name}/feed" for name in names]
    with error_records() as errors:
        async with hostile_bot(fake_telegram, tmp_path) as (bot, network):
            before = await db_snapshot(bot)
            for url in urls:
                [answer] = await bot.say(ADMIN, f"/addsource {url}")
                assert answer.plain_text.startswith("❌ " + REFUSED), (url, answer.plain_text)
                assert "Nothing was added" in answer.plain_text
            for url in INVALID_URLS:
                [answer] = await bot.say(ADMIN, f"/addsource {url}")
                text = answer.plain_text
                refused = "not a valid URL" in text or REFUSED in text or text.startswith("Usage:")
                assert refused, (url, text)
            assert network.requests == []
            assert await db_snapshot(bot) == before
    assert errors.texts() == []


@pytest.mark.parametrize(
    ("location", "status"),
    [
        ("http://169.254.169.254/latest/meta-data/iam/", 302),
        ("http://[::1]:8080/admin", 301),
        ("//127.0.0.1/feed", 307),  # scheme-relative
        ("http://2130706433/", 308),
        ("http://localhost/feed", 303),
    ],
)
async def test_addsource_refuses_a_redirect_to_a_private_address(
    fake_telegram: FakeTelegramAPI, tmp_path: Path, location: str, status: int
) -> None:
    start = f"http://{TEST_FEED_HOST}/rss.xml"
    allowed = frozenset({TEST_FEED_HOST})
    async with hostile_bot(fake_telegram, tmp_path, allowed_hosts=allowed) as (bot, network):
        serve_redirect(network, start, location, status)
        before = await db_snapshot(bot)
        [answer] = await bot.say(ADMIN, f"/addsource {start}")
        assert REFUSED in answer.plain_text, answer.plain_text
        # Only the allowed host was asked; the private target never was.
        assert [str(r.url) for r in network.requests] == [start]
        assert await db_snapshot(bot) == before


@pytest.mark.parametrize(
    "answers",
    [["10.1.2.3"], ["93.184.216.34", "127.0.0.1"], ["::ffff:192.168.0.1"], ["169.254.169.254"],
     ["not-an-address"], ["fd00::1"], ["0.0.0.0"]],
)  # fmt: skip
async def test_a_public_looking_name_resolving_to_a_private_address_is_refused(
    answers: list[str],
) -> None:
    """`fetch` takes a resolver: a hostile DNS answer (or one private address among public
    ones) refuses the feed before any request is made."""
    network = FeedNetwork()
    asked: list[str] = []

    async def resolver(host: str, _port: int) -> list[str]:
        asked.append(host)
        return answers

    async with network.client() as client:
        with pytest.raises(PrivateAddressError) as caught:
            await fetch(
                client, "https://news.example.com/rss", limits=FetchLimits(), resolver=resolver
            )
    assert asked == ["news.example.com"]
    assert network.requests == []
    assert caught.value.host == "news.example.com"


async def test_dns_rebinding_cannot_move_a_checked_request_to_loopback() -> None:
    """A DNS server answers a public address for the check and 127.0.0.1 from then on. The
    request goes out pinned to the address that was checked (`FeedTransport` connects to the
    pin and nowhere else: tests/feeds/test_transport.py), and the redirect hop, whose check
    now sees loopback, is refused before any request."""
    network = FeedNetwork()
    serve_redirect(network, "https://rebind.example.com/rss", "/next")
    answers = iter([["93.184.216.34"]])

    async def rebinding(_host: str, _port: int) -> list[str]:
        return next(answers, ["127.0.0.1"])

    async with network.client() as client:
        with pytest.raises(PrivateAddressError) as caught:
            await fetch(
                client, "https://rebind.example.com/rss", limits=FetchLimits(), resolver=rebinding
            )
    assert caught.value.address == "127.0.0.1"
    [request] = network.requests
    assert request.extensions[PINNED_ADDRESSES] == ("93.184.216.34",)


@pytest.mark.parametrize("url", PRIVATE_URLS)
async def test_literal_private_hosts_are_refused_without_a_lookup(url: str) -> None:
    """Literal addresses are judged as written; a name is only looked up through the resolver
    (here one that refuses to be asked, so a lookup would fail the test)."""
    asked: list[str] = []

    async def resolver(host: str, _port: int) -> list[str]:
        asked.append(host)
        return ["127.0.0.1"]  # what glibc makes of "2130706433", "0x7f000001", "127.1"

    with pytest.raises(PrivateAddressError):
        await ensure_public_host(url, resolver=resolver)
    host = httpx.URL(url).host
    assert asked in ([], [host])
