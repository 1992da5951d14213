"""A shared location -> the Ukrainian hromada whose centroid is nearest, and its oblast.

Centroids, not boundaries: near a border the neighbouring hromada may win, which is close
enough for choosing an oblast to watch. Points far from every centroid are outside Ukraine.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from functools import cache
from importlib import resources

# Hromadas are at most ~30 km apart; a point this far (in degrees) from all of them is abroad.
_MAX_DISTANCE_DEG = 0.45
# Kyiv and Sevastopol appear as their raion codes; these are their gazetteer ids.
_CITY_CODES = {"UA8000": "UA80", "UA8500": "UA85"}


@dataclass(frozen=True, slots=True)
class Located:
    """The hromada nearest a point (a gazetteer id) and the oblast-level area it lies in."""

    hromada_id: str
    oblast_id: str


@cache
def _centroids() -> tuple[tuple[str, float, float], ...]:
    text = (
        resources.files("bot.handlers")
        .joinpath("data/hromada_centroids.csv")
        .read_text(encoding="utf-8")
    )
    rows = []
    for line in text.splitlines():
        if not line or line.startswith("#"):
            continue
        code, lat, lon = line.split(",")
        rows.append((code, float(lat), float(lon)))
    return tuple(rows)


def locate(latitude: float, longitude: float) -> Located | None:
    """The nearest hromada and its oblast (Kyiv city is `UA80`), None outside Ukraine."""
    if not (math.isfinite(latitude) and math.isfinite(longitude)):
        return None
    # A degree of longitude is shorter than one of latitude at Ukraine's ~49° N.
    squeeze = math.cos(math.radians(latitude))
    best, best_d = "", math.inf
    for code, lat, lon in _centroids():
        d = (lat - latitude) ** 2 + ((lon - longitude) * squeeze) ** 2
        if d < best_d:
            best, best_d = code, d
    if not best or math.sqrt(best_d) > _MAX_DISTANCE_DEG:
        return None
    if best in _CITY_CODES:
        city = _CITY_CODES[best]
        return Located(hromada_id=city, oblast_id=city)
    return Located(hromada_id=best, oblast_id=best[:4])
