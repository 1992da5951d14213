"""`python -m bot migrate`: bring the database schema up to date, then exit."""

from __future__ import annotations

import argparse
import asyncio
import sys

from bot.config import ConfigError, load_settings
from bot.migrations import upgrade_to_head
from bot.storage.errors import MigrationError


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--database-url",
        help="database to migrate (default: DATABASE_URL from the environment or .env)",
    )


def run(args: argparse.Namespace) -> int:
    overrides = {"database_url": args.database_url} if args.database_url else {}
    try:
        settings = load_settings(**overrides)
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        return 2
    try:
        revision = asyncio.run(upgrade_to_head(settings.database_url))
    except MigrationError as exc:
        print(f"migration failed for {settings.database_url_safe}: {exc}", file=sys.stderr)
        return 1
    print(f"database {settings.database_url_safe} is at revision {revision}")
    return 0
