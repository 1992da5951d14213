"""Whole-word keyword matching that ignores case, apostrophe style and Latin/Cyrillic look-alikes.

No user-supplied regular expressions: a keyword is a phrase of words, matched as consecutive
whole words of the folded text, so matching is linear in the text.
"""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache

# Every apostrophe-like sign people type in Ukrainian words ("м'ясо", "м’ясо", "мʼясо").
_APOSTROPHES = "'’‘ʼʹ`´′"
_APOSTROPHE_TABLE = {ord(ch): "'" for ch in _APOSTROPHES}

# Cyrillic letters whose lower- or upper-case form looks like a Latin letter, folded to that
# letter; mixed-script words ("Укрeнерго" typed with a Latin e) then fold to one spelling.
_LOOKALIKES = {
    "а": "a",
    "в": "b",
    "е": "e",
    "ё": "e",
    "і": "i",
    "ј": "j",
    "к": "k",
    "м": "m",
    "н": "h",
    "о": "o",
    "р": "p",
    "с": "c",
    "т": "t",
    "у": "y",
    "х": "x",
    "ѕ": "s",
    "ԛ": "q",
    "ԝ": "w",
}
_FOLD_TABLE = {**_APOSTROPHE_TABLE, **{ord(k): v for k, v in _LOOKALIKES.items()}}

# A word: letters or digits, with apostrophes inside ("пам'ять") but not at its ends.
_WORD = re.compile(r"[^\W_]+(?:'[^\W_]+)*")


def fold(text: str) -> str:
    """`text` in the one spelling comparisons use: NFKC, case-folded, look-alikes merged."""
    return unicodedata.normalize("NFKC", text).casefold().translate(_FOLD_TABLE)


def words(text: str) -> tuple[str, ...]:
    """The folded words of `text`, in order."""
    return tuple(_WORD.findall(fold(text)))


@lru_cache(maxsize=8192)
def text_words(text: str) -> tuple[tuple[str, ...], frozenset[str]]:
    """The folded words of a story text and their set (cached: many rules read one story)."""
    found = words(text)
    return found, frozenset(found)


@lru_cache(maxsize=65536)
def keyword_words(keyword: str) -> tuple[str, ...]:
    """The folded words of a keyword phrase (cached: rules are checked many times)."""
    return words(keyword)


def is_valid_keyword(keyword: str) -> bool:
    """A keyword must contain at least one word."""
    return bool(keyword_words(keyword))


def contains_keyword(text: str, keyword: str) -> bool:
    """True when the words of `keyword` occur consecutively, as whole words, in `text`."""
    needle = keyword_words(keyword)
    if not needle:
        return False
    haystack, vocabulary = text_words(text)
    if any(word not in vocabulary for word in needle):
        return False
    if len(needle) == 1:
        return True
    first, span = needle[0], len(needle)
    return any(
        haystack[i] == first and haystack[i : i + span] == needle
        for i in range(len(haystack) - span + 1)
    )
