"""RuleIndex: incremental add/remove, pruning, and equality with the plain loop (differential)."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from feeds.models import Category, Severity
from rules.index import RuleIndex
from rules.models import Story
from rules.rule import Delivery, Rule

P, H, W = Category.POWER_OUTAGE, Category.HEATING_OUTAGE, Category.WATER_OUTAGE
T0 = datetime(2026, 1, 10, 6, 0, tzinfo=UTC)


def story(**fields: object) -> Story:
    base: dict[str, object] = {"id": "s", "title": "", "first_published": T0, "last_published": T0}
    base.update(fields)
    return Story(**base)  # type: ignore[arg-type]


def test_add_remove_len() -> None:
    index = RuleIndex()
    kharkiv = Rule(categories=frozenset({P}), places=frozenset({"UA63"}))
    index.add(1, kharkiv)
    index.add(2, Rule(categories=frozenset({P}), places=frozenset({"UA46"})))
    index.add(3, Rule())
    assert len(index) == 3
    s = story(categories=frozenset({P}), place_ids=frozenset({"UA6312027001"}))
    assert index.match(s) == {1, 3}
    assert index.remove(3) is True
    assert index.remove(3) is False
    assert index.match(s) == {1}
    index.add(1, Rule(places=frozenset({"UA46"})))  # same id: replaced
    assert len(index) == 2
    assert index.match(s) == set()
    assert index.get(1) == Rule(places=frozenset({"UA46"}))


def test_rules_that_cannot_match_are_not_candidates() -> None:
    index = RuleIndex()
    index.add(1, Rule(categories=frozenset({P}), places=frozenset({"UA46"})))  # other oblast
    index.add(2, Rule(categories=frozenset({W}), places=frozenset({"UA63"})))  # other category
    index.add(3, Rule(keywords=("Укренерго",)))  # keyword absent
    index.add(4, Rule(sources=frozenset({"UNIAN"})))  # other outlet
    index.add(5, Rule(categories=frozenset({P}), places=frozenset({"UA63"}), min_affected=10**6))
    s = story(
        title="Відключення світла на Харківщині",
        categories=frozenset({P}),
        place_ids=frozenset({"UA6312027001"}),
        sources=("BBC",),
        affected=5000,
    )
    assert index.candidates(s) == {5}  # only the threshold is left to check
    assert index.match(s) == set()


def test_keyword_rules_found_through_any_word_case_and_script() -> None:
    index = RuleIndex()
    index.add(1, Rule(keywords=("Укренерго", "rolling blackouts")))
    s = story(title="УКРЕНЕРГО: rolling Blackouts today")
    assert index.match(s) == {1}


def test_odd_length_place_ids_are_not_missed() -> None:
    index = RuleIndex()
    index.add(1, Rule(places=frozenset({"UA631"})))  # not a standard cut, still a prefix
    index.add(2, Rule(places=frozenset({"UA6312027001099"})))  # finer than a settlement id
    assert index.match(story(place_ids=frozenset({"UA6312027001099"}))) == {1, 2}
    index.remove(1)
    assert index.match(story(place_ids=frozenset({"UA6312"}))) == set()


# --- differential: the index against the plain loop --------------------------------------------

PLACE_IDS = [
    "UA",
    "UA63",
    "UA6312",
    "UA6312027",
    "UA6312027001",
    "UA6312027002",
    "UA6314",
    "UA46",
    "UA4606017001",
    "UA80",
    "UA631",
]
WORDS = ["укренерго", "Ukrenergo", "schedule", "графік", "blackout", "Kyiv", "м'ясо", "мʼясо"]
SOURCES = ["UNIAN", "unian", "BBC", "Укрінформ", "RT"]

_keyword = st.lists(st.sampled_from(WORDS), min_size=1, max_size=2).map(" ".join)
_temp = st.integers(-30, 10).map(float)

rule_strategy = st.builds(
    Rule,
    categories=st.frozensets(st.sampled_from(list(Category)), max_size=3),
    places=st.frozensets(st.sampled_from(PLACE_IDS), max_size=3),
    max_temp_c=st.none() | _temp,
    min_temp_c=st.none() | _temp,
    min_affected=st.none() | st.integers(0, 20_000),
    min_severity=st.none() | st.sampled_from(list(Severity)),
    keywords=st.lists(_keyword, max_size=2).map(tuple),
    exclude_keywords=st.lists(_keyword, max_size=1).map(tuple),
    sources=st.frozensets(st.sampled_from(SOURCES), max_size=2),
    exclude_sources=st.frozensets(st.sampled_from(SOURCES), max_size=2),
    delivery=st.sampled_from(list(Delivery)),
)

# Rules with only categories and places take the index's no-check path: test it as often.
where_only_strategy = st.builds(
    Rule,
    categories=st.frozensets(st.sampled_from(list(Category)), max_size=3),
    places=st.frozensets(st.sampled_from(PLACE_IDS), max_size=3),
)

story_strategy = st.builds(
    story,
    title=st.lists(st.sampled_from([*WORDS, "power", "news"]), max_size=6).map(" ".join),
    text=st.lists(st.sampled_from([*WORDS, "the", "in"]), max_size=6).map(", ".join),
    categories=st.frozensets(st.sampled_from(list(Category)), max_size=3),
    place_ids=st.frozensets(st.sampled_from(PLACE_IDS), max_size=3),
    temperatures_c=st.lists(_temp, max_size=3).map(tuple),
    affected=st.none() | st.integers(0, 20_000),
    severity=st.sampled_from(list(Severity)),
    sources=st.lists(st.sampled_from(SOURCES), max_size=3).map(tuple),
)


@settings(max_examples=150, deadline=None)
@given(
    rules=st.lists(rule_strategy | where_only_strategy, max_size=40),
    stories=st.lists(story_strategy, min_size=1, max_size=8),
    removed=st.sets(st.integers(0, 39), max_size=10),
)
def test_index_equals_plain_loop(
    rules: list[Rule], stories: list[Story], removed: set[int]
) -> None:
    index = RuleIndex()
    for rule_id, rule in enumerate(rules):
        index.add(rule_id, rule)
    for rule_id in removed:
        index.remove(rule_id)
    live = {i: r for i, r in enumerate(rules) if i not in removed}
    assert len(index) == len(live)
    for s in stories:
        expected = {i for i, r in live.items() if r.matches(s)}
        assert index.match(s) == expected
        assert expected <= index.candidates(s)
