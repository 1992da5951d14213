"""Benchmark: one story matching N subscribers, delivered through the fake Telegram Bot API.

    python bench/fanout.py --subscribers 300 --rate 30          # free tier: 30 messages/s
    python bench/fanout.py --subscribers 10000 --rate 1000      # paid broadcasts: 1000/s

The fake Bot API server runs in a child process (its own core and event loop, as Telegram is
another machine) and enforces the configured global limit and 1 message/s per chat with 429s.
The bot side is the production code: N subscribers each with the rule "power outage in
Kyiv", the worker's `process_item` turns one item into a story and queues one alert per
chat (one transaction), then `Sender.run_forever` (the sender role's loop) drains the outbox
until every row is recorded sent. Prints the time to queue, the achieved send rate against
the limit, messages lost and duplicated (both must be 0), 429s, peak memory of the bot
process, and the CPU each process spent per message (which end is the bottleneck). Exit
status 1 when a message is lost or duplicated or the rate is below 90 % of the limit. Not a
test: the machine is shared; figures vary.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing
import resource
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

KYIV_ITEM = "Kyiv: 300,000 without power after strike, -18°C"


# -- the fake Bot API, in its own process --------------------------------------------------------


def _serve_fake_api(conn: Connection, rate: float) -> None:
    try:  # the faster loop where installed (the `test` extra): Telegram is not the bottleneck
        import uvloop
    except ImportError:
        asyncio.run(_fake_api_main(conn, rate))
    else:
        uvloop.run(_fake_api_main(conn, rate))


async def _fake_api_main(conn: Connection, rate: float) -> None:
    from tests.fakes import FakeTelegramAPI, Rate, RateLimits

    limits = RateLimits(global_rate=Rate(int(rate), 1.0))
    async with FakeTelegramAPI(rate_limits=limits) as api:
        # CPU from here on is serving requests (startup and imports are behind us).
        cpu_ready = time.process_time()
        conn.send({"url": api.url, "token": api.token})
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, conn.recv)  # "report"
        cpu_serving = time.process_time() - cpu_ready
        sends = [c for c in api.sent if c.method == "sendMessage"]
        refused = [c for c in api.calls if c.method == "sendMessage" and c.status == 429]
        times = [c.time for c in sends]
        conn.send(
            {
                "per_chat": dict(Counter(int(c.chat_id) for c in sends)),  # type: ignore[arg-type]
                "first": min(times) if times else 0.0,
                "last": max(times) if times else 0.0,
                "peak_1s": api.peak_rate(1.0),
                "http_429": len(refused),
                "requests": len(api.calls),
                "cpu_seconds": cpu_serving,
            }
        )
        await loop.run_in_executor(None, conn.recv)  # "stop"


# -- the bot side -------------------------------------------------------------------------------


async def _setup(settings: Any, subscribers: int) -> Any:
    from sqlalchemy import insert

    from bot.services import open_services
    from bot.storage.tables import RuleRow, SubscriberRow
    from rules.language import parse_rule

    services = await open_services(settings)
    rule = parse_rule("power outage in Kyiv", places=services.gazetteer)
    now = datetime.now(UTC)
    chats = [{"chat_id": 1_000_000 + n, "kind": "private", "language": "en" if n % 2 else "uk",
              "timezone": "Europe/Kyiv", "digest_time": now.time().replace(microsecond=0),
              "created_at": now} for n in range(subscribers)]  # fmt: skip
    async with services.db.sessions() as session, session.begin():
        for start in range(0, subscribers, 500):
            await session.execute(insert(SubscriberRow), chats[start : start + 500])
            await session.execute(
                insert(RuleRow),
                [
                    {
                        "chat_id": c["chat_id"],
                        "text": "power outage in Kyiv",
                        "rule": rule.to_json(),
                        "delivery": "instant",
                        "created_at": now,
                    }
                    for c in chats[start : start + 500]
                ],
            )
    await services.rulebook.load()
    return services


async def _bot_main(
    args: argparse.Namespace, url: str, token: str, db_path: Path
) -> dict[str, Any]:
    from telegram import Bot
    from telegram.request import HTTPXRequest

    from bot.config import load_settings
    from bot.delivery.sender import Sender
    from bot.storage import outbox
    from bot.worker import CycleReport, Worker
    from feeds.extract import extract
    from feeds.models import Item

    settings = load_settings(
        env_file=None,
        telegram_bot_token=token,
        telegram_api_url=url,
        database_url=f"sqlite+aiosqlite:///{db_path}"
        if not args.database_url
        else args.database_url,
        send_rate_per_second=args.rate,
    )
    services = await _setup(settings, args.subscribers)
    try:
        item = Item(
            key="bench-1",
            title=KYIV_ITEM,
            summary="",
            link="https://news.example.org/bench-1",
            published=datetime.now(UTC) - timedelta(minutes=1),
            source_url="https://news.example.org/rss.xml",
            source_name="UNIAN",
        )
        worker = Worker(services)
        await worker._ensure_grouper(datetime.now(UTC))
        report = CycleReport()
        started, cpu_started = time.perf_counter(), time.process_time()
        await worker.process_item(item, extract(item), item_id=_fake_item_id(), report=report)
        queued_in = time.perf_counter() - started
        queue_cpu = time.process_time() - cpu_started
        async with services.db.sessions() as session:
            depth = await outbox.depth(session)

        request = HTTPXRequest(connection_pool_size=256, read_timeout=30, pool_timeout=30)
        async with Bot(token, base_url=f"{url}/bot", request=request) as bot:
            sender = Sender(services, bot)
            started, cpu_started = time.perf_counter(), time.process_time()
            deadline = started + args.subscribers / args.rate * 3 + 30
            # The sender role's loop, stopped once every queued message is recorded sent
            # (the counter is in memory: polling it costs the bot side nothing).
            running = asyncio.create_task(sender.run_forever())
            while time.perf_counter() < deadline and not running.done():
                if _sent(services) >= depth:
                    break
                await asyncio.sleep(0.02)
            drained_in = time.perf_counter() - started
            sender.request_stop()
            await running
            drain_cpu = time.process_time() - cpu_started
            async with services.db.sessions() as session:
                left = await outbox.depth(session)
        return {
            "queued": depth,
            "alerts_reported": report.alerts,
            "queue_seconds": round(queued_in, 2),
            "queue_cpu_seconds": round(queue_cpu, 2),
            "drain_seconds": round(drained_in, 2),
            "drain_cpu_seconds": round(drain_cpu, 2),
            "retry_after_seen": int(services.metrics.retry_after._value.get()),
            "left_in_outbox": left,
        }
    finally:
        await services.close()


def _sent(services: Any) -> int:
    """Messages the sender has recorded as sent, of every kind (its metrics counter)."""
    return int(
        sum(
            sample.value
            for metric in services.metrics.sent.collect()
            for sample in metric.samples
            if sample.name.endswith("_total")
        )
    )


def _fake_item_id() -> int:
    # `process_item` attaches the item to its story by id; with no stored item there is
    # nothing to attach, which an UPDATE of id 0 expresses without extra setup.
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--subscribers", type=int, default=300)
    parser.add_argument(
        "--rate", type=float, default=30.0, help="SEND_RATE_PER_SECOND (and the fake's limit)"
    )
    parser.add_argument("--database-url", help="default: a temporary SQLite file")
    parser.add_argument("--json", action="store_true", help="print only the JSON result")
    args = parser.parse_args(argv)

    parent, child = multiprocessing.get_context("spawn").Pipe()
    server = multiprocessing.get_context("spawn").Process(
        target=_serve_fake_api, args=(child, args.rate), daemon=True
    )
    server.start()
    try:
        info = parent.recv()
        with tempfile.TemporaryDirectory() as tmp:
            bot = asyncio.run(_bot_main(args, info["url"], info["token"], Path(tmp) / "bench.db"))
        parent.send("report")
        seen = parent.recv()
        parent.send("stop")
    finally:
        server.join(timeout=10)
        if server.is_alive():
            server.terminate()

    per_chat: dict[int, int] = seen["per_chat"]
    expected = {1_000_000 + n for n in range(args.subscribers)}
    lost = len(expected - set(per_chat))
    duplicates = sum(n - 1 for n in per_chat.values() if n > 1)
    delivered = sum(per_chat.values())
    span = seen["last"] - seen["first"]
    achieved = (delivered - 1) / span if span > 0 else float(delivered)
    result = {
        "subscribers": args.subscribers,
        "configured_rate": args.rate,
        "achieved_rate": round(achieved, 1),
        "rate_ratio": round(achieved / args.rate, 3),
        "peak_in_any_1s": seen["peak_1s"],
        "delivered": delivered,
        "lost": lost,
        "duplicates": duplicates,
        "http_429": seen["http_429"],
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1),
        # CPU per request: which end is the bottleneck (each runs on one core at most).
        "bot_cpu_ms_per_message": round(bot["drain_cpu_seconds"] * 1000 / max(delivered, 1), 3),
        "server_cpu_ms_per_request": round(
            seen["cpu_seconds"] * 1000 / max(seen["requests"], 1), 3
        ),
        **bot,
    }
    if not args.json:
        print(
            f"{args.subscribers} subscribers, limit {args.rate:g}/s: queued in "
            f"{bot['queue_seconds']} s, delivered {delivered} in {span:.1f} s = "
            f"{achieved:.1f}/s ({achieved / args.rate:.0%} of the limit; peak {seen['peak_1s']} "
            f"in any 1 s); lost {lost}, duplicates {duplicates}, 429s {seen['http_429']}, "
            f"peak RSS {result['peak_rss_mb']} MB\nCPU: bot {bot['drain_cpu_seconds']} s over "
            f"{bot['drain_seconds']} s of draining ({result['bot_cpu_ms_per_message']} ms a "
            f"message), fake server {seen['cpu_seconds']:.2f} s for {seen['requests']} requests "
            f"({result['server_cpu_ms_per_request']} ms each); queueing {bot['queue_cpu_seconds']}"
            " s CPU"
        )
    print(json.dumps(result))
    ok = lost == 0 and duplicates == 0 and achieved >= 0.9 * args.rate
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
