"""The extractor end to end: `Item` -> `Signals`, severity, and bad input that must never raise."""

from __future__ import annotations

import time
from datetime import UTC, datetime

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from feeds.extract import extract, extract_text
from feeds.models import Category, Item, Severity, Signals
from feeds.severity import derive_severity

NOW = datetime(2026, 1, 27, tzinfo=UTC)


def item(title: str, summary: str = "", language: str | None = None) -> Item:
    return Item(key="k", title=title, summary=summary, link=None, published=NOW, language=language)


def test_extract_reads_title_and_summary() -> None:
    signals = extract(
        item(
            "710 тисяч абонентів у Києві досі сидять без світла",
            "Станом на 27 січня у Києві без електропостачання лишаються 710 тис. споживачів. "
            "Вночі мороз до −18 °С.",
        )
    )
    assert signals.categories == {Category.POWER_OUTAGE, Category.COLD}
    assert signals.temperatures_c == (-18.0,)
    assert signals.affected == 710_000
    assert signals.affected_lower_bound is None
    assert signals.language == "uk"
    assert signals.severity == Severity.CRITICAL


def test_extract_text_english_attack() -> None:
    signals = extract_text(
        "Russian attack cuts heating to around 160,000 people in Odesa",
        "Russian drones struck energy infrastructure; the temperature fell to -6°C (21.2°F).",
    )
    assert signals.categories == {
        Category.ENERGY_ATTACK,
        Category.HEATING_OUTAGE,
        Category.COLD,
    }
    assert signals.temperatures_c == (-6.0,)
    assert signals.affected == 160_000
    assert signals.language == "en"
    assert signals.severity == Severity.HIGH


def test_vague_amount_is_flagged_not_counted() -> None:
    signals = extract_text("Thousands of people left without power after shelling")
    assert signals.affected is None
    assert signals.affected_lower_bound == 1_000


def test_no_count_without_an_outage() -> None:
    signals = extract_text("Kyiv marathon draws 20,000 people")
    assert signals.categories == frozenset()
    assert signals.affected is None
    assert signals.severity == Severity.NONE


def test_language_hint_is_used_when_the_text_is_silent() -> None:
    assert extract(item("-5°C", language="ru")).language == "ru"


@pytest.mark.parametrize(
    ("categories", "coldest", "affected", "bound", "expected"),
    [
        pytest.param(set(), None, None, None, Severity.NONE, id="nothing"),
        pytest.param({Category.RESTORATION}, None, None, None, Severity.LOW, id="restoration"),
        pytest.param({Category.COLD}, -3.0, None, None, Severity.LOW, id="mild-cold"),
        pytest.param({Category.COLD}, -12.0, None, None, Severity.MEDIUM, id="hard-frost"),
        pytest.param(
            {Category.POWER_OUTAGE}, None, 1_000, None, Severity.MEDIUM, id="small-outage"
        ),
        pytest.param({Category.POWER_OUTAGE}, None, 60_000, None, Severity.HIGH, id="large-outage"),
        pytest.param(
            {Category.POWER_OUTAGE}, None, None, 100_000, Severity.HIGH, id="hundreds-of-thousands"
        ),
        pytest.param(
            {Category.POWER_OUTAGE, Category.ENERGY_ATTACK},
            None,
            None,
            None,
            Severity.HIGH,
            id="attack-caused-outage",
        ),
        pytest.param(
            {Category.HEATING_OUTAGE}, -7.0, None, None, Severity.HIGH, id="outage-in-frost"
        ),
        pytest.param(
            {Category.HEATING_OUTAGE}, -18.0, None, None, Severity.CRITICAL, id="outage-deep-frost"
        ),
        pytest.param(
            {Category.POWER_OUTAGE}, None, 1_000_000, None, Severity.CRITICAL, id="million"
        ),
    ],
)
def test_severity(
    categories: set[Category],
    coldest: float | None,
    affected: int | None,
    bound: int | None,
    expected: Severity,
) -> None:
    assert (
        derive_severity(
            categories, coldest_c=coldest, affected=affected, affected_lower_bound=bound
        )
        == expected
    )


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("", id="empty"),
        pytest.param("\x00\x01\x02\x1b[31m\x7f\x85\u2028\ufeff", id="control-characters"),
        pytest.param("Kyiv Київ Киев 基辅 كييف -5°C мінус", id="mixed-scripts"),
        pytest.param("\ud800", id="lone-surrogate"),
        pytest.param("°" * 5_000 + "-" * 5_000 + "1" * 5_000, id="sign-soup"),
        pytest.param("мінус " * 3_000, id="repeated-minus-words"),
        pytest.param("без " * 5_000 + "світла", id="repeated-without"),
    ],
)
def test_bad_input_gets_a_result(text: str) -> None:
    signals = extract_text(text, text)
    assert isinstance(signals, Signals)


def test_megabytes_of_text_are_fast() -> None:
    paragraph = (
        "Russian strikes left 200,000 people without power in Kharkiv as temperatures fell to "
        "-12°C. Енергетики повернули світло 50 тисячам родин. Морози до −20 °С. "
    )
    text = paragraph * (2_000_000 // len(paragraph))
    start = time.perf_counter()
    signals = extract_text("Blackout", text)
    assert time.perf_counter() - start < 2.0
    assert Category.POWER_OUTAGE in signals.categories


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.text(), st.text())
def test_never_raises_on_arbitrary_text(title: str, text: str) -> None:
    signals = extract_text(title, text)
    assert signals.language in ("uk", "ru", "en")
    assert list(signals.temperatures_c) == sorted(signals.temperatures_c)


_PIECES = st.sampled_from(
    [
        "-",
        "−",
        "°",
        "ºC",
        "℃",
        "5",
        "20",
        "1,5",
        "200 000",
        "млн",
        "тис.",
        "minus",
        "мінус",
        "морозу",
        "без",
        "світла",
        "power",
        "without",
        "restored",
        "повернули",
        "...",
        "–",
        " ",
        "\n",
        "Kyiv",
        "атака",
        "energy",
        "heating",
        "води",
        "thousands",
        "тисячі",
    ]
)


@settings(max_examples=150, deadline=None)
@given(st.lists(_PIECES, max_size=40).map("".join))
def test_never_raises_on_domain_soup(text: str) -> None:
    signals = extract_text(text, text)
    assert all(-70.0 <= t <= 60.0 for t in signals.temperatures_c)
    assert signals.affected is None or signals.affected > 0


@pytest.mark.parametrize(
    ("title", "categories", "affected"),
    [
        pytest.param(
            "Russian strikes leave 1.5m people without electricity in Odesa",
            {Category.ENERGY_ATTACK, Category.POWER_OUTAGE},
            1_500_000,
            id="decimal-point-is-not-a-sentence-end",
        ),
        pytest.param(
            "Kyiv residents queue for water as mayor says strikes cut power to 270,000 homes",
            {Category.ENERGY_ATTACK, Category.POWER_OUTAGE},
            270_000,
            id="supply-and-loss-far-apart",
        ),
        pytest.param(
            "Electricity was restored to 2 million people, but 500,000 remain in the dark",
            {Category.RESTORATION, Category.POWER_OUTAGE},
            500_000,
            id="restored-number-excluded-dark-counted",
        ),
    ],
)
def test_headlines(title: str, categories: set[Category], affected: int) -> None:
    signals = extract_text(title)
    assert signals.categories == categories
    assert signals.affected == affected
