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
"""

from __future__ import annotations

import argparse
import itertools
import json
import re
import sys
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from feeds.extract import extract
from feeds.models import Item, Signals
from rules.grouping import DEFAULT_THRESHOLD, StoryGrouper
from rules.similarity import normalise_title, strip_publisher

# Outlets of the direct feeds in the corpus, by host; other hosts are named by their host.
_FEED_OUTLETS = {
    "aljazeera.com": "Al Jazeera",
    "feeds.bbci.co.uk": "BBC",
    "feeds.foxnews.com": "Fox News",
}
_SWEEP = (0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8)


class CorpusError(ValueError):
    """The reference file cannot be read."""


@dataclass(frozen=True, slots=True)
class Corpus:
    items: tuple[Item, ...]
    groups: tuple[frozenset[int], ...]


@dataclass(frozen=True, slots=True)
class Scores:
    threshold: float
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

    def to_json(self) -> dict[str, Any]:
        return {
            "precision": round(self.precision, 4),
            "recall": round(self.recall, 4),
            "f1": round(self.f1, 4),
            "precision_lenient": round(self.precision_lenient, 4),
            "threshold": self.threshold,
            "items": self.items,
            "reference_groups": self.groups,
            "stories": self.stories,
            "positive_pairs": self.positive_pairs,
            "predicted_pairs": self.predicted_pairs,
            "true_pairs": self.true_pairs,
        }


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", metavar="FILE", help="JSONL with related_headlines per line")
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


def run(args: argparse.Namespace) -> int:
    """Print the scores; 2 when the file cannot be read."""
    try:
        corpus = load_corpus(Path(args.file))
    except CorpusError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    signals = [extract(item) for item in corpus.items]
    thresholds = _SWEEP if args.sweep else (args.threshold,)
    results = [evaluate(corpus, signals, threshold=t) for t in thresholds]
    if args.json:
        for scores in results:
            print(json.dumps(scores.to_json(), ensure_ascii=False))
    else:
        _print_table(results)
    return 0


# --- the corpus --------------------------------------------------------------------------


def load_corpus(path: Path) -> Corpus:
    """Items and reference groups of a Google-News-style JSONL file (see the module doc)."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise CorpusError(f"{path}: {exc}") from exc
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
    grouper_factory: Callable[[float], StoryGrouper] | None = None,
) -> Scores:
    """Group the corpus items and score the grouping against its reference groups."""
    grouper = (grouper_factory or _default_grouper)(threshold)
    order = sorted(range(len(corpus.items)), key=lambda n: (corpus.items[n].published, n))
    story_of: dict[int, str] = {}
    for n in order:
        story_of[n] = grouper.add(corpus.items[n], signals[n]).story.id
    return score_pairs(story_of, corpus.groups, threshold=threshold)


def _default_grouper(threshold: float) -> StoryGrouper:
    return StoryGrouper(threshold=threshold)


def score_pairs(
    story_of: dict[int, str], groups: Sequence[frozenset[int]], *, threshold: float = 0.0
) -> Scores:
    """Pairwise scores of a grouping (item -> story id) against reference groups."""
    positive = _pairs(groups)
    members: dict[str, list[int]] = {}
    for n, story_id in story_of.items():
        members.setdefault(story_id, []).append(n)
    predicted = _pairs(members.values())
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
    f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    return Scores(
        threshold=threshold,
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
    header = f"{'threshold':>9}  {'stories':>7}  {'pairs':>6}  {'right':>6}  "
    header += f"{'precision':>9}  {'recall':>6}  {'f1':>6}  {'lenient P':>9}"
    print(header)
    for s in results:
        print(
            f"{s.threshold:>9.2f}  {s.stories:>7}  {s.predicted_pairs:>6}  {s.true_pairs:>6}  "
            f"{s.precision:>9.3f}  {s.recall:>6.3f}  {s.f1:>6.3f}  {s.precision_lenient:>9.3f}"
        )
