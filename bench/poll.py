"""Benchmark: poll_many over N local feeds vs. a sequential feedparser.parse(url) loop.

The baseline is the way a simple bot polls: one feed after the other, parsed from the URL.

    python bench/poll.py                      # N=500 feeds, 50 ms latency
    python bench/poll.py --feeds 100 --latency 0.02 --json

A separate process serves N realistic 50-item feeds (the real UNIAN sample, made distinct per
feed) over plain asyncio HTTP on 100 loopback addresses (127.0.1.1 ... : five feeds per
"outlet", so the per-host cap of 4 behaves as it would on the internet), answering every
request after the simulated latency. Rounds 1-3 share one client, as the bot does, and use
the production defaults (`make_client`'s pool, `poll_many`'s caps). Rounds:

1. first poll: every feed is fetched and parsed;
2. second poll: every server answers 304 to our ETag;
3. servers ignore validators and send the identical body again (hash check, no parse);
4. baseline: `for url in urls: feedparser.parse(url)`, sequentially.

Prints a table and one JSON object (wall and CPU seconds per round; CPU includes the parse
worker processes; the server's CPU is reported apart, as it is not the poller's). Not a test:
the machine is shared, so figures vary from run to run.
"""

from __future__ import annotations

import argparse
import asyncio
import functools
import json
import multiprocessing
import os
import re
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import feedparser
import httpx

from feeds.fetch import FetchLimits, make_client
from feeds.models import Source
from feeds.poll import (
    DEFAULT_GLOBAL_LIMIT,
    PollOutcome,
    SourceState,
    make_parse_executor,
    poll_many,
)

TEMPLATE = Path(__file__).resolve().parents[1] / "tests" / "data" / "feeds"
TEMPLATE_FEED = TEMPLATE / "tehtehteh_stub_unian_rss.xml"  # 50 items, 49 KB, real text
HOSTS = 100


# ---------------------------------------------------------------- the feed server (a process)


def feed_body(template: bytes, index: int) -> bytes:
    """The template feed made distinct: every title and guid carries the feed's number."""
    marked = re.sub(rb"<title>(\s*<!\[CDATA\[)?", lambda m: m.group(0) + b"[%d] " % index, template)
    return re.sub(rb"<guid([^>]*)>", lambda m: m.group(0) + b"f%d-" % index, marked)


def host_of(index: int) -> str:
    return f"127.0.1.{index % HOSTS + 1}"


async def _serve(port_pipe: Connection, feeds: int, latency: float) -> None:
    template = TEMPLATE_FEED.read_bytes()
    bodies = [feed_body(template, index) for index in range(feeds)]

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                request_line, *lines = head.decode("latin-1").split("\r\n")
                _method, target, _version = request_line.split(" ", 2)
                headers = {}
                for line in lines:
                    if ":" in line:
                        name, value = line.split(":", 1)
                        headers[name.strip().lower()] = value.strip()
                await asyncio.sleep(latency)
                writer.write(_answer(target, headers, bodies))
                await writer.drain()
                if headers.get("connection", "").lower() == "close":
                    break
        except (asyncio.IncompleteReadError, ConnectionError, ValueError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(
        handle, host=[host_of(i) for i in range(min(HOSTS, feeds))], port=0, backlog=1024
    )
    # Port 0 gives every address its own free port: send the map back.
    port_pipe.send({sock.getsockname()[0]: sock.getsockname()[1] for sock in server.sockets})
    async with server:
        await server.serve_forever()


def _answer(target: str, headers: dict[str, str], bodies: list[bytes]) -> bytes:
    # /feed/N honours If-None-Match; /ignore/N never sends validators or 304s.
    match = re.fullmatch(r"/(feed|ignore)/(\d+)", target)
    if not match or int(match.group(2)) >= len(bodies):
        return b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"
    kind, index = match.group(1), int(match.group(2))
    etag = f'"v1-{index}"'
    if kind == "feed" and headers.get("if-none-match") == etag:
        return f"HTTP/1.1 304 Not Modified\r\nETag: {etag}\r\nContent-Length: 0\r\n\r\n".encode()
    body = bodies[index]
    validators = f"ETag: {etag}\r\n" if kind == "feed" else ""
    head = (
        "HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml; charset=utf-8\r\n"
        f"{validators}Content-Length: {len(body)}\r\n\r\n"
    )
    return head.encode() + body


def _server_main(port_pipe: Connection, feeds: int, latency: float) -> None:
    asyncio.run(_serve(port_pipe, feeds, latency))


# ---------------------------------------------------------------- measuring


@dataclass
class Round:
    name: str
    wall_s: float
    cpu_s: float  # this process plus the parse workers
    cpu_workers_s: float
    cpu_server_s: float  # the feed server process: not part of cpu_s
    fetched: int
    parsed_feeds: int
    items: int
    errors: int
    cpu_per_request_ms: float = 0.0  # this process's CPU (not the parse workers') per feed


def _process_cpu(pid: int) -> float:
    """utime + stime of a live process, from /proc (Linux)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _cpu(executor: Executor | None) -> tuple[float, float]:
    """CPU seconds of this process and of the pool's worker processes."""
    workers = 0.0
    if isinstance(executor, ProcessPoolExecutor):
        processes = getattr(executor, "_processes", None) or {}
        workers = sum(_process_cpu(pid) for pid in processes)
    return time.process_time(), workers


def _summary(
    name: str,
    wall: float,
    cpu: float,
    workers: float,
    server: float,
    outcomes: Sequence[PollOutcome],
) -> Round:
    errors = [o for o in outcomes if o.error]
    for outcome in errors[:3]:
        print(f"  error: {outcome.error}", file=sys.stderr)
    return Round(
        name=name,
        wall_s=wall,
        cpu_s=cpu + workers,
        cpu_workers_s=workers,
        cpu_server_s=server,
        fetched=len(outcomes) - len(errors),
        parsed_feeds=sum(1 for o in outcomes if o.ok and not o.not_modified),
        items=sum(len(o.items) for o in outcomes),
        errors=len(errors),
        cpu_per_request_ms=1000 * cpu / max(1, len(outcomes)),
    )


async def _timed_poll(
    name: str,
    client: httpx.AsyncClient,
    states: list[SourceState],
    *,
    limits: FetchLimits,
    executor: Executor | None,
    global_limit: int,
    server_pid: int,
) -> tuple[Round, list[PollOutcome]]:
    (main0, workers0), server0 = _cpu(executor), _process_cpu(server_pid)
    wall0 = time.perf_counter()
    outcomes = await poll_many(
        client, states, limits=limits, executor=executor, global_limit=global_limit
    )
    wall, (main1, workers1) = time.perf_counter() - wall0, _cpu(executor)
    server = _process_cpu(server_pid) - server0
    return _summary(name, wall, main1 - main0, workers1 - workers0, server, outcomes), outcomes


def _baseline(urls: Sequence[str], server_pid: int) -> Round:
    server0 = _process_cpu(server_pid)
    cpu0, wall0 = time.process_time(), time.perf_counter()
    items = errors = 0
    for url in urls:
        parsed = feedparser.parse(url)
        if parsed.get("status") != 200:
            errors += 1
        items += len(parsed.entries)
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    return Round(
        name="4. baseline: sequential feedparser.parse(url)",
        wall_s=wall,
        cpu_s=cpu,
        cpu_workers_s=0.0,
        cpu_server_s=_process_cpu(server_pid) - server0,
        fetched=len(urls) - errors,
        parsed_feeds=len(urls) - errors,
        items=items,
        errors=errors,
        cpu_per_request_ms=1000 * cpu / max(1, len(urls)),  # parsing included
    )


async def run(
    *, feeds: int, latency: float, executor_kind: str, global_limit: int, baseline: bool
) -> dict[str, Any]:
    receive, send = multiprocessing.Pipe(duplex=False)
    server = multiprocessing.get_context("spawn").Process(
        target=_server_main, args=(send, feeds, latency), daemon=True
    )
    server.start()
    ports: dict[str, int] = receive.recv()
    server_pid = server.pid or 0
    executor: Executor | None = None
    try:
        if executor_kind == "process":
            executor = make_parse_executor()
        elif executor_kind == "thread":
            executor = ThreadPoolExecutor(max_workers=os.cpu_count() or 1)
        if executor is not None:  # a running bot keeps its pool warm: start it untimed
            await asyncio.gather(
                *(asyncio.get_running_loop().run_in_executor(executor, _warm) for _ in range(8))
            )
        limits = FetchLimits(allow_private_hosts=True, retries=1, backoff_base=0.05)

        def urls(kind: str) -> list[str]:
            return [f"http://{host_of(i)}:{ports[host_of(i)]}/{kind}/{i}" for i in range(feeds)]

        states = [SourceState(Source(url=u, name=f"feed {i}")) for i, u in enumerate(urls("feed"))]
        # One client for all rounds, as the bot keeps one: connections left open by a round
        # are reused by the next (while the server and httpx's keep-alive expiry allow).
        async with make_client(limits=limits) as client:
            poll = functools.partial(
                _timed_poll,
                client=client,
                limits=limits,
                executor=executor,
                global_limit=global_limit,
                server_pid=server_pid,
            )
            first, outcomes = await poll("1. first poll (fetch + parse)", states=states)
            second, _ = await poll(
                "2. second poll, every server answers 304", states=[o.state for o in outcomes]
            )
            ignoring = [
                SourceState(Source(url=u, name=f"feed {i}"), validators=o.state.validators)
                for i, (u, o) in enumerate(zip(urls("ignore"), outcomes, strict=True))
            ]
            third, _ = await poll("3. validators ignored, identical bodies", states=ignoring)
        rounds = [first, second, third]
        if baseline:
            rounds.append(await asyncio.to_thread(_baseline, urls("feed"), server_pid))
    finally:
        if executor is not None:
            executor.shutdown()
        server.terminate()
        server.join()

    result: dict[str, Any] = {
        "load_average": [round(x, 2) for x in os.getloadavg()],  # 1/5/15 min, at the end
        "feeds": feeds,
        "latency_s": latency,
        "executor": executor_kind,
        "global_limit": global_limit,
        "cpus": os.cpu_count(),
        "rounds": [vars(r) for r in rounds],
        "speedup_first_vs_baseline": (rounds[3].wall_s / first.wall_s) if baseline else None,
        "speedup_first_vs_304": first.wall_s / second.wall_s,
        "speedup_first_vs_identical": first.wall_s / third.wall_s,
    }
    return result


def _warm() -> None:
    import feeds.parse  # noqa: F401 - imports feedparser once per worker


def _table(result: dict[str, Any]) -> str:
    lines = [
        f"{result['feeds']} feeds, {result['latency_s'] * 1000:.0f} ms latency, "
        f"parse executor: {result['executor']}, global cap {result['global_limit']}, "
        f"{result['cpus']} CPUs, load average {result['load_average']} (shared machine: "
        "figures vary)",
        f"{'round':<48} {'wall s':>8} {'cpu s':>8} {'(workers)':>9} {'server':>7} "
        f"{'parsed':>7} {'items':>7} {'errors':>7} {'ms/req':>7}",
    ]
    for r in result["rounds"]:
        lines.append(
            f"{r['name']:<48} {r['wall_s']:>8.2f} {r['cpu_s']:>8.2f} {r['cpu_workers_s']:>9.2f} "
            f"{r['cpu_server_s']:>7.2f} {r['parsed_feeds']:>7} {r['items']:>7} {r['errors']:>7} "
            f"{r['cpu_per_request_ms']:>7.2f}"
        )
    fmt: Callable[[float | None], str] = lambda x: "n/a" if x is None else f"{x:.1f}x"  # noqa: E731
    lines.append(
        f"first poll vs baseline: {fmt(result['speedup_first_vs_baseline'])} faster; "
        f"first vs 304 poll: {fmt(result['speedup_first_vs_304'])}; "
        f"first vs identical-body poll: {fmt(result['speedup_first_vs_identical'])}"
    )
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--feeds", type=int, default=500, help="number of feeds (default 500)")
    parser.add_argument(
        "--latency", type=float, default=0.05, help="simulated server latency, s (default 0.05)"
    )
    parser.add_argument("--json", action="store_true", help="print only the JSON object")
    parser.add_argument(
        "--executor",
        choices=["process", "thread", "default"],
        default="process",
        help="where feeds are parsed: a process pool, one worker per CPU (the default); "
        "a thread pool of the same size; or poll_many's own single parse thread",
    )
    parser.add_argument(
        "--global-limit",
        type=int,
        default=DEFAULT_GLOBAL_LIMIT,
        help=f"global fetch cap (default: poll_many's, {DEFAULT_GLOBAL_LIMIT})",
    )
    parser.add_argument("--no-baseline", action="store_true", help="skip the slow baseline")
    args = parser.parse_args(argv)
    if args.feeds < 1 or args.latency < 0:
        parser.error("--feeds must be positive and --latency not negative")

    result = asyncio.run(
        run(
            feeds=args.feeds,
            latency=args.latency,
            executor_kind=args.executor,
            global_limit=args.global_limit,
            baseline=not args.no_baseline,
        )
    )
    if not args.json:
        print(_table(result))
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
