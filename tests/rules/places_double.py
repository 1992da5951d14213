"""A tiny `rules.places.PlaceDirectory` for unit tests: a handful of places, exact names only.

The real directory is `feeds.gazetteer.load_gazetteer()`; tests against it live beside these.
"""

from __future__ import annotations

import difflib

# id -> (English name, Ukrainian name, other accepted spellings and case forms)
PLACES: dict[str, tuple[str, str, tuple[str, ...]]] = {
    "UA": ("Ukraine", "Україна", ("україні", "вся україна")),
    "UA80": ("Kyiv", "Київ", ("києві", "kiev", "м. київ")),
    "UA32": ("Kyiv oblast", "Київська область", ("київщина", "київщині", "kyiv region")),
    "UA63": ("Kharkiv oblast", "Харківська область", ("харківщина", "харківщині")),
    "UA6312027001": ("Kharkiv", "Харків", ("харкові",)),
    "UA46": ("Lviv oblast", "Львівська область", ("львівщина", "львівщині")),
    "UA4606017001": ("Lviv", "Львів", ("львові",)),
    "UA51": ("Odesa oblast", "Одеська область", ("одещина", "одещині")),
    "UA5110137001": ("Odesa", "Одеса", ("одесі", "odessa")),
    "UA23": ("Zaporizhzhia oblast", "Запорізька область", ("запоріжжя область",)),
    "UA2310137001": ("Zaporizhzhia", "Запоріжжя", ("запоріжжі",)),
    "UA1408": ("Kramatorsk raion", "Краматорський район", ()),
    "UA1408013": ("Druzhkivka hromada", "Дружківська громада", ()),
}


class TinyPlaces:
    """Looks names up case-insensitively; suggests close English or Ukrainian names."""

    def __init__(self) -> None:
        self._ids: dict[str, str] = {}
        for place_id, (en, uk, others) in PLACES.items():
            for name in (en, uk, *others):
                self._ids[name.casefold()] = place_id

    def lookup(self, name: str) -> str | None:
        # Like the gazetteer: a known P-code is a name of its place; an unknown one is not.
        if name.upper() in PLACES:
            return name.upper()
        return self._ids.get(" ".join(name.split()).casefold())

    def suggest(self, name: str, limit: int = 3) -> list[str]:
        names = [en for en, _, _ in PLACES.values()] + [uk for _, uk, _ in PLACES.values()]
        by_fold = {n.casefold(): n for n in names}
        close = difflib.get_close_matches(name.casefold(), list(by_fold), n=limit, cutoff=0.7)
        return [by_fold[c] for c in close]

    def display_name(self, place_id: str, lang: str = "en") -> str:
        en, uk, _ = PLACES[place_id]
        return uk if lang == "uk" else en
