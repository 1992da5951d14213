"""Text normalisation before fact matching: one spelling for minus signs, dashes, degree
marks, spaces and apostrophes, so that the matchers see `-5°C` however it was typed.

NFKC is deliberately avoided: it turns the superscript zero in `-5⁰C` into a digit (`-50C`).
"""

from __future__ import annotations

import re
import unicodedata

# Every dash-like sign becomes ASCII "-": whether it is a minus, a range or punctuation is
# decided by the matchers from the spacing and the neighbours, not by the glyph the
# publisher's keyboard happened to produce.
_DASHES = "\u2010\u2011\u2012\u2013\u2014\u2015\u2212\ufe58\ufe63\uff0d\u2043"
# Degree marks seen in the wild: the real degree sign, masculine ordinal, ring above,
# superscript zero and small o used as degrees.
_DEGREES = "\u00b0\u00ba\u02da\u2070\u1d52"
_APOSTROPHES = "\u2019\u02bc\u2018\u0060\u00b4\u02b9\u2032\uff07"
_SPACES = (
    "\u00a0\u1680\u2000\u2001\u2002\u2003\u2004\u2005\u2006\u2007\u2008\u2009\u200a"
    "\u202f\u205f\u3000\t\x0b\x0c"
)
# Invisible characters that split words or numbers ("1\u200b000"): dropped.
_INVISIBLE = "\u200b\u200c\u200d\u2060\ufeff\u00ad"

_TABLE: dict[int, str | None] = {}
_TABLE.update({ord(c): "-" for c in _DASHES})
_TABLE.update({ord(c): "°" for c in _DEGREES})
_TABLE.update({ord(c): "'" for c in _APOSTROPHES})
_TABLE.update({ord(c): " " for c in _SPACES})
_TABLE.update({ord(c): None for c in _INVISIBLE})
_TABLE[ord("\u2026")] = "..."
_TABLE[ord("\u2103")] = "°C"
_TABLE[ord("\u2109")] = "°F"
_TABLE[ord("\r")] = "\n"
_TABLE[ord("\u2028")] = "\n"
_TABLE[ord("\u2029")] = "\n"
_TABLE[ord("\u0085")] = "\n"
# Remaining C0/C1 control characters carry no text: they become spaces.
for _code in [*range(0x00, 0x20), *range(0x7F, 0xA0)]:
    _TABLE.setdefault(_code, " ")
del _TABLE[ord("\n")]
_REPLACEMENT = {chr(code): (value or "") for code, value in _TABLE.items()}
# One charset scan finds the few characters to replace: much cheaper than `str.translate`
# over the whole text, which looks up every character.
_SPECIAL = re.compile("[" + "".join(re.escape(c) for c in sorted(_REPLACEMENT)) + "]")

# "°С" with a Cyrillic Es (and "°Ф"), as typed on a Cyrillic keyboard, is Celsius (Fahrenheit).
_CYRILLIC_UNIT = re.compile(r"°\s?([СсФф])(?![^\W\d_])")
_CYRILLIC_TO_LATIN = {"С": "C", "с": "C", "Ф": "F", "ф": "F"}
_MANY_SPACES = re.compile(r" {2,}")


def _unit(match: re.Match[str]) -> str:
    return "°" + _CYRILLIC_TO_LATIN[match.group(1)]


def _replace(text: str) -> str:
    return _SPECIAL.sub(_replacement, text)


def _replacement(match: re.Match[str]) -> str:
    return _REPLACEMENT[match.group()]


def normalize(text: str) -> str:
    """The text with signs, spaces and apostrophes in one spelling (idempotent).

    Composed characters (NFC) so that "й" typed as "и" + combining breve matches; the
    translation runs on both sides of NFC because NFC can produce a space variant from an
    older one (U+2000 -> U+2002) and dropping an invisible character can bring a letter and
    its combining mark together.
    """
    if not text:
        return ""
    text = _replace(text)
    if not text.isascii() and not unicodedata.is_normalized("NFC", text):
        text = _replace(unicodedata.normalize("NFC", text))
    if "°" in text:
        text = _CYRILLIC_UNIT.sub(_unit, text)
    if "  " in text:
        text = _MANY_SPACES.sub(" ", text)
    return text


# Aggregators (Google News) glue one headline's source to the next headline:
# "...The New York TimesIn blow to..." or "Bloomberg.comNo Power". A lower-case letter (or
# ".com") touching a capitalised word marks the seam.
# The pattern starts with the (rare) capital so that the scan skips most of the text.
_GLUED = re.compile(
    r"[A-ZА-ЯІЇЄҐЁ'\"](?:(?<=[a-zа-яіїєґё][A-ZА-ЯІЇЄҐЁ])(?=[a-zа-яіїєґё'])|(?<=\.com[A-Z'\"]))"
)


def split_glued_headlines(text: str) -> str:
    """`text` with a line break at each seam between glued headlines (see `_GLUED`)."""
    return _GLUED.sub(_seam, text)


def _seam(match: re.Match[str]) -> str:
    return "\n" + match.group()


def lower_same_length(text: str) -> str:
    """`text.lower()` with every index unchanged (only "İ" lowers to two code points)."""
    return (text.replace("\u0130", "I") if "\u0130" in text else text).lower()
