"""A story's merged facts: start one from an item, fold later items in (noting escalations and
resolution), compare places, and round-trip a `Story` to plain JSON-ready data."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from feeds.models import COUNTRY, Category, Item, Severity, Signals, place_within
from rules.models import Story
from rules.similarity import strip_publisher

# Bounds that keep a long-running story's record small.
MAX_TITLES = 20
MAX_CHANGES = 50
MAX_TEXT = 4000

# Categories a restoration can resolve: something was cut or hit.
RESOLVABLE = frozenset(
    {
        Category.POWER_OUTAGE,
        Category.HEATING_OUTAGE,
        Category.WATER_OUTAGE,
        Category.ENERGY_ATTACK,
    }
)


class StoryDataError(ValueError):
    """Stored story data that cannot be read back."""


@dataclass(frozen=True, slots=True)
class Merge:
    """The outcome of folding one item into a story."""

    story: Story
    changes: tuple[str, ...]
    escalated: bool
    resolved_now: bool


# --- places ------------------------------------------------------------------------------


def oblast_of(place_id: str) -> str:
    """The admin-1 id containing `place_id` (``UA`` for the country itself)."""
    return place_id[:4] if len(place_id) >= 4 else COUNTRY


def specific_places(place_ids: Iterable[str]) -> frozenset[str]:
    """The place ids finer than the whole country."""
    return frozenset(p for p in place_ids if p != COUNTRY)


def places_overlap(a: Iterable[str], b: Iterable[str]) -> bool:
    """True when some place of `a` lies inside, or contains, some place of `b`."""
    b_list = list(b)
    return any(place_within(x, y) or place_within(y, x) for x in a for y in b_list)


def places_conflict(a: Iterable[str], b: Iterable[str]) -> bool:
    """True when both name specific places and none of them overlap: two different events.

    Kyiv (``UA80``) and Kharkiv (``UA63``) conflict; Kharkiv oblast and Kharkiv city do not;
    a text naming only "Ukraine" (or no place) conflicts with nothing.
    """
    sa, sb = specific_places(a), specific_places(b)
    return bool(sa and sb) and not places_overlap(sa, sb)


def _merge_places(old: frozenset[str], new: Iterable[str]) -> frozenset[str]:
    merged = old | frozenset(new)
    # "Ukraine" adds nothing once a finer place is known.
    return merged - {COUNTRY} if specific_places(merged) else merged


# --- building and merging ----------------------------------------------------------------


def source_label(item: Item) -> str:
    """The outlet an item came from, as stories list it."""
    return item.source_name or item.source_url or "unknown"


def new_story(story_id: str, item: Item, signals: Signals) -> Story:
    """A story told so far by `item` alone."""
    title = strip_publisher(item.title, item.source_name or None)
    return Story(
        id=story_id,
        title=title or item.title,
        first_published=item.published,
        last_published=item.published,
        categories=signals.categories,
        place_ids=_merge_places(frozenset(), signals.place_ids),
        temperatures_c=tuple(dict.fromkeys(signals.temperatures_c)),
        affected=signals.affected,
        severity=signals.severity,
        sources=(source_label(item),),
        text=_append_text("", item),
        link=item.link,
        item_count=1,
        changes=(),
        titles=(title or item.title,),
    )


def merge_item(story: Story, item: Item, signals: Signals) -> Merge:
    """`story` with `item` folded in, and what that changed.

    Escalation: a colder temperature, more people affected, a new place, a new category (other
    than restoration) or a higher severity. Resolution: a restoration reported for the story's
    places (see `restoration_resolves`).
    """
    changes: list[str] = []
    escalated = False

    source = source_label(item)
    sources = story.sources
    if source not in sources:
        sources = (*sources, source)
        changes.append(f"new source: {source}")

    for category in sorted(signals.categories - story.categories - {Category.RESTORATION}):
        changes.append(f"new category: {category.value}")
        escalated = True

    for place in sorted(specific_places(signals.place_ids)):
        if not any(place_within(place, known) for known in story.place_ids):
            changes.append(f"new place: {place}")
            escalated = True

    coldest_before = story.coldest_c
    coldest_new = signals.coldest_c
    if coldest_new is not None and (coldest_before is None or coldest_new < coldest_before):
        if coldest_before is None:
            changes.append(f"temperature: {_num(coldest_new)}")
        else:
            changes.append(f"colder: {_num(coldest_before)} -> {_num(coldest_new)}")
        escalated = True

    affected = story.affected
    if signals.affected is not None and (affected is None or signals.affected > affected):
        if affected is None:
            changes.append(f"affected: {signals.affected}")
        else:
            changes.append(f"affected: {affected} -> {signals.affected}")
        affected = signals.affected
        escalated = True

    severity = story.severity
    if signals.severity > severity:
        changes.append(f"severity: {severity.name.lower()} -> {signals.severity.name.lower()}")
        severity = signals.severity
        escalated = True

    resolved_now = not story.resolved and restoration_resolves(story, signals)
    if resolved_now:
        changes.append("resolved")

    title = strip_publisher(item.title, item.source_name or None) or item.title
    titles = story.titles if title in story.titles else (*story.titles, title)[-MAX_TITLES:]
    merged = replace(
        story,
        first_published=min(story.first_published, item.published),
        last_published=max(story.last_published, item.published),
        categories=story.categories | signals.categories,
        place_ids=_merge_places(story.place_ids, signals.place_ids),
        temperatures_c=tuple(dict.fromkeys((*story.temperatures_c, *signals.temperatures_c))),
        affected=affected,
        severity=severity,
        sources=sources,
        text=_append_text(story.text, item),
        item_count=story.item_count + 1,
        changes=(*story.changes, *changes)[-MAX_CHANGES:],
        titles=titles,
        resolved=story.resolved or resolved_now,
        resolved_at=item.published if resolved_now else story.resolved_at,
    )
    return Merge(
        story=merged, changes=tuple(changes), escalated=escalated, resolved_now=resolved_now
    )


def restoration_resolves(story: Story, signals: Signals) -> bool:
    """True when `signals` report a restoration for the places of an outage or strike story.

    A story with specific places needs the restoration to name an overlapping place; a story
    with none is resolved by a restoration that joined it.
    """
    if Category.RESTORATION not in signals.categories:
        return False
    if not story.categories & RESOLVABLE:
        return False
    story_places = specific_places(story.place_ids)
    if not story_places:
        return True
    return places_overlap(story_places, specific_places(signals.place_ids))


def _append_text(text: str, item: Item) -> str:
    parts = [p for p in (item.title.strip(), item.summary.strip()) if p and p not in text]
    if not parts:
        return text
    joined = "\n".join([text, *parts]) if text else "\n".join(parts)
    return joined[:MAX_TEXT]


def _num(value: float) -> str:
    return f"{value:g}"


# --- plain data --------------------------------------------------------------------------


def story_to_dict(story: Story) -> dict[str, Any]:
    """JSON-ready data of every field of `story` (lists sorted where order carries nothing)."""
    return {
        "id": story.id,
        "title": story.title,
        "first_published": story.first_published.isoformat(),
        "last_published": story.last_published.isoformat(),
        "categories": sorted(c.value for c in story.categories),
        "place_ids": sorted(story.place_ids),
        "temperatures_c": list(story.temperatures_c),
        "affected": story.affected,
        "severity": story.severity.name.lower(),
        "sources": list(story.sources),
        "text": story.text,
        "link": story.link,
        "resolved": story.resolved,
        "item_count": story.item_count,
        "changes": list(story.changes),
        "titles": list(story.titles),
        "resolved_at": None if story.resolved_at is None else story.resolved_at.isoformat(),
    }


def story_from_dict(data: Mapping[str, Any]) -> Story:
    """The story `story_to_dict` described. Raises `StoryDataError` on malformed data."""
    try:
        resolved_at = data.get("resolved_at")
        affected = data.get("affected")
        return Story(
            id=str(data["id"]),
            title=str(data["title"]),
            first_published=datetime.fromisoformat(data["first_published"]),
            last_published=datetime.fromisoformat(data["last_published"]),
            categories=frozenset(Category(c) for c in data.get("categories", ())),
            place_ids=frozenset(str(p) for p in data.get("place_ids", ())),
            temperatures_c=tuple(float(t) for t in data.get("temperatures_c", ())),
            affected=None if affected is None else int(affected),
            severity=Severity[str(data.get("severity", "none")).upper()],
            sources=tuple(str(s) for s in data.get("sources", ())),
            text=str(data.get("text", "")),
            link=None if data.get("link") is None else str(data["link"]),
            resolved=bool(data.get("resolved", False)),
            item_count=int(data.get("item_count", 1)),
            changes=tuple(str(c) for c in data.get("changes", ())),
            titles=tuple(str(t) for t in data.get("titles", ())),
            resolved_at=None if resolved_at is None else datetime.fromisoformat(resolved_at),
        )
    except (KeyError, ValueError, TypeError, AttributeError) as exc:
        raise StoryDataError(f"not a stored story: {exc}") from exc
