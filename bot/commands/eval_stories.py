"""`python -m bot eval-stories FILE [--json]`: score story grouping against reference groups.

FILE is JSONL; each line is a headline with `title`, `date` (YYYY-MM-DD), `feed_url` and
`related_headlines` (the other outlets' headlines Google News grouped with it, each
`{"headline", "publisher"}`). How it is counted:

- Items. Each line gives one item (its title without the " - Publisher" suffix; the publisher
  is that suffix, or the outlet the feed URL belongs to) and one item per related headline
  (title only, same day, from its publisher). Items are deduplicated on (publisher, headline),
  both normalised (case, punctuation, ".com"), keeping the earliest date; an item listed in
  several groups is one item. Each item is published at noon UTC of its date.
- Reference: each line's group is its item plus its related headlines. A pair of distinct items
  is *positive* when both appear in at least one common group (groups overlap and are not
  transitive: a pair is never inferred through a third item).
- Prediction: the items go, oldest first (file order within a day), through `StoryGrouper`,
  with signals from `feeds.extract.extract`. A pair is *predicted* when both items end in one
  story.
- precision = |predicted & positive| / |predicted| (1.0 when nothing is predicted),
  recall = |predicted & positive| / |positive|, f1 their harmonic mean; all over the unordered
  pairs of all items in the file.
- precision_lenient counts a predicted pair as right also when its items share a group
  neighbour (two steps apart): each group lists at most five of Google's headlines, so a
  missing pair is weak evidence of two different stories. It is reported, never optimised.
- recall_in_window is recall over the positive pairs whose items are at most the grouper's
  window apart: a headline Google kept in a cluster for days (one item, dated its first day)
  pairs with items a week later, which no windowed grouper may join. Reported beside recall,
  never instead of it.

Why repeated headlines are one item: the same (publisher, headline) in several groups is one
article that Google showed on several days, not several reports; counting it once per day
would add pairs between an article and itself, and pairs that only say "Google kept showing
it". Two outlets printing the same wording stay two items (two reports of one event), and
a pair of them counts as positive only when some group lists both.

FILE may instead list events judged by hand: each line one item with `title`, `published`
(ISO 8601 with offset), `source`, optional `url` and `summary`, `event` (a label shared by
the items reporting one event, or null for an item no other reports) and `maybe` (labels of
events the item may or may not belong to). A pair is positive when both items carry the same
`event`; a pair of an item with an event it is a `maybe` of is left out of the count either
way (neither right nor wrong when predicted). Items keep their own publication times.
`tests/data/stories/uk_events_…jsonl` is such a file (see its README).

`--sample N` prints N predicted pairs that are not reference pairs (seeded, so repeatable)
for a person to judge whether they really are one event; `--ablation` scores the grouper
with each title-matching signal turned off in turn (`rules.grouping.Matching`, the story
span and the late penalty), ending with earlier defaults ("2026-11": no concept folding, no
late penalty, threshold 0.12; "previous": besides, single link, no stemming, round-ups
matched, one shared term enough, no span limit).

`--since` / `--until` (dates, inclusive) keep the items published in that range and the
reference pairs among them, so constants can be tuned on one part of a file and checked on
the other (e.g. `--until 2026-01-13` and `--since 2026-01-14`).
"""

from __future__ import annotations

import argparse
import itertools
import json
import random
import re
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from dataclasses import replace as dc_replace
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from feeds.extract import extract
from feeds.models import Item, Signals
from rules.grouping import (
    DEFAULT_THRESHOLD,
    DEFAULT_WINDOW,
    LATE_PENALTY,
    Matching,
    StoryGrouper,
)
from rules.similarity import normalise_title, strip_publisher

# Outlets of the direct feeds in the corpus, by host; other hosts are named by their host.
_FEED_OUTLETS = {
    "aljazeera.com": "Al Jazeera",
    "feeds.bbci.co.uk": "BBC",
    "feeds.foxnews.com": "Fox News",
}
_SWEEP = (0.02, 0.04, 0.06, 0.08, 0.1, 0.12, 0.15, 0.2, 0.3, 0.5)


@dataclass(frozen=True, slots=True)
class Variant:
    """One row of `--ablation`: grouper settings, and a threshold of its own when it has one."""

    label: str
    matching: Matching = field(default_factory=Matching)
    max_span: timedelta | None = DEFAULT_WINDOW
    late_penalty: float = LATE_PENALTY
    threshold: float | None = None


# Each row turns one signal of the defaults off (or the alternative on).
_ABLATION: tuple[Variant, ...] = (
    Variant("default"),
    Variant("single-link", Matching(link="single")),
    Variant("no stemming/folding", Matching(stem=False, concepts=False)),
    Variant("no concept folding", Matching(concepts=False)),
    Variant("+ domain stop words", Matching(domain_stopwords=True)),
    Variant("round-ups matched", Matching(roundups=False)),
    Variant("+ token-set ratio", Matching(fuzzy=True)),
    Variant("one shared term enough", Matching(min_shared=1)),
    Variant("no late penalty", late_penalty=0.0),
    Variant("no max span", max_span=None),
    Variant("2026-11", Matching(concepts=False), late_penalty=0.0, threshold=0.12),
    Variant(
        "previous",
        Matching(link="single", stem=False, concepts=False, roundups=False, min_shared=1),
        max_span=None,
        late_penalty=0.0,
        threshold=0.12,
    ),
)


class CorpusError(ValueError):
    """The reference file cannot be read."""


@dataclass(frozen=True, slots=True)
class Corpus:
    items: tuple[Item, ...]
    groups: tuple[frozenset[int], ...]
    # Pairs judged neither together nor apart (an item and an event it is a `maybe` of).
    ignored: frozenset[tuple[int, int]] = frozenset()


@dataclass(frozen=True, slots=True)
class Scores:
    threshold: float
    label: str
    items: int
    groups: int
    stories: int
    positive_pairs: int
    predicted_pairs: int
    true_pairs: int
    precision: float
    recall: float
    f1: float
    precision_lenient: float
    recall_in_window: float
    # Predicted pairs that are not reference pairs, as item numbers (for `--sample`).
    unconfirmed: tuple[tuple[int, int], ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "precision": round(self.precision, 4),
            "recall": round(self.recall, 4),
            "f1": round(self.f1, 4),
            "precision_lenient": round(self.precision_lenient, 4),
            "recall_in_window": round(self.recall_in_window, 4),
            "threshold": self.threshold,
            "matching": self.label,
            "items": self.items,
            "reference_groups": self.groups,
            "stories": self.stories,
            "positive_pairs": self.positive_pairs,
            "predicted_pairs": self.predicted_pairs,
            "true_pairs": self.true_pairs,
        }


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "file",
        metavar="FILE",
        help="JSONL: Google News lines with related_headlines, or one item per line with its "
        "hand-judged event (and maybe)",
    )
    parser.add_argument("--json", action="store_true", help="print the scores as one JSON object")
    parser.add_argument(
        "--threshold",
        type=float,
        default=DEFAULT_THRESHOLD,
        help=f"join score threshold of the grouper (default {DEFAULT_THRESHOLD})",
    )
    parser.add_argument(
        "--sweep", action="store_true", help="score a range of thresholds, one row each"
    )
    parser.add_argument(
        "--ablation", action="store_true", help="score with each matching signal off in turn"
    )
    parser.add_argument(
        "--sample",
        type=int,
        default=0,
        metavar="N",
        help="print N random predicted pairs that are not reference pairs, to judge by eye",
    )
    parser.add_argument("--seed", type=int, default=1, help="seed of --sample (default 1)")
    parser.add_argument(
        "--since", type=date.fromisoformat, help="keep items published on or after this date"
    )
    parser.add_argument(
        "--until", type=date.fromisoformat, help="keep items published on or before this date"
    )


def run(args: argparse.Namespace) -> int:
    """Print the scores; 2 when the file cannot be read."""
    try:
        corpus = load_corpus(Path(args.file))
    except CorpusError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.since is not None or args.until is not None:
        corpus = restrict(corpus, since=args.since, until=args.until)
        if not corpus.items:
            print("error: no items in that date range", file=sys.stderr)
            return 2
    signals = [extract(item) for item in corpus.items]
    thresholds = _SWEEP if args.sweep else (args.threshold,)
    variants = _ABLATION if args.ablation else _ABLATION[:1]
    results = [
        evaluate(
            corpus,
            signals,
            threshold=t,
            matching=v.matching,
            max_span=v.max_span,
            late_penalty=v.late_penalty,
            label=v.label,
        )
        for v in variants
        for t in ((v.threshold,) if v.threshold is not None else thresholds)
    ]
    if args.json:
        for scores in results:
            print(json.dumps(scores.to_json(), ensure_ascii=False))
    else:
        _print_table(results)
    if args.sample > 0:
        _print_sample(corpus, results[0], args.sample, seed=args.seed)
    return 0


# --- the corpus --------------------------------------------------------------------------


def load_corpus(path: Path) -> Corpus:
    """Items and reference groups of a Google-News-style JSONL file (see the module doc)."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise CorpusError(f"{path}: {exc}") from exc
    if _is_event_file(lines):
        return _load_events(path, lines)
    index: dict[tuple[str, str], int] = {}
    found: list[tuple[str, str, date]] = []
    groups: list[frozenset[int]] = []

    def item_index(publisher: str, headline: str, day: date) -> int:
        key = (_publisher_key(publisher), normalise_title(headline))
        at = index.get(key)
        if at is None:
            index[key] = at = len(found)
            found.append((publisher, headline.strip(), day))
        elif day < found[at][2]:
            found[at] = (found[at][0], found[at][1], day)
        return at

    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            day = date.fromisoformat(row["date"])
            related = [(str(r["publisher"]), str(r["headline"])) for r in row["related_headlines"]]
            title, publisher = _title_and_publisher(str(row["title"]), row["feed_url"], related)
        except (ValueError, KeyError, TypeError) as exc:
            raise CorpusError(f"{path}:{number}: not a reference line: {exc}") from exc
        members = {item_index(publisher, title, day)}
        members |= {item_index(p, h, day) for p, h in related if h.strip()}
        groups.append(frozenset(members))

    items = tuple(
        Item(
            key=f"eval-{n}",
            title=headline,
            summary="",
            link=None,
            published=datetime.combine(day, time(12), tzinfo=UTC),
            source_url=f"eval:{_publisher_key(publisher)}",
            source_name=publisher,
        )
        for n, (publisher, headline, day) in enumerate(found)
    )
    return Corpus(items=items, groups=tuple(groups))


def _is_event_file(lines: Sequence[str]) -> bool:
    for line in lines:
        if line.strip():
            try:
                row = json.loads(line)
            except ValueError:
                return False
            return isinstance(row, dict) and "event" in row
    return False


def _load_events(path: Path, lines: Sequence[str]) -> Corpus:
    """Items and reference of a file of hand-judged events (see the module doc)."""
    items: list[Item] = []
    members: dict[str, set[int]] = {}
    maybe: dict[str, set[int]] = {}
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            published = datetime.fromisoformat(row["published"])
            if published.tzinfo is None:
                raise ValueError("published needs a UTC offset")
            source = str(row["source"])
            event, doubts = row["event"], [str(label) for label in row.get("maybe", [])]
            title = str(row["title"]).strip()
        except (ValueError, KeyError, TypeError) as exc:
            raise CorpusError(f"{path}:{number}: not an event line: {exc}") from exc
        at = len(items)
        items.append(
            Item(
                key=f"eval-{at}",
                title=title,
                summary=str(row.get("summary") or ""),
                link=row.get("url"),
                published=published.astimezone(UTC),
                source_url=f"eval:{_publisher_key(source)}",
                source_name=source,
            )
        )
        if event is not None:
            members.setdefault(str(event), set()).add(at)
        for label in doubts:
            maybe.setdefault(label, set()).add(at)
    unknown = sorted(set(maybe) - set(members))
    if unknown:
        raise CorpusError(f"{path}: 'maybe' names events no item belongs to: {unknown[:3]}")
    ignored = {
        (min(a, b), max(a, b))
        for label, doubtful in maybe.items()
        for a in doubtful
        for b in members[label] | doubtful
        if a != b
    }
    groups = tuple(frozenset(m) for m in members.values())
    return Corpus(items=tuple(items), groups=groups, ignored=frozenset(ignored - _pairs(groups)))


def restrict(corpus: Corpus, *, since: date | None = None, until: date | None = None) -> Corpus:
    """The items published from `since` to `until` (inclusive; None: open) and the reference
    groups cut down to them, items renumbered in their old order."""
    keep = [
        n
        for n, item in enumerate(corpus.items)
        if (since is None or item.published.date() >= since)
        and (until is None or item.published.date() <= until)
    ]
    renumber = {old: new for new, old in enumerate(keep)}
    groups = tuple(
        frozenset(renumber[n] for n in group if n in renumber)
        for group in corpus.groups
        if any(n in renumber for n in group)
    )
    ignored = frozenset(
        (renumber[a], renumber[b]) for a, b in corpus.ignored if a in renumber and b in renumber
    )
    return Corpus(items=tuple(corpus.items[n] for n in keep), groups=groups, ignored=ignored)


def _title_and_publisher(
    title: str, feed_url: str, related: list[tuple[str, str]]
) -> tuple[str, str]:
    host = (urlsplit(str(feed_url)).hostname or "").removeprefix("www.")
    if host in _FEED_OUTLETS:
        return title.strip(), _FEED_OUTLETS[host]
    # Google News titles end in " - <publisher>"; the first related headline is the item itself.
    for publisher, _ in related[:1]:
        if title.endswith(f" - {publisher}"):
            return title[: -len(publisher) - 3].strip(), publisher
    stripped = strip_publisher(title)
    suffix = title[len(stripped) :].strip(" -–—|")
    return stripped, suffix or host or "unknown"


def _publisher_key(publisher: str) -> str:
    key = publisher.casefold().strip().removeprefix("www.")
    return re.sub(r"\.(com|net|org|co\.uk|eu|go\.com)$", "", key)


# --- scoring -----------------------------------------------------------------------------


def evaluate(
    corpus: Corpus,
    signals: Sequence[Signals],
    *,
    threshold: float = DEFAULT_THRESHOLD,
    matching: Matching | None = None,
    max_span: timedelta | None = DEFAULT_WINDOW,
    late_penalty: float = LATE_PENALTY,
    label: str = "default",
    grouper_factory: Callable[[float], StoryGrouper] | None = None,
) -> Scores:
    """Group the corpus items and score the grouping against its reference groups."""
    if grouper_factory is not None:
        grouper = grouper_factory(threshold)
    else:
        grouper = StoryGrouper(
            threshold=threshold,
            matching=matching or Matching(),
            max_span=max_span,
            late_penalty=late_penalty,
        )
    order = sorted(range(len(corpus.items)), key=lambda n: (corpus.items[n].published, n))
    story_of: dict[int, str] = {}
    for n in order:
        story_of[n] = grouper.add(corpus.items[n], signals[n]).story.id
    published = [item.published for item in corpus.items]
    scores = score_pairs(
        story_of,
        corpus.groups,
        threshold=threshold,
        published=published,
        window=grouper.window,
        ignored=corpus.ignored,
    )
    return dc_replace(scores, label=label)


def score_pairs(
    story_of: dict[int, str],
    groups: Sequence[frozenset[int]],
    *,
    threshold: float = 0.0,
    published: Sequence[datetime] | None = None,
    window: timedelta = DEFAULT_WINDOW,
    ignored: frozenset[tuple[int, int]] = frozenset(),
) -> Scores:
    """Pairwise scores of a grouping (item -> story id) against reference groups.

    With `published` (per item), recall_in_window counts only the positive pairs at most
    `window` apart; without it, it equals recall. `ignored` pairs (smaller item first) count
    neither for nor against a grouping that predicts them.
    """
    positive = _pairs(groups)
    members: dict[str, list[int]] = {}
    for n, story_id in story_of.items():
        members.setdefault(story_id, []).append(n)
    predicted = _pairs(members.values()) - (ignored - positive)
    true = predicted & positive

    neighbours: dict[int, set[int]] = {}
    for a, b in positive:
        neighbours.setdefault(a, set()).add(b)
        neighbours.setdefault(b, set()).add(a)
    lenient = sum(
        1
        for a, b in predicted
        if (a, b) in positive or neighbours.get(a, set()) & neighbours.get(b, set())
    )

    precision = len(true) / len(predicted) if predicted else 1.0
    recall = len(true) / len(positive) if positive else 1.0
    reachable = positive
    if published is not None:
        reachable = {(a, b) for a, b in positive if abs(published[a] - published[b]) <= window}
    recall_in_window = len(true & reachable) / len(reachable) if reachable else 1.0
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return Scores(
        threshold=threshold,
        label="default",
        items=len(story_of),
        groups=len(groups),
        stories=len(members),
        positive_pairs=len(positive),
        predicted_pairs=len(predicted),
        true_pairs=len(true),
        precision=precision,
        recall=recall,
        f1=f1,
        precision_lenient=lenient / len(predicted) if predicted else 1.0,
        recall_in_window=recall_in_window,
        unconfirmed=tuple(sorted(predicted - positive)),
    )


def _pairs(groups: Iterable[Iterable[int]]) -> set[tuple[int, int]]:
    pairs: set[tuple[int, int]] = set()
    for group in groups:
        pairs.update(itertools.combinations(sorted(set(group)), 2))
    return pairs


def _print_table(results: Sequence[Scores]) -> None:
    first = results[0]
    print(
        f"items {first.items}  reference groups {first.groups}  "
        f"positive pairs {first.positive_pairs}"
    )
    width = max(len(s.label) for s in results)
    header = f"{'matching':<{width}}  {'threshold':>9}  {'stories':>7}  {'pairs':>6}  "
    header += f"{'right':>6}  {'precision':>9}  {'recall':>6}  {'f1':>6}  {'lenient P':>9}  "
    header += f"{'R in window':>11}"
    print(header)
    for s in results:
        print(
            f"{s.label:<{width}}  {s.threshold:>9.2f}  {s.stories:>7}  {s.predicted_pairs:>6}  "
            f"{s.true_pairs:>6}  {s.precision:>9.3f}  {s.recall:>6.3f}  {s.f1:>6.3f}  "
            f"{s.precision_lenient:>9.3f}  {s.recall_in_window:>11.3f}"
        )


def _print_sample(corpus: Corpus, scores: Scores, count: int, *, seed: int) -> None:
    pairs = list(scores.unconfirmed)
    chosen = random.Random(seed).sample(pairs, min(count, len(pairs)))
    print(
        f"\n{len(chosen)} of {len(pairs)} predicted pairs not in the reference "
        f"({scores.label}, threshold {scores.threshold:.2f}, seed {seed}):"
    )
    for n, (a, b) in enumerate(chosen, 1):
        for mark, at in ((f"{n:>3}.", a), ("    ", b)):
            item = corpus.items[at]
            print(f"{mark} {item.published:%m-%d} {item.source_name[:22]:<22} {item.title}")
