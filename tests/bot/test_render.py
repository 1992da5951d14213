"""Alert messages: escaped feed text, readable facts, never over Telegram's limit."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from bot.render import MAX_MESSAGE_CHARS, format_number, format_temperature, render_alert
from feeds.models import Category
from rules.models import Story

NOW = datetime(2026, 1, 10, 6, 0, tzinfo=UTC)
NAMES = {"UA80": "Kyiv", "UA63": "Kharkiv oblast", "UA": "Ukraine"}


def _name(place_id: str, lang: str) -> str:
    return NAMES.get(place_id, place_id)


def _story(**kw: object) -> Story:
    base: dict[str, object] = dict(
        id="s1",
        title="Kyiv: 300,000 without power after strike",
        first_published=NOW,
        last_published=NOW,
        categories=frozenset({Category.POWER_OUTAGE, Category.COLD}),
        place_ids=frozenset({"UA80"}),
        temperatures_c=(-18.0, -12.0),
        affected=300_000,
        sources=("UNIAN", "Ukrinform", "Suspilne", "RBC-Ukraine"),
        link="https://example.org/a?x=1&y=2",
    )
    base.update(kw)
    return Story(**base)  # type: ignore[arg-type]


def test_alert_has_headline_facts_sources_link_and_rule() -> None:
    text = render_alert(_story(), lang="en", rule_text="power outage in Kyiv", place_name=_name)
    lines = text.text.split("\n")
    assert lines[0] == "⚡ <b>Kyiv: 300,000 without power after strike</b>"
    assert lines[1] == "❄️ −18 °C · ⚡ 300,000 without power · Kyiv"
    assert lines[2] == "📰 UNIAN, Ukrinform +2"
    assert lines[3] == '🔗 <a href="https://example.org/a?x=1&amp;y=2">Read more</a>'
    assert lines[4] == "Rule: <i>power outage in Kyiv</i>"


def test_alert_in_ukrainian_uses_ukrainian_number_grouping() -> None:
    text = render_alert(_story(), lang="uk", rule_text="світло Київ", place_name=_name).text
    assert "300\u00a0000 без світла" in text
    assert "Докладніше" in text


def test_feed_text_is_escaped() -> None:
    story = _story(title="<script>alert(1)</script> & <b>bold</b>", sources=("<i>X</i>",))
    text = render_alert(story, lang="en", rule_text="<b>", place_name=_name).text
    assert "<script>" not in text
    assert "&lt;script&gt;alert(1)&lt;/script&gt; &amp; &lt;b&gt;bold&lt;/b&gt;" in text
    assert "&lt;i&gt;X&lt;/i&gt;" in text
    assert "<i>&lt;b&gt;</i>" in text


@pytest.mark.parametrize("size", [5_000, 100_000])
def test_alert_never_exceeds_telegram_limit(size: int) -> None:
    hostile = "&<>" * size
    story = _story(title=hostile, link="https://e.org/" + "a" * size, sources=(hostile,) * 50)
    text = render_alert(story, lang="en", rule_text=hostile, place_name=_name).text
    assert len(text) <= MAX_MESSAGE_CHARS
    assert text.count("<b>") == text.count("</b>")


@pytest.mark.parametrize(
    ("value", "shown"), [(-18.0, "−18 °C"), (-0.5, "−0.5 °C"), (3.25, "3.2 °C"), (0.0, "0 °C")]
)
def test_format_temperature(value: float, shown: str) -> None:
    assert format_temperature(value) == shown


def test_format_number() -> None:
    assert format_number(1_500_000, "en") == "1,500,000"
    assert format_number(1_500_000, "uk") == "1\u00a0500\u00a0000"
