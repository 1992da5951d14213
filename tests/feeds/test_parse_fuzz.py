"""Hostile input: mutated real feeds never make the parser (or the extractor) raise."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from feeds.extract import extract
from feeds.models import Source
from feeds.parse import parse_feed

DATA = Path(__file__).resolve().parents[1] / "data" / "feeds"
# Small real samples (the 1.5 MB GDACS file would make each example slow).
SAMPLES = [
    (DATA / name).read_bytes()
    for name in (
        "tehtehteh_stub_unian_rss.xml",
        "tehtehteh_stub_pravda_rss.xml",
        "thedeep_emm_newsbrief_en_2022-06-21.xml",
        "antonchasnyk_liga_news_ru_2021-08-22.xml",
    )
]
JUNK = [b"<", b"]]>", b"<![CDATA[", b"&#0;", b"&bogus;", b"\x00", b"\xff\xfe", b"<item>"]
SOURCE = Source(url="https://example.org/rss.xml", name="Fuzz")
FETCHED = datetime(2026, 1, 1, tzinfo=UTC)


@st.composite
def mutated_feed(draw: st.DrawFn) -> bytes:
    """A real feed with a few byte-level edits: cuts, flips, inserted junk, duplicated runs."""
    data = bytearray(draw(st.sampled_from(SAMPLES)))
    for _ in range(draw(st.integers(1, 6))):
        at = draw(st.integers(0, len(data) - 1))
        edit = draw(st.sampled_from(["cut", "flip", "insert", "duplicate", "truncate"]))
        if edit == "cut":
            del data[at : at + draw(st.integers(1, 200))]
        elif edit == "flip":
            data[at] = draw(st.integers(0, 255))
        elif edit == "insert":
            junk = draw(
                st.sampled_from(
                    [
                        b"<",
                        b"]]>",
                        b"<![CDATA[",
                        b"&#0;",
                        b"&bogus;",
                        b"\x00",
                        b"\xff\xfe",
                        b"<item>",
                    ]
                )
            )
            data[at:at] = junk
        elif edit == "duplicate":
            data[at:at] = data[at : at + draw(st.integers(1, 500))]
        else:
            del data[at:]
        if not data:
            data = bytearray(b"<")
    return bytes(data)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=mutated_feed(), content_type=st.sampled_from(["application/rss+xml", "text/html", ""]))
def test_mutated_real_feeds_never_raise(body: bytes, content_type: str) -> None:
    headers = {"content-type": content_type} if content_type else {}
    parsed = parse_feed(body, source=SOURCE, headers=headers, fetched_at=FETCHED)
    for item in parsed.items:
        assert item.published.tzinfo is not None
        assert item.key
        extract(item)


@settings(max_examples=60, deadline=None)
@given(body=st.binary(max_size=2000))
def test_arbitrary_bytes_never_raise(body: bytes) -> None:
    parsed = parse_feed(body, source=SOURCE, fetched_at=FETCHED)
    assert isinstance(parsed.items, tuple)
