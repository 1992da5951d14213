"""The harness on its own: the feed server's behaviours, the fake Bot API's process and control
channel, the per-test database, and process control of a real role."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import httpx
import pytest

from tests.fakes import Fault
from tests.scaleout.cluster import Cluster, token_leaks, wait_until
from tests.scaleout.database import TestDatabase
from tests.scaleout.fake_api import FakeApi
from tests.scaleout.feed_server import FeedServer

pytestmark = pytest.mark.slow


def test_feed_server_serves_counts_and_misbehaves(feed_server: FeedServer) -> None:
    url = feed_server.feed_url(7)
    with httpx.Client(timeout=httpx.Timeout(5.0, read=1.0)) as client:
        first = client.get(url)
        assert first.status_code == 200 and b"<rss" in first.content
        etag = first.headers["etag"]
        assert client.get(url, headers={"If-None-Match": etag}).status_code == 304
        feed_server.publish(7, guid="g1", title="Kyiv: power cut", published=datetime.now(UTC))
        changed = client.get(url, headers={"If-None-Match": etag})
        assert changed.status_code == 200 and b"Kyiv: power cut" in changed.content

        feed_server.behave(7, "error", code=502)
        assert client.get(url).status_code == 502
        feed_server.behave(7, "garbage", size=1000)
        garbage = client.get(url)
        assert garbage.status_code == 200 and len(garbage.content) == 1000
        feed_server.behave(7, "reset")
        with pytest.raises(httpx.TransportError):
            client.get(url)
        feed_server.behave(7, "stall", seconds=5)
        started = time.monotonic()
        with pytest.raises(httpx.ReadTimeout):
            client.get(url)
        assert time.monotonic() - started < 3
        feed_server.behave(7, "huge")
        received = 0
        with client.stream("GET", url) as response:
            for chunk in response.iter_bytes():
                received += len(chunk)
                if received > 5 * 1024 * 1024:
                    break
    requests = feed_server.requests()
    assert [r.answer for r in requests] == [
        "200", "304", "200", "error", "garbage", "reset", "stall", "huge",
    ]  # fmt: skip
    huge = wait_until(
        lambda: next(r for r in feed_server.requests() if r.answer == "huge"), timeout=5
    )
    # The body is generated as the client reads: it stopped near 5 MB, far from 1 GiB.
    assert 5 * 1024 * 1024 < huge.sent_bytes < 100 * 1024 * 1024
    assert feed_server.counts() == {7: 8}
    assert all(r.at <= time.monotonic() for r in requests)


def test_fake_api_process_records_calls_and_injects_faults(fake_api: FakeApi) -> None:
    fake_api.add_fault(Fault.retry_after(3), method="sendMessage", times=1)
    url = f"{fake_api.url}/bot{fake_api.token}/sendMessage"
    with httpx.Client() as client:
        refused = client.post(url, data={"chat_id": "42", "text": "hello"})
        accepted = client.post(url, data={"chat_id": "42", "text": "hello"})
        wrong = client.post(f"{fake_api.url}/bot1:wrong/sendMessage", data={"chat_id": "42"})
    assert refused.status_code == 429 and refused.json()["parameters"]["retry_after"] == 3
    assert accepted.status_code == 200
    assert wrong.status_code == 401
    assert [(c.method, c.status) for c in fake_api.calls()] == [
        ("sendMessage", 429),
        ("sendMessage", 200),
    ]
    assert fake_api.delivered_counts() == {(42, "hello"): 1}
    assert fake_api.internal_errors() == []


def test_database_seeding_and_connection_cut(test_db: TestDatabase) -> None:
    test_db.subscribe([101, 102], "outage in Ukraine")
    test_db.enqueue([(101, "one"), (102, "two")])
    rows = test_db.outbox()
    assert [(r.chat_id, r.text, r.status) for r in rows] == [
        (101, "one", "pending"),
        (102, "two", "pending"),
    ]
    assert test_db.scalar("SELECT count(*) FROM rules") == 2
    assert test_db.terminate_connections() == 0  # nobody else is connected


def test_cluster_runs_kills_and_reaps_a_role(
    cluster: Cluster, test_db: TestDatabase, fake_api: FakeApi, token: str
) -> None:
    """The one-process bot (`run`) as a stand-in role: started, seen working, killed -9."""
    bot = cluster.start("run", name="bot")
    wait_until(
        lambda: any(c.method == "getUpdates" for c in fake_api.calls()),
        timeout=60,
        what="the bot polls the fake Bot API",
    )
    assert bot.alive
    bot.kill9()
    assert not bot.alive and bot.popen.returncode == -9
    assert "background tasks started" in bot.output(), cluster.describe()
    assert token_leaks(cluster.outputs(), token) == {}
