"""Alert and digest messages as Telegram HTML.

Text from feeds is escaped here, once, at the edge; a message never exceeds Telegram's
4096 characters (the headline gives way first, then the list of sources).
"""

from __future__ import annotations

import html
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from bot.i18n import t
from feeds.models import Category
from rules.models import Story

MAX_MESSAGE_CHARS = 4096
MAX_HEADLINE_CHARS = 300

# Order matters: the first category present gives the message its leading emoji.
CATEGORY_EMOJI: dict[Category, str] = {
    Category.POWER_OUTAGE: "⚡",
    Category.HEATING_OUTAGE: "🔥",
    Category.WATER_OUTAGE: "💧",
    Category.COLD: "❄️",
    Category.ENERGY_ATTACK: "💥",
    Category.RESTORATION: "✅",
}

PlaceNamer = Callable[[str, str], str]
"""(place_id, lang) -> a display name, e.g. `Gazetteer.display_name`."""


@dataclass(frozen=True, slots=True)
class RenderedAlert:
    text: str
    emoji: str


def format_number(value: int, lang: str) -> str:
    """300000 -> "300,000" (en) / "300 000" (uk, with a no-break space)."""
    grouped = f"{value:,}"
    return grouped.replace(",", "\u00a0") if lang == "uk" else grouped


def format_temperature(value: float) -> str:
    """-18.0 -> "−18 °C" with a true minus sign, which Telegram clients never wrap."""
    number = f"{abs(value):.1f}".rstrip("0").rstrip(".")
    sign = "−" if value < 0 else ""
    return f"{sign}{number} °C"


def category_emoji(categories: frozenset[Category]) -> str:
    for category, emoji in CATEGORY_EMOJI.items():
        if category in categories:
            return emoji
    return "📰"


def facts_line(story: Story, *, lang: str, place_name: PlaceNamer) -> str:
    """ "❄️ −18 °C · ⚡ 300,000 without power · Kyiv" (plain text; escape before sending)."""
    parts: list[str] = []
    if story.coldest_c is not None:
        parts.append(f"❄️ {format_temperature(story.coldest_c)}")
    if story.affected:
        what = _affected_key(story.categories)
        count = format_number(story.affected, lang)
        parts.append(f"{category_emoji(story.categories)} {t(lang, what, count=count)}")
    places = sorted({place_name(p, lang) for p in story.place_ids if p != "UA"})
    if places:
        parts.append(", ".join(places[:5]) + (f" +{len(places) - 5}" if len(places) > 5 else ""))
    elif "UA" in story.place_ids:
        parts.append(place_name("UA", lang))
    return " · ".join(parts)


def _affected_key(categories: frozenset[Category]) -> str:
    if Category.POWER_OUTAGE in categories:
        return "facts.without_power"
    if Category.HEATING_OUTAGE in categories:
        return "facts.without_heating"
    if Category.WATER_OUTAGE in categories:
        return "facts.without_water"
    return "facts.affected"


def sources_line(sources: Sequence[str], *, shown: int = 2) -> str:
    """ "UNIAN, Ukrinform +2"."""
    head = ", ".join(sources[:shown])
    return f"{head} +{len(sources) - shown}" if len(sources) > shown else head


def render_alert(
    story: Story, *, lang: str, rule_text: str, place_name: PlaceNamer
) -> RenderedAlert:
    """One alert message for one story, in `lang`, as Telegram HTML."""
    emoji = category_emoji(story.categories)
    headline_limit, with_link = MAX_HEADLINE_CHARS, True
    while True:
        text = _alert_html(story, lang, rule_text, place_name, emoji, headline_limit, with_link)
        if len(text) <= MAX_MESSAGE_CHARS:
            return RenderedAlert(text=text, emoji=emoji)
        # Escaping can multiply hostile text fivefold: give way link first, then headline.
        if with_link:
            with_link = False
        else:
            headline_limit //= 2


def _alert_html(
    story: Story,
    lang: str,
    rule_text: str,
    place_name: PlaceNamer,
    emoji: str,
    headline_limit: int,
    with_link: bool,
) -> str:
    headline = _clip(story.title.strip() or t(lang, "alert.untitled"), headline_limit)
    lines = [f"{emoji} <b>{html.escape(headline)}</b>"]
    facts = facts_line(story, lang=lang, place_name=place_name)
    if facts:
        lines.append(html.escape(facts))
    if story.resolved:
        lines.append(t(lang, "alert.resolved"))
    if story.sources:
        names = [_clip(name, 60) for name in story.sources]
        lines.append(f"📰 {html.escape(sources_line(names))}")
    if story.link and with_link and len(story.link) <= 2000:
        href = html.escape(story.link, quote=True)
        lines.append(f'🔗 <a href="{href}">{t(lang, "alert.read_more")}</a>')
    lines.append(t(lang, "alert.rule", rule=html.escape(_clip(rule_text, 200))))
    return "\n".join(lines)


def _clip(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"
