"""The daily digest (`rules.digest.Digest`) as one Telegram HTML message in the chat's language:
a summary line, then sections by place and category with their headlines, then what was resolved.
Feed text is escaped here; the message never exceeds Telegram's 4096 characters.
"""

from __future__ import annotations

import html
from datetime import date

from bot.i18n import t
from bot.render import MAX_MESSAGE_CHARS, PlaceNamer, category_emoji, format_number, sources_line
from bot.render import format_temperature as temperature
from rules.digest import Digest, DigestSection
from rules.models import Story

MAX_HEADLINE_CHARS = 160
STORIES_PER_SECTION = 5
# Room kept for the "and N more" line when the message is cut.
_RESERVE = 120


def render_digest(digest: Digest, *, lang: str, day: date, place_name: PlaceNamer) -> str:
    """The digest message; an empty digest says plainly that nothing matched."""
    title = t(lang, "digest.title", date=day.strftime("%d.%m.%Y"))
    if digest.is_empty:
        return f"{title}\n\n{t(lang, 'digest.empty')}"
    head = [title, _summary(digest, lang)]
    blocks = [_section(section, lang, place_name) for section in digest.sections]
    if digest.resolved:
        lines = [t(lang, "digest.resolved")]
        lines += [_story_line(story) for story in digest.resolved[:STORIES_PER_SECTION]]
        blocks.append("\n".join(lines))

    text = "\n".join(head)
    for shown, block in enumerate(blocks):
        candidate = f"{text}\n\n{block}"
        if len(candidate) > MAX_MESSAGE_CHARS - _RESERVE:
            more = t(lang, "digest.more_sections", count=len(blocks) - shown)
            return f"{text}\n\n{more}"
        text = candidate
    return text


def _summary(digest: Digest, lang: str) -> str:
    parts = [t(lang, "digest.stories", count=digest.story_count)]
    if digest.coldest_c is not None:
        parts.append(f"❄️ {temperature(digest.coldest_c)}")
    if digest.max_affected:
        parts.append(t(lang, "digest.affected", count=format_number(digest.max_affected, lang)))
    return " · ".join(parts)


def _section(section: DigestSection, lang: str, place_name: PlaceNamer) -> str:
    place = html.escape(place_name(section.place_id, lang))
    if section.category is None:
        what = t(lang, "digest.category.other")
        emoji = "📰"
    else:
        what = t(lang, f"digest.category.{section.category.value}")
        emoji = category_emoji(frozenset({section.category}))
    header = f"{emoji} <b>{place}</b> — {html.escape(what)} ({section.count})"
    lines = [header]
    lines += [_story_line(story) for story in section.stories[:STORIES_PER_SECTION]]
    if section.count > STORIES_PER_SECTION:
        lines.append(t(lang, "digest.more_stories", count=section.count - STORIES_PER_SECTION))
    return "\n".join(lines)


def _story_line(story: Story) -> str:
    headline = story.title.strip()
    if len(headline) > MAX_HEADLINE_CHARS:
        headline = headline[: MAX_HEADLINE_CHARS - 1].rstrip() + "…"
    text = html.escape(headline)
    if story.link and len(story.link) <= 500:
        text = f'<a href="{html.escape(story.link, quote=True)}">{text}</a>'
    names = [name[:40] for name in story.sources]
    sources = f" ({html.escape(sources_line(names))})" if names else ""
    return f"• {text}{sources}"
