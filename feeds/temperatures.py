"""Temperatures stated in news text, in °C with the sign right (see `find_temperatures`).

Runs on text from `feeds.normalize.normalize`: one minus sign, one degree sign, `°C`/`°F`.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Iterator
from dataclasses import dataclass

import ahocorasick

from feeds.normalize import lower_same_length

# --- number words (0-50): "minus twenty degrees", "мінус двадцять градусів", "десятиградусні"

_UNITS: dict[int, tuple[str, ...]] = {
    0: ("zero", "нуль", "нуля", "ноль", "ноля"),
    1: ("one", "один", "одного", "одна", "одну", "одному"),
    2: ("two", "два", "дві", "две", "двох", "двух"),
    3: ("three", "три", "трьох", "трех", "трёх"),
    4: ("four", "чотири", "чотирьох", "четыре", "четырех", "четырёх"),
    5: ("five", "п'ять", "п'яти", "пять", "пяти"),
    6: ("six", "шість", "шести", "шесть"),
    7: ("seven", "сім", "семи", "семь"),
    8: ("eight", "вісім", "восьми", "восемь"),
    9: ("nine", "дев'ять", "дев'яти", "девять", "девяти"),
    10: ("ten", "десять", "десяти"),
    11: ("eleven", "одинадцять", "одинадцяти", "одиннадцать", "одиннадцати"),
    12: ("twelve", "дванадцять", "дванадцяти", "двенадцать", "двенадцати"),
    13: ("thirteen", "тринадцять", "тринадцяти", "тринадцать", "тринадцати"),
    14: ("fourteen", "чотирнадцять", "чотирнадцяти", "четырнадцать", "четырнадцати"),
    15: ("fifteen", "п'ятнадцять", "п'ятнадцяти", "пятнадцать", "пятнадцати"),
    16: ("sixteen", "шістнадцять", "шістнадцяти", "шестнадцать", "шестнадцати"),
    17: ("seventeen", "сімнадцять", "сімнадцяти", "семнадцать", "семнадцати"),
    18: ("eighteen", "вісімнадцять", "вісімнадцяти", "восемнадцать", "восемнадцати"),
    19: ("nineteen", "дев'ятнадцять", "дев'ятнадцяти", "девятнадцать", "девятнадцати"),
}
_TENS: dict[int, tuple[str, ...]] = {
    20: ("twenty", "двадцять", "двадцяти", "двадцать", "двадцати"),
    30: ("thirty", "тридцять", "тридцяти", "тридцать", "тридцати"),
    40: ("forty", "сорок", "сорока"),
    50: ("fifty", "п'ятдесят", "п'ятдесяти", "пятьдесят", "пятидесяти"),
}

_VALUE: dict[str, int] = {}
for _number_value, _forms in (*_UNITS.items(), *_TENS.items()):
    for _form in _forms:
        _VALUE[_form] = _number_value


def _alternation(words: list[str]) -> str:
    return "|".join(re.escape(w) for w in sorted(words, key=len, reverse=True))


_UNIT_WORDS = [w for v, forms in _UNITS.items() if 1 <= v <= 9 for w in forms]
_TENS_WORDS = [w for forms in _TENS.values() for w in forms]
_ALL_WORDS = list(_VALUE)

# A number in words: "twenty-five", "двадцять п'ять", "seventeen". Matched case-insensitively.
NUMBER_WORDS = (
    rf"(?:(?:{_alternation(_TENS_WORDS)})(?:[\s-](?:{_alternation(_UNIT_WORDS)}))?"
    rf"|{_alternation(_ALL_WORDS)})(?![^\W\d_])"
)
# The combining form glued to a following stem ("десяти" in "десятиградусні").
NUMBER_WORDS_GLUED = rf"(?:{_alternation(_ALL_WORDS)})"


def words_value(text: str) -> int | None:
    """The value of a number written in words ("двадцять п'ять" -> 25), else None."""
    parts = re.split(r"[\s-]+", text.strip().lower())
    total = 0
    for part in parts:
        value = _VALUE.get(part)
        if value is None:
            return None
        total += value
    return total


# --- the patterns

# A number that is not part of a larger one: "1,000" and "2022" never yield a temperature
# digit, "21.2" and "-0,5" do; nor does a URL escape ("%2C", "%2F").
_NUM = r"(?<![\d.,%/=&#])\d{1,3}(?:[.,]\d{1,2})?(?![.,]?\d)"
_SIGN = r"(?:(?<![\w,+-])(?<!\d[.,])(?<!\d\s)[-+]\s?|\b(?:minus|мінус|минус|plus|плюс)\s)"


def _value(n: str) -> str:
    return rf"(?P<s{n}>{_SIGN})?(?:(?P<n{n}>{_NUM})|(?P<w{n}>{NUMBER_WORDS}))"


# The unit that makes a number a temperature. A bare "C"/"F" must touch a digit ("-20C").
_UNIT = (
    r"(?:\s?°(?:\s?[cf](?![^\W\d_]))?"
    r"|(?<=\d)[cf](?![\w])"
    r"|\s(?:degrees?|deg\b\.?|градус[^\W\d]*)(?:\s(?:celsius|fahrenheit|[cf](?![\w])|цельсія"
    r"|цельсия"
    r"|за цельсієм|по цельсию))?)"
)
_FROST_Q = r"below zero|below freezing|under zero|of frost|морозу|мороза|нижче нуля|ниже нуля"
_WARM_Q = r"тепла|above zero|вище нуля|выше нуля"


def _qualifier(n: str) -> str:
    return rf"(?:\s(?:(?P<f{n}>{_FROST_Q})|(?P<h{n}>{_WARM_Q}))(?![^\W\d_]))?"


# A hyphen joins a range only between digits: "twenty-five" is one number.
_RANGE_SEP = r"(?:(?<=[\d°])\s?-\s?|\s?\.{2,}\s?|\s(?:to|до|і|и|та|and)\s)"
# "-20°C", "10-15°C", "від 3 до 12 градусів тепла", "25 градусів морозу", "5 ºC", "-4°F".
_MARKED = re.compile(
    rf"(?:{_value('1')}(?P<u1>{_UNIT})?{_qualifier('1')}{_RANGE_SEP})?"
    rf"{_value('2')}(?P<u2>{_UNIT}){_qualifier('2')}(?!\d)",
)
# "15-градусні морози", "десятиградусные морозы", "20-degree frost".
_ADJECTIVE = re.compile(
    rf"(?:(?P<n>{_NUM})\s?-?\s?|(?P<w>{NUMBER_WORDS_GLUED})-?)(?:градусн|degree\b)[^\W\d]*"
    r"(?P<frost>\s(?:мороз|frost|cold|холод))?",
)
# A signed number without a unit ("мороз до -20", "від -3 до -8", "мінус 18"): a temperature
# when the minus is a word, or when the sentence is about the weather.
_SIGNED = re.compile(
    rf"(?P<s>{_SIGN})(?:(?P<n>{_NUM})|(?P<w>{NUMBER_WORDS}))(?!\s?%|[.,]?\d|[^\W\d_])",
)
# A forecast slot ("вночі близько 0, вдень +2...+3 градусів"): a number after "at night" /
# "by day" in a weather sentence.
_SLOT = re.compile(
    r"\b(?:вночі|уночі|вдень|удень|ночью|днем|at night|by day|during the day)\s"
    r"(?:(?:близько|около|до|від|от|about|around)\s)?"
    rf"(?P<n>{_NUM})(?:\s?-\s?(?P<m>{_NUM}))?(?=\s?[,.;)]|\s?$)",
)
_WEATHER_CUE = re.compile(
    r"температур|мороз|холод|похолод|градус|синоптик|прогноз|погод|термометр|"
    r"temperature|frost|freez|cold|degree|thermometer|forecast|weather|celsius",
)
# A frost word just before an unsigned number makes it negative: "морози до 20 градусів".
_FROST_BEFORE = re.compile(r"(?:мороз[^\W\d]*|frosts?)\s(?:(?:до|в|у|of|to|down to|around)\s)?$")
_CLIMATE = re.compile(
    r"global (?:warming|heating)|pre-?industrial|climate (?:target|goal|change)|paris agreement"
    r"|глобальн\w* потеплін|глобальн\w* потеплен|кліматичн\w* ціл|климатическ\w* цел",
)
_SENTENCE_END = re.compile(r"[.!?;\n](?:\s|$)")
# Between two forecast values sharing one qualifier: "11-13°, днем 8-10° мороза".
_SHARED_GAP = re.compile(r"[\s,;]*(?:[^\W\d_]+[\s,]*){0,2}")
# Every temperature form holds one of these; the patterns run only in windows around them,
# so a long article without any costs one scan.
_ANCHOR = re.compile(r"°|[-+](?<![\w,+-][-+])\s?\d|[cf](?<=\d[cf])\b")
_ANCHOR_WORDS = ahocorasick.Automaton()
for _word in (
    *[
        "degree",
        "градус",
        "minus",
        "мінус",
        "минус",
        "plus",
        "плюс",
        "вночі",
        "уночі",
        "вдень",
        "удень",
        "ночью",
        "днем",
    ],
    "at night",
    "by day",
    "during the day",
):
    _ANCHOR_WORDS.add_word(_word, len(_word))
_ANCHOR_WORDS.make_automaton()
_BEFORE = 70
_AFTER = 50

_MAX_C = 60.0
_MIN_C = -70.0


Regions = list[tuple[int, int]]


def _regions(text: str) -> Regions:
    """Merged windows around the anchors, ending at a space so no word is cut."""
    anchors = [(m.start(), m.end()) for m in _ANCHOR.finditer(text)]
    anchors += [(end + 1 - length, end + 1) for end, length in _ANCHOR_WORDS.iter(text)]
    anchors.sort()
    regions: Regions = []
    for start, end in anchors:
        lo = max(0, start - _BEFORE)
        hi = text.find(" ", min(len(text), end + _AFTER))
        hi = len(text) if hi == -1 else hi
        if regions and lo <= regions[-1][1]:
            regions[-1] = (regions[-1][0], max(hi, regions[-1][1]))
        else:
            regions.append((lo, hi))
    return regions


def _matches(pattern: re.Pattern[str], text: str, regions: Regions) -> Iterator[re.Match[str]]:
    for lo, hi in regions:
        yield from pattern.finditer(text, lo, hi)


@dataclass(slots=True)
class _Found:
    start: int
    end: int
    values: list[float]
    signed: bool  # at least one value carries its own sign
    frost: bool  # a frost qualifier ("морозу", "below zero") follows


def _number(match: re.Match[str], n: str) -> float | None:
    digits = match.group(f"n{n}") if n else match.group("n")
    if digits is not None:
        return float(digits.replace(",", "."))
    word = match.group(f"w{n}") if n else match.group("w")
    if word is None:
        return None
    value = words_value(word)
    return None if value is None else float(value)


def _sign(raw: str | None) -> int:
    """-1, +1, or 0 when no sign was written."""
    if not raw:
        return 0
    s = raw.strip().lower()
    return -1 if s in ("-", "minus", "мінус", "минус") else 1


def _is_fahrenheit(unit: str | None) -> bool:
    return unit is not None and unit.rstrip().lower().endswith(("f", "fahrenheit"))


def _sentence(text: str, start: int, end: int) -> str:
    """The sentence around text[start:end] (cheap: scans for the nearest stops)."""
    left = max(text.rfind(". ", 0, start), text.rfind("\n", 0, start), text.rfind("; ", 0, start))
    m = _SENTENCE_END.search(text, end)
    right = m.start() if m else len(text)
    return text[left + 1 : right]


def _weather_near(text: str, start: int, end: int) -> bool:
    return _WEATHER_CUE.search(_sentence(text, start, end)) is not None


def _marked(text: str, taken: list[tuple[int, int]], regions: Regions) -> list[_Found]:
    found: list[_Found] = []
    for m in _matches(_MARKED, text, regions):
        second = _number(m, "2")
        if second is None:
            continue
        first = _number(m, "1")
        s1, s2 = _sign(m.group("s1")), _sign(m.group("s2"))
        # Each value takes its own qualifier, else the one after the range ("2-4° морозу").
        frost2, warm2 = bool(m.group("f2")), bool(m.group("h2"))
        frost1 = bool(m.group("f1")) or (frost2 and not m.group("h1"))
        warm1 = bool(m.group("h1")) or (warm2 and not m.group("f1"))
        # A value without its own unit takes the range's ("10-15°F").
        fahrenheit1 = _is_fahrenheit(m.group("u1") or m.group("u2"))
        fahrenheit2 = _is_fahrenheit(m.group("u2"))
        frost_before = _FROST_BEFORE.search(text, max(0, m.start() - 30), m.start()) is not None
        values: list[float] = []
        for value, sign, frost, warm, fahrenheit in (
            (first, s1, frost1, warm1, fahrenheit1),
            (second, s2, frost2, warm2, fahrenheit2),
        ):
            if value is None:
                continue
            if sign:
                value *= sign
            elif frost or (frost_before and not warm):
                value = -value
            if fahrenheit:
                value = (value - 32.0) * 5.0 / 9.0
            values.append(value)
        found.append(_Found(m.start(), m.end(), values, bool(s1 or s2), frost2))
        taken.append((m.start(), m.end()))
    return found


def _overlaps(taken: list[tuple[int, int]], start: int, end: int) -> bool:
    return any(a < end and start < b for a, b in taken)


def _adjectives(text: str, taken: list[tuple[int, int]], regions: Regions) -> list[_Found]:
    found: list[_Found] = []
    for m in _matches(_ADJECTIVE, text, regions):
        if _overlaps(taken, m.start(), m.end()):
            continue
        value = _number(m, "")
        if value is None:
            continue
        before = text[max(0, m.start() - 8) : m.start()].lower()
        negative = bool(m.group("frost")) or before.rstrip().endswith(("-", "minus", "мінус"))
        found.append(_Found(m.start(), m.end(), [-value if negative else value], True, negative))
        taken.append((m.start(), m.end()))
    return found


def _signed(text: str, taken: list[tuple[int, int]], regions: Regions) -> list[_Found]:
    found: list[_Found] = []
    for m in _matches(_SIGNED, text, regions):
        if _overlaps(taken, m.start(), m.end()):
            continue
        value = _number(m, "")
        if value is None:
            continue
        sign = m.group("s").strip().lower()
        if sign in ("-", "+") and not _weather_near(text, m.start(), m.end()):
            continue
        if sign in ("plus", "плюс") and not _weather_near(text, m.start(), m.end()):
            continue
        found.append(_Found(m.start(), m.end(), [value * _sign(sign)], True, False))
        taken.append((m.start(), m.end()))
    return found


def _slots(text: str, taken: list[tuple[int, int]], regions: Regions) -> list[_Found]:
    found: list[_Found] = []
    for m in _matches(_SLOT, text, regions):
        start = m.start("n")
        if _overlaps(taken, start, m.end()) or not _weather_near(text, start, m.end()):
            continue
        values = [float(m.group("n").replace(",", "."))]
        if m.group("m"):
            values.append(float(m.group("m").replace(",", ".")))
        found.append(_Found(start, m.end(), values, False, False))
        taken.append((start, m.end()))
    return found


def find_temperatures(text: str) -> tuple[float, ...]:
    """Every temperature stated in normalised `text`, in °C rounded to 0.1, sorted, distinct.

    Forms: `-20°C`, `5 °C`, `-4°F` (converted), `-20C`, `minus 20 degrees`, `мінус двадцять
    градусів`, `20 degrees below zero`, `25 градусів морозу`, ranges (`-3...-8°C`,
    `10-15°C` is 10 and 15, `від -3 до -8`), `15-градусні морози`, and signed numbers
    without a unit (`мороз до -20`, `до -25`) when the sentence is about the weather.
    """
    text = lower_same_length(text)
    regions = _regions(text) if text else []
    if not regions:
        return ()
    taken: list[tuple[int, int]] = []
    found = _marked(text, taken, regions)
    found += _adjectives(text, taken, regions)
    found += _signed(text, taken, regions)
    found += _slots(text, taken, regions)
    found.sort(key=lambda f: f.start)
    if _CLIMATE.search(text):
        # "limiting global heating to 1.5C" is a climate target, not an air temperature.
        found = [f for f in found if not _CLIMATE.search(_sentence(text, f.start, f.end))]
    # An unsigned forecast value shares the frost qualifier of the next one:
    # "ночью 11-13°, днем 8-10° мороза" is -13..-11 and -10..-8.
    for here, after in itertools.pairwise(found):
        if here.signed or here.frost or not after.frost:
            continue
        gap = _SHARED_GAP.fullmatch(text, here.end, after.start)
        if gap is not None and all(v > 0 for v in here.values):
            here.values = [-v for v in here.values]
    values: set[float] = set()
    for f in found:
        for v in f.values:
            c = round(v, 1) + 0.0  # + 0.0 turns -0.0 into 0.0
            if _MIN_C <= c <= _MAX_C:
                values.add(c)
    return tuple(sorted(values))
