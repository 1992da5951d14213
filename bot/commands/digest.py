"""`python -m bot digest`: only the daily digests (optional: workers run them unless started
with `--no-digests`). Any number may run; each chat still gets one digest a day."""

from __future__ import annotations

import argparse
import asyncio

from bot.config import Settings
from bot.roles import (
    add_role_arguments,
    create_health_app,
    finish,
    guarded_loop,
    open_services_retrying,
    rule_sync_loop,
    serve_http,
    start_role,
)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--every", type=float, default=60.0, help="seconds between two digest checks (default 60)"
    )
    add_role_arguments(parser, default_port=None)


def run(args: argparse.Namespace) -> int:
    async def main(settings: Settings, stop: asyncio.Event) -> None:
        await _main(settings, stop, args)

    return start_role("digest", main, needs_token=False)


async def _main(settings: Settings, stop: asyncio.Event, args: argparse.Namespace) -> None:
    from bot.digests import Digests

    services = await open_services_retrying(settings, stop)
    if services is None:
        return
    try:
        digests = Digests(services)
        tasks = [
            asyncio.create_task(
                guarded_loop("digests", digests.queue_due, stop=stop, every_seconds=args.every),
                name="digests",
            ),
            asyncio.create_task(rule_sync_loop(services, stop), name="rule-sync"),
        ]
        if args.port:
            app = create_health_app(services, role="digest", facts=dict)
            tasks.append(
                asyncio.create_task(serve_http(app, host=args.host, port=args.port, stop=stop))
            )
        await stop.wait()
        await finish(tasks)
    finally:
        await services.close()
