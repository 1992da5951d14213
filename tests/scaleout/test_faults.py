"""Issue 6 proof: several workers and senders as separate OS processes on one PostgreSQL
database survive kill -9, cut connections and hostile feeds and Bot API answers, without
losing or duplicating alerts, and without writing the bot token anywhere.

Each test builds its own deployment (fixtures in conftest.py): a fresh database, a feed
server with 200 feeds and the fake Bot API, each in its own process.
"""

from __future__ import annotations

import os
import subprocess
import time
from collections.abc import Callable

import pytest

from tests.fakes import Fault
from tests.scaleout.cluster import Cluster, RoleProcess, token_leaks, wait_until
from tests.scaleout.conftest import FEEDS, POLL_INTERVAL_SECONDS
from tests.scaleout.database import TestDatabase
from tests.scaleout.fake_api import FakeApi
from tests.scaleout.feed_server import GIGABYTE, FeedServer
from tests.scaleout.scenario import RULE, delivery, poll_gaps, publish_event

pytestmark = pytest.mark.slow

CHATS = tuple(range(5001, 5031))  # 30 subscribers, each with RULE


def _workers(cluster: Cluster, count: int, *extra: str) -> list[RoleProcess]:
    return [
        cluster.start("worker", "--id", f"w{n}", *extra, name=f"w{n}", port=True)
        for n in range(1, count + 1)
    ]


def _senders(cluster: Cluster, count: int, **env: str) -> list[RoleProcess]:
    return [cluster.start("sender", name=f"s{n}", port=True, env=env) for n in range(1, count + 1)]


def _all_polled(feed_server: FeedServer, cluster: Cluster) -> bool:
    assert not cluster.dead(), cluster.describe()
    return len(feed_server.counts()) == FEEDS


def _finish(cluster: Cluster, token: str) -> None:
    """Every role still running (none crashed), and no output holds the token."""
    dead = [p.name for p in cluster.dead() if p.popen.returncode != -9]
    assert dead == [], cluster.describe()
    assert token_leaks(cluster.outputs(), token) == {}


# -- 1. several workers and senders: at most one poll per interval, exactly-once alerts ---------


def test_workers_share_feeds_and_every_alert_is_sent_once(
    cluster: Cluster,
    test_db: TestDatabase,
    fake_api: FakeApi,
    feed_server: FeedServer,
    token: str,
) -> None:
    test_db.subscribe(CHATS, RULE)
    _workers(cluster, 3)
    _senders(cluster, 2)
    wait_until(lambda: _all_polled(feed_server, cluster), timeout=60, what="every feed polled once")
    # Each event is reported by two outlets that different workers may poll at once: still
    # one story, one alert per chat.
    events = [publish_event(feed_server, number=n, feeds=(n, 100 + n)) for n in range(8)]
    wait_until(
        lambda: delivery(test_db, fake_api, chats=CHATS, events=events).complete(),
        timeout=60,
        what="every (chat, story) alert delivered",
    )
    # Let a few more intervals pass, so that double polling and late duplicates would show.
    time.sleep(2.5 * POLL_INTERVAL_SECONDS)

    result = delivery(test_db, fake_api, chats=CHATS, events=events)
    assert result.exactly_once, result
    assert len(result.stories) == len(events)

    requests = feed_server.requests()
    span = max(r.at for r in requests) - min(r.at for r in requests)
    gaps = poll_gaps(requests)
    # Two workers polling one feed in one interval show as two requests moments apart; a
    # feed's next poll is scheduled a full interval after its cycle began.
    floor = 0.5 * POLL_INTERVAL_SECONDS
    too_soon = {feed: round(min(g), 2) for feed, g in gaps.items() if g and min(g) < floor}
    assert too_soon == {}, f"feeds fetched twice within one interval: {too_soon}"
    counts = feed_server.counts()
    most = int(span / POLL_INTERVAL_SECONDS) + 1
    assert max(counts.values()) <= most, counts.most_common(3)
    assert min(counts.values()) >= 2, "polling stopped"  # kept polling after the first round
    _finish(cluster, token)


# -- 2. kill -9 the active sender mid-drain -------------------------------------------------------


def test_standby_sender_takes_over_when_the_active_one_is_killed(
    cluster: Cluster, test_db: TestDatabase, fake_api: FakeApi, token: str
) -> None:
    chats = range(7000, 7500)
    test_db.enqueue([(chat, f"queued message for {chat}") for chat in chats])
    fake_api.add_fault(Fault.slow(0.2), method="sendMessage")  # Telegram having a slow day
    rate = "40"
    active = cluster.start("sender", name="s1", port=True, env={"SEND_RATE_PER_SECOND": rate})
    wait_until(lambda: len(fake_api.delivered()) >= 20, timeout=45, what="s1 sending")
    standby = cluster.start("sender", name="s2", port=True, env={"SEND_RATE_PER_SECOND": rate})
    wait_until(standby.serving, timeout=45, what="s2 up (standing by)")
    assert active.healthz()[1]["active"] is True
    assert standby.healthz()[1]["active"] is False
    wait_until(lambda: len(fake_api.delivered()) >= 150, timeout=30, what="s1 mid-drain")

    active.kill9()
    killed_at = time.monotonic()
    wait_until(lambda: standby.healthz()[1]["active"], timeout=10, what="s2 active")
    sent_before = len(fake_api.delivered())
    assert sent_before < 500, "the drain finished before the kill: nothing was tested"
    wait_until(
        lambda: len(fake_api.delivered_counts()) == 500,
        timeout=60,
        what="all 500 messages delivered after the takeover",
    )
    delivered = fake_api.delivered()
    # s1's in-flight calls finish at the fake up to 0.2 s after the kill; later ones are s2's.
    resumed = min(c.at for c in delivered if c.at > killed_at + 0.5)
    takeover = resumed - killed_at
    counts = fake_api.delivered_counts()
    duplicated = {key: n for key, n in counts.items() if n > 1}
    print(
        f"takeover {takeover:.2f} s; {sent_before} sent before the kill; "
        f"{len(duplicated)} messages sent twice"
    )
    assert takeover < 5.0, f"standby took {takeover:.1f} s to take over"
    assert set(counts) == {(chat, f"queued message for {chat}") for chat in chats}  # none lost
    # At most the message in flight per chat is repeated (each chat here has one message);
    # in all, no more than about one second of sending.
    assert max(counts.values()) <= 2
    assert len(duplicated) <= int(rate), duplicated
    wait_until(
        lambda: test_db.outbox_status() == {"sent": 500},
        timeout=10,
        what="every outbox row marked sent",
    )
    _finish(cluster, token)


# -- 3. kill -9 a worker holding leases ------------------------------------------------------


def test_a_killed_workers_feeds_are_polled_by_the_others_after_its_leases_expire(
    cluster: Cluster,
    test_db: TestDatabase,
    fake_api: FakeApi,
    feed_server: FeedServer,
    token: str,
) -> None:
    test_db.subscribe(CHATS[:5], RULE)
    slow = range(0, FEEDS)
    for feed in slow:  # every fetch takes a while: the worker is caught holding leases
        feed_server.behave(feed, "slow", seconds=6)
    # The victim's leases are short; the others run from the start, ready to take its feeds.
    victim = cluster.start("worker", "--id", "w1", "--lease-seconds", "8", name="w1")
    others = [cluster.start("worker", "--id", f"w{n}", name=f"w{n}") for n in (2, 3)]

    def victim_leases() -> list[int]:
        return [
            s.id
            for s in test_db.sources()
            if s.lease_owner and "w1" in s.lease_owner and s.lease_until is not None
        ]

    held = wait_until(victim_leases, timeout=60, what="w1 holding leases")
    wait_until(
        lambda: len({r.feed for r in feed_server.requests()}) >= len(held) // 2,
        timeout=20,
        what="w1 fetching its leased feeds",
    )
    victim.kill9()
    killed_wall, killed_mono = time.time(), time.monotonic()
    leases = {s.id: s for s in test_db.sources() if s.id in set(held)}
    expiry = {s.id: s.lease_until for s in leases.values() if s.lease_until is not None}
    url_to_feed = {feed_server.feed_url(n): n for n in range(FEEDS)}
    leased_feeds = {url_to_feed[leases[i].url]: expiry[i] for i in expiry}
    for feed in slow:
        feed_server.behave(feed, "ok")
    latest = max(leased_feeds.values()).timestamp()
    wait_for = latest - killed_wall + 2 * POLL_INTERVAL_SECONDS + 45
    offset = killed_wall - killed_mono  # monotonic -> wall clock, same machine

    def repolled() -> bool:
        seen = {r.feed for r in feed_server.requests() if r.at > killed_mono}
        return set(leased_feeds) <= seen

    wait_until(repolled, timeout=wait_for, what="the dead worker's feeds polled again")
    early = []
    for request in feed_server.requests():
        until = leased_feeds.get(request.feed)
        if until is None or request.at <= killed_mono:
            continue
        if request.at + offset < until.timestamp() - 0.5:
            early.append((request.feed, round(until.timestamp() - (request.at + offset), 1)))
    assert early == [], f"polled while the dead worker's lease still held: {early}"
    owners = {s.id: s.lease_owner for s in test_db.sources() if s.id in expiry}
    assert not any(o and "w1" in o for o in owners.values()), owners
    assert all(p.alive for p in others), cluster.describe()
    print(
        f"{len(leased_feeds)} leases of the killed worker, expiring "
        f"{min(leased_feeds.values()).timestamp() - killed_wall:.1f}.."
        f"{latest - killed_wall:.1f} s after the kill"
    )
    _finish(cluster, token)


# -- 4. PostgreSQL connections cut mid-run ---------------------------------------------------


def _cut_and_carry_on(
    cluster: Cluster,
    test_db: TestDatabase,
    fake_api: FakeApi,
    feed_server: FeedServer,
    token: str,
    outage: Callable[[], None],
) -> None:
    test_db.subscribe(CHATS[:10], RULE)
    _workers(cluster, 2)
    _senders(cluster, 2)
    chats = CHATS[:10]
    first = [publish_event(feed_server, number=0, feeds=(0, 100))]
    wait_until(
        lambda: delivery(test_db, fake_api, chats=chats, events=first).complete(),
        timeout=60,
        what="alerts before the outage",
    )
    notices = [(chat, f"notice for {chat}") for chat in range(8000, 8200)]
    fake_api.add_fault(Fault.slow(0.1), method="sendMessage")
    test_db.enqueue(notices)
    wait_until(lambda: len(fake_api.delivered()) >= len(chats) + 30, timeout=30, what="drain")

    outage()

    later = [publish_event(feed_server, number=n, feeds=(n, 100 + n)) for n in (1, 2)]
    wait_until(
        lambda: delivery(test_db, fake_api, chats=chats, events=first + later).complete(),
        timeout=90,
        what="alerts after the outage",
    )
    wait_until(
        lambda: set(notices) <= set(fake_api.delivered_counts()),
        timeout=60,
        what="the queue drained after the outage",
    )
    result = delivery(test_db, fake_api, chats=chats, events=first + later)
    assert result.exactly_once, result
    counts = fake_api.delivered_counts()
    repeated = sum(1 for n in notices if counts[n] > 1)
    print(f"{repeated} of {len(notices)} notices delivered twice across the outage")
    assert max(counts[n] for n in notices) <= 2  # at most the in-flight one repeated per chat
    # Only what was in flight or sent but not yet recorded (about a second of sending at
    # SEND_RATE_PER_SECOND=100) may repeat; more means sent outcomes were lost in the cut.
    assert repeated <= 100, repeated
    assert not cluster.dead(), cluster.describe()
    _finish(cluster, token)


def test_roles_reconnect_after_their_connections_are_cut(
    cluster: Cluster,
    test_db: TestDatabase,
    fake_api: FakeApi,
    feed_server: FeedServer,
    token: str,
) -> None:
    def cut() -> None:
        assert test_db.terminate_connections() > 0
        time.sleep(1.5)
        test_db.terminate_connections()  # again, while they reconnect

    _cut_and_carry_on(cluster, test_db, fake_api, feed_server, token, cut)
    # The connections came back: the roles are talking to the database again.
    wait_until(lambda: test_db.backends() >= 4, timeout=20, what="reconnected")


@pytest.mark.skipif(
    os.environ.get("SCALEOUT_PG_RESTART") != "1",
    reason="restarts the shared PostgreSQL server; opt in with SCALEOUT_PG_RESTART=1",
)
def test_roles_carry_on_after_postgresql_restarts(
    cluster: Cluster,
    test_db: TestDatabase,
    fake_api: FakeApi,
    feed_server: FeedServer,
    token: str,
) -> None:
    version = sorted(os.listdir("/etc/postgresql"))[-1]
    ctl = ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main"]

    def restart() -> None:
        try:
            subprocess.run([*ctl, "restart"], check=True, timeout=120)
        finally:
            status = subprocess.run([*ctl, "status"], capture_output=True, timeout=30)
            if status.returncode != 0:
                subprocess.run([*ctl, "start"], check=True, timeout=120)

    _cut_and_carry_on(cluster, test_db, fake_api, feed_server, token, restart)


# -- 5. chaos on both sides ---------------------------------------------------------------


HOSTILE = {
    "stall": range(150, 155),
    "reset": range(155, 165),
    "garbage": range(165, 175),
    "huge": range(175, 178),
    "error": range(178, 190),
}


def test_chaos_on_feeds_and_bot_api_crashes_nothing_and_loses_nothing(
    cluster: Cluster,
    test_db: TestDatabase,
    fake_api: FakeApi,
    feed_server: FeedServer,
    token: str,
) -> None:
    chats = CHATS[:15]
    test_db.subscribe(chats, RULE)
    for mode, feeds in HOSTILE.items():
        for feed in feeds:
            feed_server.behave(feed, mode)
    fake_api.add_fault(Fault.retry_after(1), method="sendMessage", probability=0.1)
    bad_gateway = Fault.server_error(502, "Bad Gateway")
    fake_api.add_fault(bad_gateway, method="sendMessage", probability=0.1)
    # A hang: the answer (an error, so nothing is delivered) comes long after the bot gave up.
    hang = Fault(500, "Internal Server Error", delay=20.0)
    fake_api.add_fault(hang, method="sendMessage", probability=0.03)
    workers = _workers(cluster, 3)
    senders = _senders(cluster, 2)
    events = [publish_event(feed_server, number=n, feeds=(n, 100 + n)) for n in range(6)]
    wait_until(
        lambda: delivery(test_db, fake_api, chats=chats, events=events).complete(),
        timeout=90,
        what="every alert delivered despite the chaos",
    )
    result = delivery(test_db, fake_api, chats=chats, events=events)
    assert result.exactly_once, result

    hostile = {feed_server.feed_url(f) for feeds in HOSTILE.values() for f in feeds}
    must_fail = {feed_server.feed_url(f) for m, fs in HOSTILE.items() if m != "stall" for f in fs}

    def unrecorded() -> set[str]:
        return must_fail - {s.url for s in test_db.sources() if s.consecutive_failures > 0}

    try:
        wait_until(lambda: not unrecorded(), timeout=60, what="hostile feeds recorded as failing")
    except TimeoutError:
        asked = feed_server.counts()
        missing = {url: asked[int(url.rsplit("/", 1)[1].split(".")[0])] for url in unrecorded()}
        raise AssertionError(f"not recorded as failing (url: requests): {missing}") from None
    failing = {s.url for s in test_db.sources() if s.consecutive_failures > 0}
    assert failing <= hostile, failing - hostile  # no healthy feed blamed
    huge = [r for r in feed_server.requests() if r.answer == "huge"]
    assert huge and max(r.sent_bytes for r in huge) < GIGABYTE // 10  # the bot stopped reading

    # Health tells the truth: the database answers, and the failing feeds and the queue
    # depth it reports are the database's.
    truth = sum(1 for s in test_db.sources() if s.consecutive_failures > 0)
    depth = sum(n for st, n in test_db.outbox_status().items() if st in ("pending", "sending"))
    for process in workers + senders:
        status, body = process.healthz()
        assert status == 200, (process.name, body)
        assert body["database"] == "ok", (process.name, body)
        assert body["failing_sources"] == truth, (process.name, body, truth)
        assert abs(body["queue_depth"] - depth) <= 5, (process.name, body, depth)
    assert [p.healthz()[1]["active"] for p in senders].count(True) == 1
    assert fake_api.internal_errors() == []
    _finish(cluster, token)


# -- 6. the token never reaches any output --------------------------------------------------


def test_no_role_writes_the_token_even_at_debug_level_with_failing_telegram(
    cluster: Cluster,
    test_db: TestDatabase,
    fake_api: FakeApi,
    feed_server: FeedServer,
    token: str,
) -> None:
    test_db.subscribe(CHATS[:3], RULE)
    # Errors make the libraries log request URLs, which contain the token.
    fake_api.add_fault(Fault.server_error(500), method="getMe", times=2)
    fake_api.add_fault(Fault.server_error(500), method="sendMessage", times=3)
    fake_api.add_fault(Fault(401, "Unauthorized"), method="sendMessage", times=2)
    web_env = {
        "WEBHOOK_URL": "https://bot.example.org/telegram",
        "WEBHOOK_SECRET": "s3cret-for-tests",
    }
    roles = [
        cluster.start("web", name="web", port=True, env=web_env),
        cluster.start("worker", "--id", "w1", name="w1", port=True),
        cluster.start("sender", name="s1", port=True),
        cluster.start("digest", name="digest"),
    ]
    events = [publish_event(feed_server, number=3, feeds=(3,))]
    wait_until(
        lambda: delivery(test_db, fake_api, chats=CHATS[:3], events=events).complete(),
        timeout=60,
        what="alerts through the failing API",
    )
    # Tracebacks of failed Bot API calls carry URLs: whatever happened, no token in any output.
    assert token_leaks(cluster.outputs(), token) == {}
    for role in roles:
        assert role.alive, cluster.describe()
    codes = {role.name: role.terminate() for role in roles}
    assert codes == {role.name: 0 for role in roles}, cluster.describe()  # clean SIGTERM exits
    outputs = cluster.outputs()
    assert all(outputs.values()), "a role wrote nothing: the check would be empty"
    assert any("DEBUG" in text for text in outputs.values())
    assert token_leaks(outputs, token) == {}
