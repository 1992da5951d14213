"""Language detection from letter statistics: Ukrainian, Russian, English."""

from __future__ import annotations

import pytest

from feeds.language import detect_language


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        pytest.param("У Києві без світла лишаються 710 тисяч споживачів", "uk", id="uk"),
        pytest.param("В Киеве без света остаются 710 тысяч потребителей", "ru", id="ru"),
        pytest.param("Half of Kyiv is without power after Russian strikes", "en", id="en"),
        pytest.param("Їжак", "uk", id="uk-one-word"),
        pytest.param("Съезд", "ru", id="ru-one-word"),
        pytest.param("Мама мыла раму", "ru", id="ru-short-yery"),
        pytest.param("Kyiv: відключення світла", "uk", id="mixed-script-cyrillic-wins"),
        pytest.param("Prezydent USA: Rosja straciła", "en", id="other-latin-counts-as-en"),
    ],
)
def test_detect(text: str, expected: str) -> None:
    assert detect_language(text) == expected


def test_hint_decides_when_the_text_cannot() -> None:
    assert detect_language("12345 — 678", hint="ru-RU") == "ru"
    assert detect_language("", hint="uk") == "uk"
    assert detect_language("", hint="de") == "en"


def test_text_overrides_a_wrong_hint() -> None:
    assert detect_language("Без світла лишаються 710 тисяч споживачів", hint="en-US") == "uk"
