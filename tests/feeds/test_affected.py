"""People, households and consumers left without supply: every number form of issue 3."""

from __future__ import annotations

import pytest

from feeds.affected import Affected, find_affected
from feeds.normalize import normalize


def affected(text: str) -> Affected:
    return find_affected(normalize(text))


@pytest.mark.parametrize(
    ("text", "count"),
    [
        pytest.param("Strikes left 500,000 households without power.", 500_000, id="en-comma"),
        pytest.param("1.5 million people are without electricity", 1_500_000, id="en-million"),
        pytest.param("Over one million consumers are without power", 1_000_000, id="en-words"),
        pytest.param(
            "One million without heat and water after strikes", 1_000_000, id="en-no-unit"
        ),
        pytest.param(
            "the attack left over 200,000 without power", 200_000, id="en-without-no-unit"
        ),
        pytest.param("nearly 800K homes without power and heat", 800_000, id="en-k"),
        pytest.param("33.5 thousand families remain without electricity", 33_500, id="en-thousand"),
        pytest.param("half a million people lost power", 500_000, id="en-half-a-million"),
        pytest.param("понад 200 тисяч абонентів залишилися без світла", 200_000, id="uk-thousand"),
        pytest.param("знеструмлено 1,5 млн споживачів", 1_500_000, id="uk-decimal-comma-mln"),
        pytest.param("без світла 200 000 абонентів", 200_000, id="uk-space-thousands"),
        pytest.param("без світла 200\u00a0000 абонентів", 200_000, id="uk-nbsp-thousands"),
        pytest.param("без світла лишаються 710 тис. споживачів", 710_000, id="uk-tys-abbrev"),
        pytest.param("без світла лишилися 11,4 тисяч домівок", 11_400, id="uk-decimal-thousand"),
        pytest.param(
            "повернули світло, але понад мільйону родин досі без світла",
            1_000_000,
            id="uk-mln-word",
        ),
        pytest.param("знеструмлено 53 098 споживачів", 53_098, id="uk-exact"),
        pytest.param(
            "Ще 2840 знеструмлених споживачів у Херсоні", 2_840, id="uk-adjective-between"
        ),
        pytest.param(
            "почти 1,3 млн абонентов остались без энергоснабжения", 1_300_000, id="ru-mln"
        ),
        pytest.param("10 тыс. абонентов оказались без электроснабжения", 10_000, id="ru-tys"),
        pytest.param("обесточены более тысячи абонентов", 1_000, id="ru-more-than-a-thousand"),
        pytest.param("51800 пока временно остаются без света", 51_800, id="ru-no-unit-without"),
        pytest.param(
            "близько 10000 абонентів, або приблизно 34000 осіб, залишилися без води",
            34_000,
            id="uk-largest-wins",
        ),
        pytest.param(
            "By Monday 400,000 homes had their power restored, but 321,000 consumers were "
            "still without electricity.",
            321_000,
            id="en-restored-clause-excluded",
        ),
        pytest.param(
            "без світла 81,4 тис. абонентів. 15,6 тис. абонентів енергетики вже заживили.",
            81_400,
            id="uk-restored-number-excluded",
        ),
        pytest.param(
            "Без світла на Сумщині 5,2 тис. споживачів, на Харківщині - 37,3 тис., "
            "на Чернігівщині - 1,5 тис.",
            37_300,
            id="uk-list-names-the-unit-once",
        ),
    ],
)
def test_counts(text: str, count: int) -> None:
    assert affected(text).count == count


@pytest.mark.parametrize(
    ("text", "bound"),
    [
        pytest.param("Thousands of people are without power", 1_000, id="en-thousands"),
        pytest.param(
            "tens of thousands of homes without heating", 10_000, id="en-tens-of-thousands"
        ),
        pytest.param(
            "hundreds of thousands of homes in the capital without power", 100_000, id="en-hundreds"
        ),
        pytest.param("millions of Ukrainians without power", 1_000_000, id="en-millions"),
        pytest.param("Тисячі людей залишилися без водопостачання", 1_000, id="uk-thousands"),
        pytest.param("сотні тисяч абонентів без світла", 100_000, id="uk-hundreds-of-thousands"),
        pytest.param("десятки тысяч потребителей без света", 10_000, id="ru-tens-of-thousands"),
    ],
)
def test_vague_amounts_are_a_lower_bound_not_a_number(text: str, bound: int) -> None:
    result = affected(text)
    assert result.count is None
    assert result.lower_bound == bound


@pytest.mark.parametrize(
    "text",
    [
        pytest.param("The district is home to about 250 thousand people.", id="no-outage"),
        pytest.param("500 high-rise buildings are without electricity", id="buildings-not-people"),
        pytest.param("46 домов остаются без отопления", id="ru-houses"),
        pytest.param("Без світла 59 населених пунктів", id="settlements"),
        pytest.param("Kyiv spent 24 hours without power", id="hours"),
        pytest.param("на вечір 15 лютого без тепла ще будинки", id="date"),
        pytest.param("40% of consumers are without power", id="percent"),
        pytest.param("Four people were injured; homes without power", id="injured"),
        pytest.param("", id="empty"),
    ],
)
def test_no_count(text: str) -> None:
    assert affected(text).count is None
