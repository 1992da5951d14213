"""Rule.matches / explain semantics, JSON round trip, and whole-word keyword matching."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from feeds.models import Category, Severity
from rules.keywords import contains_keyword, fold, words
from rules.models import Story
from rules.rule import Delivery, Rule, RuleDataError

P, H, W = Category.POWER_OUTAGE, Category.HEATING_OUTAGE, Category.WATER_OUTAGE
T0 = datetime(2026, 1, 10, 6, 0, tzinfo=UTC)


def story(**fields: object) -> Story:
    base: dict[str, object] = {
        "id": "s1",
        "title": "Blackout in Kharkiv",
        "first_published": T0,
        "last_published": T0,
    }
    base.update(fields)
    return Story(**base)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("rule", "s", "expected"),
    [
        pytest.param(Rule(), story(), True, id="empty-rule-matches-all"),
        pytest.param(
            Rule(categories=frozenset({P})), story(categories={P, H}), True, id="cat-any-of"
        ),
        pytest.param(Rule(categories=frozenset({W})), story(categories={P}), False, id="cat-miss"),
        pytest.param(Rule(categories=frozenset({W})), story(), False, id="cat-story-has-none"),
        pytest.param(
            Rule(places=frozenset({"UA63"})),
            story(place_ids=frozenset({"UA6312027001"})),
            True,
            id="oblast-covers-city",
        ),
        pytest.param(
            Rule(places=frozenset({"UA"})), story(place_ids={"UA46"}), True, id="UA-covers-all"
        ),
        pytest.param(
            Rule(places=frozenset({"UA6312027001"})),
            story(place_ids={"UA63"}),
            False,
            id="city-rule-not-whole-oblast",
        ),
        pytest.param(Rule(places=frozenset({"UA63"})), story(), False, id="place-rule-no-places"),
        pytest.param(
            Rule(max_temp_c=-15), story(temperatures_c=(-3.0, -16.0)), True, id="coldest<=max"
        ),
        pytest.param(Rule(max_temp_c=-15), story(temperatures_c=(-15.0,)), True, id="bound-incl"),
        pytest.param(Rule(max_temp_c=-15), story(temperatures_c=(-14.5,)), False, id="too-warm"),
        pytest.param(Rule(max_temp_c=-15), story(), False, id="no-temperature"),
        pytest.param(Rule(min_temp_c=30), story(temperatures_c=(31.0,)), True, id="min-temp"),
        pytest.param(Rule(min_temp_c=30), story(temperatures_c=(29.0,)), False, id="min-temp-no"),
        pytest.param(Rule(min_affected=10_000), story(affected=10_000), True, id="affected-eq"),
        pytest.param(Rule(min_affected=10_000), story(affected=9_999), False, id="affected-lt"),
        pytest.param(Rule(min_affected=1), story(), False, id="affected-unknown"),
        pytest.param(
            Rule(min_severity=Severity.HIGH), story(severity=Severity.CRITICAL), True, id="sev-ge"
        ),
        pytest.param(
            Rule(min_severity=Severity.HIGH), story(severity=Severity.MEDIUM), False, id="sev-lt"
        ),
        pytest.param(
            Rule(sources=frozenset({"UNIAN"})), story(sources=("unian", "BBC")), True, id="src-ci"
        ),
        pytest.param(Rule(sources=frozenset({"UNIAN"})), story(sources=("BBC",)), False, id="src"),
        pytest.param(
            Rule(exclude_sources=frozenset({"UNIAN"})),
            story(sources=("UNIAN",)),
            False,
            id="not-from-only-source",
        ),
        pytest.param(
            Rule(exclude_sources=frozenset({"UNIAN"})),
            story(sources=("UNIAN", "BBC")),
            True,
            id="not-from-but-confirmed-elsewhere",
        ),
        pytest.param(
            Rule(keywords=("Укренерго",)),
            story(text="За даними УКРЕНЕРГО, графіки діють"),
            True,
            id="keyword-case",
        ),
        pytest.param(
            Rule(keywords=("Укренерго",)),
            story(text="За даними Укренергоатому"),
            False,
            id="keyword-whole-word",
        ),
        pytest.param(
            Rule(keywords=("power", "Kharkiv")), story(text="power cut"), True, id="kw-title-too"
        ),
        pytest.param(
            Rule(exclude_keywords=("schedule",)),
            story(text="Outage schedule for Monday"),
            False,
            id="excluded-keyword",
        ),
    ],
)
def test_matches(rule: Rule, s: Story, expected: bool) -> None:
    assert rule.matches(s) is expected
    explained = rule.explain(s)
    assert all(held for _, held in explained) is expected
    assert all(isinstance(text, str) and text for text, _ in explained)


def test_explain_names_the_failed_condition() -> None:
    rule = Rule(categories=frozenset({P}), places=frozenset({"UA63"}), min_affected=1000)
    s = story(categories=frozenset({P}), place_ids=frozenset({"UA46"}), affected=5000)
    explained = dict(rule.explain(s))
    assert explained == {
        "category power_outage (story: power_outage)": True,
        "place within UA63 (story: UA46)": False,
        "affected >= 1000 (story: 5000)": True,
    }


@pytest.mark.parametrize(
    ("text", "keyword", "expected"),
    [
        pytest.param("Укренерго повідомляє", "укренерго", True, id="case"),
        pytest.param("Укрeнерго повідомляє", "Укренерго", True, id="latin-e-lookalike"),
        pytest.param("UKRENERGO says", "ukrenergo", True, id="latin"),
        pytest.param("пам’ять", "пам'ять", True, id="typographic-apostrophe"),
        pytest.param("памʼять", "пам’ять", True, id="modifier-apostrophe"),
        pytest.param("power outages", "outage", False, id="whole-word-only"),
        pytest.param("rolling power cuts today", "power cuts", True, id="phrase"),
        pytest.param("power, cuts", "power cuts", True, id="phrase-across-punctuation"),
        pytest.param("cuts power", "power cuts", False, id="phrase-order"),
        pytest.param("anything", "   ", False, id="blank-keyword"),
    ],
)
def test_contains_keyword(text: str, keyword: str, expected: bool) -> None:
    assert contains_keyword(text, keyword) is expected


def test_fold_merges_scripts_and_case() -> None:
    assert fold("СОН") == fold("coh")  # all three letters have look-alikes
    expected = (fold("київ"), fold("пасажирський"), fold("м'ясо"))
    assert words("Київ-Пасажирський, м’ясо!") == expected


def test_json_round_trip() -> None:
    rule = Rule(
        categories=frozenset({P, Category.COLD}),
        places=frozenset({"UA80", "UA63"}),
        max_temp_c=-15.5,
        min_affected=10_000,
        min_severity=Severity.HIGH,
        keywords=("Укренерго",),
        exclude_keywords=("schedule",),
        sources=frozenset({"UNIAN"}),
        exclude_sources=frozenset({"RT"}),
        delivery=Delivery.BOTH,
    )
    data = rule.to_json()
    assert data["categories"] == ["cold", "power_outage"]
    assert data["min_severity"] == "high"
    assert Rule.from_json(data) == rule
    assert Rule.from_json({}) == Rule()


@pytest.mark.parametrize(
    "data",
    [{"categories": ["lava"]}, {"min_severity": "apocalyptic"}, {"delivery": 3}, {"places": 5}],
)
def test_bad_json_is_a_typed_error(data: dict[str, object]) -> None:
    with pytest.raises(RuleDataError):
        Rule.from_json(data)
