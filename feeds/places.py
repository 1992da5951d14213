"""Find Ukrainian places in text. PLACEHOLDER: being written in this session (issue 3)."""

from __future__ import annotations

from feeds.models import PlaceMention


def find_places(text: str, *, language: str | None = None) -> tuple[PlaceMention, ...]:
    """Places (resolved to gazetteer ids) where the events of `text` happen."""
    return ()
