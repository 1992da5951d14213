"""Score the extractor against hand-labelled items (the format of the shared `dev.jsonl`).

Scoring (the eval README): micro precision/recall/F1 for categories (also per category) and
for places (sets of admin-1 codes); temperatures match when within 0.5 °C, one gold value
per prediction; `affected` is exact-match accuracy over items where either side is set, a
prediction within 1 % of the gold number counting as exact. All of it per language too.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from feeds.models import Category, Signals

LANGUAGES = ("en", "uk", "ru")
TEMPERATURE_TOLERANCE = 0.5
AFFECTED_TOLERANCE = 0.01


class EvalDataError(ValueError):
    """The labelled file is missing or a line of it is not a labelled item."""


@dataclass(frozen=True, slots=True)
class LabelledItem:
    id: str
    lang: str
    title: str
    text: str
    categories: frozenset[str]
    temps_c: tuple[float, ...]
    places: frozenset[str]
    affected: int | None


@dataclass(slots=True)
class Counts:
    """True positives, false positives and false negatives of one field."""

    tp: int = 0
    fp: int = 0
    fn: int = 0

    def add(self, tp: int, fp: int, fn: int) -> None:
        self.tp += tp
        self.fp += fp
        self.fn += fn

    def scores(self) -> dict[str, float]:
        p = self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0
        r = self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0
        f1 = 2 * p * r / (p + r) if p + r else 0.0
        return {"p": round(p, 4), "r": round(r, 4), "f1": round(f1, 4)}


@dataclass(slots=True)
class Tally:
    """Every count for one slice of the items (all, or one language)."""

    items: int = 0
    categories: Counts = field(default_factory=Counts)
    per_category: dict[str, Counts] = field(
        default_factory=lambda: {c.value: Counts() for c in Category}
    )
    places: Counts = field(default_factory=Counts)
    temps: Counts = field(default_factory=Counts)
    affected_right: int = 0
    affected_n: int = 0
    language_right: int = 0

    def report(self) -> dict[str, Any]:
        accuracy = self.affected_right / self.affected_n if self.affected_n else 1.0
        return {
            "items": self.items,
            "categories": self.categories.scores(),
            "places": self.places.scores(),
            "temps_c": self.temps.scores(),
            "affected": {"accuracy": round(accuracy, 4), "n": self.affected_n},
            "language": {
                "accuracy": round(self.language_right / self.items, 4) if self.items else 1.0
            },
            "per_category": {name: c.scores() for name, c in self.per_category.items()},
        }


@dataclass(frozen=True, slots=True)
class Miss:
    """Where one item's prediction differs from its labels (for reading the errors)."""

    id: str
    lang: str
    field: str
    expected: Any
    predicted: Any


def _field(obj: dict[str, Any], name: str, kind: type | tuple[type, ...], lineno: int) -> Any:
    value = obj.get(name)
    if not isinstance(value, kind):
        raise EvalDataError(f"line {lineno}: field {name!r} missing or not {kind}")
    return value


def parse_line(line: str, lineno: int) -> LabelledItem:
    """One JSONL line as a labelled item; `EvalDataError` names the line when it is not."""
    try:
        obj = json.loads(line)
    except json.JSONDecodeError as exc:
        raise EvalDataError(f"line {lineno}: not valid JSON ({exc.msg})") from exc
    if not isinstance(obj, dict):
        raise EvalDataError(f"line {lineno}: expected a JSON object")
    labels = _field(obj, "labels", dict, lineno)
    categories = _field(labels, "categories", list, lineno)
    temps = _field(labels, "temps_c", list, lineno)
    places = _field(labels, "places", list, lineno)
    affected = labels.get("affected")
    if affected is not None and not isinstance(affected, int | float):
        raise EvalDataError(f"line {lineno}: labels.affected must be a number or null")
    try:
        temps_c = tuple(float(t) for t in temps)
    except (TypeError, ValueError) as exc:
        raise EvalDataError(f"line {lineno}: labels.temps_c must hold numbers") from exc
    return LabelledItem(
        id=str(obj.get("id", f"line{lineno}")),
        lang=str(obj.get("lang", "")),
        title=_field(obj, "title", str, lineno),
        text=str(obj.get("text") or ""),
        categories=frozenset(str(c) for c in categories),
        temps_c=temps_c,
        places=frozenset(str(p) for p in places),
        affected=None if affected is None else int(affected),
    )


def read_labelled(path: Path) -> Iterator[LabelledItem]:
    """The labelled items of a JSONL file (blank lines skipped)."""
    try:
        handle = path.open(encoding="utf-8")
    except OSError as exc:
        raise EvalDataError(f"cannot read {path}: {exc.strerror or exc}") from exc
    with handle:
        try:
            for lineno, line in enumerate(handle, start=1):
                if line.strip():
                    yield parse_line(line, lineno)
        except UnicodeDecodeError as exc:
            raise EvalDataError(f"{path}: not UTF-8 text ({exc.reason})") from exc


def match_temperatures(gold: Iterable[float], predicted: Iterable[float]) -> tuple[int, int, int]:
    """(tp, fp, fn): each prediction may match one unmatched gold value within 0.5 °C."""
    remaining = sorted(gold)
    tp = fp = 0
    for value in sorted(predicted):
        best = None
        for i, g in enumerate(remaining):
            if abs(g - value) <= TEMPERATURE_TOLERANCE + 1e-9 and (
                best is None or abs(g - value) < abs(remaining[best] - value)
            ):
                best = i
        if best is None:
            fp += 1
        else:
            tp += 1
            remaining.pop(best)
    return tp, fp, len(remaining)


def affected_right(gold: int | None, predicted: int | None) -> bool:
    if gold is None or predicted is None:
        return gold is predicted
    return abs(predicted - gold) <= AFFECTED_TOLERANCE * abs(gold)


def _set_counts(gold: frozenset[str], predicted: frozenset[str]) -> tuple[int, int, int]:
    return len(gold & predicted), len(predicted - gold), len(gold - predicted)


def evaluate(
    items: Iterable[LabelledItem],
    extractor: Callable[[LabelledItem], Signals],
) -> tuple[dict[str, Any], list[Miss]]:
    """Scores overall (`all`) and per language, plus the list of misses."""
    tallies = {"all": Tally(), **{lang: Tally() for lang in LANGUAGES}}
    misses: list[Miss] = []
    for item in items:
        signals = extractor(item)
        cats = frozenset(c.value for c in signals.categories)
        places = frozenset(signals.oblasts)
        for key in ("all", item.lang):
            tally = tallies.get(key)
            if tally is None:
                continue
            tally.items += 1
            tally.categories.add(*_set_counts(item.categories, cats))
            for name, counts in tally.per_category.items():
                counts.add(
                    int(name in item.categories and name in cats),
                    int(name in cats and name not in item.categories),
                    int(name in item.categories and name not in cats),
                )
            tally.places.add(*_set_counts(item.places, places))
            tally.temps.add(*match_temperatures(item.temps_c, signals.temperatures_c))
            if item.affected is not None or signals.affected is not None:
                tally.affected_n += 1
                tally.affected_right += affected_right(item.affected, signals.affected)
            tally.language_right += signals.language == item.lang
        if cats != item.categories:
            misses.append(
                Miss(item.id, item.lang, "categories", sorted(item.categories), sorted(cats))
            )
        if places != item.places:
            misses.append(Miss(item.id, item.lang, "places", sorted(item.places), sorted(places)))
        _, fp, fn = match_temperatures(item.temps_c, signals.temperatures_c)
        if fp or fn:
            misses.append(
                Miss(
                    item.id, item.lang, "temps_c", list(item.temps_c), list(signals.temperatures_c)
                )
            )
        if (item.affected is not None or signals.affected is not None) and not affected_right(
            item.affected, signals.affected
        ):
            misses.append(Miss(item.id, item.lang, "affected", item.affected, signals.affected))
    return {key: tally.report() for key, tally in tallies.items()}, misses
