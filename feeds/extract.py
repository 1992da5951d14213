"""Turn an `Item` into `Signals`. PLACEHOLDER: being written in this session (issue 3)."""

from __future__ import annotations

from feeds.models import Item, Signals


def extract(item: Item) -> Signals:
    """Extract the facts an item reports."""
    return Signals(language=item.language or "en")


def extract_text(title: str, text: str = "", *, language: str | None = None) -> Signals:
    """Extract facts from raw title and text (used by the evaluation)."""
    return Signals(language=language or "en")
