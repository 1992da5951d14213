"""The default source catalogue and FEEDS_FILE replacements: loading and validation."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit

import pytest

from feeds.catalogue import CatalogueError, load_catalogue, parse_catalogue
from feeds.models import Source


def test_default_catalogue_covers_the_outlets_the_product_needs() -> None:
    sources = load_catalogue()
    assert len(sources) >= 15
    assert len({s.url for s in sources}) == len(sources)
    languages = Counter(s.language for s in sources)
    assert languages["uk"] >= 5 and languages["ru"] >= 3 and languages["en"] >= 5
    assert set(languages) == {"uk", "ru", "en"}
    hosts = {urlsplit(s.url).hostname for s in sources}
    for expected in (
        "rss.unian.net",
        "www.ukrinform.ua",
        "www.pravda.com.ua",
        "suspilne.media",
        "www.rbc.ua",
        "kyivindependent.com",
        "reliefweb.int",
        "www.gdacs.org",
    ):
        assert expected in hosts
    for source in sources:
        assert source.url.startswith("https://") and source.name


def test_feeds_file_replaces_the_default(tmp_path: Path) -> None:
    path = tmp_path / "feeds.toml"
    path.write_text(
        """
[[source]]
url = "https://example.org/rss.xml"
name = "Example News"
language = "uk-UA"
interval_seconds = 300

[[source]]
url = "https://example.org/en.xml"
name = "  Example English  "
""",
        encoding="utf-8",
    )
    assert load_catalogue(path) == [
        Source(
            url="https://example.org/rss.xml",
            name="Example News",
            language="uk",
            interval_seconds=300,
        ),
        Source(url="https://example.org/en.xml", name="Example English"),
    ]


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        pytest.param("[[source]\nurl=", "not valid TOML", id="syntax"),
        pytest.param("", "no [[source]] entries", id="empty"),
        pytest.param("[feeds]\nurl = 'x'", "unexpected top-level key(s) feeds", id="wrong-table"),
        pytest.param("source = 'x'", "no [[source]] entries", id="source-not-a-list"),
        pytest.param("[[source]]\nname = 'A'", "source #1: 'url' is required", id="no-url"),
        pytest.param(
            "[[source]]\nurl = 'ftp://a.example/x'\nname = 'A'",
            "source #1: 'url' 'ftp://a.example/x' must be an http(s) URL",
            id="ftp-url",
        ),
        pytest.param(
            "[[source]]\nurl = 'https://a.example/'\nname = 'A'\n"
            "[[source]]\nurl = 'https://b.example/'",
            "source #2 (https://b.example/): 'name' is required",
            id="second-without-name",
        ),
        pytest.param(
            "[[source]]\nurl = 'https://a.example/'\nname = 'A'\nlanguage = 'Ukrainian'",
            "'language' 'Ukrainian' is not a language code",
            id="bad-language",
        ),
        pytest.param(
            "[[source]]\nurl = 'https://a.example/'\nname = 'A'\ninterval_seconds = 5",
            "'interval_seconds' must be a whole number of seconds >= 30, got 5",
            id="interval-too-short",
        ),
        pytest.param(
            "[[source]]\nurl = 'https://a.example/'\nname = 'A'\ninterval_seconds = '300'",
            "'interval_seconds' must be a whole number",
            id="interval-string",
        ),
        pytest.param(
            "[[source]]\nurl = 'https://a.example/'\nname = 'A'\nintervall = 300",
            "source #1: unknown key(s) intervall",
            id="typo-key",
        ),
        pytest.param(
            "[[source]]\nurl = 'https://a.example/'\nname = 'A'\n"
            "[[source]]\nurl = 'https://a.example/'\nname = 'B'",
            "source #2: url https://a.example/ repeats source #1",
            id="duplicate",
        ),
    ],
)
def test_invalid_catalogue_names_file_and_entry(tmp_path: Path, toml: str, message: str) -> None:
    path = tmp_path / "my-feeds.toml"
    path.write_text(toml, encoding="utf-8")
    with pytest.raises(CatalogueError) as caught:
        load_catalogue(path)
    text = str(caught.value)
    assert text.startswith(f"{path}: ")
    assert message in text


def test_missing_and_undecodable_files(tmp_path: Path) -> None:
    with pytest.raises(CatalogueError, match="file not found"):
        load_catalogue(tmp_path / "nope.toml")
    binary = tmp_path / "binary.toml"
    binary.write_bytes(b"\xff\xfe\x00bad")
    with pytest.raises(CatalogueError, match="not UTF-8"):
        load_catalogue(binary)
    with pytest.raises(CatalogueError, match="cannot be read"):
        load_catalogue(tmp_path)  # a directory


def test_parse_catalogue_names_where_it_came_from() -> None:
    with pytest.raises(CatalogueError, match=r"^settings: source #1: "):
        parse_catalogue("[[source]]\nurl = 1\nname = 'x'", where="settings")
