"""Temperatures in three languages: every form and pitfall listed in issue 3."""

from __future__ import annotations

import pytest

from feeds.normalize import normalize
from feeds.temperatures import find_temperatures


def temps(text: str) -> tuple[float, ...]:
    return find_temperatures(normalize(text))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # signs and degree marks
        pytest.param("Temperatures fell to -20°C overnight.", (-20.0,), id="en-ascii-minus"),
        pytest.param("У Києві −20 °C.", (-20.0,), id="uk-unicode-minus-space"),
        pytest.param("В Харькове -20°С.", (-20.0,), id="ru-cyrillic-es"),
        pytest.param("It was 5 ºC in the flat", (5.0,), id="en-masculine-ordinal"),
        pytest.param("Вночі -5⁰C", (-5.0,), id="uk-superscript-zero-not-minus-fifty"),
        pytest.param("Вночі -7˚С", (-7.0,), id="uk-ring-above"),
        pytest.param("Мороз до −12℃", (-12.0,), id="uk-celsius-sign"),
        pytest.param("Kyiv: -4°F at dawn", (-20.0,), id="en-fahrenheit-converted"),
        pytest.param("It was 23℉ outside", (-5.0,), id="en-fahrenheit-sign"),
        pytest.param("-6°C (21.2°F)", (-6.0,), id="en-both-scales-one-value"),
        pytest.param("Ukrainians prepare for -20C", (-20.0,), id="en-bare-c"),
        pytest.param("It's 2C in our flat", (2.0,), id="en-bare-c-positive"),
        pytest.param(
            "the thermometer shows -18 degrees Celsius", (-18.0,), id="en-degrees-celsius"
        ),
        pytest.param("temperatures of 14 degrees F", (-10.0,), id="en-degrees-f"),
        pytest.param("До +9 градусів вдень", (9.0,), id="uk-plus"),
        # words for the sign
        pytest.param("It was minus 20 degrees in Kharkiv", (-20.0,), id="en-minus-word"),
        pytest.param("20 degrees below zero", (-20.0,), id="en-below-zero"),
        pytest.param("вночі мінус 18", (-18.0,), id="uk-minus-word-no-unit"),
        pytest.param("Сейчас в Киеве минус 1 градус", (-1.0,), id="ru-minus-word"),
        pytest.param("25 градусів морозу", (-25.0,), id="uk-degrees-of-frost"),
        pytest.param("до 16 градусов мороза", (-16.0,), id="ru-degrees-of-frost"),
        pytest.param("до 4 градусов тепла", (4.0,), id="ru-degrees-of-warmth"),
        pytest.param("температура нижче 5 градусів нижче нуля", (-5.0,), id="uk-below-zero"),
        # number words
        pytest.param("minus twenty degrees", (-20.0,), id="en-number-words"),
        pytest.param("minus twenty-five degrees", (-25.0,), id="en-compound-number-words"),
        pytest.param("мінус двадцять градусів", (-20.0,), id="uk-number-words"),
        pytest.param("минус пятнадцать градусов", (-15.0,), id="ru-number-words"),
        pytest.param("двадцять п'ять градусів морозу", (-25.0,), id="uk-compound-words-frost"),
        pytest.param("десятиградусные морозы", (-10.0,), id="ru-glued-number-word"),
        pytest.param("у 15-градусні морози", (-15.0,), id="uk-degree-adjective-frost"),
        pytest.param("в 15-градусные морозы", (-15.0,), id="ru-degree-adjective-frost"),
        # frost context without a unit
        pytest.param("Синоптики: мороз до -20", (-20.0,), id="uk-frost-to"),
        pytest.param("Вночі температура до -25", (-25.0,), id="uk-to-minus"),
        pytest.param("морозы в -5 ожидаются через неделю", (-5.0,), id="ru-frosts-at"),
        pytest.param("морози до 20 градусів", (-20.0,), id="uk-frosts-up-to-unsigned"),
        # ranges
        pytest.param("Вночі -3...-8°C", (-8.0, -3.0), id="uk-ellipsis-range"),
        pytest.param("Ночью -20°…-27° C", (-27.0, -20.0), id="ru-unicode-ellipsis-range"),
        pytest.param("Температура від -3 до -8", (-8.0, -3.0), id="uk-from-to"),
        pytest.param("Forecast: 10–15°C", (10.0, 15.0), id="en-en-dash-range-not-minus"),
        pytest.param("вдень 4-9°", (4.0, 9.0), id="uk-hyphen-range"),
        pytest.param("вночі 1-6° морозу", (-6.0, -1.0), id="uk-range-of-frost"),
        pytest.param("2-4 градусов мороза", (-4.0, -2.0), id="ru-range-of-frost"),
        pytest.param("від 3 до 12 градусів тепла", (3.0, 12.0), id="uk-from-to-warm"),
        pytest.param("від 3° тепла до 2° морозу", (-2.0, 3.0), id="uk-warm-to-frost"),
        pytest.param(
            "вночі -2 ....+3, вдень +1....+4 градусів", (-2.0, 1.0, 3.0, 4.0), id="uk-dots"
        ),
        pytest.param("10-15°F", (-12.2, -9.4), id="en-fahrenheit-range"),
        pytest.param(
            "Ночью температура 11-13°, днем 8-10 ° мороза.",
            (-13.0, -11.0, -10.0, -8.0),
            id="ru-shared-frost-qualifier",
        ),
        pytest.param(
            "Температура у столиці вночі близько 0, вдень +2", (0.0, 2.0), id="uk-forecast-slot"
        ),
    ],
)
def test_temperature_forms(text: str, expected: tuple[float, ...]) -> None:
    assert temps(text) == expected


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("COVID-19 cases in 2022-2023", id="hyphenated-numbers"),
        pytest.param("10 – 11 січня очікують похолодання", id="date-range-in-weather-sentence"),
        pytest.param("More than 1,000 people; 1,5 млн споживачів", id="thousands-separators"),
        pytest.param("Coordinates 50°27'N 30°31'E", id="coordinates"),
        pytest.param("limiting global heating to 1.5C", id="climate-target"),
        pytest.param("https://example.org/a%2Fb%2C2022%2F12", id="url-escapes"),
        pytest.param("The index rose -5% in a week", id="percent"),
        pytest.param("Shares fell to -3 on Monday", id="signed-number-no-weather"),
        pytest.param("", id="empty"),
    ],
)
def test_not_temperatures(text: str) -> None:
    assert temps(text) == ()


def test_values_are_distinct_sorted_and_rounded() -> None:
    assert temps("-6°C, then -6 °C again, then 21.2°F and 5.04°C") == (-6.0, 5.0)


def test_implausible_values_are_dropped() -> None:
    assert temps("the hive is kept close to 95 degrees") == ()
