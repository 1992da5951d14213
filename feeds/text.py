"""Cheap text clean-up for feed fields: HTML to plain text, whitespace, tracking-free links.

Regex-based on purpose: feed summaries are small HTML fragments, and the poller parses
thousands of them, so a full HTML parser per field would cost more than feedparser itself.
"""

from __future__ import annotations

import html
import re
from urllib.parse import unquote, urljoin, urlsplit, urlunsplit

# Content that is never text: dropped with everything inside it.
_INVISIBLE = re.compile(
    r"<(script|style|noscript|template|iframe|object|svg|head)\b[^>]*>.*?</\1\s*>"
    r"|<!--.*?(?:-->|$)",
    re.IGNORECASE | re.DOTALL,
)
# Tags that separate words: replaced by a space. Other (inline) tags vanish, so that
# "un<b>believ</b>able" stays one word.
_BLOCK_TAG = re.compile(
    r"</?(?:br|p|div|li|ul|ol|tr|td|th|table|h[1-6]|blockquote|pre|section|article|header|"
    r"footer|figure|figcaption|img|hr|dd|dt|dl)\b[^>]*>",
    re.IGNORECASE,
)
# Anything that looks like a tag (also `<![CDATA[`, `<!DOCTYPE`, `<?php`), but not "a < b".
_ANY_TAG = re.compile(r"</?[A-Za-z!?][^<>]*>")
_WHITESPACE = re.compile(r"\s+")

# Query parameters that only track the reader; never part of what the link points to.
_TRACKING_PREFIXES = ("utm_", "mtm_", "pk_")
_TRACKING_NAMES = frozenset(
    {
        "fbclid",
        "gclid",
        "dclid",
        "gbraid",
        "wbraid",
        "yclid",
        "msclkid",
        "mc_cid",
        "mc_eid",
        "igshid",
        "_ga",
        "_gl",
        "_hsenc",
        "_hsmi",
        "ref",
        "ref_src",
        "ref_url",
        "referrer",
        "cmpid",
        "ito",
        "at_medium",
        "at_campaign",
        "xtor",
    }
)


def collapse_whitespace(value: str) -> str:
    """Runs of whitespace (also no-break spaces and newlines) become one space; ends trimmed."""
    return _WHITESPACE.sub(" ", value).strip()


def html_to_text(value: str) -> str:
    """Plain text of an HTML fragment: tags removed, entities decoded, whitespace collapsed."""
    if "<" in value:
        value = _INVISIBLE.sub(" ", value)
        value = _BLOCK_TAG.sub(" ", value)
        value = _ANY_TAG.sub("", value)
    if "&" in value:
        value = html.unescape(value)
        # Double-escaped markup ("&amp;lt;b&amp;gt;") is a common publisher bug; after one
        # round of decoding it looks like tags again, and readers never want to see those.
        if "<" in value:
            value = _ANY_TAG.sub("", _BLOCK_TAG.sub(" ", value))
    return collapse_whitespace(value)


def plain_text(value: str) -> str:
    """Clean a text/plain field: decode stray entities (double-escaped feeds), collapse space."""
    if "&" in value:
        value = html.unescape(value)
    return collapse_whitespace(value)


def is_tracking_param(name: str) -> bool:
    """True for query parameters that only identify a campaign or a click."""
    key = unquote(name).strip().lower()
    return key.startswith(_TRACKING_PREFIXES) or key in _TRACKING_NAMES


def clean_link(url: str | None, base: str | None = None) -> str | None:
    """An absolute http(s) URL without tracking parameters, or None when there is none.

    Relative links are resolved against `base`. Other query parameters keep their order and
    their original encoding, so the link still points to the same page.
    """
    if not url:
        return None
    url = url.strip()
    if not url:
        return None
    if base:
        try:
            url = urljoin(base, url)
        except ValueError:
            return None
    try:
        parts = urlsplit(url)
    except ValueError:  # e.g. an invalid IPv6 literal
        return None
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https") or not parts.netloc:
        return None
    query = parts.query
    if query:
        kept = [p for p in query.split("&") if p and not is_tracking_param(p.split("=", 1)[0])]
        query = "&".join(kept)
    fragment = parts.fragment
    # "#xtor=RSS-3" and friends are tracking too; a real anchor has no "=".
    if "=" in fragment and is_tracking_param(fragment.split("=", 1)[0]):
        fragment = ""
    return urlunsplit((scheme, parts.netloc.lower(), parts.path or "/", query, fragment))
