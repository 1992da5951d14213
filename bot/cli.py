"""Command line: `python -m bot COMMAND ...`.

Each command lives in `bot/commands/<name>.py` with `add_arguments(parser)` and
`run(args) -> int` (the exit status). Commands are imported only when chosen, so
`--help` and a simple `scan` stay fast.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import sys
from collections.abc import Sequence

# name -> (module, one-line help). Order is the order `--help` shows.
COMMANDS: dict[str, tuple[str, str]] = {
    "run": ("bot.commands.run", "run the bot: Telegram, polling, alerts, digests (default)"),
    "scan": ("bot.commands.scan", "fetch or read feeds and print their items and facts"),
    "eval": ("bot.commands.evaluate", "score the fact extractor on a labelled JSONL file"),
    "rules": ("bot.commands.rules", "parse a rule, or test it against feeds"),
    "eval-stories": ("bot.commands.eval_stories", "score story grouping against reference groups"),
    "migrate": ("bot.commands.migrate", "apply database migrations and exit"),
    "web": (
        "bot.commands.web",
        "scale-out role: Telegram webhook, /healthz, /metrics (PostgreSQL)",
    ),
    "worker": ("bot.commands.worker", "scale-out role: poll feeds, group, match, queue alerts"),
    "sender": ("bot.commands.sender", "scale-out role: send the outbox (one active, others wait)"),
    "digest": ("bot.commands.digest", "scale-out role: daily digests only (optional)"),
}


def build_parser(available: dict[str, tuple[str, str]] | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bot",
        description=(
            "Humanitarian-impact alerts for Ukraine: watches news feeds for power, heating and "
            "water outages, cold snaps and strikes on energy infrastructure, and alerts "
            "Telegram subscribers. Without a command, runs the bot."
        ),
        epilog="Run 'python -m bot COMMAND --help' for a command's options.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module_name, help_text) in (available or _available()).items():
        cmd = sub.add_parser(name, help=help_text, description=help_text)
        cmd.set_defaults(_module=module_name)
        module = importlib.import_module(module_name)
        module.add_arguments(cmd)
    return parser


def _available() -> dict[str, tuple[str, str]]:
    """Commands whose module exists (lets the CLI grow command by command)."""
    found = {}
    for name, (module_name, help_text) in COMMANDS.items():
        if importlib.util.find_spec(module_name) is not None:
            found[name] = (module_name, help_text)
    return found


def main(argv: Sequence[str] | None = None) -> int:
    args_list = list(sys.argv[1:] if argv is None else argv)
    available = _available()
    bare = not args_list or (args_list[0].startswith("-") and args_list[0] not in ("-h", "--help"))
    if bare and "run" in available:
        args_list.insert(0, "run")
    parser = build_parser(available)
    args = parser.parse_args(args_list)
    if args.command is None:
        parser.print_help()
        return 2
    module = importlib.import_module(args._module)
    return int(module.run(args))
