"""The day's digest as plain data: matched stories grouped by place and category, with counts,
the extremes reported, the most-reported stories first, and what was resolved.

Rendering (text, languages) belongs to the bot.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from feeds.models import COUNTRY, Category
from rules.models import Story
from rules.story_facts import oblast_of, specific_places


class StoryMatcher(Protocol):
    """Anything that decides whether a story is wanted (`rules.rule.Rule` is one)."""

    def matches(self, story: Story) -> bool: ...


@dataclass(frozen=True, slots=True)
class DigestSection:
    """The stories of one oblast (``UA``: country-wide or no place named) and one category
    (None: the story reports no category), most-reported first."""

    place_id: str
    category: Category | None
    stories: tuple[Story, ...]
    coldest_c: float | None
    max_affected: int | None

    @property
    def count(self) -> int:
        return len(self.stories)


@dataclass(frozen=True, slots=True)
class Digest:
    """What happened in [since, until) among the stories the rules wanted.

    `sections` hold the stories still open (a story with several oblasts or categories appears
    in each of its sections); `stories` every matched open story once, most-reported first;
    `resolved` the matched stories that a restoration resolved.
    """

    since: datetime
    until: datetime
    sections: tuple[DigestSection, ...]
    stories: tuple[Story, ...]
    resolved: tuple[Story, ...]

    @property
    def is_empty(self) -> bool:
        return not self.stories and not self.resolved

    @property
    def story_count(self) -> int:
        return len(self.stories) + len(self.resolved)

    @property
    def coldest_c(self) -> float | None:
        return _coldest(self.stories)

    @property
    def max_affected(self) -> int | None:
        return _max_affected(self.stories)


def compose_digest(
    stories: Iterable[Story],
    rules: Iterable[StoryMatcher],
    since: datetime,
    until: datetime,
) -> Digest:
    """The digest of the `stories` active in [since, until) that match any of `rules`.

    A story is active in the period when it spans part of it: first published before `until`
    and last published at or after `since`. Sections are ordered by how many stories they hold,
    then by place and category; stories by number of sources, then the latest first.
    """
    wanted = list(rules)
    chosen: dict[str, Story] = {}
    for story in stories:
        if story.first_published >= until or story.last_published < since:
            continue
        if story.id in chosen or not any(rule.matches(story) for rule in wanted):
            continue
        chosen[story.id] = story

    ranked = sorted(chosen.values(), key=_rank)
    open_stories = tuple(s for s in ranked if not s.resolved)
    resolved = tuple(s for s in ranked if s.resolved)

    buckets: dict[tuple[str, Category | None], list[Story]] = {}
    for story in open_stories:
        for key in _section_keys(story):
            buckets.setdefault(key, []).append(story)
    sections = [
        DigestSection(
            place_id=place,
            category=category,
            stories=tuple(members),
            coldest_c=_coldest(members),
            max_affected=_max_affected(members),
        )
        for (place, category), members in buckets.items()
    ]
    sections.sort(key=lambda s: (-s.count, s.place_id, s.category.value if s.category else "~"))
    return Digest(
        since=since,
        until=until,
        sections=tuple(sections),
        stories=open_stories,
        resolved=resolved,
    )


def _section_keys(story: Story) -> list[tuple[str, Category | None]]:
    oblasts = sorted({oblast_of(p) for p in specific_places(story.place_ids)}) or [COUNTRY]
    # A restoration that resolved a story is reported in `Digest.resolved`; here it only
    # names a section when it is all the story reports.
    named = sorted(story.categories - {Category.RESTORATION})
    categories: list[Category | None] = list(named)
    if not categories:
        categories = [Category.RESTORATION] if story.categories else [None]
    return [(oblast, category) for oblast in oblasts for category in categories]


def _rank(story: Story) -> tuple[int, float, str]:
    return (-len(story.sources), -story.last_published.timestamp(), story.id)


def _coldest(stories: Iterable[Story]) -> float | None:
    readings = [s.coldest_c for s in stories if s.coldest_c is not None]
    return min(readings) if readings else None


def _max_affected(stories: Iterable[Story]) -> int | None:
    counts = [s.affected for s in stories if s.affected is not None]
    return max(counts) if counts else None
