"""How many people, households or consumers an item says were left without power, heat or
water: the largest explicit number, or a flagged lower bound for vague amounts ("thousands").

Runs on text from `feeds.normalize.normalize`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from feeds.normalize import lower_same_length

# Who is counted. Buildings, settlements and schools are not people ("500 high-rise
# buildings", "1 600 населених пунктах"), so they are absent on purpose.
_UNIT = (
    r"(?:people|persons|residents|households|homes|families|consumers|customers|subscribers"
    r"|users|citizens|ukrainians|inhabitants|clients|apartments|flats|dwellings"
    r"|абонент[^\W\d]*|споживач[^\W\d]*|домогосподарств[^\W\d]*|родин[^\W\d]*|сім'[^\W\d]*"
    r"|осел[ьі]|оселя[^\W\d]*|домівок|домівк[^\W\d]*|людей|людина|осіб|особи|мешканц[^\W\d]*"
    r"|мешкан[^\W\d]*|жител[^\W\d]*|жителів|точ[^\W\d]* обліку|квартир[^\W\d]*|українц[^\W\d]*"
    r"|громадян[^\W\d]*|потребител[^\W\d]*|домохозяйств[^\W\d]*|семей|семьи|семьям[^\W\d]*"
    r"|человек|украинц[^\W\d]*|граждан[^\W\d]*|точ[^\W\d]* учета)"
)
_MULT = (
    r"(?:thousand|тисяч[^\W\d]*|тис\b\.?|тыс\b\.?|тысяч[^\W\d]*|k\b|million|mln\b|mn\b|m\b"
    r"|млн\b\.?|мільйон[^\W\d]*|миллион[^\W\d]*)"
)
_SMALL_WORDS = {
    "one": 1,
    "a": 1,
    "an": 1,
    "two": 2,
    "three": 3,
    "four": 4,
    "five": 5,
    "six": 6,
    "seven": 7,
    "eight": 8,
    "nine": 9,
    "ten": 10,
}
# "понад тисячу", "более тысячи", "over a thousand": one thousand, not "thousands".
_ABOUT_ONE = (
    "понад",
    "більше",
    "близько",
    "майже",
    "более",
    "больше",
    "свыше",
    "около",
    "почти",
    "than",
    "over",
    "about",
    "nearly",
    "almost",
)
_WORD_AMOUNT = (
    r"(?:(?:one and a half|half a|one|a|an|two|three|four|five|six|seven|eight|nine|ten)"
    r"\s(?:million|thousand)\b|півтора мільйона|півмільйона|полтора миллиона|полмиллиона"
    r"|мільйон(?:а|у|ом)?\b|миллион(?:а|у|ом)?\b"
    r"|(?:"
    + "|".join(f"(?<={w} )" for w in _ABOUT_ONE)
    + r")(?:тисяч[іуа]|тысяч[иуа]|a thousand)\b)"
)
# Vague amounts and their lower bounds.
_VAGUE_BOUNDS = (
    ("hundreds of thousands", 100_000),
    ("tens of thousands", 10_000),
    ("сот", 100_000),
    ("десят", 10_000),
    ("thousands", 1_000),
    ("тисяч", 1_000),
    ("тысяч", 1_000),
    ("millions", 1_000_000),
    ("мільйон", 1_000_000),
    ("миллион", 1_000_000),
)
_VAGUE = (
    r"(?:hundreds of thousands|tens of thousands|thousands|millions"
    r"|сот(?:ні|ень|нями) тисяч|десят(?:ки|ків|ками) тисяч|тисячі|тисячам?и?"
    r"|сот(?:ни|ен|нями) тысяч|десят(?:ки|ков|ками) тысяч|тысячи|тысячам?и?"
    r"|мільйони|мільйонів|мільйонам?и?|миллионы|миллионов|миллионам?и?)"
)
# Words that never stand between a number and the people it counts: time, percentages,
# buildings and settlements ("24 hours without power", "46 домов без отопления").
_NOT_BETWEEN = (
    r"(?:per|percent|відсот|процент|hours?|days?|weeks?|minutes?|годин|днів|діб|доби|тижн|хвилин"
    r"|часов|часа|дней|суток|недел|минут|домов|будинк|buildings?|houses|schools?|шкіл|школ"
    r"|лікар|больниц|hospitals?|населен|settlements?|villages?|towns?|cities|сіл|сел|міст|город"
    r"|регіон|област|oblasts?|regions?|район|districts?|котел|substations?|підстанц|подстанц"
    r"|of\s(?:the\s)?(?:country|city)"
    r"|січ|лют|берез|квіт|трав|черв|лип|серп|верес|жовт|листопад|груд"
    r"|январ|феврал|март|апрел|мая|июн|июл|август|сентябр|октябр|ноябр|декабр"
    r"|jan|feb|mar|apr|may|jun|jul|aug|sep|oct|nov|dec)"
)
# Words that may stand between a number and whom it counts ("2840 знеструмлених споживачів").
_BETWEEN = rf"(?:\s(?!{_NOT_BETWEEN})[^\W\d]+){{0,2}}"
_WITHOUT = (
    rf"(?:\s(?!{_NOT_BETWEEN})[^\W\d]+){{0,3}}\s(?:without|lacked|lack|без)\b"
    r"|\s(?:remain\w*|are|were|still|left|plunged)\s(?:still\s)?(?:in|into)\s(?:the\s)?dark"
)
_AMOUNT = re.compile(
    r"(?<![\w.,])(?:"
    r"(?P<num>\d{1,3}(?:[ ,.]\d{3})+(?![\d.,]\d)|\d+(?:[.,]\d+)?)(?:\s?(?P<mult>" + _MULT + "))?"
    r"|(?P<words>" + _WORD_AMOUNT + ")"
    r"|(?P<vague>" + _VAGUE + ")"
    r")(?:\sof)?(?:" + _BETWEEN + r"\s" + _UNIT + r"(?![^\W\d_])|" + _WITHOUT + ")",
)
_LISTED = re.compile(
    r"(?<![\w.,])(?P<num>\d+(?:[.,]\d+)?)\s?(?P<mult>"
    + _MULT
    + r")(?=\s?[,;.)]|\s?$|\s(?:на|у|в|in|on)\s)",
)
# The sentence must say someone is without supply.
_OUTAGE = re.compile(
    r"without\s(?:\w+\s){0,2}?(?:power|electricity|heat|heating|water|light|gas|supply|supplies)"
    r"|\bno\s(?:\w+\s)?(?:power|electricity|heat|heating|hot water|water)|lost\s(?:power"
    r"|electricity)"
    r"|cut off|in the dark|darkness|blackout|outage|power cut|de-?energi[sz]ed|disconnected"
    r"|\b(?:cut|cuts|cutting|knock\w* out|took out|takes out)\s(?:off\s)?(?:the\s)?(?:power"
    r"|electricity"
    r"|heat|heating|water)|\bhave no\b|\bhas no\b|\bhad no\b"
    r"|без\s(?:світла|електр|электр|енерго|энерго|тепла|опален|води|водопостач|газ|теплопостач"
    r"|напруги|живлення"
    r"|света|тепла|отоплен|водоснабж|напряжения|гарячої|горячей)"
    r"|знеструм|відключен|вимкнен|обесточ|отключен|без електро",
)
# A number in a clause about supply coming back is not the number left without it.
_RESTORED = re.compile(
    r"restor|reconnect|back on|power back|заживил|заживлен|повернул|повернуто|перепідключ"
    r"|відновил|відновлено|знову зі світлом|знову з\w* світлом|(?<!от)подключ|переподключ"
    r"|восстанов|вернули|снова со светом",
)
_HURT = re.compile(
    r"\b(?:kill|injur|wound|dead|died|hurt|загин|поранен|вбит|убит|ранен|погиб|травм|постражд|пострад)"
)
_CLAUSE_BREAK = re.compile(r"[,;.!?]\s|\s(?:but|while|whereas|але|однак|проте|а|но|однако)\s")
_SENTENCE_END = re.compile(r"[.!?\n](?:\s|$)")
_QUICK = re.compile(r"\d|thousand|million|тисяч|тысяч|мільйон|миллион")
_WINDOW = 160


@dataclass(frozen=True, slots=True)
class Affected:
    """The largest explicit count (`count`) and the largest vague lower bound (`lower_bound`)."""

    count: int | None = None
    lower_bound: int | None = None


def _parse_number(digits: str, mult: str | None) -> float | None:
    digits = digits.strip()
    if mult:
        # With a multiplier the separator is decimal: "1,5 млн", "33.5 thousand".
        if re.fullmatch(r"\d+(?:[.,]\d+)?", digits):
            return float(digits.replace(",", "."))
        return float(re.sub(r"[ ,.]", "", digits))
    if re.fullmatch(r"\d{1,3}(?:[ ,.]\d{3})+", digits):
        return float(re.sub(r"[ ,.]", "", digits))
    if re.fullmatch(r"\d+[.,]\d+", digits):
        return None  # "2.5 people" is not a count
    return float(digits)


def _multiplier(mult: str) -> int:
    return 1_000 if mult.lower().startswith(("th", "тис", "тыс", "k")) else 1_000_000


def _word_amount(words: str) -> int:
    w = words.lower()
    if w.startswith(("півтора", "полтора", "one and a half")):
        return 1_500_000 if "мил" in w or "міл" in w or "million" in w else 1_500
    if w.startswith(("півмільйона", "полмиллиона", "half a")):
        return 500_000 if ("million" in w or "мил" in w or "міл" in w) else 500
    factor = _SMALL_WORDS.get(w.split()[0], 1)
    thousand = w.startswith(("тис", "тыс")) or w.endswith("thousand")
    return factor * (1_000 if thousand else 1_000_000)


def _vague_bound(vague: str) -> int:
    v = vague.lower()
    for prefix, bound in _VAGUE_BOUNDS:
        if v.startswith(prefix):
            return bound
    return 1_000


def _clause(text: str, start: int, end: int) -> str:
    """The clause holding text[start:end]: between commas, semicolons and "but"."""
    left = 0
    for brk in _CLAUSE_BREAK.finditer(text, max(0, start - _WINDOW), start):
        left = brk.end()
    left = max(left, start - _WINDOW)
    after = _CLAUSE_BREAK.search(text, end, end + _WINDOW)
    right = after.start() if after else min(len(text), end + _WINDOW)
    return text[left:right]


def _sentence_bounds(text: str, start: int, end: int) -> tuple[int, int]:
    lo = max(0, start - _WINDOW)
    left = max(text.rfind(". ", lo, start), text.rfind("\n", lo, start), lo - 1)
    m = _SENTENCE_END.search(text, end, end + _WINDOW)
    right = m.start() if m else min(len(text), end + _WINDOW)
    return left + 1, right


def find_affected(text: str) -> Affected:
    """The largest number of people/households/consumers left without power, heat or water.

    "500,000 households", "1.5 million", "понад 200 тисяч абонентів", "1,5 млн споживачів",
    "200 000" are counts; "thousands", "сотні тисяч" only give a lower bound. A number
    counts when its sentence says someone is without supply, unless its own clause is
    about supply restored ("400,000 homes had their power restored").
    """
    if not text:
        return Affected()
    text = lower_same_length(text)
    if not _QUICK.search(text):
        return Affected()
    count: int | None = None
    bound: int | None = None
    counted: set[tuple[int, int]] = set()
    for m in _AMOUNT.finditer(text):
        start, end = m.start(), m.end()
        lo, hi = _sentence_bounds(text, start, end)
        if not _OUTAGE.search(text, lo, hi):
            continue
        clause = _clause(text, start, end)
        # "kill 1 and wound 31 people": casualties, not people without supply.
        hurt = _HURT.search(text, max(0, start - 12), min(len(text), end + 25))
        if _RESTORED.search(clause) or hurt:
            continue
        if m.group("vague"):
            value = _vague_bound(m.group("vague"))
            bound = value if bound is None else max(bound, value)
            continue
        if m.group("words"):
            number = _word_amount(m.group("words"))
        else:
            parsed = _parse_number(m.group("num"), m.group("mult"))
            if parsed is None:
                continue
            mult = m.group("mult")
            number = round(parsed * _multiplier(mult)) if mult else round(parsed)
        if number < 1:
            continue
        count = number if count is None else max(count, number)
        counted.add((lo, hi))
    # A list names whom it counts once: "на Сумщині 5,2 тис. споживачів, на Харківщині -
    # 37,3 тис.": amounts with a multiplier in a sentence that already counted consumers.
    for lo, hi in counted:
        for m in _LISTED.finditer(text, lo, hi):
            if _RESTORED.search(_clause(text, m.start(), m.end())):
                continue
            number = round(float(m.group("num").replace(",", ".")) * _multiplier(m.group("mult")))
            count = number if count is None else max(count, number)
    return Affected(count=count, lower_bound=bound)
