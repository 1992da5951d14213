"""Parsing feed bodies into normalised items: formats, text, links, dates, language, errors."""

from __future__ import annotations

import pickle
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from feeds.models import Source
from feeds.parse import ParsedFeed, item_key, normalise_language, parse_feed
from feeds.text import clean_link, html_to_text, plain_text

DATA = Path(__file__).resolve().parents[1] / "data"
FEEDS = DATA / "feeds"
OURS = DATA / "parse"
EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "winter-outages.xml"

FETCHED = datetime(2026, 1, 13, 12, 0, tzinfo=UTC)
SOURCE = Source(url="https://news.example.org/rss.xml", name="Example News", language="uk")


def parse(content: bytes | str, **kwargs: object) -> ParsedFeed:
    if isinstance(content, str):
        content = content.encode("utf-8")
    options: dict[str, object] = {"source": SOURCE, "fetched_at": FETCHED, **kwargs}
    return parse_feed(content, **options)  # type: ignore[arg-type]


def rss(items: str, channel: str = "") -> str:
    return (
        '<?xml version="1.0" encoding="utf-8"?>'
        '<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/"><channel>'
        f"<title>Feed</title><link>https://news.example.org/</link>{channel}{items}"
        "</channel></rss>"
    )


# --- text helpers ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("html", "expected"),
    [
        pytest.param("Plain  text\n here ", "Plain text here", id="whitespace-collapsed"),
        pytest.param("<p>One</p><p>Two</p>", "One Two", id="paragraphs-separate-words"),
        pytest.param("line<br>break<BR/>again", "line break again", id="br-is-space"),
        pytest.param("un<b>believ</b>able", "unbelievable", id="inline-tags-join"),
        pytest.param("a<script>alert('x')</script>b", "a b", id="script-content-dropped"),
        pytest.param("<style>p{color:red}</style>Світло", "Світло", id="style-content-dropped"),
        pytest.param("x<!-- hidden -->y", "x y", id="comment-dropped"),
        pytest.param("&laquo;Укренерго&raquo; &amp; ДТЕК", "«Укренерго» & ДТЕК", id="entities"),
        pytest.param("-18&nbsp;&#176;C", "-18 °C", id="nbsp-and-numeric-entity"),
        pytest.param("&lt;b&gt;double&lt;/b&gt; escaped", "double escaped", id="double-escaped"),
        pytest.param("&lt;5 &amp; &gt;3", "<5 & >3", id="escaped-comparisons-kept"),
        pytest.param("2 < 3 and 5 > 4", "2 < 3 and 5 > 4", id="bare-angle-brackets-kept"),
        pytest.param("", "", id="empty"),
    ],
)
def test_html_to_text(html: str, expected: str) -> None:
    assert html_to_text(html) == expected


def test_plain_text_decodes_double_escaped_entities() -> None:
    assert plain_text("Tom &amp; Jerry\t  &#8212; news") == "Tom & Jerry — news"


@pytest.mark.parametrize(
    ("url", "base", "expected"),
    [
        pytest.param(
            "https://a.example/x?utm_source=rss&utm_medium=feed&id=5",
            None,
            "https://a.example/x?id=5",
            id="utm-dropped-others-kept",
        ),
        pytest.param(
            "https://a.example/x?fbclid=1&gclid=2&yclid=3&mc_cid=4&mc_eid=5&ref=home",
            None,
            "https://a.example/x",
            id="click-ids-and-ref-dropped",
        ),
        pytest.param(
            "https://a.example/x?q=%D0%9A%D0%B8%D1%97%D0%B2&UTM_Campaign=w",
            None,
            "https://a.example/x?q=%D0%9A%D0%B8%D1%97%D0%B2",
            id="encoding-kept-case-insensitive",
        ),
        pytest.param("/news/1", "https://a.example/feed/", "https://a.example/news/1", id="rel"),
        pytest.param(
            "item.html",
            "https://a.example/feed/",
            "https://a.example/feed/item.html",
            id="relative-to-directory",
        ),
        pytest.param("HTTPS://A.Example/Path", None, "https://a.example/Path", id="host-lowered"),
        pytest.param(
            "https://a.example/p#xtor=RSS-3", None, "https://a.example/p", id="tracking-fragment"
        ),
        pytest.param(
            "https://a.example/p#section-2", None, "https://a.example/p#section-2", id="anchor-kept"
        ),
        pytest.param("javascript:alert(1)", "https://a.example/", None, id="javascript-refused"),
        pytest.param("mailto:x@a.example", None, None, id="mailto-refused"),
        pytest.param("/relative/only", None, None, id="relative-without-base"),
        pytest.param("  ", None, None, id="blank"),
        pytest.param("http://[::1", None, None, id="malformed"),
    ],
)
def test_clean_link(url: str, base: str | None, expected: str | None) -> None:
    assert clean_link(url, base) == expected


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("uk-UA", "uk"),
        ("ru-RU", "ru"),
        ("en_us", "en"),
        ("EN", "en"),
        ("ua", "uk"),
        (" uk ", "uk"),
        ("", None),
        ("Ukrainian language", None),
        (None, None),
        (42, None),
    ],
)
def test_normalise_language(value: object, expected: str | None) -> None:
    assert normalise_language(value) == expected


def test_item_key_kinds_never_collide() -> None:
    by_guid = item_key(guid="https://a.example/1", link=None, title="t", summary="s")
    by_link = item_key(guid=None, link="https://a.example/1", title="t", summary="s")
    by_hash = item_key(guid="  ", link=None, title="t", summary="s")
    assert by_guid == "id:https://a.example/1"
    assert by_link == "link:https://a.example/1"
    assert by_hash.startswith("sha256:") and len(by_hash) == len("sha256:") + 64
    assert by_hash == item_key(guid=None, link=None, title="t", summary="s")
    assert by_hash != item_key(guid=None, link=None, title="t", summary="s2")


# --- real feeds -----------------------------------------------------------------------------


def test_windows_1251_feed_is_decoded() -> None:
    feed = parse((FEEDS / "tehtehteh_stub_pravda_rss.xml").read_bytes())
    assert feed.is_feed and feed.problems == ()
    assert feed.title == "Украинская правда"
    assert len(feed.items) == 20
    first = feed.items[0]
    assert first.title == 'День сердца: инфаркты и инсульты значительно "помолодели"'
    assert first.link == "https://life.pravda.com.ua/columns/2020/09/29/242489/"
    assert first.published == datetime(2020, 9, 29, 12, 0, tzinfo=UTC)
    # The feed declares no language: the source's configured one applies to items only.
    assert feed.language is None and first.language == "uk"


def test_bom_prefixed_gdacs_feed() -> None:
    feed = parse((FEEDS / "gdacs_rss_2019-12-30.xml").read_bytes())
    assert feed.is_feed and feed.problems == ()
    assert feed.title == "GDACS RSS information"
    assert len(feed.items) == 16
    assert feed.items[0].key == "id:TC1000643"
    assert feed.items[0].link == "http://www.gdacs.org/report.aspx?eventtype=TC&eventid=1000643"


def test_padded_cdata_titles_are_trimmed() -> None:
    feed = parse((FEEDS / "tehtehteh_stub_unian_rss.xml").read_bytes())
    assert len(feed.items) == 50
    for item in feed.items:
        assert item.title == item.title.strip() and "  " not in item.title
        assert item.title and item.link and item.link.startswith("https://")


def test_html_rich_reliefweb_summaries_become_plain_text() -> None:
    feed = parse((FEEDS / "thedeep_reliefweb_updates_ukr_2020-09-17.xml").read_bytes())
    assert feed.language == "en" and len(feed.items) == 20
    for item in feed.items:
        assert "<" not in item.summary and "&nbsp;" not in item.summary
        assert "\n" not in item.summary
    assert feed.items[0].summary.startswith("Country: Ukraine Sources: Danish Refugee Council")


def test_every_real_sample_parses_with_unique_keys_and_aware_dates() -> None:
    for path in sorted(FEEDS.glob("*.xml")):
        feed = parse(path.read_bytes())
        assert feed.is_feed, path.name
        assert feed.items, path.name
        keys = [item.key for item in feed.items]
        assert len(set(keys)) == len(keys), path.name
        for item in feed.items:
            assert item.published.tzinfo is not None and item.published.utcoffset() == timedelta(0)
            assert item.source_url == SOURCE.url and item.source_name == SOURCE.name


def test_keys_are_stable_across_polls() -> None:
    body = (FEEDS / "tehtehteh_stub_liga_rss.xml").read_bytes()
    first = parse(body, fetched_at=FETCHED)
    later = parse(body, fetched_at=FETCHED + timedelta(hours=3))
    assert [i.key for i in first.items] == [i.key for i in later.items]


def test_example_feed_in_examples_folder() -> None:
    feed = parse(EXAMPLE.read_bytes())
    assert feed.title == "Зимовий вісник (приклад)"
    assert feed.language == "uk" and feed.ttl_seconds == 600
    assert len(feed.items) == 6
    kyiv, kharkiv = feed.items[0], feed.items[1]
    assert kyiv.link == "https://winter-news.example.org/news/kyiv-heating-1"
    assert "<" not in kyiv.summary and "-18 °C" in kyiv.summary
    # A relative link resolves against the channel link; fbclid goes.
    assert kharkiv.link == "https://winter-news.example.org/news/kharkiv-power-2"
    english = [item for item in feed.items if item.language == "en"]
    assert [item.key for item in english] == ["id:winter-news-1004", "id:winter-news-1005"]


# --- RSS details ----------------------------------------------------------------------------


def test_key_falls_back_from_guid_to_link_to_hash() -> None:
    feed = parse(
        rss(
            "<item><guid isPermaLink='false'>g-1</guid><title>A</title><link>/a</link></item>"
            "<item><title>B</title><link>/b?utm_source=x</link></item>"
            "<item><title>C</title><description>only text</description></item>"
        )
    )
    keys = [item.key for item in feed.items]
    assert keys[0] == "id:g-1"
    assert keys[1] == "link:https://news.example.org/b"
    assert keys[2] == item_key(guid=None, link=None, title="C", summary="only text")


def test_published_uses_updated_then_fetch_time_and_converts_to_utc() -> None:
    feed = parse(
        rss(
            "<item><title>A</title><pubDate>Tue, 13 Jan 2026 07:40:00 +0200</pubDate></item>"
            "<item><title>B</title><dc:date>2026-01-12T10:00:00+02:00</dc:date></item>"
            "<item><title>C</title></item>"
            "<item><title>D</title><pubDate>not a date at all</pubDate></item>"
        )
    )
    a, b, c, d = feed.items
    assert a.published == datetime(2026, 1, 13, 5, 40, tzinfo=UTC)
    assert b.published == datetime(2026, 1, 12, 8, 0, tzinfo=UTC)
    assert c.published == FETCHED and d.published == FETCHED


def test_far_future_dates_are_clamped_to_fetch_time() -> None:
    feed = parse(
        rss(
            "<item><title>soon</title><pubDate>Tue, 13 Jan 2026 23:00:00 +0000</pubDate></item>"
            "<item><title>far</title><pubDate>Mon, 01 Jan 2035 00:00:00 GMT</pubDate></item>"
        )
    )
    soon, far = feed.items
    assert soon.published == datetime(2026, 1, 13, 23, 0, tzinfo=UTC)  # within a day: kept
    assert far.published == FETCHED


def test_naive_fetched_at_is_taken_as_utc() -> None:
    feed = parse(rss("<item><title>A</title></item>"), fetched_at=datetime(2026, 1, 1, 9, 0))
    assert feed.items[0].published == datetime(2026, 1, 1, 9, 0, tzinfo=UTC)
    kyiv = timezone(timedelta(hours=2))
    feed = parse(
        rss("<item><title>A</title></item>"), fetched_at=datetime(2026, 1, 1, 9, tzinfo=kyiv)
    )
    assert feed.items[0].published == datetime(2026, 1, 1, 7, 0, tzinfo=UTC)


def test_language_item_then_feed_then_header_then_source() -> None:
    items = (
        "<item><title>A</title><dc:language>en-GB</dc:language></item><item><title>B</title></item>"
    )
    feed = parse(rss(items, channel="<language>ru-RU</language>"))
    assert feed.language == "ru"
    assert [item.language for item in feed.items] == ["en", "ru"]

    from_header = parse(rss(items), headers={"Content-Language": "uk-UA"})
    assert from_header.language == "uk"

    nothing = parse(rss(items))
    assert nothing.language is None
    assert [item.language for item in nothing.items] == ["en", "uk"]  # source says uk


def test_content_location_header_is_the_base_for_relative_links() -> None:
    body = (
        '<feed xmlns="http://www.w3.org/2005/Atom"><title>T</title>'
        "<entry><id>e1</id><title>A</title><link href='item/1'/></entry></feed>"
    )
    feed = parse(
        body,
        headers={
            "content-type": "application/atom+xml",
            "content-location": "https://other.example/feeds/",
        },
    )
    assert feed.items[0].link == "https://other.example/feeds/item/1"


@pytest.mark.parametrize(
    ("ttl", "expected", "problem"),
    [("15", 900, False), (" 60 ", 3600, False), ("0", None, False), ("soon", None, True)],
)
def test_ttl_in_seconds(ttl: str, expected: int | None, problem: bool) -> None:
    feed = parse(rss("<item><title>A</title></item>", channel=f"<ttl>{ttl}</ttl>"))
    assert feed.ttl_seconds == expected
    assert any("ttl" in p for p in feed.problems) is problem


def test_title_markup_is_stripped_but_plain_text_angle_brackets_stay() -> None:
    feed = parse(
        rss(
            "<item><title>Світло &amp;lt;b&amp;gt;повернули&amp;lt;/b&amp;gt;</title></item>"
            "<item><title><![CDATA[Ціна < 5 грн & більше]]></title></item>"
        )
    )
    assert [item.title for item in feed.items] == ["Світло повернули", "Ціна < 5 грн & більше"]


def test_summary_falls_back_to_content() -> None:
    body = (
        '<feed xmlns="http://www.w3.org/2005/Atom"><title>T</title><entry><id>1</id>'
        '<title>A</title><content type="html">&lt;p&gt;Full &lt;i&gt;text&lt;/i&gt;&lt;/p&gt;'
        "</content></entry></feed>"
    )
    assert parse(body).items[0].summary == "Full text"


def test_empty_entries_are_skipped_and_reported() -> None:
    feed = parse(rss("<item></item><item><title>kept</title></item>"))
    assert [item.title for item in feed.items] == ["kept"]
    assert any("1 entries" in p for p in feed.problems)


# --- other formats --------------------------------------------------------------------------


def test_cap_in_atom_fields() -> None:
    feed = parse((OURS / "meteoalarm-style-cap.atom.xml").read_bytes())
    assert feed.is_feed and feed.problems == ()
    assert feed.language == "ro"
    red, yellow = feed.items
    assert red.cap is not None and yellow.cap is not None
    assert red.cap.event == "Extreme low temperature"
    assert (red.cap.severity, red.cap.urgency, red.cap.certainty) == (
        "Severe",
        "Immediate",
        "Likely",
    )
    assert red.cap.area_desc == "Chisinau"
    assert red.cap.effective == datetime(2026, 1, 13, 22, 0, tzinfo=UTC)
    assert red.cap.expires == datetime(2026, 1, 15, 6, 0, tzinfo=UTC)
    # The entry's own link (a CAP document) wins over feedparser's id-as-link fallback.
    assert red.link == "https://feeds.meteoalarm.example/api/v1/warnings/feeds-moldova/1"
    assert yellow.cap.area_desc == "Balti"
    assert yellow.cap.effective is None and yellow.cap.expires is None  # "tomorrow morning"


def test_items_without_cap_have_no_cap() -> None:
    assert all(item.cap is None for item in parse(EXAMPLE.read_bytes()).items)


def test_json_feed() -> None:
    feed = parse((OURS / "winter-example.feed.json").read_bytes())
    assert feed.is_feed
    assert feed.title == "Winter news (example JSON Feed)" and feed.language == "uk"
    first, second, third = feed.items
    assert first.key == "id:json-1"
    assert first.link == "https://winter-news.example.org/news/kyiv-heating?id=7"
    assert first.summary == "Після атаки на ТЕЦ — до -18 °C уночі."
    assert first.published == datetime(2026, 1, 13, 5, 40, tzinfo=UTC)
    assert second.key == "id:42" and second.language == "en"
    assert second.summary == "Emergency power cuts across the oblast."
    assert second.published == datetime(2026, 1, 12, 5, 50, tzinfo=UTC)
    assert third.link is None and third.published == FETCHED and third.language == "uk"
    assert feed.problems == ("2 JSON Feed items without title, text or url were skipped",)


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b'{"version": "1", "items": []}', id="json-not-a-json-feed"),
        pytest.param(b'{"version": "https://jsonfeed.org/version/1", ', id="truncated-json"),
        pytest.param(b"[1, 2, 3]", id="json-array"),
    ],
)
def test_json_that_is_not_a_feed(body: bytes) -> None:
    feed = parse(body)
    assert not feed.is_feed and feed.items == () and feed.problems


def test_atom_03_and_rss_10() -> None:
    atom03 = (
        '<feed version="0.3" xmlns="http://purl.org/atom/ns#"><title>Old</title>'
        "<entry><id>x</id><title>Entry</title><issued>2026-01-10T10:00:00Z</issued></entry></feed>"
    )
    rdf = (
        '<rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#" '
        'xmlns="http://purl.org/rss/1.0/"><channel rdf:about="https://a.example/"><title>R</title>'
        '<link>https://a.example/</link></channel><item rdf:about="https://a.example/1">'
        "<title>One</title><link>https://a.example/1</link></item></rdf:RDF>"
    )
    old = parse(atom03)
    assert old.is_feed and old.items[0].title == "Entry"
    assert old.items[0].published == datetime(2026, 1, 10, 10, 0, tzinfo=UTC)
    one = parse(rdf)
    assert one.is_feed and one.items[0].link == "https://a.example/1"


# --- broken input ---------------------------------------------------------------------------


def test_html_page_is_not_a_feed() -> None:
    page = b"<!DOCTYPE html><html><head><title>Home</title></head><body><p>News</p></body></html>"
    feed = parse(page, headers={"content-type": "text/html; charset=utf-8"})
    assert not feed.is_feed
    assert feed.items == () and feed.problems


@pytest.mark.parametrize(
    "content_type",
    ["text/xml; charset=utf-8", "text/html", "application/octet-stream", "application/rss+xml"],
)
def test_wrong_content_type_header_still_decodes_windows_1251(content_type: str) -> None:
    body = (FEEDS / "tehtehteh_stub_pravda_rss.xml").read_bytes()
    feed = parse(body, headers={"Content-Type": content_type})
    assert feed.is_feed and len(feed.items) == 20
    assert feed.items[0].title.startswith("День сердца")


def test_other_xml_is_not_a_feed() -> None:
    sitemap = (
        b'<?xml version="1.0"?><urlset xmlns="http://www.sitemaps.org/schemas/sitemap/0.9">'
        b"<url><loc>https://a.example/</loc></url></urlset>"
    )
    assert not parse(sitemap).is_feed


def test_truncated_feed_keeps_what_was_recovered() -> None:
    body = (FEEDS / "tehtehteh_stub_liga_rss.xml").read_bytes()
    feed = parse(body[: len(body) // 2])
    assert feed.is_feed
    assert 0 < len(feed.items) < 20
    assert feed.problems and feed.problems[0]  # the bozo exception, in words


@pytest.mark.parametrize(
    "body",
    [b"", b"\x00\xff\xfe garbage", b"<rss", "Просто текст".encode("cp1251"), b"{"],
    ids=["empty", "binary", "unterminated-tag", "cp1251-text", "lone-brace"],
)
def test_garbage_never_raises(body: bytes) -> None:
    feed = parse(body)
    assert not feed.is_feed and feed.items == ()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.one_of(
        st.binary(max_size=300),
        st.text(max_size=200).map(lambda t: rss(f"<item><title>{t}</title></item>").encode()),
        st.text(max_size=200).map(lambda t: t.encode("utf-8", "surrogatepass")),
    )
)
def test_arbitrary_bytes_never_raise(body: bytes) -> None:
    feed = parse(body)
    assert isinstance(feed, ParsedFeed)
    for item in feed.items:
        assert item.key and item.published.tzinfo is not None


def test_parsed_feed_pickles_for_a_process_pool() -> None:
    feed = parse((OURS / "meteoalarm-style-cap.atom.xml").read_bytes())
    assert pickle.loads(pickle.dumps(feed)) == feed
