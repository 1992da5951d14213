"""Experiment: how far can headlines take grouping when the scorer is learned from the answers?

    python bench/grouping_learned.py                  # both directions, a table
    python bench/grouping_learned.py --json           # one object per row

The Google News reference of `python -m bot eval-stories` asks for pairwise F1 >= 0.8; the
hand-made `StoryGrouper` reaches 0.375. This asks whether a better scorer of headline pairs
would close the gap. A logistic regression is fitted to the reference pairs of one half of
the file (the 13 January split of the README) on what a grouper can know of two headlines:

    days apart (0, 1, 2+) · shared title terms · their IDF-weighted cosine · shared rare
    terms · shared categories and both having one (`feeds.extract`) · overlapping places ·
    rapidfuzz token-set ratio of the normalised titles

Then the other half is clustered by average link over the predicted pair probabilities
(pairs at most a day apart; a cluster joins another while the mean probability over their
item pairs reaches the cut) and scored as `eval-stories` scores it. `StoryGrouper` with its
defaults is scored on the same half beside it. Both directions are run (fit on the first
half and test on the second, and the reverse), so no figure is read off the data it was
fitted on.

Pure Python on purpose (Newton's method on ten features): the experiment adds no
dependency to the project. It takes about a minute on one core.
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from rapidfuzz import fuzz

from bot.commands.eval_stories import (
    Corpus,
    Scores,
    _pairs,
    evaluate,
    load_corpus,
    restrict,
    score_pairs,
)
from feeds.extract import extract
from feeds.models import Signals
from rules.similarity import normalise_title, title_terms
from rules.story_facts import places_overlap, specific_places

REFERENCE = (
    Path(__file__).resolve().parents[1]
    / "tests/data/stories/en_googlenews_bbc_aljazeera_ukraine_energy_2025-12_2026-01.jsonl"
)
SPLIT = date(2026, 1, 13)
CUTS = (0.15, 0.2, 0.25, 0.3, 0.4, 0.5)
# A term in at most this many headlines of the half counts as rare (a name, a weapon).
RARE = 4
FEATURES = (
    "same day",
    "a day apart",
    "2+ days apart",
    "shared terms",
    "IDF cosine",
    "shared rare terms",
    "shared categories",
    "both have a category",
    "places overlap",
    "token-set ratio",
)


@dataclass(frozen=True, slots=True)
class Half:
    """One half of the reference with what the features need, computed once."""

    corpus: Corpus
    signals: list[Signals]
    terms: list[frozenset[str]]
    normalised: list[str]
    document_frequency: dict[str, int]

    @classmethod
    def of(cls, corpus: Corpus) -> Half:
        terms = [title_terms(i.title, i.source_name) for i in corpus.items]
        frequency: dict[str, int] = {}
        for item_terms in terms:
            for term in item_terms:
                frequency[term] = frequency.get(term, 0) + 1
        return cls(
            corpus=corpus,
            signals=[extract(i) for i in corpus.items],
            terms=terms,
            normalised=[normalise_title(i.title, i.source_name) for i in corpus.items],
            document_frequency=frequency,
        )

    def pairs(self) -> list[tuple[int, int]]:
        """Item pairs at most a day apart: the only ones the classifier scores."""
        items = self.corpus.items
        return [
            (a, b)
            for a, b in itertools.combinations(range(len(items)), 2)
            if abs((items[a].published - items[b].published).days) <= 1
        ]

    def features(self, a: int, b: int) -> list[float]:
        items, terms, signals = self.corpus.items, self.terms, self.signals
        days = abs((items[a].published - items[b].published).days)
        shared = terms[a] & terms[b]
        count = len(terms) + 1

        def weight(found: frozenset[str]) -> float:
            return sum(math.log(count / (self.document_frequency.get(t, 0) + 1)) for t in found)

        norm = math.sqrt((weight(terms[a]) or 1.0) * (weight(terms[b]) or 1.0))
        places_a = specific_places(signals[a].place_ids)
        places_b = specific_places(signals[b].place_ids)
        return [
            float(days == 0),
            float(days == 1),
            float(days >= 2),
            float(len(shared)),
            weight(shared) / norm,
            float(sum(1 for t in shared if self.document_frequency.get(t, 0) <= RARE)),
            float(len(signals[a].categories & signals[b].categories)),
            float(bool(signals[a].categories) and bool(signals[b].categories)),
            float(bool(places_a and places_b and places_overlap(places_a, places_b))),
            fuzz.token_set_ratio(self.normalised[a], self.normalised[b]) / 100,
        ]


class LogisticModel:
    """Logistic regression on standardised features, fitted by Newton's method with a small
    L2 penalty (ten features: a 10x10 system per step, a dozen steps)."""

    def __init__(self, penalty: float = 1.0) -> None:
        self.penalty = penalty
        self.mean: list[float] = []
        self.scale: list[float] = []
        self.weights: list[float] = []

    def fit(self, rows: Sequence[Sequence[float]], labels: Sequence[bool]) -> LogisticModel:
        columns = list(zip(*rows, strict=True))
        self.mean = [sum(c) / len(c) for c in columns]
        self.scale = [
            math.sqrt(sum((x - m) ** 2 for x in c) / len(c)) or 1.0
            for c, m in zip(columns, self.mean, strict=True)
        ]
        data = [self._row(r) for r in rows]
        size = len(data[0])
        weights = [0.0] * size
        for _ in range(25):
            gradient = [self.penalty * w for w in weights]
            hessian = [[self.penalty * (i == j) for j in range(size)] for i in range(size)]
            for x, y in zip(data, labels, strict=True):
                p = _sigmoid(sum(w * v for w, v in zip(weights, x, strict=True)))
                for i in range(size):
                    gradient[i] += (p - y) * x[i]
                    for j in range(size):
                        hessian[i][j] += p * (1 - p) * x[i] * x[j]
            step = _solve(hessian, gradient)
            weights = [w - s for w, s in zip(weights, step, strict=True)]
            if max(abs(s) for s in step) < 1e-6:
                break
        self.weights = weights
        return self

    def probability(self, row: Sequence[float]) -> float:
        return _sigmoid(sum(w * v for w, v in zip(self.weights, self._row(row), strict=True)))

    def _row(self, row: Sequence[float]) -> list[float]:
        scaled = [(v - m) / s for v, m, s in zip(row, self.mean, self.scale, strict=True)]
        return [1.0, *scaled]


def _sigmoid(z: float) -> float:
    return 1 / (1 + math.exp(-z)) if z >= 0 else math.exp(z) / (1 + math.exp(z))


def _solve(matrix: list[list[float]], vector: list[float]) -> list[float]:
    """Gaussian elimination with partial pivoting (the Hessian is small and well posed)."""
    size = len(vector)
    rows = [[*matrix[i], vector[i]] for i in range(size)]
    for col in range(size):
        pivot = max(range(col, size), key=lambda r: abs(rows[r][col]))
        rows[col], rows[pivot] = rows[pivot], rows[col]
        for r in range(col + 1, size):
            factor = rows[r][col] / rows[col][col]
            for c in range(col, size + 1):
                rows[r][c] -= factor * rows[col][c]
    solution = [0.0] * size
    for r in range(size - 1, -1, -1):
        known = sum(rows[r][c] * solution[c] for c in range(r + 1, size))
        solution[r] = (rows[r][size] - known) / rows[r][r]
    return solution


def cluster(count: int, probability: dict[tuple[int, int], float], cut: float) -> dict[int, str]:
    """Average-link agglomerative clustering: merge the closest two clusters while their mean
    pair probability (0 for pairs never scored) is at least `cut`."""
    clusters: dict[int, set[int]] = {n: {n} for n in range(count)}
    link = dict(probability)
    while True:
        best, best_mean = None, cut
        for (a, b), total in link.items():
            mean = total / (len(clusters[a]) * len(clusters[b]))
            if mean >= best_mean:
                best, best_mean = (a, b), mean
        if best is None:
            break
        keep, gone = best
        clusters[keep] |= clusters.pop(gone)
        merged: dict[tuple[int, int], float] = {}
        for (a, b), total in link.items():
            a2 = keep if a == gone else a
            b2 = keep if b == gone else b
            if a2 == b2:
                continue
            key = (min(a2, b2), max(a2, b2))
            merged[key] = merged.get(key, 0.0) + total
        link = merged
    return {n: str(root) for root, members in clusters.items() for n in members}


def run_direction(
    fit_half: Half, test_half: Half, label: str
) -> tuple[dict[str, float], list[dict[str, object]]]:
    """The fitted weights (by feature) and one score row per grouper on `test_half`."""
    positive = _pairs(fit_half.corpus.groups)
    fit_pairs = fit_half.pairs()
    model = LogisticModel().fit(
        [fit_half.features(a, b) for a, b in fit_pairs],
        [(a, b) in positive for a, b in fit_pairs],
    )
    probability = {
        (a, b): model.probability(test_half.features(a, b)) for a, b in test_half.pairs()
    }
    weights = dict(zip(("intercept", *FEATURES), model.weights, strict=True))
    ours = evaluate(test_half.corpus, test_half.signals)
    rows = [_row(label, "StoryGrouper (defaults)", ours)]
    for cut in CUTS:
        story_of = cluster(len(test_half.corpus.items), probability, cut)
        rows.append(
            _row(label, f"learned, cut {cut:.2f}", score_pairs(story_of, test_half.corpus.groups))
        )
    return weights, rows


def _row(direction: str, grouper: str, scores: Scores) -> dict[str, object]:
    return {
        "direction": direction,
        "grouper": grouper,
        "stories": scores.stories,
        "precision": round(scores.precision, 3),
        "recall": round(scores.recall, 3),
        "f1": round(scores.f1, 3),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("--file", type=Path, default=REFERENCE, help="reference JSONL")
    parser.add_argument("--json", action="store_true", help="one JSON object per row")
    args = parser.parse_args(argv)
    corpus = load_corpus(args.file)
    first = Half.of(restrict(corpus, until=SPLIT))
    second = Half.of(restrict(corpus, since=date.fromordinal(SPLIT.toordinal() + 1)))
    directions = {
        label: run_direction(fit, test, label)
        for label, fit, test in (
            ("fit to 13 Jan, test from 14 Jan", first, second),
            ("fit from 14 Jan, test to 13 Jan", second, first),
        )
    }
    if args.json:
        for label, (weights, rows) in directions.items():
            print(json.dumps({"direction": label, "weights": weights}))
            for row in rows:
                print(json.dumps(row))
        return 0
    for label, (weights, _) in directions.items():
        shown = ", ".join(f"{name} {value:+.2f}" for name, value in weights.items())
        print(f"{label}: weights (standardised features) {shown}")
    print(f"{'direction':<32}  {'grouper':<24}  {'stories':>7}  {'P':>5}  {'R':>5}  {'F1':>5}")
    for row in (row for _, rows in directions.values() for row in rows):
        print(
            f"{row['direction']!s:<32}  {row['grouper']!s:<24}  {row['stories']!s:>7}  "
            f"{row['precision']!s:>5}  {row['recall']!s:>5}  {row['f1']!s:>5}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
