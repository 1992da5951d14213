"""feedparser's own corpus (ill-formed, encoding, entity and well-formed cases) through our parser.

Each file is one case (collected with a glob). Whatever the file, `parse_feed` returns a
`ParsedFeed` without raising, and every item it yields is well-formed.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from feeds.models import Item, Source
from feeds.parse import parse_feed

CORPUS = Path(__file__).resolve().parents[1] / "data" / "feedparser-tests"
GROUPS = ("illformed", "encoding", "entities", "wellformed", "json")
FILES = sorted(p for group in GROUPS for p in (CORPUS / group).rglob("*") if p.is_file())
FETCHED = datetime(2026, 1, 13, 12, 0, tzinfo=UTC)
SOURCE = Source(url="http://example.com/feed.xml", name="corpus", language="en")

# feedparser's harness passes `Header: Name: value` lines of the description comment on as
# HTTP response headers; so do we, which is what makes the encoding cases meaningful.
_HEADER = re.compile(rb"^Header:\s*([^:\r\n]+):[ \t]*(.*?)\s*$", re.MULTILINE)


def _headers(content: bytes) -> dict[str, str] | None:
    found = {
        name.decode("latin-1").strip().lower(): value.decode("latin-1")
        for name, value in _HEADER.findall(content[:2000])
    }
    return found or None


def test_corpus_is_complete() -> None:
    # A failed copy would make the parametrised test below pass vacuously.
    counts = {
        group: sum(1 for p in FILES if p.relative_to(CORPUS).parts[0] == group) for group in GROUPS
    }
    assert counts == {
        "illformed": 19,
        "encoding": 82,
        "entities": 256,
        "wellformed": 1749,
        "json": 1,
    }


@pytest.mark.parametrize("path", FILES, ids=[str(p.relative_to(CORPUS)) for p in FILES])
def test_corpus_file_parses_without_exception(path: Path) -> None:
    content = path.read_bytes()
    feed = parse_feed(content, source=SOURCE, headers=_headers(content), fetched_at=FETCHED)
    assert all(isinstance(problem, str) and problem for problem in feed.problems)
    assert not any(problem.startswith("parser failed") for problem in feed.problems)
    for item in feed.items:
        _check_item(item)


def _check_item(item: Item) -> None:
    assert item.key and item.key.split(":", 1)[0] in {"id", "link", "sha256"}
    assert item.title or item.summary or item.link
    assert item.published.tzinfo is not None and item.published.utcoffset() == timedelta(0)
    assert item.published <= FETCHED + timedelta(days=1)
    for text in (item.title, item.summary):
        assert text == text.strip() and "\n" not in text and "\t" not in text
    if item.link is not None:
        assert item.link.startswith(("http://", "https://"))
        assert "utm_" not in item.link
    assert item.language is None or item.language.isalpha()
