"""Plain data shared by every layer: sources, items and the facts extracted from them.

`rules/` and `bot/` import these; nothing here does I/O.

Place ids are hierarchical strings, so "is X inside Y" is a prefix test:
``UA`` (Ukraine) > ``UA63`` (oblast, OCHA admin-1) > ``UA6312`` (raion, admin-2)
> ``UA6312027`` (hromada, admin-3) > ``UA6312027001`` (settlement: the KATOTTG code cut
after its settlement digits). Kyiv city is ``UA80`` and Sevastopol ``UA85``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import IntEnum, StrEnum

COUNTRY = "UA"


class Category(StrEnum):
    """What an item reports; definitions in the README (from the labelling guide)."""

    POWER_OUTAGE = "power_outage"
    HEATING_OUTAGE = "heating_outage"
    WATER_OUTAGE = "water_outage"
    COLD = "cold"
    ENERGY_ATTACK = "energy_attack"
    RESTORATION = "restoration"


class Severity(IntEnum):
    """How bad the reported facts are; derived in one place (`feeds.severity`)."""

    NONE = 0
    LOW = 1
    MEDIUM = 2
    HIGH = 3
    CRITICAL = 4


@dataclass(frozen=True, slots=True)
class Source:
    """A feed we poll. `interval_seconds` overrides the global poll interval."""

    url: str
    name: str
    language: str | None = None
    interval_seconds: int | None = None


@dataclass(frozen=True, slots=True)
class CapInfo:
    """Common Alerting Protocol fields of a CAP-in-Atom entry (Meteoalarm style)."""

    event: str | None = None
    severity: str | None = None
    urgency: str | None = None
    certainty: str | None = None
    area_desc: str | None = None
    effective: datetime | None = None
    expires: datetime | None = None


@dataclass(frozen=True, slots=True)
class Item:
    """One normalised feed entry.

    `key` is stable for the same entry across polls of the same source (guid, else link,
    else a hash of title and summary). Text fields are plain text; `published` is aware UTC.
    """

    key: str
    title: str
    summary: str
    link: str | None
    published: datetime
    language: str | None = None
    source_url: str = ""
    source_name: str = ""
    cap: CapInfo | None = None

    @property
    def text(self) -> str:
        """Title and summary as one text, the unit the extractor reads."""
        return f"{self.title}\n{self.summary}" if self.summary else self.title


@dataclass(frozen=True, slots=True)
class PlaceMention:
    """A Ukrainian place found in a text.

    `place_id` is the most specific id found (see the module docstring); `oblast` is its
    admin-1 P-code (``UA`` when only the country is named); `name` the English name.
    """

    place_id: str
    oblast: str
    name: str
    surface: str = ""


@dataclass(frozen=True, slots=True)
class Signals:
    """The facts extracted from one item."""

    categories: frozenset[Category] = frozenset()
    temperatures_c: tuple[float, ...] = ()
    places: tuple[PlaceMention, ...] = ()
    affected: int | None = None
    # A vague amount ("thousands", "тисячі") is kept as a lower bound, never as a number.
    affected_lower_bound: int | None = None
    language: str = "en"
    severity: Severity = Severity.NONE
    notes: tuple[str, ...] = field(default=())

    @property
    def coldest_c(self) -> float | None:
        return min(self.temperatures_c) if self.temperatures_c else None

    @property
    def oblasts(self) -> frozenset[str]:
        return frozenset(p.oblast for p in self.places)

    @property
    def place_ids(self) -> frozenset[str]:
        return frozenset(p.place_id for p in self.places)


def place_within(place_id: str, area_id: str) -> bool:
    """True when `place_id` lies inside (or is) `area_id`; ids are hierarchical prefixes."""
    return place_id.startswith(area_id)


def place_ancestors(place_id: str) -> list[str]:
    """`place_id` and every area containing it, most specific first.

    >>> place_ancestors("UA6312027001")
    ['UA6312027001', 'UA6312027', 'UA6312', 'UA63', 'UA']
    """
    cuts = (12, 9, 6, 4, 2)
    return [place_id[:n] for n in cuts if n <= len(place_id)]
