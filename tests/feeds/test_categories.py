"""Categories in three languages, including restoration-not-outage, negation, threats and
the words that only look like weather."""

from __future__ import annotations

import pytest

from feeds.categories import find_categories
from feeds.models import Category
from feeds.normalize import normalize, split_glued_headlines

P, H, W = Category.POWER_OUTAGE, Category.HEATING_OUTAGE, Category.WATER_OUTAGE
C, A, R = Category.COLD, Category.ENERGY_ATTACK, Category.RESTORATION


def cats(text: str, temperatures: tuple[float, ...] = ()) -> frozenset[Category]:
    return find_categories(
        split_glued_headlines(normalize(text)).lower(), temperatures=temperatures
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        # power
        pytest.param("Half of Kyiv is without power", {P}, id="en-without-power"),
        pytest.param("Rolling blackouts are in place in Odesa", {P}, id="en-blackouts"),
        pytest.param("Kharkiv region hit by power outages", {P}, id="en-outages"),
        pytest.param("Ukrainians plunged into darkness", {P}, id="en-plunged-into-darkness"),
        pytest.param("У Києві запровадили графіки відключень світла", {P}, id="uk-schedules"),
        pytest.param("Знеструмлено понад 50 населених пунктів", {P}, id="uk-de-energised"),
        pytest.param("Частина міста залишилася без світла", {P}, id="uk-without-light"),
        pytest.param("Почти половина районов Киева осталась без света", {P}, id="ru-without-light"),
        pytest.param("В Киеве аварийные отключения электроэнергии", {P}, id="ru-emergency-cuts"),
        # heating and water, and lists of supplies
        pytest.param("Some 5,000 buildings have no heating", {H}, id="en-no-heating"),
        pytest.param("Russia Knocks Out the Heat in Ukraine", {H}, id="en-knocks-out-heat"),
        pytest.param("Residents were left without hot water", {H}, id="en-hot-water-is-heating"),
        pytest.param("У Києві досі не опалюються 1940 багатоповерхівок", {H}, id="uk-not-heated"),
        pytest.param("Харків: проблемы с теплоснабжением", {H}, id="ru-heat-supply-problems"),
        pytest.param("Місто повністю без водопостачання", {W}, id="uk-without-water-supply"),
        pytest.param("Жители остались без воды", {W}, id="ru-without-water"),
        pytest.param("Half of Kyiv has no power, heat or water", {P, H, W}, id="en-list"),
        pytest.param("Одеса залишилась без світла, води та тепла", {P, H, W}, id="uk-list"),
        pytest.param("Одесса остается без электричества, воды и тепла", {P, H, W}, id="ru-list"),
        pytest.param("Ukraine races to restore power and water", {P, W}, id="en-race-to-restore"),
        pytest.param("He works like a hot water bottle", set(), id="en-hot-water-bottle"),
        # restoration is not an outage
        pytest.param("Power was restored to 400,000 homes", {R}, id="en-restored"),
        pytest.param("Енергетики повернули світло 72 тисячам родин", {R}, id="uk-light-returned"),
        pytest.param("У Дніпрі відновили водопостачання", {R}, id="uk-water-restored"),
        pytest.param("Энергетики уже заживили 17 тысяч домов", {R}, id="ru-reenergised"),
        pytest.param("Киевлянам понемногу возвращают отопление", {R}, id="ru-heat-returning"),
        pytest.param(
            "Без світла 51 800 домогосподарств. Ще 9 500 родин вдалося перепідключити.",
            {P, R},
            id="uk-outage-and-restoration",
        ),
        pytest.param("Power has not yet been restored in Kherson", {P}, id="en-not-restored"),
        pytest.param("Ще не відновили світло у Херсоні", {P}, id="uk-not-restored"),
        pytest.param(
            "Близько 30% маріупольців повернулися в окупацію", set(), id="uk-people-returned"
        ),
        # negation and possibility
        pytest.param("Графіків відключень не буде", set(), id="uk-no-outages-will-be"),
        pytest.param(
            "Укренерго розраховує пройти зиму без відключень", set(), id="uk-without-outages"
        ),
        pytest.param("No blackouts are planned for Kyiv", set(), id="en-no-blackouts"),
        pytest.param("Snow on lines could cause power outages", {C}, id="en-could-cause"),
        # outages called off end an outage story; "may cancel" and "did not cancel" do not
        pytest.param("Укренерго скасувало відключення світла", {R}, id="uk-cancelled"),
        pytest.param("Графіки відключень скасовано у Києві", {R}, id="uk-cancelled-passive"),
        pytest.param("В Одессе отменили графики отключений", {R}, id="ru-cancelled"),
        pytest.param("Ukrenergo cancels power outages for businesses", {R}, id="en-cancels"),
        pytest.param("Power outages in Kyiv were cancelled", {R}, id="en-were-cancelled"),
        pytest.param("Укренерго може скасувати відключення", set(), id="uk-may-cancel"),
        pytest.param("Укренерго не скасувало відключення", set(), id="uk-did-not-cancel"),
        pytest.param("У Києві не скасовуватимуть графіки відключень", {P}, id="uk-will-not-cancel"),
        pytest.param("Outages will not be cancelled", {P}, id="en-will-not-cancel"),
        pytest.param(
            "Уряд скасував обмеження на експорт електроенергії", set(), id="uk-export-limits"
        ),
        pytest.param("Атомна генерація зменшить кількість відключень", set(), id="uk-reduce"),
        pytest.param("без нього електромотори видають 605 к.с.", set(), id="uk-without-pronoun"),
        pytest.param(
            "Thousands huddled without running water, electricity and communications",
            {P, W},
            id="en-list-with-adjective",
        ),
        # cold
        pytest.param("Frosts down to -20 are expected", {C}, id="en-frosts"),
        pytest.param("В Україну йдуть морози", {C}, id="uk-frosts"),
        pytest.param("На Украину идут аномальные морозы", {C}, id="ru-frosts"),
        pytest.param("Ukrainians endure freezing temperatures at home", {C}, id="en-freezing"),
        pytest.param("У Києві відкриють пункти обігріву", {C}, id="uk-heating-points"),
        pytest.param("Жители Киева греются у костров", {C}, id="ru-warming-up"),
        pytest.param("The Cold War is over", set(), id="en-cold-war"),
        pytest.param("a frosty reception in Moscow", set(), id="en-frosty-reception"),
        pytest.param("Kyiv freezes the assets of oligarchs", set(), id="en-freeze-assets"),
        pytest.param("Ukraine left out in the cold by NATO", set(), id="en-out-in-the-cold"),
        pytest.param("Жителів Холодногірського району попередили", set(), id="uk-district-name"),
        # attacks on energy infrastructure
        pytest.param("Russian missiles hit power plants in Kharkiv", {A}, id="en-missiles-plants"),
        pytest.param(
            "Zelensky accuses Russia of 'energy terrorism'", {A}, id="en-energy-terrorism"
        ),
        pytest.param("Окупанти вдарили по енергетичних об'єктах", {A}, id="uk-struck-energy"),
        pytest.param("Внаслідок атаки пошкоджено підстанцію", {A}, id="uk-substation-damaged"),
        pytest.param(
            "В Харькове выведены из строя ТЭЦ-5 и 2 подстанции", {A}, id="ru-chp-disabled"
        ),
        pytest.param(
            "After the drone attack 10 thousand customers were without power",
            {A, P},
            id="en-attack-caused-outage",
        ),
        pytest.param(
            "Zelenskyy warns of Russian threat to attack a nuclear plant", set(), id="en-warns"
        ),
        pytest.param("Чи атакуватиме РФ енергетику взимку?", set(), id="uk-question"),
        pytest.param("Energy prices hit a record high", set(), id="en-energy-prices"),
        pytest.param("Blackout hits bomb shelters", {P}, id="en-bomb-shelter-not-attack"),
        # glued aggregator headlines are separate sentences
        pytest.param(
            "Russia hits wheat ships and ports The GuardianNo Power, No Heat in Odesa",
            {P, H},
            id="en-glued-headlines",
        ),
    ],
)
def test_categories(text: str, expected: set[Category]) -> None:
    assert cats(text) == frozenset(expected)


def test_frost_temperature_makes_cold() -> None:
    assert cats("Temperature in Kyiv today", temperatures=(-3.0,)) == {C}


def test_warm_temperatures_cancel_a_cooling_word() -> None:
    assert cats("Дощі принесуть похолодання до +14", temperatures=(14.0,)) == frozenset()


def test_warm_temperatures_keep_snow() -> None:
    assert cats("Мокрий сніг, до +9", temperatures=(9.0,)) == {C}


def test_no_categories_in_unrelated_text() -> None:
    assert cats("Динамо - Гент: де дивитися матч Ліги чемпіонів") == frozenset()
