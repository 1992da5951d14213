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

    @property
    def coldest_c(self) -> float | None:
        return min(self.temperatures_c) if self.temperatures_c else None
