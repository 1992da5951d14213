"""A subscriber's `Rule`: which stories they want to hear about, and how it is delivered.

`Rule.matches` is the plain, obviously-correct check; `rules.index.RuleIndex` must agree with it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache
from typing import Any

from feeds.models import Category, Severity, place_within
from rules.keywords import contains_keyword, fold
from rules.models import Story
from rules.places import PlaceDirectory


class Delivery(StrEnum):
    INSTANT = "instant"
    DIGEST = "digest"
    BOTH = "both"


class RuleDataError(ValueError):
    """A stored rule (JSON) that cannot be read back."""


def story_text(story: Story) -> str:
    """The text keyword conditions search: the story's title and its text."""
    return f"{story.title}\n{story.text}" if story.text else story.title


@dataclass(frozen=True, slots=True)
class Rule:
    """What a subscriber wants; every condition given must hold (empty means "any").

    - categories: the story reports at least one of them;
    - places: a story place lies inside one of them (an oblast covers its cities, ``UA`` all);
    - max_temp_c / min_temp_c: the coldest temperature reported is <= / >= the threshold;
    - min_affected, min_severity: at least this many people / this severity;
    - keywords: every one occurs as whole words; exclude_keywords: none does;
    - sources: reported by at least one of these outlets (names, case-insensitive);
    - exclude_sources: skip a story only when every outlet that reported it is excluded.
    """

    categories: frozenset[Category] = frozenset()
    places: frozenset[str] = frozenset()
    max_temp_c: float | None = None
    min_temp_c: float | None = None
    min_affected: int | None = None
    min_severity: Severity | None = None
    keywords: tuple[str, ...] = ()
    exclude_keywords: tuple[str, ...] = ()
    sources: frozenset[str] = frozenset()
    exclude_sources: frozenset[str] = frozenset()
    delivery: Delivery = Delivery.INSTANT

    def matches(self, story: Story) -> bool:
        """True when `story` satisfies every condition of this rule (cheap checks first)."""
        return self.matches_where(story) and self.matches_facts(story)

    def matches_where(self, story: Story) -> bool:
        """The category and place conditions alone."""
        if self.categories and not (self.categories & story.categories):
            return False
        return not self.places or any(
            place_within(p, area) for p in story.place_ids for area in self.places
        )

    def matches_facts(self, story: Story) -> bool:
        """Every condition but category and place: thresholds, outlets, keywords."""
        if self.max_temp_c is not None or self.min_temp_c is not None:
            coldest = story.coldest_c
            if coldest is None:
                return False
            if self.max_temp_c is not None and coldest > self.max_temp_c:
                return False
            if self.min_temp_c is not None and coldest < self.min_temp_c:
                return False
        if self.min_affected is not None and (
            story.affected is None or story.affected < self.min_affected
        ):
            return False
        if self.min_severity is not None and story.severity < self.min_severity:
            return False
        if self.sources:
            wanted = _folded(self.sources)
            if not any(fold(s) in wanted for s in story.sources):
                return False
        if self.exclude_sources and story.sources:
            unwanted = _folded(self.exclude_sources)
            if all(fold(s) in unwanted for s in story.sources):
                return False
        if self.keywords or self.exclude_keywords:
            text = story_text(story)
            if not all(contains_keyword(text, k) for k in self.keywords):
                return False
            if any(contains_keyword(text, k) for k in self.exclude_keywords):
                return False
        return True

    def explain(
        self, story: Story, *, places: PlaceDirectory | None = None
    ) -> list[tuple[str, bool]]:
        """Each condition of this rule, described in English, and whether `story` meets it.

        The story matches exactly when every condition listed holds (tests check this).
        With `places`, place ids are shown with their names.
        """
        results: list[tuple[str, bool]] = []

        def named(ids: Iterable[str]) -> str:
            if places is None:
                return ", ".join(sorted(ids)) or "none"
            return ", ".join(f"{places.display_name(i)} ({i})" for i in sorted(ids)) or "none"

        def check(description: str, held: bool) -> None:
            results.append((description, held))

        if self.categories:
            wanted = ", ".join(sorted(c.value for c in self.categories))
            got = ", ".join(sorted(c.value for c in story.categories)) or "none"
            check(f"category {wanted} (story: {got})", bool(self.categories & story.categories))
        if self.places:
            wanted, got = named(self.places), named(story.place_ids)
            held = any(place_within(p, area) for p in story.place_ids for area in self.places)
            check(f"place within {wanted} (story: {got})", held)
        coldest = story.coldest_c
        if self.max_temp_c is not None:
            held = coldest is not None and coldest <= self.max_temp_c
            check(f"coldest <= {self.max_temp_c:g} °C (story: {_show(coldest)})", held)
        if self.min_temp_c is not None:
            held = coldest is not None and coldest >= self.min_temp_c
            check(f"coldest >= {self.min_temp_c:g} °C (story: {_show(coldest)})", held)
        if self.min_affected is not None:
            held = story.affected is not None and story.affected >= self.min_affected
            description = f"affected >= {self.min_affected} (story: {_show(story.affected)})"
            check(description, held)
        if self.min_severity is not None:
            held = story.severity >= self.min_severity
            description = (
                f"severity >= {self.min_severity.name.lower()} "
                f"(story: {story.severity.name.lower()})"
            )
            check(description, held)
        if self.sources:
            wanted_sources = {fold(s) for s in self.sources}
            held = any(fold(s) in wanted_sources for s in story.sources)
            description = f"from {', '.join(sorted(self.sources))} (story: {_sources(story)})"
            check(description, held)
        if self.exclude_sources:
            unwanted = {fold(s) for s in self.exclude_sources}
            held = not story.sources or any(fold(s) not in unwanted for s in story.sources)
            description = (
                f"not only from {', '.join(sorted(self.exclude_sources))} "
                f"(story: {_sources(story)})"
            )
            check(description, held)
        if self.keywords or self.exclude_keywords:
            text = story_text(story)
            for keyword in self.keywords:
                check(f'mentions "{keyword}"', contains_keyword(text, keyword))
            for keyword in self.exclude_keywords:
                check(f'does not mention "{keyword}"', not contains_keyword(text, keyword))
        return results

    def to_json(self) -> dict[str, Any]:
        """Plain JSON-ready data (what storage keeps next to the rule's text); sorted, stable."""
        data: dict[str, Any] = {
            "categories": sorted(c.value for c in self.categories),
            "places": sorted(self.places),
            "max_temp_c": self.max_temp_c,
            "min_temp_c": self.min_temp_c,
            "min_affected": self.min_affected,
            "min_severity": None if self.min_severity is None else self.min_severity.name.lower(),
            "keywords": list(self.keywords),
            "exclude_keywords": list(self.exclude_keywords),
            "sources": sorted(self.sources),
            "exclude_sources": sorted(self.exclude_sources),
            "delivery": self.delivery.value,
        }
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Rule:
        """The rule `to_json` described; missing keys take their defaults.

        Raises `RuleDataError` when a value is of the wrong kind.
        """
        try:
            severity = data.get("min_severity")
            return cls(
                categories=frozenset(Category(c) for c in data.get("categories", ())),
                places=frozenset(str(p) for p in data.get("places", ())),
                max_temp_c=_optional_float(data.get("max_temp_c")),
                min_temp_c=_optional_float(data.get("min_temp_c")),
                min_affected=None
                if data.get("min_affected") is None
                else int(data["min_affected"]),
                min_severity=None if severity is None else Severity[str(severity).upper()],
                keywords=tuple(str(k) for k in data.get("keywords", ())),
                exclude_keywords=tuple(str(k) for k in data.get("exclude_keywords", ())),
                sources=frozenset(str(s) for s in data.get("sources", ())),
                exclude_sources=frozenset(str(s) for s in data.get("exclude_sources", ())),
                delivery=Delivery(data.get("delivery", Delivery.INSTANT.value)),
            )
        except (KeyError, ValueError, TypeError, AttributeError) as exc:
            raise RuleDataError(f"not a stored rule: {exc}") from exc


@lru_cache(maxsize=4096)
def _folded(names: frozenset[str]) -> frozenset[str]:
    return frozenset(fold(name) for name in names)


def _optional_float(value: Any) -> float | None:
    return None if value is None else float(value)


def _show(value: float | int | None) -> str:
    if value is None:
        return "none"
    return f"{value:g}" if isinstance(value, float) else str(value)


def _sources(story: Story) -> str:
    return ", ".join(story.sources) or "none"
