"""The Ukrainian gazetteer: places, their names in three languages, and name lookup.

Loads the frozen `data/gazetteer.json.gz` (built by `scripts/build_gazetteer.py`) lazily, once.
"""

from __future__ import annotations

import bisect
import gzip
import json
import math
import re
from dataclasses import dataclass
from functools import cache, cached_property
from pathlib import Path
from typing import Any

import ahocorasick

DATA_PATH = Path(__file__).parent / "data" / "gazetteer.json.gz"

LEVELS = ("country", "oblast", "raion", "hromada", "city", "town")
# Which place wins when a typed name fits several: bigger and better-known first.
_LEVEL_RANK = {"country": 0, "oblast": 1, "city": 2, "raion": 3, "hromada": 4, "town": 5}

# Same-length normalisation, so offsets in the normalised text are offsets in the original.
_NORMALISE = (("’", "'"), ("ʼ", "'"), ("`", "'"), ("‘", "'"), ("ё", "е"), ("‐", "-"),
              ("‑", "-"), ("‒", "-"), ("\u00a0", " "))  # fmt: skip

_OBLAST_NOUNS = re.compile(
    r"\s+(?:область|області|областю|обл\.?|oblast|region|province|область|области|регіон|регион)$"
)
_RAION_NOUNS = re.compile(r"\s+(?:район|районі|raion|district|р-н)$")
_HROMADA_NOUNS = re.compile(r"\s+(?:громада|громади|hromada|community|тг|отг)$")
_LEVEL_WORDS = {"city": "city", "town": "town", "місто": "city", "селище": "town",
                "город": "city", "посёлок": "town", "поселок": "town"}  # fmt: skip
_LEVEL_LABELS = {"en": {"city": "city", "town": "town"}, "uk": {"city": "місто", "town": "селище"},
                 "ru": {"city": "город", "town": "посёлок"}}  # fmt: skip
_QUALIFIER = re.compile(r"^(.*?)\s*\((.+)\)$")

# Ukraine's extreme points (Crimea's Cape Sarych to Chernihiv oblast's north, Chop to Luhansk
# oblast's east) with about 30 km to spare: a cheap first refusal for points abroad.
_UKRAINE_BOX = (44.1, 52.7, 21.7, 40.6)  # south, north, west, east
_KM_PER_DEGREE = 6371.0088 * math.pi / 180


def normalise(text: str) -> str:
    """Lower-case `text` and unify apostrophes and dashes, keeping every offset."""
    low = text.lower()
    if len(low) != len(text):  # a few letters (e.g. "İ") lower-case to two characters
        low = "".join(c.lower()[:1] for c in text)
    # str.replace per character is several times faster than str.translate with a dict.
    for old, new in _NORMALISE:
        if old in low:
            low = low.replace(old, new)
    return low


@dataclass(frozen=True, slots=True)
class Place:
    """One administrative unit or settlement; `oblast` is its admin-1 id (``UA`` for Ukraine)."""

    id: str
    level: str
    oblast: str
    name_en: str
    name_uk: str
    name_ru: str | None


# One pattern entry: (place id, kind); kinds are described in scripts/build_gazetteer.py.
Entry = tuple[str, str]


class Gazetteer:
    """Every place and every surface form of its names, with lookup for names typed by people."""

    def __init__(self, data: dict[str, Any]) -> None:
        self._places: dict[str, Place] = {
            row[0]: Place(row[0], row[1], row[2], row[3], row[4], row[5]) for row in data["places"]
        }
        # 75,000 entries name 4,400 places, and many surface forms share their entries: one
        # string per id, one tuple per (id, kind) and per entry list (a third of the memory).
        ids = {pid: pid for pid in self._places}
        shared: dict[Any, Any] = {}

        def one(value: Any) -> Any:
            return shared.setdefault(value, value)

        self.patterns: dict[str, tuple[Entry, ...]] = {
            surface: one(tuple(one((ids.get(pid, pid), kind)) for pid, kind in entries))
            for surface, entries in data["patterns"].items()
        }
        self.centres: frozenset[str] = frozenset(data["centres"])
        self.centre_of: dict[str, str] = {
            ("UA32" if c == "UA80" else c[:4]): c for c in self.centres
        }
        # Kept raw: `nearest` is for /start only, so the sorted index is built on first use.
        self._centroid_rows: list[list[Any]] = data.get("centroids", [])
        self._cores: list[list[Any]] = data.get("cores", [])

    # -- reading -------------------------------------------------------------------------

    def get(self, place_id: str) -> Place | None:
        return self._places.get(place_id)

    def oblasts(self) -> list[Place]:
        """The 24 oblasts, Crimea, Kyiv city and Sevastopol, by English name."""
        first = [p for p in self._places.values() if len(p.id) == 4]
        return sorted(first, key=lambda p: p.name_en)

    @cached_property
    def automaton(self) -> ahocorasick.Automaton:
        """Aho-Corasick automaton over every surface form; the value is the surface form
        itself (the key of `patterns`, so no second copy): its length and its entries."""
        auto = ahocorasick.Automaton()
        for surface in self.patterns:
            auto.add_word(surface, surface)
        auto.make_automaton()
        return auto

    # -- names typed by people -------------------------------------------------------------

    def lookup(self, name: str) -> str | None:
        """The place id for a name typed by a person, or None when unknown or ambiguous."""
        ids = self._candidates(name)
        return ids[0] if len(ids) == 1 else None

    def _candidates(self, name: str) -> list[str]:
        return self._best(self._all_candidates(name))

    def _all_candidates(self, name: str) -> list[str]:
        """Every place `name` may mean (a qualifier in brackets narrows it down)."""
        text = " ".join(normalise(name).split()).strip(" .,;:!?\"'«»")
        if not text:
            return []
        if re.fullmatch(r"ua\d*", text) and text.upper() in self._places:
            return [text.upper()]
        qualified = _QUALIFIER.match(text)
        if qualified:
            base = self._all_candidates(qualified.group(1))
            for part in qualified.group(2).split(","):
                level = _LEVEL_WORDS.get(part.strip())
                if level:
                    base = [b for b in base if b in self._places and self._places[b].level == level]
                    continue
                areas = self._candidates(part)
                if len(areas) == 1:
                    base = [b for b in base if b.startswith(areas[0])]
            return base
        for noun_re, kinds in ((_OBLAST_NOUNS, "AO"), (_RAION_NOUNS, "R"), (_HROMADA_NOUNS, "H")):
            stripped = noun_re.sub("", text)
            if stripped != text and stripped in self.patterns:
                ids = [pid for pid, kind in self.patterns[stripped] if kind in kinds]
                if kinds == "AO":
                    ids = ["UA32" if pid == "UA80" else pid for pid in ids]
                    ids = [pid[:4] for pid in ids]
                if ids:
                    return list(dict.fromkeys(ids))
        entries = self.patterns.get(text, ())
        ids = [pid for pid, kind in entries if kind in "UOFNnpLA" and pid]
        if not ids:
            ids = [pid for pid, kind in entries if kind in "RH" and pid]
        return list(dict.fromkeys(ids))

    def _best(self, ids: list[str]) -> list[str]:
        """Keep the most prominent of several candidates; ties stay ambiguous."""
        if len(ids) <= 1:
            return ids

        def rank(pid: str) -> tuple[int, int]:
            place = self._places.get(pid)
            level = _LEVEL_RANK.get(place.level, 9) if place else 9
            return (0 if pid in self.centres else 1, level)

        ranked = sorted(ids, key=rank)
        top = rank(ranked[0])
        return [pid for pid in ranked if rank(pid) == top]

    def suggest(self, name: str, limit: int = 3) -> list[str]:
        """Display names close to a misspelt `name`, best first ("Kiyv" -> ["Kyiv"])."""
        from rapidfuzz import fuzz, process

        query = " ".join(normalise(name).split())
        if not query:
            return []
        index = self._suggestion_index
        found = process.extract(
            query, list(index), scorer=fuzz.ratio, limit=limit * 8, score_cutoff=60
        )
        # Equal scores: the better-known place first (oblast, city, then smaller units).
        found.sort(key=lambda hit: (-round(hit[1]), index[hit[0]][0]))
        out: list[str] = []
        for variant, _score, _ in found:
            display = index[variant][1]
            if display not in out:
                out.append(display)
            if len(out) == limit:
                break
        return out

    @cached_property
    def _suggestion_index(self) -> dict[str, tuple[int, str]]:
        """Variant (names and spellings in three languages) -> (rank, English display name)."""
        index: dict[str, tuple[int, str]] = {}
        by_id: dict[str, list[str]] = {}
        for surface, entries in self.patterns.items():
            ids = {pid for pid, kind in entries if kind in "NOFU"}
            if len(ids) == 1:
                by_id.setdefault(ids.pop(), []).append(surface)
        ranked = sorted(self._places.values(), key=lambda p: _LEVEL_RANK.get(p.level, 9))
        for place in ranked:
            rank = 0 if place.id in self.centres else _LEVEL_RANK.get(place.level, 9) + 1
            display = self.display_name(place.id)
            names = [place.name_en, place.name_uk, place.name_ru, display]
            for variant in [*names, *by_id.get(place.id, [])]:
                if variant and variant.lower() not in index:
                    index[variant.lower()] = (rank, display)
        return index

    def display_name(self, place_id: str, lang: str = "en") -> str:
        """A name for `place_id` that `lookup` resolves back to the same id."""
        place = self._places.get(place_id)
        if place is None:
            return place_id
        base = self._plain_name(place, lang)
        if self._candidates(base) == [place_id]:
            return base
        qualifiers: list[str] = []
        for cut in (4, 6, 9):
            if len(place_id) <= cut:
                break
            area = self._places.get(place_id[:cut])
            if area is None:
                continue
            qualifiers.insert(0, self._plain_name(area, lang))
            name = f"{base} ({', '.join(qualifiers)})"
            if self._candidates(name) == [place_id]:
                return name
        label = _LEVEL_LABELS.get(lang, _LEVEL_LABELS["en"]).get(place.level)
        if label:  # a town and a city of one name in one hromada
            name = f"{base} ({label}, {', '.join(qualifiers)})"
            if self._candidates(name) == [place_id]:
                return name
        return place_id

    # -- shared locations ------------------------------------------------------------------

    def nearest(self, lat: float, lon: float, *, max_km: float = 60.0) -> Place | None:
        """The hromada (or Kyiv, Sevastopol) whose centroid is nearest to (`lat`, `lon`).

        None when the point is outside Ukraine's bounding box or farther than `max_km` from
        every hromada centroid (abroad, or out at sea), and for NaN or infinite coordinates.
        Near a border a point just abroad still gets the nearest Ukrainian hromada.
        """
        south, north, west, east = _UKRAINE_BOX
        if not (south <= lat <= north and west <= lon <= east):  # also refuses NaN
            return None
        scale = math.cos(math.radians(lat))
        for place_id, core_lat, core_lon, radius_km in self._cores:
            if _km(lat - core_lat, (lon - core_lon) * scale) <= radius_km:
                return self._places.get(place_id)
        lats, lons, ids = self._centroid_index
        # A centroid within max_km lies within this band of latitudes: look no further.
        band = max_km / _KM_PER_DEGREE
        best_id, best_km = None, max_km
        for i in range(bisect.bisect_left(lats, lat - band), bisect.bisect_right(lats, lat + band)):
            km = _km(lat - lats[i], (lon - lons[i]) * scale)
            if km <= best_km:
                best_id, best_km = ids[i], km
        return self._places.get(best_id) if best_id is not None else None

    @cached_property
    def _centroid_index(self) -> tuple[list[float], list[float], list[str]]:
        """Centroid latitudes (sorted), longitudes and place ids, as parallel lists."""
        rows = sorted(self._centroid_rows, key=lambda row: (row[1], row[2], row[0]))
        return [r[1] for r in rows], [r[2] for r in rows], [r[0] for r in rows]

    @staticmethod
    def _plain_name(place: Place, lang: str) -> str:
        if lang == "uk":
            suffix = {"raion": " район", "hromada": " громада"}.get(place.level, "")
            return place.name_uk + suffix
        if lang == "ru" and place.name_ru:
            suffix = {"raion": " район", "hromada": " громада"}.get(place.level, "")
            return place.name_ru + suffix
        suffix = {"raion": " raion", "hromada": " hromada"}.get(place.level, "")
        return place.name_en + suffix


def _km(dlat: float, dlon_scaled: float) -> float:
    """Equirectangular distance in km for degree differences (longitude already cos-scaled)."""
    return math.hypot(dlat, dlon_scaled) * _KM_PER_DEGREE


@cache
def load_gazetteer(path: Path = DATA_PATH) -> Gazetteer:
    """The gazetteer shipped in the package, loaded once."""
    with gzip.open(path, "rb") as fh:
        data = json.loads(fh.read().decode("utf-8"))
    return Gazetteer(data)
