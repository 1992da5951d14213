"""The list of feeds to poll: the bundled default catalogue, or a TOML file that replaces it.

Every `[[source]]` entry is checked, and a mistake is reported with the file and entry number.
"""

from __future__ import annotations

import tomllib
from importlib import resources
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from feeds.models import Source
from feeds.parse import normalise_language

DEFAULT_CATALOGUE = "data/sources.toml"
_KEYS = frozenset({"url", "name", "language", "interval_seconds"})
_MIN_INTERVAL_SECONDS = 30  # anything faster is impolite to a news site


class CatalogueError(ValueError):
    """A catalogue file is missing, is not TOML, or has an invalid entry."""


def load_catalogue(path: Path | None = None) -> list[Source]:
    """Sources from `path` (the FEEDS_FILE setting), or the bundled default when None."""
    if path is None:
        where = f"default catalogue feeds/{DEFAULT_CATALOGUE}"
        try:
            text = resources.files("feeds").joinpath(DEFAULT_CATALOGUE).read_text("utf-8")
        except OSError as exc:  # a broken install, not a user mistake, but say it plainly
            raise CatalogueError(f"{where}: cannot be read: {exc}") from exc
    else:
        where = str(path)
        try:
            text = Path(path).read_text(encoding="utf-8")
        except FileNotFoundError as exc:
            raise CatalogueError(f"{where}: file not found") from exc
        except UnicodeDecodeError as exc:
            raise CatalogueError(f"{where}: not UTF-8 text ({exc.reason})") from exc
        except OSError as exc:
            raise CatalogueError(f"{where}: cannot be read: {exc.strerror or exc}") from exc
    return parse_catalogue(text, where=where)


def parse_catalogue(text: str, *, where: str = "catalogue") -> list[Source]:
    """Sources from TOML text; `where` names the file in error messages."""
    try:
        doc = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise CatalogueError(f"{where}: not valid TOML: {exc}") from exc
    unknown_tables = sorted(set(doc) - {"source"})
    if unknown_tables:
        raise CatalogueError(
            f"{where}: unexpected top-level key(s) {', '.join(unknown_tables)}; "
            "each feed is a [[source]] table"
        )
    entries = doc.get("source")
    if not isinstance(entries, list) or not entries:
        raise CatalogueError(f"{where}: no [[source]] entries found")

    sources: list[Source] = []
    seen: dict[str, int] = {}
    for number, entry in enumerate(entries, start=1):
        source = _source(entry, where=f"{where}: source #{number}")
        first = seen.setdefault(source.url, number)
        if first != number:
            raise CatalogueError(
                f"{where}: source #{number}: url {source.url} repeats source #{first}"
            )
        sources.append(source)
    return sources


def _source(entry: Any, *, where: str) -> Source:
    if not isinstance(entry, dict):
        raise CatalogueError(f"{where}: must be a table with url and name")
    unknown = sorted(set(entry) - _KEYS)
    if unknown:
        raise CatalogueError(
            f"{where}: unknown key(s) {', '.join(unknown)} (allowed: {', '.join(sorted(_KEYS))})"
        )

    url = entry.get("url")
    if not isinstance(url, str) or not url.strip():
        raise CatalogueError(f"{where}: 'url' is required and must be a string")
    url = url.strip()
    try:
        parts = urlsplit(url)
    except ValueError as exc:
        raise CatalogueError(f"{where}: 'url' {url!r} is not a valid URL ({exc})") from exc
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise CatalogueError(f"{where}: 'url' {url!r} must be an http(s) URL with a host")

    name = entry.get("name")
    if not isinstance(name, str) or not name.strip():
        raise CatalogueError(f"{where} ({url}): 'name' is required and must be a string")

    language = entry.get("language")
    if language is not None:
        code = normalise_language(language)
        if code is None:
            raise CatalogueError(
                f"{where} ({url}): 'language' {language!r} is not a language code like 'uk'"
            )
        language = code

    interval = entry.get("interval_seconds")
    if interval is not None and (
        isinstance(interval, bool)
        or not isinstance(interval, int)
        or interval < _MIN_INTERVAL_SECONDS
    ):
        raise CatalogueError(
            f"{where} ({url}): 'interval_seconds' must be a whole number of seconds "
            f">= {_MIN_INTERVAL_SECONDS}, got {interval!r}"
        )

    return Source(url=url, name=name.strip(), language=language, interval_seconds=interval)
