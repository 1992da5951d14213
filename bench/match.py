"""Benchmark: `RuleIndex.match` against the plain loop over `Rule.matches`.

    python bench/match.py                 # 1k / 10k / 100k rules, 10,000 stories, a table
    python bench/match.py --json          # one {"rules", "index_per_s", "loop_per_s", "speedup"}
                                          # object per rule count, one per line

Rules and stories are random but realistic (seeded): places drawn from the gazetteer when it
loads (else a fixed list of oblast codes), one to three categories, some thresholds, a few
keywords and outlets. The index matches all stories; the loop is slow at many rules, so it is
timed on the first `--loop-stories` stories (by default enough for about five million rule
checks) and both rates are stories per second. Both must return the same rule ids on those.
"""

from __future__ import annotations

import argparse
import json
import random
import sys
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from feeds.models import Category, Severity
from rules.index import RuleIndex
from rules.models import Story
from rules.rule import Delivery, Rule

OBLASTS = [
    *("UA05", "UA07", "UA12", "UA14", "UA18", "UA21", "UA23", "UA26", "UA32", "UA35", "UA44"),
    *("UA46", "UA48", "UA51", "UA53", "UA56", "UA59", "UA61", "UA63", "UA65", "UA68", "UA71"),
    *("UA73", "UA74", "UA80", "UA01", "UA85"),
]
KEYWORDS = [
    *("Укренерго", "ДТЕК", "Нафтогаз", "графік", "ТЕЦ", "підстанція", "Ukrenergo", "DTEK"),
    *("Naftogaz", "substation", "schedule", "thermal plant", "drone", "ракета", "дрон"),
    *("стабілізаційні", "аварійні", "Київтеплоенерго", "Водоканал", "boiler"),
]
FILLER = [
    *("power", "outage", "heating", "water", "cold", "attack", "city", "region", "residents"),
    *("світло", "тепло", "вода", "мешканці", "місто", "область", "енергетики", "ремонт"),
]
OUTLETS = ["UNIAN", "Ukrainska Pravda", "Suspilne", "BBC", "Reuters", "Kyiv Independent", "RBC"]
CATEGORIES = list(Category)
OUTAGES = frozenset({Category.POWER_OUTAGE, Category.HEATING_OUTAGE, Category.WATER_OUTAGE})


@dataclass(frozen=True, slots=True)
class PlacePool:
    oblasts: list[str]
    centres: list[str]  # oblast centres: where most people (and rules) are
    local: list[str]  # other cities, hromadas, towns
    origin: str


def place_pool() -> PlacePool:
    try:
        from feeds.gazetteer import load_gazetteer

        gazetteer = load_gazetteer()
    except Exception:  # the bench still runs on a tree without the gazetteer data
        return PlacePool(OBLASTS, [], [], "fixed list of oblast codes")
    oblasts = [p.id for p in gazetteer.oblasts()]
    centres = sorted(gazetteer.centres)
    ids = {pid for entries in gazetteer.patterns.values() for pid, _ in entries}
    local = sorted(pid for pid in ids if len(pid) > 4 and pid not in gazetteer.centres)
    return PlacePool(oblasts, centres, local, "gazetteer")


def pick_place(rng: random.Random, pool: PlacePool, *, for_story: bool) -> str:
    roll = rng.random()
    if not pool.centres or roll < 0.35:
        return rng.choice(pool.oblasts)
    if roll < 0.70 or not pool.local:
        return rng.choice(pool.centres)
    if for_story and roll > 0.97:
        return "UA"
    return rng.choice(pool.local)


def random_rule(rng: random.Random, pool: PlacePool) -> Rule:
    roll = rng.random()
    if roll < 0.92:
        count = rng.choice((1, 1, 1, 1, 2))
        places = frozenset(pick_place(rng, pool, for_story=False) for _ in range(count))
    elif roll < 0.96:
        places = frozenset({"UA"})
    else:
        places = frozenset()
    roll = rng.random()
    if roll < 0.80:
        categories = frozenset(rng.sample(CATEGORIES, rng.choice((1, 1, 2))))
    elif roll < 0.92:
        categories = OUTAGES
    else:
        categories = frozenset()
    keywords: tuple[str, ...] = ()
    if not places or rng.random() < 0.05:
        keywords = (rng.choice(KEYWORDS),)
    return Rule(
        categories=categories,
        places=places,
        max_temp_c=rng.choice((-5.0, -10.0, -15.0, -20.0)) if rng.random() < 0.2 else None,
        min_affected=rng.choice((1000, 10_000, 100_000)) if rng.random() < 0.15 else None,
        min_severity=rng.choice(list(Severity)[2:]) if rng.random() < 0.1 else None,
        keywords=keywords,
        exclude_keywords=(rng.choice(KEYWORDS),) if rng.random() < 0.05 else (),
        sources=frozenset({rng.choice(OUTLETS)}) if rng.random() < 0.03 else frozenset(),
        exclude_sources=frozenset({rng.choice(OUTLETS)}) if rng.random() < 0.03 else frozenset(),
        delivery=rng.choice(list(Delivery)),
    )


def random_story(rng: random.Random, pool: PlacePool, n: int) -> Story:
    t = datetime(2026, 1, 10, tzinfo=UTC) + timedelta(minutes=n)
    words = rng.choices(FILLER, k=12) + (rng.sample(KEYWORDS, 2) if rng.random() < 0.3 else [])
    rng.shuffle(words)
    count = rng.choice((0, 1, 1, 1, 2, 2, 3))
    return Story(
        id=f"s{n}",
        title=" ".join(words[:8]),
        first_published=t,
        last_published=t,
        categories=frozenset(rng.sample(CATEGORIES, rng.choice((0, 1, 1, 2, 2, 3)))),
        place_ids=frozenset(pick_place(rng, pool, for_story=True) for _ in range(count)),
        temperatures_c=tuple(float(rng.randint(-25, 5)) for _ in range(rng.choice((0, 0, 1, 2)))),
        affected=rng.choice((None, None, 500, 5000, 20_000, 300_000)),
        severity=rng.choice(list(Severity)),
        sources=tuple(rng.sample(OUTLETS, rng.choice((1, 1, 2, 3)))),
        text=" ".join(words[8:]),
    )


@dataclass(frozen=True, slots=True)
class Result:
    rules: int
    index_per_s: float
    loop_per_s: float
    speedup: float
    loop_stories: int
    build_s: float
    matched_per_story: float


def measure(rules: list[Rule], stories: list[Story], loop_stories: int) -> Result:
    started = time.perf_counter()
    index = RuleIndex()
    for rule_id, rule in enumerate(rules):
        index.add(rule_id, rule)
    build_s = time.perf_counter() - started

    started = time.perf_counter()
    found = [index.match(story) for story in stories]
    index_s = time.perf_counter() - started

    subset = stories[:loop_stories]
    started = time.perf_counter()
    looped = [{i for i, rule in enumerate(rules) if rule.matches(story)} for story in subset]
    loop_s = time.perf_counter() - started
    if looped != found[: len(subset)]:
        raise SystemExit("index and loop disagree: a bug in rules.index")

    index_per_s = len(stories) / index_s
    loop_per_s = len(subset) / loop_s
    return Result(
        rules=len(rules),
        index_per_s=index_per_s,
        loop_per_s=loop_per_s,
        speedup=index_per_s / loop_per_s,
        loop_stories=len(subset),
        build_s=build_s,
        matched_per_story=sum(map(len, found)) / len(found),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rules", default="1000,10000,100000", help="rule counts, comma-separated")
    parser.add_argument("--stories", type=int, default=10_000)
    parser.add_argument(
        "--loop-stories",
        type=int,
        default=None,
        help="stories the plain loop is timed on (default: ~5 million rule checks)",
    )
    parser.add_argument("--seed", type=int, default=4)
    parser.add_argument("--json", action="store_true", help="one JSON object per rule count")
    args = parser.parse_args(argv)

    rng = random.Random(args.seed)
    pool = place_pool()
    stories = [random_story(rng, pool, n) for n in range(args.stories)]
    counts = [int(c) for c in args.rules.split(",") if c.strip()]
    all_rules = [random_rule(rng, pool) for _ in range(max(counts))]
    if not args.json:
        print(f"places from the {pool.origin}; {len(stories)} stories")
        print(f"{'rules':>8} {'index/s':>10} {'loop/s':>10} {'speedup':>8} "
              f"{'loop on':>8} {'build s':>8} {'hits/story':>10}")  # fmt: skip
    for count in counts:
        budget = args.loop_stories or max(20, 5_000_000 // count)
        result = measure(all_rules[:count], stories, min(budget, len(stories)))
        if args.json:
            record = {
                "rules": result.rules,
                "index_per_s": round(result.index_per_s, 1),
                "loop_per_s": round(result.loop_per_s, 1),
                "speedup": round(result.speedup, 1),
            }
            print(json.dumps(record), flush=True)
        else:
            print(
                f"{result.rules:>8} {result.index_per_s:>10.0f} {result.loop_per_s:>10.1f} "
                f"{result.speedup:>7.1f}x {result.loop_stories:>8} {result.build_s:>8.2f} "
                f"{result.matched_per_story:>10.1f}",
                flush=True,
            )
    if not args.json:
        print("stories matched per second; the loop is timed on the first 'loop on' stories")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
