"""Plain data of the rules engine: a `Story` (one event told by one or more items)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from feeds.models import Category, Severity


@dataclass(frozen=True, slots=True)
class Story:
    """What the matcher sees of one event: the merged facts of all its items.

    `place_ids` holds the most specific place ids reported (see `feeds.models`), `sources`
    the names of the outlets that reported it, `text` the titles and summaries that keyword
    rules search.
    """

    id: str
    title: str
    first_published: datetime
    last_published: datetime
    categories: frozenset[Category] = frozenset()
    place_ids: frozenset[str] = frozenset()
    temperatures_c: tuple[float, ...] = ()
    affected: int | None = None
    severity: Severity = Severity.NONE
    sources: tuple[str, ...] = ()
    text: str = ""
    link: str | None = None
    resolved: bool = False
    # Added for story grouping (`rules.grouping`): how many items told it, what changed as
    # they arrived ("colder: -18 -> -21"), the headlines compared with newcomers, and when a
    # restoration resolved it. `rules.story_facts.story_to_dict` round-trips every field.
    item_count: int = 1
    changes: tuple[str, ...] = ()
    titles: tuple[str, ...] = ()
    resolved_at: datetime | None = None

    @property
    def coldest_c(self) -> float | None:
        return min(self.temperatures_c) if self.temperatures_c else None
