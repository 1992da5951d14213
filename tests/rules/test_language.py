"""The rule language: the issue's examples, errors with position and hint, canonical round trip."""

from __future__ import annotations

import importlib.util

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from feeds.models import Category, Severity
from rules import vocabulary
from rules.keywords import fold
from rules.language import RuleSyntaxError, format_rule, parse_rule
from rules.rule import Delivery, Rule
from tests.rules.places_double import PLACES, TinyPlaces

P, H, W = Category.POWER_OUTAGE, Category.HEATING_OUTAGE, Category.WATER_OUTAGE
COLD, ATTACK = Category.COLD, Category.ENERGY_ATTACK
OUTAGES = frozenset({P, H, W})
TINY = TinyPlaces()


def cats(*categories: Category) -> frozenset[Category]:
    return frozenset(categories)


def where(*ids: str) -> frozenset[str]:
    return frozenset(ids)


EXAMPLES = [
    # The examples of the issue, which must work.
    ("power outage in Kyiv", Rule(categories=cats(P), places=where("UA80"))),
    ("outage Kharkiv oblast", Rule(categories=OUTAGES, places=where("UA63"))),
    ("heating, water in Odesa", Rule(categories=cats(H, W), places=where("UA5110137001"))),
    ("cold <= -15 in Kyiv", Rule(max_temp_c=-15, places=where("UA80"))),
    ("temperature below -20 in Lviv oblast", Rule(max_temp_c=-20, places=where("UA46"))),
    ("мороз -15 Київ", Rule(max_temp_c=-15, places=where("UA80"))),
    ("відключення світла Харківщина", Rule(categories=cats(P), places=where("UA63"))),
    ("any in Zaporizhzhia", Rule(places=where("UA2310137001"))),
    ("everything Ukraine", Rule(places=where("UA"))),
    ("outage affected >= 10000", Rule(categories=OUTAGES, min_affected=10_000)),
    ("energy attack severity high", Rule(categories=cats(ATTACK), min_severity=Severity.HIGH)),
    ('"Укренерго" in Kyiv oblast', Rule(keywords=("Укренерго",), places=where("UA32"))),
    (
        'power outage Kyiv -"schedule"',
        Rule(categories=cats(P), places=where("UA80"), exclude_keywords=("schedule",)),
    ),
    (
        "power outage in Kyiv digest",
        Rule(categories=cats(P), places=where("UA80"), delivery=Delivery.DIGEST),
    ),
    ("power outage in Kyiv instant", Rule(categories=cats(P), places=where("UA80"))),
    # Words of both languages, numbers in the ways people write them.
    ("світло, тепло, вода", Rule(categories=OUTAGES)),
    ("знеструмлення у Києві", Rule(categories=cats(P), places=where("UA80"))),
    (
        "опалення на Одещині дайджест",
        Rule(categories=cats(H), places=where("UA51"), delivery=Delivery.DIGEST),
    ),
    ("удар по енергетиці", Rule(categories=cats(ATTACK))),
    ("атака та відновлення", Rule(categories=cats(ATTACK, Category.RESTORATION))),
    ("frost", Rule(categories=cats(COLD))),
    ("cold in Kyiv", Rule(categories=cats(COLD), places=where("UA80"))),
    ("мороз 15", Rule(max_temp_c=-15)),
    ("мороз до -20 °C", Rule(max_temp_c=-20)),
    ("cold <=-15°C", Rule(max_temp_c=-15)),
    ("cold ≤ −15.5", Rule(max_temp_c=-15.5)),
    ("temp >= 30", Rule(min_temp_c=30)),
    ("температура вище 30", Rule(min_temp_c=30)),
    ("outage affected >= 10k", Rule(categories=OUTAGES, min_affected=10_000)),
    ("outage affected >= 10 000", Rule(categories=OUTAGES, min_affected=10_000)),
    ("outage affected >= 10,000", Rule(categories=OUTAGES, min_affected=10_000)),
    ("affected > 999", Rule(min_affected=1000)),
    ("постраждалих понад 1.5 млн", Rule(min_affected=1_500_000)),
    ("людей від 20 тис.", Rule(min_affected=20_000)),
    ("severity >= critical", Rule(min_severity=Severity.CRITICAL)),
    ("серйозність: висока", Rule(min_severity=Severity.HIGH)),
    (
        "power -schedule not «графік»",
        Rule(categories=cats(P), exclude_keywords=("schedule", "графік")),
    ),
    ('“Укренерго”  "rolling   blackouts"', Rule(keywords=("Укренерго", "rolling blackouts"))),
    ("power from UNIAN", Rule(categories=cats(P), sources=frozenset({"UNIAN"}))),
    (
        'power from UNIAN or "BBC News" not from RT',
        Rule(
            categories=cats(P),
            sources=frozenset({"UNIAN", "BBC News"}),
            exclude_sources=frozenset({"RT"}),
        ),
    ),
    ("cold from UNIAN", Rule(categories=cats(COLD), sources=frozenset({"UNIAN"}))),
    (
        "power in Kyiv and Lviv, Odesa",
        Rule(categories=cats(P), places=where("UA80", "UA4606017001", "UA5110137001")),
    ),
    ("in Kyiv, water", Rule(categories=cats(W), places=where("UA80"))),
    ("power both", Rule(categories=cats(P), delivery=Delivery.BOTH)),
    ("POWER OUTAGE IN KYIV", Rule(categories=cats(P), places=where("UA80"))),
    ("pоwer", Rule(categories=cats(P))),  # Cyrillic "о" typed inside an English word
    ("any", Rule()),
]


@pytest.mark.parametrize(("text", "expected"), [pytest.param(t, r, id=t) for t, r in EXAMPLES])
def test_examples_parse(text: str, expected: Rule) -> None:
    rule = parse_rule(text, places=TINY)
    assert rule == expected
    for lang in ("en", "uk"):
        canonical = format_rule(rule, places=TINY, lang=lang)
        assert parse_rule(canonical, places=TINY) == rule, canonical
        assert format_rule(parse_rule(canonical, places=TINY), places=TINY, lang=lang) == canonical


@pytest.mark.parametrize(
    ("rule", "english", "ukrainian"),
    [
        (
            Rule(categories=cats(P), places=where("UA80")),
            "power outage in Kyiv",
            "відключення світла — Київ",
        ),
        (Rule(categories=OUTAGES | {COLD}), "outage, cold", "відключення, похолодання"),
        (Rule(places=where("UA")), "any in Ukraine", "все — Україна"),
        (Rule(), "any", "все"),
        (
            Rule(max_temp_c=-15, places=where("UA80", "UA63"), delivery=Delivery.DIGEST),
            "temperature <= -15 in Kharkiv oblast, Kyiv digest",
            "температура <= -15 — Київ, Харківська область дайджест",
        ),
        (
            Rule(categories=cats(ATTACK), min_affected=10_000, min_severity=Severity.HIGH),
            "energy attack affected >= 10000 severity high",
            "атака на енергетику постраждалих >= 10000 серйозність висока",
        ),
        (
            Rule(
                keywords=('say "hi"',),
                exclude_keywords=("schedule",),
                sources=frozenset({"BBC News", "UNIAN"}),
            ),
            '«say "hi"» -"schedule" from "BBC News" or UNIAN',
            '«say "hi"» -"schedule" від "BBC News" або UNIAN',
        ),
    ],
)
def test_canonical_text(rule: Rule, english: str, ukrainian: str) -> None:
    assert format_rule(rule, places=TINY) == english
    assert format_rule(rule, places=TINY, lang="uk") == ukrainian


@pytest.mark.parametrize(
    ("text", "message", "position", "end"),
    [
        ("power outage in Kiyv", "Unknown place 'Kiyv' — did you mean Kyiv?", 16, 20),
        ("power Kiyv digest", "Unknown place 'Kiyv' — did you mean Kyiv?", 6, 10),
        ("in Kiyv oblast", "Unknown place 'Kiyv oblast' — did you mean Kyiv oblast", 3, 14),
        ("cold <=", "Temperature needs a number — cold <= -15", 7, 7),
        ("cold <= in Kyiv", "Temperature needs a number — cold <= -15", 8, 10),
        ("temperature -20", "Say which way the temperature goes", 0, 11),
        ("powr outage", "Unknown word 'powr' — did you mean 'power'?", 0, 4),
        ("power quux", "Unknown word 'quux' — to require a word, quote it: \"quux\"", 6, 10),
        ('power "Укренерго', "Unclosed quote", 6, 16),
        ("", "The rule is empty — try: power outage in Kyiv", 0, 0),
        ("   ", "The rule is empty", 3, 3),
        ("affected <= 5", "Affected takes a minimum — affected >= 10000", 0, 8),
        ("affected lots", "Affected needs a whole number", 9, 13),
        ("affected 2.5", "Affected needs a whole number", 9, 12),
        ("severity extreme", "Severity needs a level — severity high", 9, 16),
        ("power from", "Say which outlet", 6, 10),
        ("power in", "Say which place", 6, 8),
        ("power -15", "Unexpected '-15'", 6, 9),
        ("power 42 Kyiv", "Unexpected '42'", 6, 8),
        ("power >= 5", "Unexpected '>='", 6, 8),
        ('power ""', "A keyword needs letters or digits", 6, 8),
        ("power -!!", "A keyword needs letters or digits", 6, 9),
        ("power digest instant", "Delivery is given twice", 13, 20),
        ("not schedule", "Unexpected 'not'", 0, 3),
    ],
)
def test_errors_say_where_and_why(text: str, message: str, position: int, end: int) -> None:
    with pytest.raises(RuleSyntaxError) as caught:
        parse_rule(text, places=TINY)
    error = caught.value
    assert str(error).startswith(message)
    assert (error.position, error.end) == (position, end)
    assert error.pointer().splitlines()[0] == text


def test_errors_in_ukrainian() -> None:
    with pytest.raises(RuleSyntaxError) as caught:
        parse_rule("світло в Кииїв", places=TINY, lang="uk")
    assert caught.value.code == "unknown_place"
    assert str(caught.value) == "Невідоме місце 'Кииїв' — можливо, Київ?"


def test_phrase_table_has_no_conflicts() -> None:
    # Building the table raises on a phrase with two meanings; check every word is reachable.
    for phrase in vocabulary.ALL_WORDS:
        assert vocabulary.PHRASES.get(tuple(fold(phrase).split())) is not None


# --- canonical round trip over generated rules ------------------------------------------------

_WORD_CHARS = st.sampled_from(
    "abcdefghijklmnopqrstuvwxyzабвгґдеєжзиіїйклмнопрстуфхцчшщьюя0123456789'"
)
_WORDS = st.text(_WORD_CHARS, min_size=1, max_size=8).filter(lambda w: w[0] != "'" and w[-1] != "'")
_PHRASE = st.lists(_WORDS, min_size=1, max_size=3).map(" ".join)
_SOURCE = st.one_of(
    _PHRASE, st.sampled_from(["UNIAN", "BBC News", "not", "or", "Укрінформ", "power"])
)
_TEMP = st.integers(-120, 120).map(lambda n: n / 2)

rules_strategy = st.builds(
    Rule,
    categories=st.frozensets(st.sampled_from(list(Category))),
    places=st.frozensets(st.sampled_from(sorted(PLACES)), max_size=3),
    max_temp_c=st.none() | _TEMP,
    min_temp_c=st.none() | _TEMP,
    min_affected=st.none() | st.integers(0, 10_000_000),
    min_severity=st.none() | st.sampled_from(list(Severity)),
    keywords=st.lists(_PHRASE, max_size=2, unique=True).map(tuple),
    exclude_keywords=st.lists(_PHRASE, max_size=2, unique=True).map(tuple),
    sources=st.frozensets(_SOURCE, max_size=2),
    exclude_sources=st.frozensets(_SOURCE, max_size=2),
    delivery=st.sampled_from(list(Delivery)),
)


@settings(max_examples=300, deadline=None)
@given(rule=rules_strategy, lang=st.sampled_from(["en", "uk"]))
def test_format_parses_back_to_the_same_rule(rule: Rule, lang: str) -> None:
    canonical = format_rule(rule, places=TINY, lang=lang)
    assert parse_rule(canonical, places=TINY) == rule, canonical
    assert format_rule(parse_rule(canonical, places=TINY), places=TINY, lang=lang) == canonical


# --- with the real gazetteer -------------------------------------------------------------------

HAVE_GAZETTEER = importlib.util.find_spec("feeds.gazetteer") is not None


@pytest.mark.skipif(not HAVE_GAZETTEER, reason="feeds.gazetteer not written yet")
@pytest.mark.parametrize(
    ("text", "place_id"),
    [
        ("power outage in Kyiv", "UA80"),
        ("outage Kharkiv oblast", "UA63"),
        ("temperature below -20 in Lviv oblast", "UA46"),
        ("мороз -15 Київ", "UA80"),
        ("відключення світла Харківщина", "UA63"),
        ("everything Ukraine", "UA"),
        ('"Укренерго" in Kyiv oblast', "UA32"),
    ],
)
def test_examples_with_the_real_gazetteer(text: str, place_id: str) -> None:
    from feeds.gazetteer import load_gazetteer

    gazetteer = load_gazetteer()
    rule = parse_rule(text, places=gazetteer)
    assert rule.places == {place_id}
    for lang in ("en", "uk"):
        assert parse_rule(format_rule(rule, places=gazetteer, lang=lang), places=gazetteer) == rule


@pytest.mark.skipif(not HAVE_GAZETTEER, reason="feeds.gazetteer not written yet")
def test_misspelt_place_with_the_real_gazetteer() -> None:
    from feeds.gazetteer import load_gazetteer

    with pytest.raises(RuleSyntaxError) as caught:
        parse_rule("power outage in Kiyv", places=load_gazetteer())
    assert str(caught.value).startswith("Unknown place 'Kiyv' — did you mean Kyiv")


@pytest.mark.skipif(not HAVE_GAZETTEER, reason="feeds.gazetteer not written yet")
def test_every_gazetteer_place_round_trips_in_both_languages() -> None:
    from feeds.gazetteer import load_gazetteer

    gazetteer = load_gazetteer()
    named = {pid for entries in gazetteer.patterns.values() for pid, _ in entries}
    ids = sorted(pid for pid in named if gazetteer.get(pid) is not None)
    assert len(ids) > 1000
    failures = []
    for place_id in ids:
        rule = Rule(categories=cats(P), places=where(place_id))
        for lang in ("en", "uk"):
            text = format_rule(rule, places=gazetteer, lang=lang)
            try:
                back = parse_rule(text, places=gazetteer)
            except RuleSyntaxError as exc:
                failures.append(f"{place_id} {text!r}: {exc}")
                continue
            if back != rule:
                failures.append(f"{place_id} {text!r} -> {sorted(back.places)}")
    assert failures == []


_PIECES = st.sampled_from(
    [*vocabulary.ALL_WORDS, "<=", ">=", "<", "=", ",", '"', "«", "»", "-", "-15", "10k", "10",
     "000", "1.5", "°C", "Kyiv", "Kiyv", "oblast", "(", ")", "UA63", "'", "млн", "обл."]
)  # fmt: skip


@settings(max_examples=400, deadline=None)
@given(text=st.text(max_size=40) | st.lists(_PIECES, max_size=8).map(" ".join))
def test_any_text_gives_a_rule_or_a_syntax_error(text: str) -> None:
    try:
        rule = parse_rule(text, places=TINY)
    except RuleSyntaxError as exc:
        assert 0 <= exc.position <= exc.end <= len(text)
        assert str(exc)
        return
    assert parse_rule(format_rule(rule, places=TINY), places=TINY) == rule


@pytest.mark.skipif(not HAVE_GAZETTEER, reason="feeds.gazetteer not written yet")
def test_p_codes_are_places_only_when_the_gazetteer_knows_them() -> None:
    from feeds.gazetteer import load_gazetteer

    gazetteer = load_gazetteer()
    assert parse_rule("power outage in UA6312027001", places=gazetteer).places == {"UA6312027001"}
    # Well-formed but unknown: a rule that could never match is refused, not stored.
    with pytest.raises(RuleSyntaxError) as caught:
        parse_rule("power outage in UA1234567890", places=gazetteer)
    assert caught.value.code == "unknown_place"
    assert "UA1234567890" in str(caught.value)
