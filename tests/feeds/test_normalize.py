"""Text normalisation: one spelling for signs, spaces and apostrophes; idempotent."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from feeds.normalize import lower_same_length, normalize, split_glued_headlines


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        pytest.param("\u221220", "-20", id="minus-sign"),
        pytest.param("10\u201315", "10-15", id="en-dash"),
        pytest.param("a \u2014 b", "a - b", id="em-dash"),
        pytest.param("-5\u2070C", "-5°C", id="superscript-zero-stays-a-degree"),
        pytest.param("5 \u00baC", "5 °C", id="masculine-ordinal"),
        pytest.param("-7\u02daC", "-7°C", id="ring-above"),
        pytest.param("-12\u2103", "-12°C", id="celsius-sign"),
        pytest.param("23\u2109", "23°F", id="fahrenheit-sign"),
        pytest.param("-20°С", "-20°C", id="cyrillic-es"),
        pytest.param("-20° с", "-20°C", id="cyrillic-es-lower-spaced"),
        pytest.param("51\u00a0800", "51 800", id="no-break-space"),
        pytest.param("51\u2009800", "51 800", id="thin-space"),
        pytest.param("51\u202f800", "51 800", id="narrow-no-break-space"),
        pytest.param("об\u2019єкт об\u02bcєкт", "об'єкт об'єкт", id="apostrophes"),
        pytest.param("1\u200b000", "1000", id="zero-width-space"),
        pytest.param("и\u0306", "й", id="combining-breve-composed"),
        pytest.param("a\x00b\x07c", "a b c", id="control-characters"),
        pytest.param("a\r\nb", "a\n\nb", id="carriage-return"),
        pytest.param("-3\u2026-8", "-3...-8", id="ellipsis"),
        pytest.param("", "", id="empty"),
    ],
)
def test_normalize(raw: str, clean: str) -> None:
    assert normalize(raw) == clean


def test_nfkc_is_not_applied() -> None:
    # NFKC would turn the superscript zero into a digit: "-50C".
    assert "50" not in normalize("-5\u2070C")


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_normalize_is_idempotent(text: str) -> None:
    once = normalize(text)
    assert normalize(once) == once


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_lower_keeps_every_index(text: str) -> None:
    assert len(lower_same_length(text)) == len(text)


def test_split_glued_headlines() -> None:
    glued = "Strikes hit Kyiv The New York TimesNo Power in Odesa Bloomberg.comBlackout"
    assert split_glued_headlines(glued).splitlines() == [
        "Strikes hit Kyiv The New York Times",
        "No Power in Odesa Bloomberg.com",
        "Blackout",
    ]
