"""`python -m bot worker`: feed polling, extraction, grouping, matching and outbox writes (and,
unless `--no-digests`, the daily digests), on PostgreSQL, beside any number of other workers."""

from __future__ import annotations

import argparse
import asyncio
import logging
import os
import socket
from typing import Any

from bot.config import Settings
from bot.roles import (
    add_role_arguments,
    create_health_app,
    finish,
    guarded_loop,
    open_services_retrying,
    retry_until_done,
    rule_sync_loop,
    serve_http,
    start_role,
)
from bot.storage.db import utc_now

log = logging.getLogger(__name__)

DIGEST_EVERY_SECONDS = 60.0


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--id",
        dest="worker_id",
        default=None,
        help="this worker's name in feed leases; unique per running worker (default host:pid)",
    )
    parser.add_argument(
        "--no-digests", action="store_true", help="leave the daily digests to other processes"
    )
    parser.add_argument(
        "--lease-seconds",
        type=float,
        default=None,
        help="feed lease length; renewed while a fetch runs, so a dead worker's feeds return "
        "to the others after at most this long (default 60)",
    )
    parser.add_argument(
        "--parse-processes",
        type=int,
        default=min(2, os.cpu_count() or 1),
        help="processes that parse feeds (0: a thread; default min(2, CPUs))",
    )
    add_role_arguments(parser, default_port=None)


def run(args: argparse.Namespace) -> int:
    async def main(settings: Settings, stop: asyncio.Event) -> None:
        await _main(settings, stop, args)

    return start_role("worker", main, needs_token=False)


async def _main(settings: Settings, stop: asyncio.Event, args: argparse.Namespace) -> None:
    from bot.digests import Digests
    from bot.runtime import sync_catalogue
    from bot.worker import LEASE_SECONDS, Worker
    from feeds.poll import make_parse_executor

    services = await open_services_retrying(settings, stop)
    if services is None:
        return
    executor = make_parse_executor(args.parse_processes) if args.parse_processes > 0 else None
    try:

        async def catalogue() -> None:
            log.info("%d catalogue feeds", await sync_catalogue(services))

        if not await retry_until_done("catalogue sync", catalogue, stop=stop):
            return
        worker = Worker(
            services,
            owner=args.worker_id or f"{socket.gethostname()}:{os.getpid()}",
            executor=executor,
            lease_seconds=args.lease_seconds or LEASE_SECONDS,
        )
        tasks = [asyncio.create_task(worker.run_forever(stop=stop), name="worker")]
        if not args.no_digests:
            digests = Digests(services)
            tasks.append(
                asyncio.create_task(
                    guarded_loop(
                        "digests", digests.queue_due, stop=stop, every_seconds=DIGEST_EVERY_SECONDS
                    ),
                    name="digests",
                )
            )
            # The worker catches up with rule changes each cycle; digests between cycles too.
            tasks.append(asyncio.create_task(rule_sync_loop(services, stop), name="rule-sync"))
        if args.port:

            def facts() -> dict[str, Any]:
                last = worker.last_cycle_at
                return {
                    "worker": worker.owner,
                    "last_cycle": last.isoformat() if last else None,
                    "seconds_since_last_cycle": round((utc_now() - last).total_seconds(), 1)
                    if last
                    else None,
                    "rules": len(services.rulebook),
                }

            app = create_health_app(services, role="worker", facts=facts)
            tasks.append(
                asyncio.create_task(
                    serve_http(app, host=args.host, port=args.port, stop=stop), name="http"
                )
            )
        await stop.wait()
        await finish(tasks)
    finally:
        if executor is not None:
            executor.shutdown(wait=False, cancel_futures=True)
        await services.close()
