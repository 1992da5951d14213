"""`feeds.poll`: fetch + parse + state for one and many sources, against a real local server."""

from __future__ import annotations

import asyncio
import threading
import time
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import httpx
import pytest
from pytest_httpserver import HTTPServer
from werkzeug import Request, Response

from feeds.errors import FeedError, FetchError, HTTPStatusError, NotAFeedError
from feeds.fetch import FetchLimits, Validators
from feeds.models import Source
from feeds.poll import (
    PollPolicy,
    SourceState,
    make_parse_executor,
    poll_each,
    poll_many,
    poll_source,
)
from tests.feeds.conftest import feed_response, sample

NOW = datetime(2025, 1, 15, 12, 0, 0, tzinfo=UTC)
POLICY = PollPolicy(
    interval=timedelta(minutes=5),
    min_interval=timedelta(minutes=1),
    max_interval=timedelta(hours=1),
    unhealthy_after=3,
)


def _state(url: str, name: str = "Test feed", **kwargs: object) -> SourceState:
    return SourceState(source=Source(url=url, name=name), **kwargs)  # type: ignore[arg-type]


async def test_first_poll_parses_items_and_keeps_validators(
    feed_server: HTTPServer, client: httpx.AsyncClient, test_limits: FetchLimits
) -> None:
    feed_server.expect_request("/unian").respond_with_response(
        feed_response(sample("tehtehteh_stub_unian_rss.xml"), headers={"ETag": '"u1"'})
    )
    url = feed_server.url_for("/unian")

    outcome = await poll_source(client, _state(url), limits=test_limits, policy=POLICY, now=NOW)

    assert outcome.ok and outcome.error is None
    assert not outcome.not_modified
    assert len(outcome.items) == 50
    assert all(item.source_url == url for item in outcome.items)
    assert outcome.feed_title == "Інформаційне Агентство УНІАН"
    assert outcome.state.validators.etag == '"u1"'
    assert outcome.state.validators.content_hash
    assert outcome.state.consecutive_failures == 0
    # Spread: on the feed's own slot, one to two intervals away.
    assert NOW + timedelta(minutes=4.5) <= outcome.next_poll_at
    assert outcome.next_poll_at < NOW + timedelta(minutes=9.5)
    assert not outcome.unhealthy


async def test_304_costs_no_parse_and_resets_failures(
    feed_server: HTTPServer, client: httpx.AsyncClient, test_limits: FetchLimits
) -> None:
    feed_server.expect_request("/rss").respond_with_response(Response(status=304))
    state = _state(
        feed_server.url_for("/rss"),
        validators=Validators(etag='"x"', content_hash="abc"),
        consecutive_failures=2,
    )
    outcome = await poll_source(client, state, limits=test_limits, policy=POLICY, now=NOW)
    assert outcome.ok and outcome.not_modified
    assert outcome.items == ()
    assert outcome.state.consecutive_failures == 0
    assert outcome.state.validators.etag == '"x"'


async def test_ttl_and_cache_headers_shape_the_next_poll(
    feed_server: HTTPServer, client: httpx.AsyncClient, test_limits: FetchLimits
) -> None:
    body = b"""<?xml version="1.0" encoding="utf-8"?>
<rss version="2.0"><channel><title>T</title><link>https://example.org/</link><ttl>20</ttl>
<item><title>One</title><link>https://example.org/1</link></item></channel></rss>"""
    feed_server.expect_request("/ttl").respond_with_response(feed_response(body))
    feed_server.expect_request("/cc").respond_with_response(
        feed_response(
            body.replace(b"<ttl>20</ttl>", b""), headers={"Cache-Control": "max-age=1800"}
        )
    )
    ttl = await poll_source(
        client, _state(feed_server.url_for("/ttl")), limits=test_limits, policy=POLICY, now=NOW
    )
    cache = await poll_source(
        client, _state(feed_server.url_for("/cc")), limits=test_limits, policy=POLICY, now=NOW
    )
    assert ttl.next_poll_at == NOW + timedelta(minutes=20)
    assert ttl.state.ttl_seconds == 1200
    assert cache.next_poll_at == NOW + timedelta(minutes=30)

    # A 304 parses nothing, but the TTL remembered from the last parse still applies.
    feed_server.clear()
    feed_server.expect_request("/ttl").respond_with_response(Response(status=304))
    unchanged = await poll_source(client, ttl.state, limits=test_limits, policy=POLICY, now=NOW)
    assert unchanged.not_modified
    assert unchanged.next_poll_at == NOW + timedelta(minutes=20)


async def test_source_interval_overrides_the_policy(
    feed_server: HTTPServer, client: httpx.AsyncClient, test_limits: FetchLimits
) -> None:
    feed_server.expect_request("/rss").respond_with_response(
        feed_response(sample("tehtehteh_stub_liga_rss.xml"))
    )
    source = Source(url=feed_server.url_for("/rss"), name="Liga", interval_seconds=900)
    outcome = await poll_source(
        client, SourceState(source=source), limits=test_limits, policy=POLICY, now=NOW
    )
    assert NOW + timedelta(minutes=13.5) <= outcome.next_poll_at
    assert outcome.next_poll_at < NOW + timedelta(minutes=28.5)


async def test_html_page_is_not_a_feed(
    feed_server: HTTPServer, client: httpx.AsyncClient, test_limits: FetchLimits
) -> None:
    page = b"<!doctype html><html><head><title>Home</title></head><body><p>Hi</p></body></html>"
    feed_server.expect_request("/news").respond_with_response(
        feed_response(page, content_type="text/html; charset=utf-8")
    )
    state = _state(feed_server.url_for("/news"))
    outcome = await poll_source(client, state, limits=test_limits, policy=POLICY, now=NOW)
    assert isinstance(outcome.error, NotAFeedError)
    assert "not a feed" in str(outcome.error)
    assert outcome.items == ()
    assert outcome.state.consecutive_failures == 1
    # The page's hash is not stored: the same page again must fail again, not look unchanged.
    again = await poll_source(client, outcome.state, limits=test_limits, policy=POLICY, now=NOW)
    assert isinstance(again.error, NotAFeedError)
    assert again.state.consecutive_failures == 2


@pytest.mark.parametrize(
    ("name", "content_type", "title_fragment", "count"),
    [
        pytest.param(
            "tehtehteh_stub_pravda_rss.xml",
            "text/xml",
            "Украинская правда",
            20,
            id="windows-1251",
        ),
        pytest.param(
            "gdacs_rss_24h_2019-12-30.xml",
            "application/rss+xml; charset=utf-8",
            "GDACS",
            21,
            id="utf8-bom",
        ),
    ],
)
async def test_encodings_survive_the_whole_poll(
    feed_server: HTTPServer,
    client: httpx.AsyncClient,
    test_limits: FetchLimits,
    name: str,
    content_type: str,
    title_fragment: str,
    count: int,
) -> None:
    feed_server.expect_request("/f").respond_with_response(
        feed_response(sample(name), content_type=content_type)
    )
    outcome = await poll_source(
        client, _state(feed_server.url_for("/f")), limits=test_limits, policy=POLICY, now=NOW
    )
    assert outcome.ok, outcome.error
    assert title_fragment in (outcome.feed_title or "")
    assert len(outcome.items) == count
    assert all("\ufffd" not in item.title and "Ð" not in item.title for item in outcome.items)


async def test_failures_back_off_and_mark_the_source_unhealthy(
    feed_server: HTTPServer, client: httpx.AsyncClient, test_limits: FetchLimits
) -> None:
    quick = replace(test_limits, retries=0)
    feed_server.expect_request("/down").respond_with_data("oops", status=503)
    state = _state(feed_server.url_for("/down"))
    waits = []
    for _ in range(3):
        outcome = await poll_source(client, state, limits=quick, policy=POLICY, now=NOW)
        assert isinstance(outcome.error, FetchError)
        waits.append(outcome.next_poll_at - NOW)
        state = outcome.state
    assert [w.total_seconds() / 60 for w in waits] == [10, 20, 40]
    assert state.consecutive_failures == 3
    assert outcome.unhealthy  # unhealthy_after=3 in POLICY


async def test_gone_feed_is_unhealthy_at_once(
    feed_server: HTTPServer, client: httpx.AsyncClient, test_limits: FetchLimits
) -> None:
    feed_server.expect_request("/gone").respond_with_data("gone", status=410)
    outcome = await poll_source(
        client, _state(feed_server.url_for("/gone")), limits=test_limits, policy=POLICY, now=NOW
    )
    assert isinstance(outcome.error, HTTPStatusError) and outcome.error.gone
    assert outcome.unhealthy


async def test_retry_after_beyond_cap_sets_the_next_poll(
    feed_server: HTTPServer, client: httpx.AsyncClient, test_limits: FetchLimits
) -> None:
    feed_server.expect_request("/busy").respond_with_response(
        Response("later", status=429, headers={"Retry-After": "1800"})
    )
    outcome = await poll_source(
        client, _state(feed_server.url_for("/busy")), limits=test_limits, policy=POLICY, now=NOW
    )
    assert isinstance(outcome.error, FetchError)
    assert outcome.next_poll_at == NOW + timedelta(minutes=30)


async def test_permanent_redirect_moves_the_source(
    feed_server: HTTPServer, client: httpx.AsyncClient, test_limits: FetchLimits
) -> None:
    feed_server.expect_request("/old").respond_with_response(
        Response(status=301, headers={"Location": "/new"})
    )
    feed_server.expect_request("/new").respond_with_response(
        feed_response(sample("tehtehteh_stub_liga_rss.xml"))
    )
    outcome = await poll_source(
        client, _state(feed_server.url_for("/old"), name="Liga"), limits=test_limits, now=NOW
    )
    assert outcome.ok
    assert outcome.permanent_url == feed_server.url_for("/new")
    assert outcome.state.source == Source(url=feed_server.url_for("/new"), name="Liga")
    assert outcome.items


async def test_poll_many_keeps_order_and_isolates_failures(
    feed_server: HTTPServer, client: httpx.AsyncClient, test_limits: FetchLimits
) -> None:
    feed_server.expect_request("/a").respond_with_response(
        feed_response(sample("tehtehteh_stub_liga_rss.xml"))
    )
    feed_server.expect_request("/b").respond_with_data("missing", status=404)
    feed_server.expect_request("/c").respond_with_response(
        feed_response(sample("thedeep_emm_newsbrief_en_2022-06-21.xml"))
    )
    states = [
        _state(feed_server.url_for("/a")),
        _state(feed_server.url_for("/b")),
        _state("ftp://example.org/feed"),
        _state(feed_server.url_for("/c")),
    ]
    outcomes = await poll_many(client, states, limits=test_limits, policy=POLICY, now=NOW)
    assert [o.source.url for o in outcomes] == [s.source.url for s in states]
    assert [o.ok for o in outcomes] == [True, False, False, True]
    assert isinstance(outcomes[1].error, HTTPStatusError)
    assert isinstance(outcomes[2].error, FeedError)
    assert len(outcomes[0].items) == 20 and len(outcomes[3].items) == 3


class _Concurrency:
    """Counts requests in flight on the (threaded) test server, overall and per Host."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.lock = threading.Lock()
        self.now: dict[str, int] = {}
        self.peak: dict[str, int] = {}
        self.total_now = 0
        self.total_peak = 0

    def __call__(self, request: Request) -> Response:
        host = request.host.split(":")[0]
        with self.lock:
            self.now[host] = self.now.get(host, 0) + 1
            self.peak[host] = max(self.peak.get(host, 0), self.now[host])
            self.total_now += 1
            self.total_peak = max(self.total_peak, self.total_now)
        time.sleep(self.delay)
        with self.lock:
            self.now[host] -= 1
            self.total_now -= 1
        return feed_response(sample("thedeep_emm_newsbrief_en_2022-06-21.xml"))


async def test_poll_many_caps_requests_per_host(
    feed_server: HTTPServer, client: httpx.AsyncClient, test_limits: FetchLimits
) -> None:
    counter = _Concurrency(delay=0.15)
    feed_server.expect_request("/slow").respond_with_handler(counter)
    states = [_state(feed_server.url_for("/slow") + f"?n={n}") for n in range(12)]

    started = time.monotonic()
    outcomes = await poll_many(client, states, limits=test_limits, per_host=4, now=NOW)
    elapsed = time.monotonic() - started

    assert all(o.ok for o in outcomes)
    # Four at a time, never more: concurrent, and capped.
    assert counter.peak["127.0.0.1"] == 4
    # 12 requests, 4 at a time, 0.15 s each: at least three waves.
    assert elapsed > 0.4


async def test_poll_many_caps_requests_globally(
    feed_server: HTTPServer, client: httpx.AsyncClient, test_limits: FetchLimits
) -> None:
    counter = _Concurrency(delay=0.15)
    feed_server.expect_request("/slow").respond_with_handler(counter)
    # Two host names for the same server, so that only the global cap can bind.
    other = feed_server.url_for("/slow").replace("127.0.0.1", "localhost")
    states = [_state(feed_server.url_for("/slow") + f"?n={n}") for n in range(6)]
    states += [_state(other + f"?n={n}") for n in range(6)]

    outcomes = await poll_many(
        client, states, limits=test_limits, per_host=4, global_limit=5, now=NOW
    )

    assert all(o.ok for o in outcomes), [str(o.error) for o in outcomes if o.error]
    assert counter.total_peak == 5
    assert counter.peak["127.0.0.1"] <= 4 and counter.peak["localhost"] <= 4


async def test_parsing_a_large_feed_does_not_stall_the_event_loop(
    feed_server: HTTPServer, client: httpx.AsyncClient, test_limits: FetchLimits
) -> None:
    big = sample("gdacs_rss_7d_2019-12-30.xml")
    assert len(big) > 1_500_000
    feed_server.expect_request("/gdacs").respond_with_response(feed_response(big))
    stalls: list[float] = []
    done = asyncio.Event()

    async def heartbeat() -> None:
        tick = 0.005
        last = time.perf_counter()
        while not done.is_set():
            await asyncio.sleep(tick)
            now = time.perf_counter()
            stalls.append(now - last - tick)
            last = now

    # The bot parses in a process pool (as here), so a busy machine cannot starve the loop
    # of the GIL while a big feed is parsed.
    executor = make_parse_executor(1)
    beat = asyncio.create_task(heartbeat())
    started = time.perf_counter()
    try:
        outcome = await poll_source(
            client, _state(feed_server.url_for("/gdacs")), limits=test_limits, executor=executor
        )
    finally:
        done.set()
        await beat
        executor.shutdown()
    elapsed = time.perf_counter() - started

    assert outcome.ok, outcome.error
    assert len(outcome.items) == 115
    # The parse alone takes several hundred ms; the loop kept ticking through it.
    assert elapsed > 0.1
    assert len(stalls) > 10
    assert max(stalls) < 0.100, f"longest loop stall {max(stalls) * 1000:.0f} ms"


async def test_a_fetch_waiting_to_retry_does_not_hold_the_global_slot(
    feed_server: HTTPServer, client: httpx.AsyncClient, test_limits: FetchLimits
) -> None:
    answers = iter([Response("later", status=429, headers={"Retry-After": "1"})])
    feed_server.expect_request("/limited").respond_with_handler(
        lambda _request: next(answers, None) or feed_response(sample("tehtehteh_stub_liga_rss.xml"))
    )
    arrivals: dict[str, float] = {}

    def fast(request: Request) -> Response:
        arrivals[request.path] = time.monotonic()
        return feed_response(sample("thedeep_emm_newsbrief_en_2022-06-21.xml"))

    feed_server.expect_request("/fast").respond_with_handler(fast)
    states = [_state(feed_server.url_for("/limited")), _state(feed_server.url_for("/fast"))]

    started = time.monotonic()
    outcomes = await poll_many(client, states, limits=test_limits, global_limit=1, now=NOW)

    assert all(o.ok for o in outcomes)
    assert time.monotonic() - started >= 0.95  # the 429 was waited out...
    assert arrivals["/fast"] - started < 0.6  # ...while the other feed used the only slot


async def test_parsing_in_a_process_pool_gives_the_same_items(
    feed_server: HTTPServer, client: httpx.AsyncClient, test_limits: FetchLimits
) -> None:
    feed_server.expect_request("/rss").respond_with_response(
        feed_response(sample("thedeep_reliefweb_updates_ukr_2020-09-17.xml"))
    )
    states = [_state(feed_server.url_for("/rss"))]
    in_thread = await poll_many(client, states, limits=test_limits, now=NOW)
    pool = make_parse_executor(workers=1)
    try:
        in_process = await poll_many(client, states, limits=test_limits, now=NOW, executor=pool)
    finally:
        pool.shutdown()
    assert in_process[0].ok, in_process[0].error
    assert len(in_process[0].items) == 20
    assert in_process[0].items == in_thread[0].items


async def test_poll_each_yields_fast_feeds_before_a_stalled_one_and_bounds_it(
    feed_server: HTTPServer, client: httpx.AsyncClient, test_limits: FetchLimits
) -> None:
    def stall(_request: Request) -> Response:
        time.sleep(1.5)  # each attempt is cut by the read timeout; retries would go on
        return feed_response(b"<rss/>")

    feed_server.expect_request("/stall").respond_with_handler(stall)
    feed_server.expect_request("/fast").respond_with_response(
        feed_response(sample("thedeep_emm_newsbrief_en_2022-06-21.xml"))
    )
    patient = replace(test_limits, read_timeout=0.4, retries=5)
    states = [_state(feed_server.url_for("/stall")), _state(feed_server.url_for("/fast"))]

    started = time.monotonic()
    seen: list[tuple[int, bool, float]] = []
    async for index, outcome in poll_each(client, states, limits=patient, now=NOW, deadline=1.0):
        seen.append((index, outcome.ok, time.monotonic() - started))

    assert [(index, ok) for index, ok, _ in seen] == [(1, True), (0, False)]
    assert seen[0][2] < 0.9  # the fast feed did not wait for the stalled one
    assert seen[1][2] < 1.6  # the deadline, not six read timeouts, ended the stalled poll
    stalled = await poll_many(client, states[:1], limits=patient, now=NOW, deadline=0.5)
    assert isinstance(stalled[0].error, FetchError)
    assert "no complete answer within" in str(stalled[0].error)
