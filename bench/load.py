"""Benchmark: a realistic deployment under load, with 1 and then 2 worker processes.

    python bench/load.py                                   # 10k subscribers, 50k rules, 1k feeds
    python bench/load.py --subscribers 1000 --rules 5000 --sources 100 --items 100 \\
        --duration 30 --poll-interval 10 --workers 1,2     # a quick look

One run builds a fresh PostgreSQL database (seeded once, copied per round as a template, all
dropped at the end), then per round (1 worker, 2 workers) starts, each in its own process:

- the catalogue placed as a running deployment has it: each feed due at its own slot in the
  poll interval (`feeds.schedule.on_phase`); `--cold-start` leaves every feed due at once;
- a feed server with `--sources` feeds on 100 loopback addresses (127.0.1.1 ...), so the
  per-host caps behave as against real outlets; items become visible at whole seconds on a
  schedule (their pubDate is that second), drawn from `tests/data/eval/dev.jsonl` (real news
  in uk/ru/en) with fresh timestamps, so the same event is told by several outlets;
- the fake Telegram Bot API (tests/fakes) with a global limit of `--rate` messages/s (1000 by
  default: the paid broadcast tier; SEND_RATE_PER_SECOND is set to the same value) and
  Telegram's 1 message/s per private chat;
- `python -m bot worker --id wN` (N workers) and `python -m bot sender`: the production roles,
  unchanged, configured by environment variables only.

Items are published at an even pace over `--duration` seconds, then `--burst` items at one
instant (on their feeds' slots, they reach the workers over one interval); the run then
waits, up to `--drain-timeout` seconds after the burst, until every item is grouped and
matched and the queue is sent. Then the capacity phase: `--capacity-items` items appear at
once on as many feeds, which are made due at once, and the run times until all of them are
grouped and matched (the sender stopped meanwhile, unless `--capacity-with-sender`; see
`_capacity`). Measured:

- lag of every published item: from its publication to the first chat, and to the last chat,
  shown a message (alert, or an edit of one) whose text covers it (payload `news_at`, the
  newest news in the text, at or after the item's second); items not shown by the end count
  with the end of the run as a lower bound, and are counted by why (not fetched, grouped,
  matched, or sent);
- alert lag: the fake API's receive time of each alert's sendMessage minus the publish time
  of the newest item of the story when the alert was queued (the outbox payload's
  `published_at`, which is that item's pubDate = the second it appeared on the feed server);
- items and (story, rule) matches per second (the workers' /metrics), over the stream, for
  the burst (first burst item stored -> last one grouped) and for the capacity phase (the
  workers' capacity, 1 against 2 workers);
- for the capacity phase: CPU seconds per process (roles with their parse pools, the feed
  server, the fake API, PostgreSQL, this script), the machine's busy share, and the workers'
  stories matched and seconds spent matching and grouping (their /metrics);
- time the workers spent waiting on the grouping advisory lock (pg_locks, sampled);
- sendMessage rate against the limit, peak in any 1 s, 429s, and how many alerts went out
  inside bundles (a message carrying several alerts of one chat counts for each of them);
- peak memory (VmHWM) of every process, read just before it is stopped.

Not a test: the machine is shared; figures vary. Exit status 1 if an alert was lost or
duplicated (a queued alert never delivered, or delivered twice).
"""

from __future__ import annotations

import argparse
import asyncio
import bisect
import contextlib
import html
import json
import math
import multiprocessing
import os
import random
import re
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import asyncpg  # noqa: E402

from bot.delivery import bundles  # noqa: E402
from bot.worker import FOLLOW_UPS_LATER  # noqa: E402

EVAL_ITEMS = ROOT / "tests" / "data" / "eval" / "dev.jsonl"
HOSTS = 100
PG_HOST, PG_PORT = "127.0.0.1", 5432
FEED_KEEP = 30  # newest items a feed shows, as real feeds do
RULE_POOL = 4000  # distinct rules; 50k rules are drawn from them (people pick alike)
WARMUP_SECONDS = 8.0  # after the roles start, before the first item appears
FEW_ALERTS = 5  # a chat told of at most this many stories in the run


# ------------------------------------------------------------------------- the feed server


def _serve_feeds(
    conn: Connection,
    feeds: int,
    schedule: list[tuple[int, int, dict[str, str]]],
    capacity: list[tuple[int, dict[str, str]]],
) -> None:
    _run_fast(_feeds_main(conn, feeds, schedule, capacity))


def _run_fast(main: Any) -> None:
    """The stand-ins for the outlets and for Telegram, which run on other machines in real
    life, under uvloop where installed (the `test` extra), as bench/fanout.py runs its fake:
    their CPU on this machine's two cores is an artefact of the bench, so the less the better."""
    try:
        import uvloop
    except ImportError:
        asyncio.run(main)
    else:
        uvloop.run(main)


async def _feeds_main(
    conn: Connection,
    feeds: int,
    schedule: list[tuple[int, int, dict[str, str]]],
    capacity: list[tuple[int, dict[str, str]]],
) -> None:
    # Per feed: publish seconds (sorted) and the items; an item is visible from its second on.
    times: list[list[int]] = [[] for _ in range(feeds)]
    items: list[list[dict[str, str]]] = [[] for _ in range(feeds)]
    for at, feed, item in sorted(schedule, key=lambda entry: entry[0]):
        times[feed].append(at)
        items[feed].append(item)
    requests = Counter[str]()

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                request_line, *lines = head.decode("latin-1").split("\r\n")
                target = request_line.split(" ")[1]
                headers = {}
                for line in lines:
                    name, _, value = line.partition(":")
                    headers[name.strip().lower()] = value.strip()
                writer.write(_feed_answer(target, headers, times, items, requests))
                await writer.drain()
                if headers.get("connection", "").lower() == "close":
                    break
        except (asyncio.IncompleteReadError, ConnectionError, ValueError, IndexError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(
        handle, host=[_host(i) for i in range(min(HOSTS, feeds))], port=0, backlog=4096
    )
    conn.send({s.getsockname()[0]: s.getsockname()[1] for s in server.sockets})
    async with server:
        loop = asyncio.get_running_loop()
        while (command := await loop.run_in_executor(None, conn.recv)) != "stop":
            if command == "capacity":
                # The capacity items appear now, each dated this second (after every item
                # scheduled before it, so the per-feed lists stay sorted).
                now = int(time.time())
                pubdate = format_datetime(datetime.fromtimestamp(now, UTC), usegmt=True)
                for feed, item in capacity:
                    times[feed].append(now)
                    items[feed].append({**item, "pubdate": pubdate})
                conn.send(now)
            else:  # "report"
                conn.send(dict(requests))


def _host(index: int) -> str:
    return f"127.0.1.{index % HOSTS + 1}"


def _feed_answer(
    target: str,
    headers: dict[str, str],
    times: list[list[int]],
    items: list[list[dict[str, str]]],
    requests: Counter[str],
) -> bytes:
    match = re.fullmatch(r"/feed/(\d+)\.xml", target)
    if not match or int(match.group(1)) >= len(times):
        return b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"
    feed = int(match.group(1))
    visible = bisect.bisect_right(times[feed], int(time.time()))
    etag = f'"{feed}-{visible}"'
    if headers.get("if-none-match") == etag:
        requests["304"] += 1
        return f"HTTP/1.1 304 Not Modified\r\nETag: {etag}\r\nContent-Length: 0\r\n\r\n".encode()
    requests["200"] += 1
    shown = items[feed][max(0, visible - FEED_KEEP) : visible]
    entries = "".join(
        "<item>"
        f"<title>{html.escape(item['title'])}</title>"
        f"<link>https://outlet{feed}.example.org/{item['guid']}</link>"
        f'<guid isPermaLink="false">{item["guid"]}</guid>'
        f"<pubDate>{item['pubdate']}</pubDate>"
        f"<description>{html.escape(item['text'])}</description>"
        "</item>"
        for item in reversed(shown)
    )
    body = (
        '<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel>'
        f"<title>Outlet {feed}</title><link>https://outlet{feed}.example.org/</link>"
        f"<description>bench feed {feed}</description>{entries}</channel></rss>"
    ).encode()
    return (
        "HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml; charset=utf-8\r\n"
        f"ETag: {etag}\r\nContent-Length: {len(body)}\r\n\r\n"
    ).encode() + body


# ------------------------------------------------------------------------- the fake Bot API


def _serve_api(conn: Connection, token: str, rate: int) -> None:
    _run_fast(_api_main(conn, token, rate))


async def _api_main(conn: Connection, token: str, rate: int) -> None:
    from tests.fakes import FakeTelegramAPI, Rate, RateLimits

    limits = RateLimits(global_rate=Rate(rate, 1.0))
    # Wall-clock times, comparable with the feed server's publish seconds.
    async with FakeTelegramAPI(token=token, rate_limits=limits, clock=time.time) as api:
        conn.send({"url": api.url})
        loop = asyncio.get_running_loop()
        while True:
            command = await loop.run_in_executor(None, conn.recv)
            if command == "stop":
                break
            conn.send(
                [
                    (
                        c.method,
                        int(c.chat_id) if c.chat_id is not None else 0,
                        c.text,
                        c.status,
                        c.time,
                    )
                    for c in api.calls
                    if c.method in ("sendMessage", "editMessageText")
                ]
            )


def _start_child(target: Any, *args: Any) -> tuple[Any, Connection, Any]:
    ctx = multiprocessing.get_context("spawn")
    parent, child = ctx.Pipe()
    process = ctx.Process(target=target, args=(child, *args), daemon=True)
    process.start()
    return process, parent, parent.recv()


# ------------------------------------------------------------------------- the news stream


@dataclass(frozen=True, slots=True)
class Published:
    at: int  # epoch second the item appears
    feed: int
    guid: str
    burst: bool


def load_news() -> list[dict[str, str]]:
    """Real news (title + text) from the evaluation set; most are about the grid and winter."""
    rows = [json.loads(line) for line in EVAL_ITEMS.read_text(encoding="utf-8").splitlines()]
    return [{"title": r["title"], "text": r.get("text") or ""} for r in rows if r.get("title")]


def make_schedule(
    *, items: int, burst: int, sources: int, start: int, duration: int, rng: random.Random
) -> tuple[list[tuple[int, int, dict[str, str]]], list[Published]]:
    """`items` evenly over `duration` s from `start`, then `burst` at one second after it.

    An event is reported by 1-4 outlets within a minute (the same title and text; real outlets
    rewrite, but the grouper must still join them), so stories grow and alerts get edited.
    """
    news = load_news()
    schedule: list[tuple[int, int, dict[str, str]]] = []
    published: list[Published] = []

    def add(at: int, n: int, *, is_burst: bool) -> None:
        story = news[rng.randrange(len(news))]
        feed = rng.randrange(sources)
        guid = f"{'b' if is_burst else 's'}{n}-{secrets.token_hex(4)}"
        pubdate = format_datetime(datetime.fromtimestamp(at, UTC), usegmt=True)
        item = {"title": story["title"], "text": story["text"], "guid": guid, "pubdate": pubdate}
        schedule.append((at, feed, item))
        published.append(Published(at, feed, guid, is_burst))

    n = 0
    while n < items:
        at = start + int(duration * n / max(1, items))
        for _ in range(min(items - n, rng.choice((1, 1, 1, 2, 2, 3, 4)))):
            add(min(start + duration - 1, at + rng.randrange(0, 30)), n, is_burst=False)
            n += 1
    for k in range(burst):
        add(start + duration, items + k, is_burst=True)
    return schedule, published


def make_capacity_items(
    *, count: int, sources: int, schedule: list[tuple[int, int, dict[str, str]]], rng: random.Random
) -> list[tuple[int, dict[str, str]]]:
    """`count` items (at most one per feed), published together when the capacity phase
    starts (the feed server dates them then). First news the schedule did not use, each
    once (new stories), then the same news again from other outlets (they join those
    stories): whatever the earlier phases grouped, every round's capacity phase does about
    the same work (a story update's matches depend on the story)."""
    used = {item["title"] for _, _, item in schedule}
    fresh = list({n["title"]: n for n in load_news() if n["title"] not in used}.values())
    rng.shuffle(fresh)
    pool = fresh or load_news()  # a stream that used every title: repeats only
    count = min(count, sources)
    chosen = fresh[:count] + [rng.choice(pool) for _ in range(count - len(fresh))]
    feeds = rng.sample(range(sources), len(chosen))
    return [
        (
            feed,
            {
                "title": story["title"],
                "text": story["text"],
                "guid": f"c{k}-{secrets.token_hex(4)}",
            },
        )
        for k, (feed, story) in enumerate(zip(feeds, chosen, strict=True))
    ]


# ------------------------------------------------------------------------- the database


def pg_url(name: str) -> str:
    return f"postgresql+asyncpg://{PG_USER}@{PG_HOST}:{PG_PORT}/{name}"


PG_USER = os.environ.get("PGUSER", "root")


async def _admin() -> asyncpg.Connection:
    return await asyncpg.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, database="postgres")


async def create_db(name: str, template: str | None = None) -> None:
    conn = await _admin()
    try:
        suffix = f' TEMPLATE "{template}"' if template else ""
        await conn.execute(f'CREATE DATABASE "{name}"{suffix}')
    finally:
        await conn.close()


async def drop_db(name: str) -> None:
    conn = await _admin()
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


async def place_sources(name: str, urls: list[str], *, interval: int) -> None:
    """The catalogue as a deployment that has run for a while has it: each feed due at its own
    slot in the interval (`feeds.schedule.on_phase`), where its second poll put it, rather
    than all due at once as on the first day (`--cold-start`). The roles' catalogue upsert
    keeps a known feed's polling state."""
    from feeds.schedule import SLOT_EARLY, feed_phase, on_phase

    period = timedelta(seconds=interval)
    now = datetime.now(UTC)
    # on_phase looks (1 - SLOT_EARLY) intervals ahead; from there: the first slot from now on.
    before = now - period * (1 - SLOT_EARLY)
    rows = [
        (url, f"Outlet {n}", "uk", on_phase(before, period, feed_phase(url)), now)
        for n, url in enumerate(urls)
    ]
    conn = await asyncpg.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, database=name)
    try:
        await conn.executemany(
            "INSERT INTO sources (url, name, language, next_poll_at, created_at) "
            "VALUES ($1, $2, $3, $4, $5)",
            rows,
        )
    finally:
        await conn.close()


async def seed(name: str, *, subscribers: int, rules: int, rng: random.Random) -> dict[str, Any]:
    """Migrate, then bulk-insert subscribers and rules (each rule written by `format_rule` and
    read back by `parse_rule`, as /add stores it)."""
    from sqlalchemy import insert

    from bench.match import place_pool, random_rule
    from bot.migrations import upgrade_to_head
    from bot.storage.db import open_database
    from bot.storage.tables import RuleRow, SubscriberRow
    from feeds.gazetteer import load_gazetteer
    from rules.language import RuleSyntaxError, format_rule, parse_rule

    started = time.perf_counter()
    url = pg_url(name)
    await upgrade_to_head(url)
    gazetteer = load_gazetteer()
    pool = place_pool()
    distinct: list[tuple[str, dict[str, Any]]] = []
    while len(distinct) < min(RULE_POOL, rules):
        lang = "uk" if rng.random() < 0.6 else "en"
        try:
            text = format_rule(random_rule(rng, pool), places=gazetteer, lang=lang)
            rule = parse_rule(text, places=gazetteer, lang=lang)
        except (RuleSyntaxError, ValueError):
            continue
        distinct.append((format_rule(rule, places=gazetteer, lang=lang), rule.to_json()))
    now = datetime.now(UTC)
    chats = [
        {
            "chat_id": 10_000_000 + n,
            "kind": "private",
            "language": rng.choice(("uk", "uk", "en")),
            "timezone": "Europe/Kyiv",
            "digest_time": datetime(2000, 1, 1, 8).time(),
            "created_at": now,
        }
        for n in range(subscribers)
    ]
    # Rules are spread over the chats round-robin: 5 per chat at 10k/50k.
    rows = []
    for n in range(rules):
        text, rule_json = distinct[rng.randrange(len(distinct))]
        delivery = "instant" if rng.random() < 0.85 else rng.choice(("digest", "both"))
        rows.append(
            {
                "chat_id": chats[n % len(chats)]["chat_id"],
                "text": text,
                "rule": rule_json,
                "delivery": delivery,
                "created_at": now,
            }
        )
    db = open_database(url)
    try:
        async with db.sessions() as session, session.begin():
            for start in range(0, len(chats), 2000):
                await session.execute(insert(SubscriberRow), chats[start : start + 2000])
            for start in range(0, len(rows), 2000):
                await session.execute(insert(RuleRow), rows[start : start + 2000])
    finally:
        await db.dispose()
    return {"seconds": round(time.perf_counter() - started, 1), "distinct_rules": len(distinct)}


async def fetch(name: str, sql: str, *args: Any) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, database=name)
    try:
        return list(await conn.fetch(sql, *args))
    finally:
        await conn.close()


# ------------------------------------------------------------------------- processes


def vm_hwm_mb(pid: int) -> float | None:
    """Peak resident memory (VmHWM) of a live process, in MB."""
    try:
        text = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return None
    match = re.search(r"VmHWM:\s+(\d+) kB", text)
    return round(int(match.group(1)) / 1024, 1) if match else None


def children_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with contextlib.suppress(OSError, IndexError):
            stat = (entry / "stat").read_text()
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def cpu_seconds(pid: int, *, finished_children: bool = False) -> float:
    """User + system CPU time a process (all its threads) has used so far, in seconds; with
    `finished_children`, also that of its children that have exited and been waited for."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    used = (11, 12, 13, 14) if finished_children else (11, 12)
    return sum(int(fields[i]) for i in used) / os.sysconf("SC_CLK_TCK")


def postgres_pids() -> list[int]:
    """The database server's processes (every backend, not only this run's)."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            with contextlib.suppress(OSError):
                if (entry / "comm").read_text().strip() == "postgres":
                    found.append(int(entry.name))
    return found


def machine_busy_seconds() -> tuple[float, float]:
    """CPU seconds the whole machine has spent busy and idle (all cores), from /proc/stat."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    tick = os.sysconf("SC_CLK_TCK")
    return (sum(fields[:8]) - idle) / tick, idle / tick


@dataclass
class CpuMeter:
    """Where the CPU went over a phase: seconds per group of processes (each role with its
    parse pool, the feed server, the fake API, PostgreSQL, this script) and the machine's
    busy share. A phase that finds the cores busy cannot go faster with another process."""

    groups: Callable[[], dict[str, list[int]]]
    started: dict[str, float] = field(default_factory=dict)
    machine: tuple[float, float] = (0.0, 0.0)

    def _read(self) -> dict[str, float]:
        return {name: sum(cpu_seconds(pid) for pid in pids) for name, pids in self.groups().items()}

    def start(self) -> None:
        self.started, self.machine = self._read(), machine_busy_seconds()

    def stop(self) -> dict[str, Any]:
        ended, (busy, idle) = self._read(), machine_busy_seconds()
        busy, idle = busy - self.machine[0], idle - self.machine[1]
        return {
            "seconds_by_process": {
                name: round(ended[name] - self.started.get(name, 0.0), 1) for name in ended
            },
            "machine_busy_share": round(busy / max(0.001, busy + idle), 2),
        }


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Role:
    name: str
    popen: subprocess.Popen[bytes]
    port: int | None
    log: Path
    memory: dict[str, float | None] = field(default_factory=dict)

    def metrics(self) -> dict[str, float]:
        import httpx

        if self.port is None:
            return {}
        text = httpx.get(f"http://127.0.0.1:{self.port}/metrics", timeout=10).text
        values: dict[str, float] = {}
        for line in text.splitlines():
            if line and not line.startswith("#"):
                key, _, value = line.rpartition(" ")
                with contextlib.suppress(ValueError):
                    values[key] = float(value)
        return values

    def pids(self) -> list[int]:
        """The role's process and its children (the parse pool)."""
        return [self.popen.pid, *children_of(self.popen.pid)]

    def read_memory(self) -> None:
        self.memory[self.name] = vm_hwm_mb(self.popen.pid)
        for n, child in enumerate(children_of(self.popen.pid)):
            self.memory[f"{self.name}.parse{n + 1}"] = vm_hwm_mb(child)

    def stop(self) -> None:
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGTERM)
            try:
                self.popen.wait(timeout=30)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(self.popen.pid, signal.SIGKILL)
                self.popen.wait(timeout=10)


def role_env(database: str, feeds_file: Path, **settings: str) -> dict[str, str]:
    """A role's environment: this machine's basics, the repository on the path, the bench's
    database and feeds file (loopback feeds allowed), INFO logs, and `settings`."""
    keep = ("PATH", "HOME", "LANG", "LC_ALL", "TMPDIR")
    env = {k: v for k, v in os.environ.items() if k in keep}
    env.update(
        PYTHONPATH=str(ROOT),
        PYTHONUNBUFFERED="1",
        DATABASE_URL=pg_url(database),
        FEEDS_FILE=str(feeds_file),
        ALLOW_PRIVATE_FEED_HOSTS="true",
        LOG_LEVEL="INFO",
        **settings,
    )
    return env


def start_role(
    role: str, args: list[str], *, env: dict[str, str], workdir: Path, name: str, port: bool
) -> Role:
    argv = [sys.executable, "-m", "bot", role, *args]
    chosen = free_port() if port else None
    if chosen:
        argv += ["--host", "127.0.0.1", "--port", str(chosen)]
    log = workdir / f"{name}.log"
    with log.open("wb") as out:
        popen = subprocess.Popen(
            argv,
            cwd=workdir,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
    return Role(name, popen, chosen, log)


# The workers' /metrics counters the bench reads, by the name its figures give them.
WORKER_COUNTERS = {
    "items": "bot_items_new_total",
    "matches": "bot_rule_matches_total",  # (story, rule) pairs
    "stories_matched": "bot_story_matches_total",
    "matching_s": "bot_match_seconds_total",
    "grouping_s": "bot_grouping_seconds_total",  # waits for the grouping lock included
}


def metric_sum(samples: dict[str, float], prefix: str) -> float:
    return sum(v for k, v in samples.items() if k.split("{")[0] == prefix)


# ------------------------------------------------------------------------- one round


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(q * len(ordered)))], 2)


def run_round(args: argparse.Namespace, *, workers: int, template: str, tag: str) -> dict[str, Any]:
    name = f"{template[:-5]}_w{workers}"
    asyncio.run(create_db(name, template))
    rng = random.Random(args.seed)
    start = int(time.time() + WARMUP_SECONDS + 12 + workers * 3)
    schedule, published = make_schedule(
        items=args.items,
        burst=args.burst,
        sources=args.sources,
        start=start,
        duration=args.duration,
        rng=rng,
    )
    capacity = make_capacity_items(
        count=args.capacity_items, sources=args.sources, schedule=schedule, rng=rng
    )
    feed_proc, feed_pipe, addresses = _start_child(_serve_feeds, args.sources, schedule, capacity)

    def release_capacity() -> int:
        feed_pipe.send("capacity")
        return int(feed_pipe.recv())

    token = f"{secrets.randbelow(9 * 10**9) + 10**9}:AA{secrets.token_urlsafe(33)[:33]}"
    api_proc, api_pipe, api_info = _start_child(_serve_api, token, int(args.rate))
    roles: list[Role] = []
    lock_samples: list[int] = []
    try:
        with tempfile.TemporaryDirectory(prefix=f"load-{tag}-") as tmp:
            workdir = Path(tmp)
            if args.logs:  # the roles' logs kept for a look afterwards
                workdir = Path(args.logs) / tag
                workdir.mkdir(parents=True, exist_ok=True)
            urls = [
                f"http://{_host(n)}:{addresses[_host(n)]}/feed/{n}.xml" for n in range(args.sources)
            ]
            feeds_file = workdir / "feeds.toml"
            feeds_file.write_text(
                "".join(
                    f'[[source]]\nurl = "{url}"\nname = "Outlet {n}"\nlanguage = "uk"\n\n'
                    for n, url in enumerate(urls)
                ),
                encoding="utf-8",
            )
            if not args.cold_start:
                asyncio.run(place_sources(name, urls, interval=args.poll_interval))
            env = role_env(
                name,
                feeds_file,
                TELEGRAM_BOT_TOKEN=token,
                TELEGRAM_API_URL=api_info["url"],
                POLL_INTERVAL_SECONDS=str(args.poll_interval),
                SEND_RATE_PER_SECOND=str(args.rate),
            )
            roles.append(
                start_role("sender", [], env=env, workdir=workdir, name="sender", port=True)
            )
            for n in range(workers):
                roles.append(
                    start_role(
                        "worker",
                        ["--id", f"w{n + 1}", "--no-digests"],
                        env=env,
                        workdir=workdir,
                        name=f"worker{n + 1}",
                        port=True,
                    )
                )
            result = asyncio.run(
                _observe(
                    args,
                    name=name,
                    roles=roles,
                    published=published,
                    start=start,
                    lock_samples=lock_samples,
                    capacity_urls=[urls[feed] for feed, _ in capacity],
                    release_capacity=release_capacity,
                    helpers={"feed server": feed_proc.pid, "fake API": api_proc.pid},
                )
            )
            for role in roles:
                role.read_memory()
            for role in roles:
                role.stop()
            failed = {r.name: r.popen.returncode for r in roles if r.popen.returncode not in (0,)}
            errors = {
                r.name: [
                    line
                    for line in r.log.read_text(errors="replace").splitlines()
                    if " ERROR " in line or "Traceback" in line
                ][:3]
                for r in roles
            }
        api_pipe.send("calls")
        calls = api_pipe.recv()
        feed_pipe.send("report")
        feed_requests = feed_pipe.recv()
        memory: dict[str, float | None] = {}
        for role in roles:
            memory.update(role.memory)
        outbox = asyncio.run(
            fetch(
                name,
                "SELECT chat_id, kind, status, payload::text AS payload,"
                " extract(epoch FROM created_at) AS queued_at FROM outbox",
            )
        )
        stored_items = asyncio.run(
            fetch(
                name,
                "SELECT key, story_id, extract(epoch FROM fetched_at - published_at) AS fetch_lag,"
                " extract(epoch FROM fetched_at) AS fetched FROM items",
            )
        )
        if args.logs:  # what the fake API received and what was queued, for a closer look
            kept = Path(args.logs) / tag
            kept.mkdir(parents=True, exist_ok=True)
            with (kept / "calls.jsonl").open("w") as out:
                out.writelines(json.dumps(list(c), default=str) + "\n" for c in calls)
            with (kept / "outbox.jsonl").open("w") as out:
                out.writelines(json.dumps(dict(r), default=str) + "\n" for r in outbox)
            with (kept / "items.jsonl").open("w") as out:
                out.writelines(json.dumps(dict(r), default=str) + "\n" for r in stored_items)
        # When each story's items were fetched: an alert came of the last item fetched
        # before it was queued (which need not be the newest news the alert shows).
        fetched: dict[str, list[float]] = {}
        for row in stored_items:
            if row["story_id"]:
                fetched.setdefault(row["story_id"], []).append(float(row["fetched"]))
        result.update(
            _deliveries(
                args,
                calls=calls,
                outbox=outbox,
                fetched=fetched,
                burst_at=start + args.duration,
                capacity_at=result["capacity"].get("published_at", math.inf),
            )
        )
        fetch_lags = [float(row["fetch_lag"]) for row in stored_items]
        result["stages_s"]["fetched_after_publication"] = _spread(fetch_lags)
        pending = asyncio.run(fetch(name, "SELECT DISTINCT story_id FROM pending_matches"))
        result["items"] = item_lags(
            published,
            stories={row["key"]: row["story_id"] for row in stored_items},
            pending={row["story_id"] for row in pending},
            outbox=outbox,
            calls=calls,
            ended_at=result["observed_until"],
        )
        result.update(
            workers=workers,
            memory_mb=memory,
            roles_exit_codes=failed,
            role_errors={k: v for k, v in errors.items() if v},
            feed_requests=feed_requests,
            lock_waiting_share=round(
                sum(1 for s in lock_samples if s) / max(1, len(lock_samples)), 3
            ),
        )
        return result
    finally:
        for role in roles:
            with contextlib.suppress(Exception):
                role.stop()
        for pipe, proc in ((api_pipe, api_proc), (feed_pipe, feed_proc)):
            with contextlib.suppress(Exception):
                pipe.send("stop")
            proc.join(timeout=10)
            if proc.is_alive():
                proc.terminate()
        if not args.keep_db:
            asyncio.run(drop_db(name))


async def _observe(
    args: argparse.Namespace,
    *,
    name: str,
    roles: list[Role],
    published: list[Published],
    start: int,
    lock_samples: list[int],
    capacity_urls: list[str],
    release_capacity: Callable[[], int],
    helpers: dict[str, int],
) -> dict[str, Any]:
    """Wait out the stream and the burst while sampling the grouping-lock waiters; then wait
    for the outbox to drain; then the capacity phase (`_capacity`). Reads the workers'
    counters at the stream's start, at the burst and at the end."""
    conn = await asyncpg.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, database=name)
    sampling = await asyncpg.connect(host=PG_HOST, port=PG_PORT, user=PG_USER, database=name)
    workers = [r for r in roles if r.name.startswith("worker")]
    cpu = CpuMeter(
        lambda: {
            **{role.name: role.pids() for role in roles},
            **{name: [pid] for name, pid in helpers.items()},
            "postgres": postgres_pids(),
            "bench": [os.getpid()],
        }
    )

    async def counters() -> dict[str, float]:
        """The workers' counters, summed over workers."""
        samples = await asyncio.gather(*(asyncio.to_thread(w.metrics) for w in workers))
        return {
            key: sum(metric_sum(s, name) for s in samples) for key, name in WORKER_COUNTERS.items()
        }

    async def sample_locks(until: float) -> None:
        while time.time() < until:
            waiting = await sampling.fetchval(
                "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND NOT granted"
                " AND database = (SELECT oid FROM pg_database WHERE datname = $1)",
                name,
            )
            lock_samples.append(int(waiting))
            await asyncio.sleep(0.25)

    try:
        while time.time() < start - 1:
            for role in roles:
                if role.popen.poll() is not None:
                    raise RuntimeError(f"{role.name} exited early; see its log")
            await asyncio.sleep(0.5)
        before = await counters()
        grouped_before = await grouped_items(conn)
        burst_at = start + args.duration
        await sample_locks(burst_at)
        at_burst = await counters()
        grouped_at_burst = await grouped_items(conn)
        # The backlog phase: from the burst until every published item is grouped (or the
        # deadline); the workers are busy throughout, so this is their capacity.
        deadline = burst_at + args.drain_timeout
        sampler = asyncio.create_task(sample_locks(deadline))
        grouped_now, last_progress, done = grouped_at_burst, float(burst_at), False
        while time.time() < deadline:
            count = await grouped_items(conn)
            if count > grouped_now:
                grouped_now, last_progress = count, time.time()
            if count >= len(published):
                done = True
                break
            await asyncio.sleep(0.5)
        # Grouped is not yet matched: wait for the last stories' alerts to be queued too.
        matched_all = sent_all = False
        while time.time() < deadline:
            if not await matching_pending(conn):
                matched_all = True
                break
            await asyncio.sleep(0.5)
        after_burst = await counters()
        # Then let the sender finish the queue.
        while time.time() < deadline:
            # EXISTS, not count(*): counting a queue of thousands every second took the
            # database a fifth of a second each time, CPU the roles under test then lacked.
            pending = await conn.fetchval(
                "SELECT EXISTS (SELECT 1 FROM outbox WHERE status IN ('pending', 'sending'))"
            )
            if not pending:
                sent_all = True
                break
            await asyncio.sleep(1.0)
        sampler.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sampler
        end = await counters()
        stored = await conn.fetchval("SELECT count(*) FROM items")
        grouped = await grouped_items(conn)
        stories = await conn.fetchval("SELECT count(*) FROM stories")
        observed_until = time.time()
        capacity = (
            await _capacity(
                args,
                conn=conn,
                urls=capacity_urls,
                release=release_capacity,
                counters=counters,
                grouped_before=grouped,
                cpu=cpu,
                paused=[]
                if args.capacity_with_sender
                else [r for r in roles if r.name == "sender"],
            )
            if capacity_urls
            else {}
        )
    finally:
        await conn.close()
        await sampling.close()
    stream_s = float(args.duration)
    span = max(0.001, last_progress - burst_at)
    return {
        "stream": {
            "seconds": stream_s,
            "items_published": sum(1 for p in published if not p.burst),
            "items_grouped": grouped_at_burst - grouped_before,
            "items_per_s": round((grouped_at_burst - grouped_before) / stream_s, 2),
            "matches": int(at_burst["matches"] - before["matches"]),
            "matches_per_s": round((at_burst["matches"] - before["matches"]) / stream_s, 1),
        },
        "backlog": {
            "burst_items": sum(1 for p in published if p.burst),
            "all_grouped": done,
            "seconds": round(span, 1),
            "items_grouped": grouped_now - grouped_at_burst,
            "items_per_s": round((grouped_now - grouped_at_burst) / span, 2),
            "matches": int(after_burst["matches"] - at_burst["matches"]),
            "matches_per_s": round((after_burst["matches"] - at_burst["matches"]) / span, 1),
        },
        "capacity": capacity,
        "observed_until": observed_until,
        "drained": done and matched_all and sent_all,
        "items_stored_total": int(stored),
        "items_grouped_total": int(grouped),
        "stories": int(stories),
        "matches_total": int(end["matches"]),
    }


async def _capacity(
    args: argparse.Namespace,
    *,
    conn: asyncpg.Connection,
    urls: list[str],
    release: Callable[[], int],
    counters: Callable[[], Awaitable[dict[str, float]]],
    grouped_before: int,
    cpu: CpuMeter,
    paused: list[Role],
) -> dict[str, Any]:
    """The workers' capacity: `--capacity-items` items appear at once, one per feed, and
    those feeds are made due at once (on their slots, the burst reached the workers over a
    whole interval, so it measured the feeds' pace rather than the workers'). Timed from
    then until every item is grouped and matched (its alerts queued; their sending, and the
    edits put off for UPDATE_DELAY_SECONDS, are not waited for: the round ends there, and
    its alerts are left out of the lag figures).

    The sender is stopped (SIGSTOP) meanwhile, unless `--capacity-with-sender`: in a
    deployment it runs on a core of its own, here it would take, with the fake Bot API it
    keeps busy, half of the two cores the workers are measured on. It is continued at the
    end (its claims last 45 s) and sends what the phase queued while the round winds down."""
    with _stopped(paused):
        before = await counters()
        cpu.start()
        published_at = await asyncio.to_thread(release)
        await conn.execute(
            "UPDATE sources SET next_poll_at = to_timestamp($2) WHERE url = ANY($1::text[])",
            urls,
            float(published_at),
        )
        started = time.time()
        deadline = started + args.drain_timeout
        wanted = grouped_before + len(urls)
        done = False
        while time.time() < deadline:
            grouped = await grouped_items(conn) >= wanted
            if grouped and not await matching_pending(conn, follow_ups=False):
                done = True
                break
            await asyncio.sleep(0.25)
        seconds = max(0.001, time.time() - started)
        used = cpu.stop()
        after = await counters()
        items = await grouped_items(conn) - grouped_before
        return {
            "published_at": published_at,
            "items": len(urls),
            "all_matched": done,
            "seconds": round(seconds, 1),
            "items_grouped": items,
            "items_per_s": round(items / seconds, 2),
            "matches": int(after["matches"] - before["matches"]),
            "matches_per_s": round((after["matches"] - before["matches"]) / seconds, 1),
            # Where the workers' time went (summed over workers; matching runs beside the
            # polls, so the two may add up to more than the phase).
            "stories_matched": int(after["stories_matched"] - before["stories_matched"]),
            "matching_s": round(after["matching_s"] - before["matching_s"], 1),
            "grouping_s": round(after["grouping_s"] - before["grouping_s"], 1),
            "cpu": used,
        }


@contextlib.contextmanager
def _stopped(roles: list[Role]) -> Iterator[None]:
    for role in roles:
        role.popen.send_signal(signal.SIGSTOP)
    try:
        yield
    finally:
        for role in roles:
            role.popen.send_signal(signal.SIGCONT)


def _spread(values: list[float]) -> dict[str, Any]:
    """Count, p50, p95 and max of some lags (seconds), as every lag in the output is given."""
    return {
        "n": len(values),
        "p50": percentile(values, 0.5),
        "p95": percentile(values, 0.95),
        "max": round(max(values), 2) if values else None,
    }


async def matching_pending(conn: asyncpg.Connection, *, follow_ups: bool = True) -> bool:
    """Some story still waits for its rules to be matched; with `follow_ups=False`, only
    for news somebody was not told yet (not the edits a worker puts off on purpose for
    UPDATE_DELAY_SECONDS, as the sender holds them for EDIT_DELAY_SECONDS)."""
    if follow_ups:
        return bool(await conn.fetchval("SELECT EXISTS (SELECT 1 FROM pending_matches)"))
    return bool(
        await conn.fetchval(
            "SELECT EXISTS (SELECT 1 FROM pending_matches WHERE kind <> ALL($1::text[]))",
            list(FOLLOW_UPS_LATER.values()),
        )
    )


async def grouped_items(conn: asyncpg.Connection) -> int:
    return int(await conn.fetchval("SELECT count(*) FROM items WHERE story_id IS NOT NULL"))


def _deliveries(
    args: argparse.Namespace,
    *,
    calls: list[tuple[Any, ...]],
    outbox: list[Any],
    fetched: dict[str, list[float]],
    burst_at: int,
    capacity_at: float,
) -> dict[str, Any]:
    """Alert lag (stream alerts and burst alerts apart; the capacity phase's left out),
    losses, duplicates and send rate."""
    queued: dict[tuple[int, str], float] = {}
    status: dict[tuple[int, str], str] = {}
    queued_at: dict[tuple[int, str], float] = {}
    fetched_at: dict[tuple[int, str], float] = {}
    for row in outbox:
        if row["kind"] != "alert":
            continue
        payload = json.loads(row["payload"])
        published = datetime.fromisoformat(payload["published_at"]).timestamp()
        queued[(row["chat_id"], payload["text"])] = published
        status[(row["chat_id"], payload["text"])] = row["status"]
        queued_at[(row["chat_id"], payload["text"])] = float(row["queued_at"])
        story_fetches = fetched.get(payload.get("story_id", ""), ())
        before = [at for at in story_fetches if at <= float(row["queued_at"])]
        if before:
            fetched_at[(row["chat_id"], payload["text"])] = max(before)
    sends = [c for c in calls if c[0] == "sendMessage" and c[3] == 200]
    refused = sum(1 for c in calls if c[3] == 429)
    messages = len(sends)
    times = sorted(c[4] for c in sends)
    sends = _unbundled(sends)
    seen: Counter[tuple[int, str]] = Counter()
    stream_lags: list[float] = []
    burst_lags: list[float] = []
    before_queue: list[float] = []
    after_fetch: list[float] = []  # from the news' fetch to its alert being queued
    in_queue: list[float] = []
    per_chat = Counter(chat_id for (chat_id, _), at in queued.items() if at < capacity_at)
    in_queue_few: list[float] = []  # alerts of chats that got at most FEW_ALERTS in the run
    for _method, chat_id, text, _status, at in sends:
        key = (chat_id, text)
        if key not in queued:
            continue
        seen[key] += 1
        if seen[key] == 1 and queued[key] < capacity_at:
            lag = at - queued[key]
            (burst_lags if queued[key] >= burst_at else stream_lags).append(lag)
            before_queue.append(queued_at[key] - queued[key])
            if key in fetched_at:
                after_fetch.append(queued_at[key] - fetched_at[key])
            in_queue.append(at - queued_at[key])
            if per_chat[chat_id] <= FEW_ALERTS:
                in_queue_few.append(at - queued_at[key])
    peak = 0
    j = 0
    for i, at in enumerate(times):
        while times[j] <= at - 1.0:
            j += 1
        peak = max(peak, i - j + 1)
    busy = _busy_rate(times)
    return {
        "alerts_queued": len(queued),
        "alerts_of_capacity_phase": sum(1 for at in queued.values() if at >= capacity_at),
        "alerts_delivered": sum(1 for k in queued if seen[k]),
        # Marked sent in the outbox but never received by the fake: lost.
        "alerts_lost": sum(1 for k in queued if not seen[k] and status[k] == "sent"),
        # Before the capacity phase (whose sending the run does not wait for).
        "alerts_undelivered_at_end": sum(
            1
            for k, at in queued.items()
            if status[k] in ("pending", "sending") and at < capacity_at
        ),
        "alerts_failed": sum(1 for k in queued if status[k] in ("failed", "dead")),
        "alerts_duplicated": sum(n - 1 for n in seen.values() if n > 1),
        # Where an alert's lag goes: publication -> queued (polling, grouping, matching) and
        # queued -> sendMessage (the sender); items' own fetch delay is added by the caller.
        "stages_s": {
            "alert_queued_after_publication": _spread(before_queue),
            "alert_queued_after_fetch": _spread(after_fetch),
            "alert_in_queue": _spread(in_queue),
            # Telegram's 1 message/s per chat: a chat with many alerts waits for its own.
            "alert_in_queue_chats_with_few": _spread(in_queue_few),
        },
        "alerts_per_chat": _spread([float(n) for n in per_chat.values()]),
        "alert_lag_s": {"stream": _spread(stream_lags), "burst": _spread(burst_lags)},
        "send": {
            "messages": messages,
            # Alerts that went out in one message with others of their chat.
            "alerts_in_bundles": len(sends) - messages,
            "edits": sum(1 for c in calls if c[0] == "editMessageText" and c[3] == 200),
            "limit_per_s": args.rate,
            "peak_in_any_1s": peak,
            "rate_while_backlogged": busy,
            "http_429": refused,
        },
    }


def _unbundled(calls: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """The calls with each bundle of alerts (bot/delivery/bundles.py) as one call per alert,
    at the bundle's time: an alert's text never holds the separator."""
    out: list[tuple[Any, ...]] = []
    for call in calls:
        method, chat_id, text, status, at = call
        if method == "sendMessage" and bundles.SEPARATOR in text:
            parts = text.split(bundles.SEPARATOR)
            out.extend((method, chat_id, part, status, at) for part in parts)
        else:
            out.append(call)
    return out


def item_lags(
    published: list[Published],
    *,
    stories: dict[str, str | None],
    pending: set[str],
    outbox: list[Any],
    calls: list[tuple[Any, ...]],
    ended_at: float,
) -> dict[str, Any]:
    """Lag per published item, every item of the run: from its publication to the first
    message (an alert, or an edit of one) that reached a chat and showed it, i.e. whose
    payload's `news_at` (newest news in the text) is at least the item's publish second; and
    to the last chat told. An item never shown by the end counts with the run's end as its
    time (a lower bound) in the "all" figures, and by why: not fetched, not grouped, not
    matched yet, or matched but unsent. Items whose story matched no chat have no lag."""
    shown_by: dict[tuple[str, int, str], tuple[str, float]] = {}
    alerted: set[str] = set()
    for row in outbox:
        if row["kind"] not in ("alert", "edit"):
            continue
        payload = json.loads(row["payload"])
        story = payload.get("story_id")
        news_at = payload.get("news_at") or payload.get("published_at")
        if not story:
            continue
        alerted.add(story)
        if row["status"] == "sent" and news_at:
            method = "sendMessage" if row["kind"] == "alert" else "editMessageText"
            when = datetime.fromisoformat(news_at).timestamp()
            key = (method, row["chat_id"], payload["text"])
            if key not in shown_by or shown_by[key][1] < when:
                shown_by[key] = (story, when)
    # story -> chat -> [(send time, news_at)], by time
    sent: dict[str, dict[int, list[tuple[float, float]]]] = {}
    for method, chat_id, text, status, at in _unbundled(calls):
        found = shown_by.get((method, chat_id, text)) if status == 200 else None
        if found:
            sent.setdefault(found[0], {}).setdefault(chat_id, []).append((at, found[1]))
    for chats in sent.values():
        for sends in chats.values():
            sends.sort()
    first: list[float] = []
    last: list[float] = []
    untold: list[float] = []
    # Every item's lag to its first chat (untold ones at the run's end), stream and burst apart.
    by_phase: dict[bool, list[float]] = {False: [], True: []}
    why: Counter[str] = Counter()
    for item in published:
        item_key = f"id:{item.guid}"  # feeds.parse.item_key of a guid
        story = stories.get(item_key)
        if item_key not in stories:
            why["not fetched"] += 1
        elif story is None:
            why["not grouped"] += 1
        elif story in pending:
            why["not matched yet"] += 1
        elif story not in alerted:
            why["no chat to tell"] += 1
            continue
        else:
            told = [
                next((at for at, news_at in sends if news_at >= item.at), None)
                for sends in sent.get(story, {}).values()
            ]
            times = [at for at in told if at is not None]
            if times:
                first.append(min(times) - item.at)
                last.append(max(times) - item.at)
                by_phase[item.burst].append(min(times) - item.at)
                continue
            why["matched, not sent"] += 1
        untold.append(ended_at - item.at)
        by_phase[item.burst].append(ended_at - item.at)

    return {
        "published": len(published),
        "told": len(first),
        "untold": dict(why),
        "first_chat_lag_s": _spread(first),
        "last_chat_lag_s": _spread(last),
        # Untold items at the run's end: a lower bound of their lag.
        "all_first_chat_lag_s": _spread(first + untold),
        "all_last_chat_lag_s": _spread(last + untold),
        # The steady stream (what the lag target is about) and the burst (a backlog of
        # `--burst` items at one instant, a capacity test) apart.
        "stream_first_chat_lag_s": _spread(by_phase[False]),
        "burst_first_chat_lag_s": _spread(by_phase[True]),
    }


def _busy_rate(times: list[float]) -> float | None:
    """Messages per second over the seconds in which at least 100 were sent (a backlog)."""
    per_second = Counter(int(t) for t in times)
    busy = [n for n in per_second.values() if n >= 100]
    return round(sum(busy) / len(busy), 1) if busy else None


# ------------------------------------------------------------------------- main


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--subscribers", type=int, default=10_000)
    parser.add_argument("--rules", type=int, default=50_000)
    parser.add_argument("--sources", type=int, default=1000)
    parser.add_argument("--items", type=int, default=90, help="items over --duration")
    parser.add_argument("--burst", type=int, default=100, help="items at one instant after it")
    parser.add_argument("--duration", type=int, default=45, help="seconds of the stream")
    parser.add_argument("--poll-interval", type=int, default=60, help="POLL_INTERVAL_SECONDS")
    parser.add_argument("--rate", type=float, default=1000.0, help="SEND_RATE_PER_SECOND")
    parser.add_argument("--workers", default="1,2", help="worker counts, one round each")
    parser.add_argument(
        "--drain-timeout",
        type=float,
        default=240.0,
        help="seconds after the burst, at most, for the backlog to be grouped, matched and sent",
    )
    parser.add_argument(
        "--capacity-items",
        type=int,
        default=400,
        help="items at once on as many feeds, all polled at once, after the queue drained: "
        "the workers' capacity (0: no capacity phase)",
    )
    parser.add_argument(
        "--capacity-with-sender",
        action="store_true",
        help="keep the sender sending during the capacity phase (it is stopped by default)",
    )
    parser.add_argument(
        "--cold-start",
        action="store_true",
        help="every feed due at once when the roles start (a first day), not on its own slot",
    )
    parser.add_argument("--seed", type=int, default=6)
    parser.add_argument("--keep-db", action="store_true", help="leave the databases behind")
    parser.add_argument("--json", action="store_true", help="print only the JSON")
    parser.add_argument("--logs", help="keep the roles' logs in this directory")
    args = parser.parse_args(argv)

    started = time.perf_counter()
    load_before = os.getloadavg()
    template = f"bench_load_{os.getpid()}_seed"
    rng = random.Random(args.seed)
    asyncio.run(drop_db(template))
    asyncio.run(create_db(template))
    rounds = []
    try:
        seeded = asyncio.run(
            seed(template, subscribers=args.subscribers, rules=args.rules, rng=rng)
        )
        for count in (int(c) for c in args.workers.split(",")):
            rounds.append(run_round(args, workers=count, template=template, tag=f"w{count}"))
    finally:
        if not args.keep_db:
            asyncio.run(drop_db(template))
    result = {
        "config": {
            k: getattr(args, k)
            for k in (
                "subscribers",
                "rules",
                "sources",
                "items",
                "burst",
                "duration",
                "poll_interval",
                "rate",
                "cold_start",
                "capacity_items",
                "capacity_with_sender",
            )
        },
        "seed": seeded,
        "rounds": rounds,
        "load_average_before": [round(x, 2) for x in load_before],
        "load_average_after": [round(x, 2) for x in os.getloadavg()],
        "cpus": os.cpu_count(),
        "total_seconds": round(time.perf_counter() - started, 1),
    }
    if not args.json:
        print(_table(result))
    print(json.dumps(result))
    bad = any(r["alerts_lost"] or r["alerts_duplicated"] for r in rounds)
    return 1 if bad else 0


def _table(result: dict[str, Any]) -> str:
    rows = [("", *(f"{r['workers']} worker(s)" for r in result["rounds"]))]

    def line(label: str, get: Any) -> None:
        values = []
        for r in result["rounds"]:
            try:
                values.append(str(get(r)))
            except (KeyError, TypeError):
                values.append("-")
        rows.append((label, *values))

    line(
        "every item: lag to 1st chat p50/p95/max (s)",
        lambda r: "{p50} / {p95} / {max}".format(**r["items"]["all_first_chat_lag_s"]),
    )
    line(
        "stream items: lag to 1st chat p50/p95/max (s)",
        lambda r: "{p50} / {p95} / {max}".format(**r["items"]["stream_first_chat_lag_s"]),
    )
    line(
        "burst items: lag to 1st chat p50/p95/max (s)",
        lambda r: "{p50} / {p95} / {max}".format(**r["items"]["burst_first_chat_lag_s"]),
    )
    line(
        "every item: lag to last chat p50/p95/max (s)",
        lambda r: "{p50} / {p95} / {max}".format(**r["items"]["all_last_chat_lag_s"]),
    )
    line(
        "items told / published, untold by why",
        lambda r: (
            f"{r['items']['told']} / {r['items']['published']}, "
            + (", ".join(f"{k} {v}" for k, v in r["items"]["untold"].items()) or "-")
        ),
    )
    line("backlog drained before the deadline", lambda r: "yes" if r["drained"] else "no")
    line(
        "alert lag p50 / p95 / max (s)",
        lambda r: "{p50} / {p95} / {max}".format(**r["alert_lag_s"]["stream"]),
    )
    line("alerts measured (stream)", lambda r: r["alert_lag_s"]["stream"]["n"])
    for stage, label in (
        ("fetched_after_publication", "items: fetched after publication"),
        ("alert_queued_after_publication", "alerts: queued after publication"),
        ("alert_queued_after_fetch", "alerts: queued after their news was fetched"),
        ("alert_in_queue", "alerts: queued until sendMessage"),
        ("alert_in_queue_chats_with_few", f"  - to chats with <= {FEW_ALERTS} alerts"),
    ):
        line(
            f"{label} p50/p95/max (s)",
            lambda r, stage=stage: "{p50} / {p95} / {max}".format(**r["stages_s"][stage]),
        )
    line(
        "alerts per chat p50/p95/max",
        lambda r: "{p50} / {p95} / {max}".format(**r["alerts_per_chat"]),
    )
    line(
        "stream: items grouped/s, matches/s",
        lambda r: f"{r['stream']['items_per_s']}, {r['stream']['matches_per_s']}",
    )
    line(
        "backlog: items grouped/s, matches/s",
        lambda r: f"{r['backlog']['items_per_s']}, {r['backlog']['matches_per_s']}",
    )
    line(
        "backlog: items grouped in s (all?)",
        lambda r: (
            f"{r['backlog']['items_grouped']} in {r['backlog']['seconds']} "
            f"({'yes' if r['backlog']['all_grouped'] else 'no'})"
        ),
    )
    line(
        "capacity: items grouped and matched in s (all?)",
        lambda r: (
            f"{r['capacity']['items_grouped']} in {r['capacity']['seconds']} "
            f"({'yes' if r['capacity']['all_matched'] else 'no'})"
        ),
    )
    line(
        "capacity: items/s, matches/s",
        lambda r: f"{r['capacity']['items_per_s']}, {r['capacity']['matches_per_s']}",
    )
    base = result["rounds"][0]
    line(
        f"capacity: matches/s against {base['workers']} worker(s)",
        lambda r: f"{r['capacity']['matches_per_s'] / base['capacity']['matches_per_s']:.2f}x",
    )
    line(
        "capacity: stories matched; s matching, grouping",
        lambda r: (
            f"{r['capacity'].get('stories_matched')}; {r['capacity'].get('matching_s')}, "
            f"{r['capacity'].get('grouping_s')}"
        ),
    )
    line(
        "capacity: machine busy share",
        lambda r: r["capacity"].get("cpu", {}).get("machine_busy_share"),
    )
    for key in sorted({k for r in result["rounds"] for k in _capacity_cpu(r)}):
        line(f"  capacity CPU s: {key}", lambda r, key=key: _capacity_cpu(r).get(key))
    line(
        "burst alert lag p50 / p95 (s)",
        lambda r: "{p50} / {p95}".format(**r["alert_lag_s"]["burst"]),
    )
    line(
        "items published / stored / grouped",
        lambda r: (
            f"{r['stream']['items_published'] + r['backlog']['burst_items']} / "
            f"{r['items_stored_total']} / {r['items_grouped_total']}"
        ),
    )
    line("feed requests (200 + 304)", lambda r: sum(r["feed_requests"].values()))
    line("grouping lock: share of samples waiting", lambda r: r["lock_waiting_share"])
    line(
        "alerts queued / unsent at end / lost / dup",
        lambda r: (
            f"{r['alerts_queued']} / {r['alerts_undelivered_at_end']} / "
            f"{r['alerts_lost']} / {r['alerts_duplicated']}"
        ),
    )
    line(
        "sendMessage: peak 1 s / limit",
        lambda r: f"{r['send']['peak_in_any_1s']} / {r['send']['limit_per_s']:g}",
    )
    line("send rate while backlogged (/s)", lambda r: r["send"]["rate_while_backlogged"])
    line(
        "messages sent / alerts in bundles",
        lambda r: f"{r['send']['messages']} / {r['send']['alerts_in_bundles']}",
    )
    line("peak RSS max over roles (MB)", lambda r: max(v for v in r["memory_mb"].values() if v))
    for key in sorted({k for r in result["rounds"] for k in r["memory_mb"]}):
        line(f"  VmHWM {key} (MB)", lambda r, key=key: r["memory_mb"][key])
    widths = [max(len(str(row[i])) for row in rows) for i in range(len(rows[0]))]
    return "\n".join(
        "  ".join(str(cell).ljust(widths[i]) for i, cell in enumerate(row)) for row in rows
    )


def _capacity_cpu(result: dict[str, Any]) -> dict[str, float]:
    return dict(result["capacity"].get("cpu", {}).get("seconds_by_process", {}))


if __name__ == "__main__":
    sys.exit(main())
