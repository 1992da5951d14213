"""Turn a fetched feed body into normalised `Item`s (RSS, Atom, JSON Feed, CAP-in-Atom).

`parse_feed` never raises: whatever feedparser recovers is used and problems are listed.
"""

from __future__ import annotations

import hashlib
import json
import re
import time
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import feedparser

from feeds.models import CapInfo, Item, Source
from feeds.text import clean_link, html_to_text, plain_text

# Publishers' clocks and time zones are sloppy; beyond this, a date is a mistake.
MAX_FUTURE = timedelta(days=1)

# Common non-ISO codes seen in Ukrainian feeds ("ua" is the country, not the language).
_LANGUAGE_ALIASES = {"ua": "uk", "ukr": "uk", "rus": "ru", "eng": "en", "english": "en"}
_LANGUAGE = re.compile(r"[a-z]{2,3}")
_JSON_FEED_VERSION = "https://jsonfeed.org/version/"
_CAP_PREFIX = "cap_"
_CAP_FIELDS = ("event", "severity", "urgency", "certainty", "areadesc", "effective", "expires")
_CAP_KEYS = tuple(_CAP_PREFIX + name for name in _CAP_FIELDS)
_DATE_KEYS = ("published_parsed", "updated_parsed", "created_parsed")

# feedparser's FeedParserDict.get goes through key aliases (and maps a missing
# "updated_parsed" to "published_parsed" with a warning); plain dict.get reads the real keys
# and is several times faster, which matters at thousands of entries per poll.
_get = dict.get


@dataclass(frozen=True, slots=True)
class ParsedFeed:
    """A parsed feed: its items plus what the scheduler and the poller need to know."""

    title: str | None
    language: str | None  # feed-level language, normalised to "uk"/"ru"/"en"/... or None
    items: tuple[Item, ...]
    ttl_seconds: int | None  # RSS <ttl> converted to seconds
    problems: tuple[str, ...]  # bozo / recovered problems, human-readable
    is_feed: bool  # False when it is e.g. an HTML page


def normalise_language(value: object) -> str | None:
    """The primary language subtag: "uk-UA" -> "uk", "ru_RU" -> "ru", "ua" -> "uk"."""
    if not isinstance(value, str):
        return None
    primary = value.strip().lower().replace("_", "-").split("-", 1)[0]
    primary = _LANGUAGE_ALIASES.get(primary, primary)
    return primary if _LANGUAGE.fullmatch(primary) else None


def item_key(*, guid: str | None, link: str | None, title: str, summary: str) -> str:
    """Stable per-source key; the prefix keeps a guid from ever equalling a link or a hash."""
    if guid and guid.strip():
        return "id:" + guid.strip()
    if link:
        return "link:" + link
    digest = hashlib.sha256(f"{title}\n{summary}".encode()).hexdigest()
    return "sha256:" + digest


def parse_feed(
    content: bytes,
    *,
    source: Source,
    headers: Mapping[str, str] | None = None,
    fetched_at: datetime | None = None,
) -> ParsedFeed:
    """Parse a feed body (bytes as received, with the response headers). Never raises."""
    now = _as_utc(fetched_at) if fetched_at else datetime.now(UTC)
    try:
        if _looks_like_json(content):
            return _parse_json_feed(content, source=source, fetched_at=now)
        return _parse_xml_feed(content, source=source, headers=headers, fetched_at=now)
    except Exception as exc:  # a feedparser bug or a pathological body must not stop a poll
        return ParsedFeed(
            title=None,
            language=None,
            items=(),
            ttl_seconds=None,
            problems=(f"parser failed: {type(exc).__name__}: {exc}",),
            is_feed=False,
        )


# --- RSS / Atom (feedparser) -------------------------------------------------------------


def _parse_xml_feed(
    content: bytes,
    *,
    source: Source,
    headers: Mapping[str, str] | None,
    fetched_at: datetime,
) -> ParsedFeed:
    # We strip HTML to plain text ourselves, so feedparser's sanitizer and its rewriting of
    # relative URIs inside HTML are wasted work (they double the time on HTML-rich feeds).
    response_headers = {k.lower(): v for k, v in headers.items()} if headers else None
    parsed = feedparser.parse(
        content,
        response_headers=response_headers,
        sanitize_html=False,
        resolve_relative_uris=False,
    )
    problems: list[str] = []
    if parsed.get("bozo"):
        exc = parsed.get("bozo_exception")
        problems.append(_describe(exc) if exc is not None else "feed is not well-formed")

    feed = parsed.get("feed", {})
    entries = parsed.get("entries", [])
    version = parsed.get("version", "")
    is_feed = bool(version or entries)
    if not is_feed:
        problems.append("no feed found: neither RSS/Atom structure nor entries")

    language = normalise_language(feed.get("language"))
    if language is None and response_headers:
        language = normalise_language(response_headers.get("content-language"))
    base = _base_url(feed.get("link"), source.url)
    ttl_seconds = _ttl_seconds(feed.get("ttl"), problems)

    items: list[Item] = []
    skipped = 0
    for entry in entries:
        item = _item_from_entry(
            entry, source=source, base=base, feed_language=language, fetched_at=fetched_at
        )
        if item is None:
            skipped += 1
        else:
            items.append(item)
    if skipped:
        problems.append(f"{skipped} entries without title, summary or link were skipped")

    title = _detail_text(feed, "title") or None
    return ParsedFeed(
        title=title,
        language=language,
        items=tuple(items),
        ttl_seconds=ttl_seconds,
        problems=tuple(problems),
        is_feed=is_feed,
    )


def _item_from_entry(
    entry: dict[str, Any],
    *,
    source: Source,
    base: str | None,
    feed_language: str | None,
    fetched_at: datetime,
) -> Item | None:
    title = _detail_text(entry, "title")
    summary = _detail_text(entry, "summary")
    if not summary:
        contents = _get(entry, "content") or []
        if contents:
            summary = _text_of(contents[0])
    link = clean_link(_entry_link(entry), base)
    if not (title or summary or link):
        return None
    published = _entry_time(entry, fetched_at)
    language = (
        normalise_language(_get(entry, "language"))
        or _detail_language(entry, "title")
        or _detail_language(entry, "summary")
        or feed_language
        or normalise_language(source.language)
    )
    return Item(
        key=item_key(guid=_str(_get(entry, "id")), link=link, title=title, summary=summary),
        title=title,
        summary=summary,
        link=link,
        published=published,
        language=language,
        source_url=source.url,
        source_name=source.name,
        cap=_cap_info(entry),
    )


def _entry_link(entry: dict[str, Any]) -> str | None:
    """The entry's web link. feedparser falls back to the id when no link is text/html (a
    CAP alert links to application/cap+xml); the entry's own alternate link is better."""
    link = _str(_get(entry, "link"))
    if link and not (_get(entry, "guidislink") and link == _get(entry, "id")):
        return link
    for candidate in _get(entry, "links") or ():
        href = _str(_get(candidate, "href"))
        if href and _get(candidate, "rel", "alternate") == "alternate":
            return href
    return link


def _detail_text(container: dict[str, Any], name: str) -> str:
    """A feedparser text construct as plain text, honouring its declared content type."""
    detail = _get(container, f"{name}_detail")
    if detail is not None:
        return _text_of(detail)
    value = _get(container, name)
    return html_to_text(value) if isinstance(value, str) else ""


def _text_of(detail: dict[str, Any]) -> str:
    value = _get(detail, "value")
    if not isinstance(value, str) or not value:
        return ""
    if _get(detail, "type") == "text/plain":
        return plain_text(value)
    return html_to_text(value)


def _detail_language(container: dict[str, Any], name: str) -> str | None:
    detail = _get(container, f"{name}_detail")
    return normalise_language(_get(detail, "language")) if detail else None


def _cap_info(entry: dict[str, Any]) -> CapInfo | None:
    """CAP fields of a CAP-in-Atom entry; feedparser exposes `cap:areaDesc` as `cap_areadesc`."""
    if entry.keys().isdisjoint(_CAP_KEYS):
        return None

    def field(name: str) -> str | None:
        value = _get(entry, _CAP_PREFIX + name)
        return (plain_text(value) or None) if isinstance(value, str) else None

    return CapInfo(
        event=field("event"),
        severity=field("severity"),
        urgency=field("urgency"),
        certainty=field("certainty"),
        area_desc=field("areadesc"),
        effective=_iso_time(field("effective")),
        expires=_iso_time(field("expires")),
    )


def _ttl_seconds(value: object, problems: list[str]) -> int | None:
    if value is None or value == "":
        return None
    try:
        minutes = int(str(value).strip())
    except ValueError:
        problems.append(f"ignored a <ttl> that is not a number of minutes: {value!r}")
        return None
    return minutes * 60 if minutes > 0 else None


# --- JSON Feed (feedparser 6.0 does not read it) -----------------------------------------


def _looks_like_json(content: bytes) -> bool:
    return content.lstrip(b"\xef\xbb\xbf \t\r\n")[:1] == b"{"


def _parse_json_feed(content: bytes, *, source: Source, fetched_at: datetime) -> ParsedFeed:
    """JSON Feed 1.0/1.1 (https://jsonfeed.org/version/1.1)."""
    try:
        doc = json.loads(content.decode("utf-8-sig"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        return _not_a_feed(f"invalid JSON: {exc}")
    if not isinstance(doc, dict) or not str(doc.get("version", "")).startswith(_JSON_FEED_VERSION):
        return _not_a_feed("JSON document is not a JSON Feed (no jsonfeed.org version)")

    problems: list[str] = []
    language = normalise_language(doc.get("language"))
    base = _base_url(_str(doc.get("home_page_url")), source.url)
    raw_items = doc.get("items")
    if not isinstance(raw_items, list):
        problems.append("JSON Feed has no 'items' list")
        raw_items = []
    items: list[Item] = []
    skipped = 0
    for raw in raw_items:
        item = (
            _item_from_json(
                raw, source=source, base=base, feed_language=language, fetched_at=fetched_at
            )
            if isinstance(raw, dict)
            else None
        )
        if item is None:
            skipped += 1
        else:
            items.append(item)
    if skipped:
        problems.append(f"{skipped} JSON Feed items without title, text or url were skipped")
    title = plain_text(doc["title"]) if isinstance(doc.get("title"), str) else None
    return ParsedFeed(
        title=title or None,
        language=language,
        items=tuple(items),
        ttl_seconds=None,
        problems=tuple(problems),
        is_feed=True,
    )


def _item_from_json(
    raw: Mapping[str, Any],
    *,
    source: Source,
    base: str | None,
    feed_language: str | None,
    fetched_at: datetime,
) -> Item | None:
    title = plain_text(raw["title"]) if isinstance(raw.get("title"), str) else ""
    summary = ""
    if isinstance(raw.get("summary"), str):
        summary = plain_text(raw["summary"])
    if not summary and isinstance(raw.get("content_text"), str):
        summary = plain_text(raw["content_text"])
    if not summary and isinstance(raw.get("content_html"), str):
        summary = html_to_text(raw["content_html"])
    link = clean_link(_str(raw.get("url")) or _str(raw.get("external_url")), base)
    if not (title or summary or link):
        return None
    published = _first_aware(
        fetched_at, _iso_time(raw.get("date_published")), _iso_time(raw.get("date_modified"))
    )
    raw_id = raw.get("id")
    guid = str(raw_id) if isinstance(raw_id, str | int) and not isinstance(raw_id, bool) else None
    return Item(
        key=item_key(guid=guid, link=link, title=title, summary=summary),
        title=title,
        summary=summary,
        link=link,
        published=published,
        language=normalise_language(raw.get("language"))
        or feed_language
        or normalise_language(source.language),
        source_url=source.url,
        source_name=source.name,
    )


def _not_a_feed(problem: str) -> ParsedFeed:
    return ParsedFeed(
        title=None, language=None, items=(), ttl_seconds=None, problems=(problem,), is_feed=False
    )


# --- small helpers -----------------------------------------------------------------------


def _str(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def _base_url(feed_link: object, source_url: str) -> str | None:
    """Where relative item links point from: the feed's own link, else the feed URL."""
    for candidate in (feed_link, source_url):
        if isinstance(candidate, str) and candidate.startswith(("http://", "https://")):
            return candidate
    return None


def _describe(exc: object) -> str:
    text = str(exc).strip()
    name = type(exc).__name__
    return f"{name}: {text}" if text else name


def _as_utc(value: datetime) -> datetime:
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def _struct_to_datetime(value: object) -> datetime | None:
    # feedparser normalises every date it understands to a UTC struct_time.
    if not isinstance(value, time.struct_time):
        return None
    try:
        return datetime(*value[:6], tzinfo=UTC)
    except (ValueError, OverflowError):
        return None


def _entry_time(entry: dict[str, Any], fetched_at: datetime) -> datetime:
    """Published, else updated, else created (feedparser gives UTC), else the fetch time."""
    for key in _DATE_KEYS:
        value = _struct_to_datetime(_get(entry, key))
        if value is not None:
            return _first_aware(fetched_at, value)
    return fetched_at


def _first_aware(fetched_at: datetime, *candidates: datetime | None) -> datetime:
    """The first known date, clamped so that a far-future date counts as "now"."""
    for value in candidates:
        if value is not None:
            return fetched_at if value > fetched_at + MAX_FUTURE else value
    return fetched_at


def _iso_time(value: object) -> datetime | None:
    """An RFC 3339 / ISO 8601 timestamp as aware UTC (naive ones are taken as UTC)."""
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    try:
        return _as_utc(datetime.fromisoformat(text))
    except ValueError:
        return None
