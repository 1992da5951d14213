"""`python -m bot rules parse TEXT` and `python -m bot rules test TEXT FEED_OR_FILE...`.

`parse` prints a rule's canonical text (English and Ukrainian) and its JSON, or the error with
a caret under the problem (exit status 2). `test` reads feeds, turns each item into a story and
shows whether the rule matches it and why.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from datetime import UTC
from typing import Any, TextIO

from bot.feed_inputs import read_feeds
from feeds.extract import extract
from feeds.models import Item, Signals
from rules.language import RuleSyntaxError, format_rule, parse_rule
from rules.models import Story
from rules.places import PlaceDirectory
from rules.rule import Rule
from rules.story_facts import new_story

_URL_PREFIXES = ("http://", "https://")
EXIT_OK, EXIT_FEED_FAILED, EXIT_BAD_RULE = 0, 1, 2


GRAMMAR = """\
A rule is a few words in English or Ukrainian, in any order:
  what      power, heating, water, outage (= all three), cold, energy attack, restoration, any
            світло, тепло/опалення, вода, відключення, мороз/холод, атака/удар, відновлення, все
  where     in/в/у/на PLACE, or the place alone; several: "Kyiv, Lviv oblast and Odesa"
  thresholds cold <= -15 (мороз -15), temperature below -20, temp >= 30,
            affected >= 10000 (10k, 10 000), severity high (low, medium, high, critical)
  words     "Укренерго" (required), -"schedule" or -schedule (excluded), whole words only
  outlets   from UNIAN or BBC, not from "Some Outlet"
  delivery  instant (default), digest, both  (миттєво, дайджест, обидва)
examples:
  power outage in Kyiv          outage Kharkiv oblast         heating, water in Odesa
  cold <= -15 in Kyiv           мороз -15 Київ                відключення світла Харківщина
  everything Ukraine            outage affected >= 10000      energy attack severity high
  "Укренерго" in Kyiv oblast    power outage Kyiv -"schedule" digest
"""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="rules_command", metavar="ACTION", required=True)
    parse = sub.add_parser(
        "parse",
        help="print a rule as canonical text and JSON",
        epilog=GRAMMAR,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parse.add_argument("text", metavar="TEXT", help='the rule, e.g. "power outage in Kyiv"')
    parse.add_argument("--lang", choices=("en", "uk"), default="en", help="language of errors")
    test = sub.add_parser(
        "test",
        help="show which items of feeds a rule matches, and why",
        epilog=GRAMMAR,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    test.add_argument("text", metavar="TEXT", help="the rule")
    test.add_argument("inputs", nargs="+", metavar="FEED_OR_FILE", help="feed URLs or files")
    test.add_argument("--json", action="store_true", help="one JSON object per item per line")
    test.add_argument("--matched", action="store_true", help="show only the items that match")
    test.add_argument("--lang", choices=("en", "uk"), default="en", help="language of errors")
    test.add_argument(
        "--allow-private",
        action="store_true",
        help="allow URLs on private or loopback addresses (local test servers)",
    )


def run(args: argparse.Namespace) -> int:
    from feeds.gazetteer import load_gazetteer

    places = load_gazetteer()
    rule = _parse_or_report(args.text, places, args.lang, sys.stderr)
    if rule is None:
        return EXIT_BAD_RULE
    if args.rules_command == "parse":
        _print_parsed(sys.stdout, rule, places)
        return EXIT_OK
    return _test(args, rule, places, sys.stdout, sys.stderr)


def _parse_or_report(text: str, places: PlaceDirectory, lang: str, err: TextIO) -> Rule | None:
    try:
        return parse_rule(text, places=places, lang=lang)
    except RuleSyntaxError as exc:
        err.write(f"error: {exc}\n{_indent(exc.pointer())}\n")
        return None


def _print_parsed(out: TextIO, rule: Rule, places: PlaceDirectory) -> None:
    out.write(f"en: {format_rule(rule, places=places, lang='en')}\n")
    out.write(f"uk: {format_rule(rule, places=places, lang='uk')}\n")
    out.write(json.dumps(rule.to_json(), ensure_ascii=False) + "\n")


# --- test: items -> stories -> explanations ------------------------------------------------------


def story_from_item(item: Item, signals: Signals) -> Story:
    """A one-item `Story`, exactly as the worker starts one, so `rules test` shows what the
    bot itself would match."""
    return new_story(item.key, item, signals)


def _test(
    args: argparse.Namespace, rule: Rule, places: PlaceDirectory, out: TextIO, err: TextIO
) -> int:
    if not args.json:
        out.write(f"rule: {format_rule(rule, places=places)}\n\n")
    outcomes = asyncio.run(read_feeds(args.inputs, allow_private=args.allow_private))
    failed = False
    total = matched = 0
    for outcome in outcomes:
        if outcome.error is not None:
            failed = True
            err.write(f"error: {outcome.label}: {outcome.error}\n")
            continue
        assert outcome.feed is not None
        for item in sorted(outcome.feed.items, key=lambda i: i.published, reverse=True):
            try:
                story = story_from_item(item, extract(item))
            except Exception as exc:  # an extractor bug must not hide the other items
                failed = True
                err.write(f"error: {outcome.label}: fact extraction failed for {item.key}: {exc}\n")
                continue
            conditions = rule.explain(story, places=places)
            hit = rule.matches(story)
            total += 1
            matched += hit
            if args.matched and not hit:
                continue
            if args.json:
                out.write(json.dumps(_record(story, hit, conditions), ensure_ascii=False) + "\n")
            else:
                _print_item(out, story, hit, conditions)
    if not args.json:
        out.write(f"{matched} of {total} items match\n")
    return EXIT_FEED_FAILED if failed else EXIT_OK


def _print_item(out: TextIO, story: Story, hit: bool, conditions: list[tuple[str, bool]]) -> None:
    when = story.first_published.astimezone(UTC).strftime("%Y-%m-%d %H:%M")
    source = ", ".join(story.sources) or "-"
    out.write(f"{'MATCH' if hit else 'no   '}  {when}  {source}  {story.title}\n")
    if not conditions:
        out.write("       (the rule has no conditions: everything matches)\n")
    for description, held in conditions:
        out.write(f"       {'+' if held else '-'} {description}\n")
    out.write("\n")


def _record(story: Story, hit: bool, conditions: list[tuple[str, bool]]) -> dict[str, Any]:
    return {
        "title": story.title,
        "link": story.link,
        "published": story.first_published.isoformat(),
        "sources": list(story.sources),
        "matched": hit,
        "conditions": [{"condition": text, "held": held} for text, held in conditions],
    }


def _indent(text: str) -> str:
    return "\n".join(f"  {line}" for line in text.splitlines())
