"""Turn an `Item` (or a title and text) into `Signals`: categories, temperatures, places,
people affected, language and severity.

Every matcher reads the same normalised text (`feeds.normalize`); place recognition is
`feeds.places.find_places`.
"""

from __future__ import annotations

from feeds.affected import find_affected
from feeds.categories import find_categories
from feeds.language import detect_language
from feeds.models import Category, Item, Signals
from feeds.normalize import normalize, split_glued_headlines
from feeds.places import find_places
from feeds.severity import OUTAGES, derive_severity
from feeds.temperatures import find_temperatures

# Beyond this many characters an item is not a news entry any more (a whole page pasted
# into a feed): the facts of interest are in the opening, and matching stays fast.
MAX_CHARS = 20_000


def extract(item: Item) -> Signals:
    """Extract the facts an item reports (its title and summary)."""
    return extract_text(item.title, item.summary, language=item.language)


def extract_text(title: str, text: str = "", *, language: str | None = None) -> Signals:
    """Extract facts from a raw title and text.

    `language` is a hint (a feed's declared language, e.g. `en-US`); the text decides when
    it clearly says otherwise.
    """
    raw = f"{title or ''}\n{text or ''}"[:MAX_CHARS]
    clean = normalize(raw)
    lang = detect_language(clean, hint=language)
    temperatures = find_temperatures(clean)
    categories = find_categories(split_glued_headlines(clean).lower(), temperatures=temperatures)
    amount = find_affected(clean) if categories & (OUTAGES | {Category.ENERGY_ATTACK}) else None
    affected = amount.count if amount else None
    lower_bound = amount.lower_bound if amount and affected is None else None
    places = find_places(clean, language=lang)
    severity = derive_severity(
        categories,
        coldest_c=min(temperatures) if temperatures else None,
        affected=affected,
        affected_lower_bound=lower_bound,
    )
    return Signals(
        categories=categories,
        temperatures_c=temperatures,
        places=places,
        affected=affected,
        affected_lower_bound=lower_bound,
        language=lang,
        severity=severity,
    )
