"""Benchmark: matching capacity with 1, 2, ... worker processes sharing PostgreSQL.

    python bench/matching.py                                  # 10k subscribers, 50k rules
    python bench/matching.py --items 150 --workers 1,2,3 --json

`bench/load.py` runs the whole deployment, where the sender, the fake Bot API, the feed server
and PostgreSQL share the machine's cores with the workers. This isolates the workers' own
part: one database is seeded as load.py seeds it (subscribers and their rules), then given a
backlog: `--items` real news items (`tests/data/eval/dev.jsonl`, published within the last
hour, so they may raise alerts) stored from 20 outlets and grouped into stories by the
worker's own grouping step (`Worker.group`), every story left pending, as the pipelined poll
loop leaves them. Each round copies that database and starts N `python -m bot worker`
processes, unchanged (no feed is due); their matcher tasks share the pending stories (a story
locked by one is skipped by the others). No sender runs: the alerts stay queued.

Measured per round: from the first story matched to the last (the workers' start-up, rule
index loading included, comes before), stories and (story, rule) matches per second, alerts
and edits queued, the workers' CPU seconds, and the speed-up against the first round. Not a
test: the machine is shared; figures vary.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.load import (  # noqa: E402
    EVAL_ITEMS,
    Role,
    cpu_seconds,
    create_db,
    drop_db,
    fetch,
    metric_sum,
    pg_url,
    role_env,
    seed,
    start_role,
)

OUTLETS = 20
DEAD_PORT = 9  # the outlets' URLs: nothing listens there, and no feed is due anyway


async def build_backlog(name: str, *, items: int, rng: random.Random) -> dict[str, int]:
    """Store `items` news items and group them into pending stories with the worker's code."""
    from bot.config import load_settings
    from bot.services import open_services
    from bot.storage import items as items_store
    from bot.storage import sources as sources_store
    from bot.worker import CycleReport, Worker
    from feeds.extract import extract
    from feeds.models import Item, Source

    rows = [json.loads(line) for line in EVAL_ITEMS.read_text(encoding="utf-8").splitlines()]
    rows = [r for r in rows if r.get("title")]
    rng.shuffle(rows)
    settings = load_settings(
        env_file=None, database_url=pg_url(name), allow_private_feed_hosts=True
    )
    services = await open_services(settings, index_rules=False)
    try:
        now = datetime.now(UTC)
        urls = [feed_url(n) for n in range(OUTLETS)]
        async with services.db.sessions() as session, session.begin():
            ids = await sources_store.upsert_sources(
                session, sources=[Source(url=u, name=f"Outlet {n}") for n, u in enumerate(urls)]
            )
            for source_id in ids.values():  # not due for a day: the workers only match
                await sources_store.record_success(
                    session, source_id=source_id, now=now, next_poll_at=now + timedelta(days=1)
                )
        worker = Worker(services, owner="bench-backlog")
        report = CycleReport()
        news = []
        for n in range(items):
            row = rows[n % len(rows)]
            outlet = n % OUTLETS
            news.append(
                Item(
                    key=f"m{n}",
                    title=row["title"],
                    summary=row.get("text") or "",
                    link=row.get("url"),
                    published=now - timedelta(seconds=rng.randrange(60, 3600)),
                    language=row.get("lang"),
                    source_url=urls[outlet],
                    source_name=f"Outlet {outlet}",
                )
            )
        news.sort(key=lambda item: item.published)
        for item in news:
            signals = extract(item)
            async with services.db.sessions() as session, session.begin():
                (stored,) = await items_store.add_items(
                    session,
                    source_id=ids[item.source_url],
                    items=[item],
                    signals={item.key: signals},
                )
            await worker.group(item, signals, item_id=stored.id, report=report)
    finally:
        await services.close()
    pending = await fetch(name, "SELECT count(DISTINCT story_id) AS n FROM pending_matches")
    return {"items": items, "story_updates": report.story_updates, "stories": pending[0]["n"]}


def feed_url(n: int) -> str:
    return f"http://127.0.0.1:{DEAD_PORT}/outlet/{n}.xml"


async def run_round(template: str, *, workers: int, workdir: Path, within: float) -> dict[str, Any]:
    name = f"{template}_w{workers}"
    await create_db(name, template=template)
    feeds_file = workdir / "feeds.toml"
    feeds_file.write_text(
        "".join(
            f'[[source]]\nurl = "{feed_url(n)}"\nname = "Outlet {n}"\n' for n in range(OUTLETS)
        ),
        encoding="utf-8",
    )
    env = role_env(name, feeds_file)
    stories = (await fetch(name, "SELECT count(DISTINCT story_id) AS n FROM pending_matches"))[0][
        "n"
    ]
    roles: list[Role] = []
    first = last = None
    try:
        for n in range(workers):
            roles.append(
                start_role(
                    "worker",
                    ["--id", f"w{n + 1}", "--no-digests", "--parse-processes", "0"],
                    env=env,
                    workdir=workdir,
                    name=f"worker{n + 1}",
                    port=True,
                )
            )
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            if any(role.popen.poll() is not None for role in roles):
                print(f"a worker stopped early; see {workdir}", file=sys.stderr)
                break
            left = (await fetch(name, "SELECT count(DISTINCT story_id) AS n FROM pending_matches"))[
                0
            ]["n"]
            now = time.monotonic()
            if first is None and left < stories:
                first = now
            if left == 0:
                last = now
                break
            await asyncio.sleep(0.1)
        matches = 0.0
        for role in roles:
            with contextlib.suppress(Exception):  # a role that died reports nothing
                matches += metric_sum(role.metrics(), "bot_rule_matches_total")
        cpu = sum(cpu_seconds(role.popen.pid, finished_children=True) for role in roles)
        for role in roles:
            role.read_memory()
        queued = await fetch(
            name, "SELECT kind, count(*) AS n FROM outbox GROUP BY kind ORDER BY kind"
        )
    finally:
        for role in roles:
            role.stop()
        await drop_db(name)
    span = (last - first) if first is not None and last is not None else None
    return {
        "workers": workers,
        "stories": stories,
        "all_matched": last is not None,
        "seconds": round(span, 2) if span is not None else None,
        "stories_per_s": round(stories / span, 2) if span else None,
        "matches": int(matches),
        "matches_per_s": round(matches / span, 1) if span else None,
        "queued": {row["kind"]: row["n"] for row in queued},
        "workers_cpu_s": round(cpu, 1),
        "memory_mb": {k: v for role in roles for k, v in role.memory.items()},
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--subscribers", type=int, default=10_000)
    parser.add_argument("--rules", type=int, default=50_000)
    parser.add_argument("--items", type=int, default=300, help="news items in the backlog")
    parser.add_argument("--workers", default="1,2", help="worker counts, one round each")
    parser.add_argument("--timeout", type=float, default=600, help="seconds a round may take")
    parser.add_argument("--seed", type=int, default=6)
    parser.add_argument("--json", action="store_true", help="print only the JSON")
    args = parser.parse_args(argv)
    counts = [int(n) for n in args.workers.split(",") if n.strip()]
    rng = random.Random(args.seed)
    template = f"bench_matching_{os.getpid()}"

    async def prepare() -> dict[str, Any]:
        await create_db(template)
        seeded = await seed(template, subscribers=args.subscribers, rules=args.rules, rng=rng)
        backlog = await build_backlog(template, items=args.items, rng=rng)
        return {"seed": seeded, "backlog": backlog}

    result: dict[str, Any] = {
        "config": {k: getattr(args, k) for k in ("subscribers", "rules", "items")}
    }
    try:
        result.update(asyncio.run(prepare()))
        rounds = []
        with tempfile.TemporaryDirectory(prefix="bench-matching-") as tmp:
            for workers in counts:
                workdir = Path(tmp) / f"w{workers}"
                workdir.mkdir()
                rounds.append(
                    asyncio.run(
                        run_round(template, workers=workers, workdir=workdir, within=args.timeout)
                    )
                )
        base = rounds[0]["stories_per_s"] if rounds else None
        for r in rounds:
            r["speedup"] = (
                round(r["stories_per_s"] / base, 2) if base and r["stories_per_s"] else None
            )
        result["rounds"] = rounds
        result["load_average_after"] = list(os.getloadavg())
        result["cpus"] = os.cpu_count()
    finally:
        asyncio.run(drop_db(template))
    if not args.json:
        print(
            f"backlog: {result['backlog']['items']} items -> {result['backlog']['stories']} "
            f"pending stories; {args.subscribers} subscribers, {args.rules} rules"
        )
        for r in result["rounds"]:
            print(
                f"{r['workers']} worker(s): {r['stories']} stories matched in {r['seconds']} s = "
                f"{r['stories_per_s']} stories/s, {r['matches_per_s']} matches/s "
                f"(x{r['speedup']}); queued {r['queued']}; workers' CPU {r['workers_cpu_s']} s"
            )
    print(json.dumps(result))
    return 0 if all(r["all_matched"] for r in result["rounds"]) else 1


if __name__ == "__main__":
    raise SystemExit(main())
