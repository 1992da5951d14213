"""Cheap language detection for news text: Ukrainian, Russian or English.

Letter statistics only: і ї є ґ exist in Ukrainian and not in Russian, ы э ё ъ the other
way round; a few frequent function words break ties in short titles.
"""

from __future__ import annotations

import re

LANGUAGES = ("uk", "ru", "en")

_UK_LETTERS = frozenset("іїєґІЇЄҐ")
_RU_LETTERS = frozenset("ыэёъЫЭЁЪ")
_CYRILLIC_COMMON = "оаенитрсвОАЕНИТРСВ"
_LATIN_COMMON = "eaotinsrhEAOTINSRH"
_WORD = re.compile(r"[^\W\d_]+")
_UK_WORDS = frozenset(
    [
        "і",
        "й",
        "та",
        "що",
        "це",
        "як",
        "від",
        "для",
        "до",
        "через",
        "після",
        "також",
        "який",
        "яка",
        "які",
        "його",
        "її",
        "їх",
        "вже",
        "ще",
    ]
)
_RU_WORDS = frozenset(
    [
        "и",
        "что",
        "это",
        "как",
        "от",
        "для",
        "до",
        "через",
        "после",
        "также",
        "который",
        "которая",
        "которые",
        "его",
        "ее",
        "их",
        "уже",
        "еще",
    ]
)
# Enough letters to trust the statistics over a caller's hint.
_CONFIDENT = 20
_SAMPLE = 1500


def _hint_language(hint: str | None) -> str | None:
    if not hint:
        return None
    code = hint.strip().lower()[:2]
    return code if code in LANGUAGES else None


def detect_language(text: str, *, hint: str | None = None) -> str:
    """`uk`, `ru` or `en` for `text`; `hint` (e.g. a feed's `en-US`) decides when unsure.

    Latin-script text (including other Latin languages) counts as `en`: the extractor's
    English vocabulary is the best it has for it.
    """
    sample = text[:_SAMPLE]
    # The most frequent letters stand for their script: counting a few with `str.count` is
    # far cheaper than classifying every character.
    cyrillic = sum(sample.count(c) for c in _CYRILLIC_COMMON)
    latin = sum(sample.count(c) for c in _LATIN_COMMON)
    if not cyrillic and not latin:
        return _hint_language(hint) or "en"
    uk = sum(sample.count(c) for c in _UK_LETTERS)
    ru = sum(sample.count(c) for c in _RU_LETTERS)
    hinted = _hint_language(hint)
    if cyrillic < latin:
        if hinted in ("uk", "ru") and cyrillic >= _CONFIDENT // 2:
            return hinted
        return "en"
    if uk == ru and (cyrillic < _CONFIDENT or uk == 0):
        words = _WORD.findall(sample.lower())
        uk += sum(w in _UK_WORDS for w in words)
        ru += sum(w in _RU_WORDS for w in words)
    if uk > ru:
        return "uk"
    if ru > uk:
        return "ru"
    return hinted if hinted in ("uk", "ru") else "uk"
