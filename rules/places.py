"""What the rules engine needs to know of places, as a protocol.

`rules/` stays pure and does not load the gazetteer itself: the bot passes in
`feeds.gazetteer.Gazetteer`, which satisfies this protocol; tests may pass the same.
"""

from __future__ import annotations

from typing import Protocol


class PlaceDirectory(Protocol):
    def lookup(self, name: str) -> str | None:
        """The place id for a name typed by a person (any language, spelling or case form).

        "Kyiv" -> "UA80", "Kharkiv oblast" / "Харківщина" -> "UA63", "Ukraine" -> "UA".
        """
        ...

    def suggest(self, name: str, limit: int = 3) -> list[str]:
        """Display names close to a misspelt `name`, best first ("Kiyv" -> ["Kyiv"])."""
        ...

    def display_name(self, place_id: str, lang: str = "en") -> str:
        """A name for `place_id` that `lookup` resolves back to the same id."""
        ...
