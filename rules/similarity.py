"""How alike two headlines are: normalisation, content terms and a weighted overlap score.

Language-neutral on purpose: terms are cut to a short prefix (a crude stem that also works for
inflected Ukrainian and Russian), and weights come from how common a term is among the
headlines seen so far (`TermStats`), so "Ukraine" or "attack" weigh little and "Oreshnik" a lot.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable

from rapidfuzz import fuzz

STEM_LENGTH = 6

# Function words of English, Ukrainian and Russian headlines: they say nothing of the event.
_STOPWORD_TEXT = """
    a an the of in on at to for from by with as and or but is are was were be been being has
    have had it its this that these those after before amid over under into about says said
    say than not no what why how who whom will would can could may might more most up out off
    via per vs new also amid against while during just still again live updates update latest
    і й та та ж в у на до з із зі за по від для про що як це не але чи як після через під над
    між вже ще його її їх біля після близько понад майже
    и в во на к с со за по от для о об что как это не но или после через под над между уже
    еще его ее их около более почти
"""
STOPWORDS = frozenset(_STOPWORD_TEXT.split())

# " - Reuters", " | DW", " – Militarnyi": a short tail after a dash or bar names the publisher.
_SUFFIX = re.compile(r"\s+[-–—|]\s+([^-–—|]{1,40})$")
_APOSTROPHES = re.compile(r"[’'`ʼ‘]")
_POSSESSIVE = re.compile(r"(?<=\w)[’'`ʼ]s\b")
_THOUSANDS = re.compile(r"(?<=\d)[,.  ](?=\d{3}\b)")
_NON_WORD = re.compile(r"[^\w\s]|_")
_SPACES = re.compile(r"\s+")


def strip_publisher(title: str, source_name: str | None = None) -> str:
    """`title` without a trailing publisher name (" - Reuters", " | DW", up to two of them).

    A tail is taken for a publisher only when it is short and does not start with a digit or a
    minus sign, so "Kyiv - 20 degrees" style endings survive.
    """
    text = title.strip()
    if source_name:
        for sep in (" - ", " | ", " – ", " — "):
            if text.endswith(sep + source_name):
                return text[: -len(sep + source_name)].rstrip()
    for _ in range(2):
        match = _SUFFIX.search(text)
        if match is None:
            break
        tail = match.group(1).strip()
        if not tail or tail[0].isdigit() or len(tail.split()) > 5:
            break
        text = text[: match.start()].rstrip()
    return text


def normalise_title(title: str, source_name: str | None = None) -> str:
    """Lower case, publisher suffix removed, punctuation gone, "1,330" -> "1330", spaces single."""
    text = unicodedata.normalize("NFKC", strip_publisher(title, source_name)).casefold()
    text = text.replace("ё", "е").replace("−", "-")
    text = _POSSESSIVE.sub("", text)
    text = _APOSTROPHES.sub("", text)
    text = _THOUSANDS.sub("", text)
    text = _NON_WORD.sub(" ", text)
    return _SPACES.sub(" ", text).strip()


def title_terms(title: str, source_name: str | None = None) -> frozenset[str]:
    """The content terms of a headline: normalised words minus stopwords, cut to a stem."""
    terms = set()
    for word in normalise_title(title, source_name).split():
        if word in STOPWORDS or (len(word) < 2 and not word.isdigit()):
            continue
        # Words with digits ("geran5", "1330") are names or numbers: cutting them loses them.
        has_digit = any(ch.isdigit() for ch in word)
        terms.add(word if has_digit else word[:STEM_LENGTH])
    return frozenset(terms)


class TermStats:
    """Document frequencies of terms over the headlines seen, for inverse-frequency weights.

    The `prior` keeps early weights flat (with few headlines seen nothing is known to be common).
    """

    __slots__ = ("_df", "_docs", "_prior")

    def __init__(self, *, prior: int = 20) -> None:
        self._df: Counter[str] = Counter()
        self._docs = 0
        self._prior = prior

    def add(self, terms: Iterable[str]) -> None:
        self._docs += 1
        self._df.update(set(terms))

    def weight(self, term: str) -> float:
        return math.log((self._docs + self._prior) / (self._df[term] + 1))

    def document_frequency(self, term: str) -> int:
        return self._df[term]


def term_similarity(a: frozenset[str], b: frozenset[str], stats: TermStats | None = None) -> float:
    """Weighted cosine of two term sets, in [0, 1] (uniform weights without `stats`)."""
    if not a or not b:
        return 0.0
    shared = a & b
    if not shared:
        return 0.0

    def weight(term: str) -> float:
        return stats.weight(term) ** 2 if stats is not None else 1.0

    num = sum(weight(t) for t in shared)
    den = math.sqrt(sum(weight(t) for t in a) * sum(weight(t) for t in b))
    return num / den if den > 0 else 0.0


def title_similarity(
    a: str, b: str, *, stats: TermStats | None = None, a_source: str | None = None
) -> float:
    """How alike two headlines are, in [0, 1]: the larger of the weighted term overlap and
    (for near-identical wording, such as syndicated copies) the character-level ratio."""
    norm_a, norm_b = normalise_title(a, a_source), normalise_title(b)
    if not norm_a or not norm_b:
        return 0.0
    overlap = term_similarity(title_terms(a, a_source), title_terms(b), stats)
    return max(overlap, near_copy_score(norm_a, norm_b))


def near_copy_score(norm_a: str, norm_b: str) -> float:
    """The character-level similarity of two normalised titles, counted only when they are
    near copies (>= 0.9): below that, wording overlap says more than character overlap."""
    # Series differ only in a number ("Assessment, January 24" / "January 25", "Day 1437"):
    # near copies must carry the same numbers.
    if _numbered(norm_a) != _numbered(norm_b):
        return 0.0
    ratio = fuzz.token_sort_ratio(norm_a, norm_b) / 100.0
    return ratio if ratio >= 0.9 else 0.0


def _numbered(normalised: str) -> frozenset[str]:
    return frozenset(w for w in normalised.split() if any(ch.isdigit() for ch in w))
