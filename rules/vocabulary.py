"""The words of the rule language, English and Ukrainian, and the canonical ones we write.

Every phrase is compared in `rules.keywords.fold` spelling, so case, apostrophes and
Latin/Cyrillic look-alikes do not matter.
"""

from __future__ import annotations

from enum import Enum

from feeds.models import Category, Severity
from rules.keywords import fold
from rules.rule import Delivery

P, H, W = Category.POWER_OUTAGE, Category.HEATING_OUTAGE, Category.WATER_OUTAGE
OUTAGES = frozenset({P, H, W})


class Word(Enum):
    """What a top-level phrase means; categories are listed in `CATEGORY_PHRASES`."""

    ANY = "any"
    COLD = "cold"  # a category, or a temperature threshold when a number follows
    TEMPERATURE = "temperature"
    AFFECTED = "affected"
    SEVERITY = "severity"
    IN = "in"
    FROM = "from"
    NOT_FROM = "not from"
    NOT = "not"
    SEPARATOR = "and"


CATEGORY_PHRASES: dict[str, frozenset[Category]] = {}


def _categories(categories: frozenset[Category], *phrases: str) -> None:
    for phrase in phrases:
        CATEGORY_PHRASES[phrase] = categories


_categories(
    frozenset({P}),
    *("power", "electricity", "blackout", "blackouts", "power outage", "power outages"),
    *("power cut", "power cuts", "electricity outage", "no power", "without power"),
    *("світло", "світла", "електрика", "електрики", "електроенергія", "електроенергії"),
    *("відключення світла", "відключення електроенергії", "відключення електрики"),
    *("знеструмлення", "блекаут", "блекаути", "без світла", "без електроенергії"),
    *("аварійні відключення",),
)
_categories(
    frozenset({H}),
    *("heating", "heating outage", "heating outages", "no heating", "without heating"),
    *("тепло", "тепла", "опалення", "теплопостачання", "відключення тепла"),
    *("відключення опалення", "без тепла", "без опалення"),
)
_categories(
    frozenset({W}),
    *("water", "water outage", "water outages", "water supply", "no water", "without water"),
    *("вода", "води", "водопостачання", "відключення води", "без води"),
)
_categories(OUTAGES, "outage", "outages", "utilities", "відключення", "відключень")
_categories(
    frozenset({Category.COLD}),
    *("cold snap", "frosts", "freeze", "freezing", "морози", "холоди", "похолодання"),
    "заморозки",
)
_categories(
    frozenset({Category.ENERGY_ATTACK}),
    *("attack", "attacks", "energy attack", "energy attacks", "strike", "strikes"),
    *("energy strike", "energy strikes", "shelling", "удар", "удари", "атака", "атаки"),
    *("обстріл", "обстріли", "атака на енергетику", "атаки на енергетику"),
    *("удар по енергетиці", "удари по енергетиці", "енергоатака", "енергоатаки"),
)
_categories(
    frozenset({Category.RESTORATION}),
    *("restoration", "restored", "restore", "відновлення", "відновлено", "відновили"),
)

WORD_PHRASES: dict[str, Word] = {}


def _words(meaning: Word, *phrases: str) -> None:
    for phrase in phrases:
        WORD_PHRASES[phrase] = meaning


_words(Word.ANY, "any", "everything", "anything", "all", "все", "усе", "будь-що", "всі", "усі")
_words(Word.COLD, "cold", "frost", "мороз", "холод")
_words(Word.TEMPERATURE, "temperature", "temp", "температура", "температури")
_words(Word.AFFECTED, "affected", "people", "customers", "consumers", "households")
_words(Word.AFFECTED, "постраждалих", "постраждали", "людей", "споживачів", "абонентів")
_words(Word.SEVERITY, "severity", "серйозність", "тяжкість", "рівень", "важливість")
_words(Word.IN, "in", "at", "в", "у", "на", "—", "–", "-")
_words(Word.FROM, "from", "source", "sources", "від", "джерело", "джерела")
_words(Word.NOT_FROM, "not from", "не від", "except from", "крім")
_words(Word.NOT, "not", "не", "without keyword")
_words(Word.SEPARATOR, "and", "or", "&", "+", "та", "і", "й", "також", "або")

DELIVERY_PHRASES: dict[str, Delivery] = {
    "instant": Delivery.INSTANT,
    "instantly": Delivery.INSTANT,
    "immediately": Delivery.INSTANT,
    "миттєво": Delivery.INSTANT,
    "одразу": Delivery.INSTANT,
    "відразу": Delivery.INSTANT,
    "digest": Delivery.DIGEST,
    "daily digest": Delivery.DIGEST,
    "дайджест": Delivery.DIGEST,
    "both": Delivery.BOTH,
    "обидва": Delivery.BOTH,
    "і те і те": Delivery.BOTH,
}

# Words that turn a number into a threshold; "below" counts the bound itself (<=).
AT_MOST = ("<=", "<", "=<", "≤", "below", "under", "at most", "less than", "нижче", "менше", "до")
AT_LEAST = (">=", ">", "=>", "≥", "above", "over", "at least", "more than", "min", "вище")
AT_LEAST_MORE = ("більше", "понад", "від", "from", "щонайменше", "не менше", "не нижче")
EQUALS = ("=", "==")
COMPARATORS: dict[str, str] = {
    **{p: "<=" for p in AT_MOST},
    **{p: ">=" for p in AT_LEAST + AT_LEAST_MORE},
    **{p: "=" for p in EQUALS},
}
STRICT = frozenset({"<", ">"})

SEVERITY_LEVELS: dict[str, Severity] = {
    "none": Severity.NONE,
    "any": Severity.NONE,
    "low": Severity.LOW,
    "medium": Severity.MEDIUM,
    "moderate": Severity.MEDIUM,
    "high": Severity.HIGH,
    "critical": Severity.CRITICAL,
    "відсутня": Severity.NONE,
    "будь-яка": Severity.NONE,
    "низька": Severity.LOW,
    "низький": Severity.LOW,
    "середня": Severity.MEDIUM,
    "середній": Severity.MEDIUM,
    "висока": Severity.HIGH,
    "високий": Severity.HIGH,
    "критична": Severity.CRITICAL,
    "критичний": Severity.CRITICAL,
}

MULTIPLIERS: dict[str, int] = {
    "k": 1_000,
    "к": 1_000,
    "thousand": 1_000,
    "тис": 1_000,
    "тис.": 1_000,
    "тисяч": 1_000,
    "тисячі": 1_000,
    "тисяча": 1_000,
    "m": 1_000_000,
    "м": 1_000_000,
    "million": 1_000_000,
    "млн": 1_000_000,
    "млн.": 1_000_000,
    "мільйон": 1_000_000,
    "мільйони": 1_000_000,
    "мільйонів": 1_000_000,
}
UNITS = ("°c", "°с", "°", "c", "с", "degrees", "градусів", "градуси", "градуса", "градус")

# What `format_rule` writes, per language.
CANONICAL: dict[str, dict[object, str]] = {
    "en": {
        P: "power outage",
        H: "heating outage",
        W: "water outage",
        "outage": "outage",
        Category.COLD: "cold",
        Category.ENERGY_ATTACK: "energy attack",
        Category.RESTORATION: "restoration",
        Word.ANY: "any",
        Word.TEMPERATURE: "temperature",
        Word.AFFECTED: "affected",
        Word.SEVERITY: "severity",
        Word.IN: "in",
        Word.FROM: "from",
        Word.NOT_FROM: "not from",
        "or": "or",
        Delivery.DIGEST: "digest",
        Delivery.BOTH: "both",
        Severity.NONE: "none",
        Severity.LOW: "low",
        Severity.MEDIUM: "medium",
        Severity.HIGH: "high",
        Severity.CRITICAL: "critical",
    },
    "uk": {
        P: "відключення світла",
        H: "відключення тепла",
        W: "відключення води",
        "outage": "відключення",
        Category.COLD: "похолодання",
        Category.ENERGY_ATTACK: "атака на енергетику",
        Category.RESTORATION: "відновлення",
        Word.ANY: "все",
        Word.TEMPERATURE: "температура",
        Word.AFFECTED: "постраждалих",
        Word.SEVERITY: "серйозність",
        Word.IN: "—",
        Word.FROM: "від",
        Word.NOT_FROM: "не від",
        "or": "або",
        Delivery.DIGEST: "дайджест",
        Delivery.BOTH: "обидва",
        Severity.NONE: "відсутня",
        Severity.LOW: "низька",
        Severity.MEDIUM: "середня",
        Severity.HIGH: "висока",
        Severity.CRITICAL: "критична",
    },
}

Meaning = frozenset[Category] | Word | Delivery


def _phrase_table() -> dict[tuple[str, ...], Meaning]:
    table: dict[tuple[str, ...], Meaning] = {}
    sources: list[dict[str, frozenset[Category]] | dict[str, Word] | dict[str, Delivery]]
    sources = [CATEGORY_PHRASES, WORD_PHRASES, DELIVERY_PHRASES]
    for source in sources:
        for phrase, meaning in source.items():
            key = tuple(fold(phrase).split())
            if key in table and table[key] != meaning:
                raise AssertionError(f"phrase {phrase!r} has two meanings")
            table[key] = meaning
    return table


# Folded word tuple -> meaning; the parser matches the longest phrase first.
PHRASES: dict[tuple[str, ...], Meaning] = _phrase_table()
LONGEST_PHRASE = max(len(k) for k in PHRASES)
COMPARATOR_PHRASES = {tuple(fold(p).split()): op for p, op in COMPARATORS.items()}
SEVERITY_WORDS = {fold(k): v for k, v in SEVERITY_LEVELS.items()}
MULTIPLIER_WORDS = {fold(k): v for k, v in MULTIPLIERS.items()}
UNIT_WORDS = frozenset(fold(u) for u in UNITS)
ALL_WORDS = sorted({*CATEGORY_PHRASES, *WORD_PHRASES, *DELIVERY_PHRASES})
