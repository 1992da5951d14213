"""Hostile rule texts: `parse_rule` on arbitrary text and on mutated valid rules either returns
a `Rule` or raises `RuleSyntaxError`, and whatever parses formats back to the same `Rule`
(English and Ukrainian), with the tiny place double and the real gazetteer."""

from __future__ import annotations

import math

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from feeds.gazetteer import load_gazetteer
from rules import vocabulary
from rules.language import RuleSyntaxError, format_rule, parse_rule
from rules.places import PlaceDirectory
from rules.rule import Rule
from tests.rules.places_double import TinyPlaces
from tests.rules.test_language import rules_strategy


class _TinyWithCodes(TinyPlaces):
    """The tiny double, naming an unknown P-code by itself as the real gazetteer does (the
    parser accepts any well-formed P-code, e.g. "UA1234567890")."""

    def display_name(self, place_id: str, lang: str = "en") -> str:
        try:
            return super().display_name(place_id, lang)
        except KeyError:
            return place_id


TINY = _TinyWithCodes()
GAZETTEER = load_gazetteer()
DIRECTORIES: dict[str, PlaceDirectory] = {"tiny": TINY, "gazetteer": GAZETTEER}

# Letters people (or attackers) swap in: Cyrillic/Latin look-alikes, dashes, invisible marks.
LOOK_ALIKES = {
    "a": "а", "e": "е", "o": "о", "i": "і", "c": "с", "p": "р", "x": "х", "y": "у",
    "K": "К", "-": "−–—‐", " ": "\u00a0\u202f\u2009\u200b\u3000", '"': "“”„«»＂",
    "<": "≤＜", ">": "≥＞", "=": "＝", "1": "１¹", "0": "０", ",": "，;",
}  # fmt: skip
HOSTILE_PIECES = [
    '"', "'", "«", "»", "“", "„", "-\"", "(", ")", "((", "))", ":", ";", ",", "<=", ">=", "=<",
    "==", "≤", "≥", "<", ">", "=", "\x00", "\x1b[31m", "\u202e", "\u200b", "\ufeff", "\ud7ff",
    "\n", "\t", "\r\n", "9" * 400, "-" + "9" * 400, "1" + "0" * 310, "1e308", "1.5", "10 000",
    "10,000", "999999999999999999999k", "NaN", "inf", "-inf", "млн", "k", "°C", "UA", "UA80",
    "UA1234567890", "<b>", "</code>", "&amp;", "🔥", "A" * 300, "or", "або", "|", "not", "від",
]  # fmt: skip


def _check(text: str, places: PlaceDirectory) -> None:
    """The property: a Rule that round-trips in both languages, or a well-formed syntax error."""
    for lang in ("en", "uk"):
        try:
            rule = parse_rule(text, places=places, lang=lang)
        except RuleSyntaxError as exc:
            assert 0 <= exc.position <= exc.end <= len(text), (exc.position, exc.end)
            assert str(exc) and exc.message
            assert exc.pointer().startswith(text)
            continue
        assert isinstance(rule, Rule)
        _check_round_trip(rule, places)


def _check_round_trip(rule: Rule, places: PlaceDirectory) -> None:
    for value in (rule.max_temp_c, rule.min_temp_c):
        assert value is None or math.isfinite(value), rule
    for out in ("en", "uk"):
        canonical = format_rule(rule, places=places, lang=out)
        try:
            again = parse_rule(canonical, places=places)
        except RuleSyntaxError as exc:  # pragma: no cover - reported with the texts
            raise AssertionError(f"{canonical!r} (from {rule!r}) does not parse: {exc}") from exc
        assert again == rule, canonical
        assert format_rule(again, places=places, lang=out) == canonical


# --- arbitrary text ---------------------------------------------------------------------------

_ANY_TEXT = st.text(max_size=200)  # every code point hypothesis draws: controls, surrogates...
_HOSTILE_TEXT = st.lists(
    st.sampled_from([*HOSTILE_PIECES, *vocabulary.ALL_WORDS, "Kyiv", "Київ", "Харківщина"]),
    max_size=12,
).map(" ".join)


@pytest.mark.parametrize("directory", sorted(DIRECTORIES))
@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=_ANY_TEXT | _HOSTILE_TEXT)
@example(text="cold <= -" + "9" * 400)
@example(text="temperature >= 1" + "0" * 400)
@example(text="temperature <= 1" + "0" * 306 + " k")
@example(text="affected >= 1" + "0" * 400)
@example(text="affected >= 9" * 3)
@example(text='"' + "x" * 10_000)
@example(text="power " * 2_000)
@example(text="\x00\x01\x02 in \x7f Kyiv \u202e")
def test_any_text_gives_a_round_tripping_rule_or_a_syntax_error(directory: str, text: str) -> None:
    _check(text, DIRECTORIES[directory])


# --- mutations of valid rules -----------------------------------------------------------------


@st.composite
def mutated_rules(draw: st.DrawFn) -> str:
    """The canonical text of a generated rule, then a few insertions, deletions, replacements,
    look-alike swaps, stray quotes, huge numbers or control characters."""
    rule = draw(rules_strategy)
    text = format_rule(rule, places=TINY, lang=draw(st.sampled_from(["en", "uk"])))
    tokens = text.split(" ")
    pieces = st.sampled_from([*HOSTILE_PIECES, *vocabulary.ALL_WORDS]) | st.text(max_size=6)
    for _ in range(draw(st.integers(1, 4))):
        how = draw(st.sampled_from(["insert", "delete", "replace", "look_alike", "char"]))
        at = draw(st.integers(0, max(0, len(tokens) - 1)))
        if how == "insert":
            tokens.insert(at, draw(pieces))
        elif how == "delete" and tokens:
            del tokens[at]
        elif how == "replace" and tokens:
            tokens[at] = draw(pieces)
        elif how == "look_alike" and tokens:
            word = tokens[at]
            tokens[at] = "".join(
                draw(st.sampled_from(LOOK_ALIKES[ch])) if ch in LOOK_ALIKES else ch for ch in word
            )
        else:  # a single character anywhere: quote, control, combining mark, surrogate...
            joined = " ".join(tokens)
            pos = draw(st.integers(0, len(joined)))
            char = draw(
                st.sampled_from('"«»“„()-:,\x00\x07\x1f\u0301\u200d\ud800') | st.characters()
            )
            tokens = (joined[:pos] + char + joined[pos:]).split(" ")
    return " ".join(tokens)


@pytest.mark.parametrize("directory", sorted(DIRECTORIES))
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(text=mutated_rules())
def test_mutated_rules_give_a_round_tripping_rule_or_a_syntax_error(
    directory: str, text: str
) -> None:
    _check(text, DIRECTORIES[directory])


def test_a_10k_character_rule_is_read_quickly() -> None:
    """Long input must not make the parser quadratic-slow (the bot reads up to 1000 chars,
    but the parser itself is also used by the CLI)."""
    import time

    for text in (
        "power " * 1700,
        "in Kyiv, " * 1100,
        '"' + "ab " * 3400 + '"',
        "-" * 10_000,
        "(" * 10_000,
        "Kyiv " * 2000,
        "Kiyv " * 2000,
    ):
        started = time.perf_counter()
        _check(text[:10_000], GAZETTEER)
        assert time.perf_counter() - started < 5.0, text[:30]


def test_an_overflowing_temperature_is_a_syntax_error() -> None:
    """Found by the fuzzer: 400 digits overflowed to inf, which formatted as "-inf" and could
    not be read back (and is not valid JSON for PostgreSQL's JSONB)."""
    for text in ("cold <= -" + "9" * 400, "temperature >= 1" + "0" * 400, "мороз 1e999"):
        with pytest.raises(RuleSyntaxError) as caught:
            parse_rule(text, places=TINY)
        assert caught.value.code in ("temperature_number", "unknown_word", "unexpected")
