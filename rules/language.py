"""The rule language: `parse_rule` reads what people type into a `Rule`; `format_rule` writes it.

The grammar (English and Ukrainian, in any order, separated by spaces, commas, "and"/"та"/"і")
is documented in the README; the words themselves live in `rules.vocabulary`.
"""

from __future__ import annotations

import difflib
import math
import re
from collections.abc import Container
from dataclasses import dataclass, field

from feeds.models import Category, Severity
from rules import vocabulary as v
from rules.keywords import fold, is_valid_keyword
from rules.places import PlaceDirectory
from rules.rule import Delivery, Rule

# Error texts, English and Ukrainian; {word} etc. come from `RuleSyntaxError.params`.
_MESSAGES: dict[str, dict[str, str]] = {
    "empty": {"en": "The rule is empty", "uk": "Правило порожнє"},
    "unknown_place": {"en": "Unknown place '{word}'", "uk": "Невідоме місце '{word}'"},
    "place_missing": {"en": "Say which place", "uk": "Вкажіть місце"},
    "unknown_word": {"en": "Unknown word '{word}'", "uk": "Невідоме слово '{word}'"},
    "unclosed_quote": {"en": "Unclosed quote", "uk": "Лапки не закрито"},
    "empty_keyword": {
        "en": "A keyword needs letters or digits",
        "uk": "Ключове слово має містити літери або цифри",
    },
    "temperature_number": {
        "en": "Temperature needs a number",
        "uk": "Для температури потрібне число",
    },
    "temperature_direction": {
        "en": "Say which way the temperature goes",
        "uk": "Вкажіть напрямок: нижче чи вище",
    },
    "affected_number": {
        "en": "Affected needs a whole number",
        "uk": "Для кількості постраждалих потрібне ціле число",
    },
    "affected_minimum": {
        "en": "Affected takes a minimum",
        "uk": "Для постраждалих задається мінімум",
    },
    "severity_level": {"en": "Severity needs a level", "uk": "Для серйозності потрібен рівень"},
    "source_name": {"en": "Say which outlet", "uk": "Вкажіть джерело"},
    "unexpected": {"en": "Unexpected '{word}'", "uk": "Несподіване '{word}'"},
    "delivery_twice": {
        "en": "Delivery is given twice",
        "uk": "Спосіб доставки вказано двічі",
    },
}
_SUGGESTIONS: dict[str, dict[str, str]] = {
    "empty": {"en": "try: power outage in Kyiv", "uk": "спробуйте: відключення світла Київ"},
    "did_you_mean": {"en": "did you mean {candidates}?", "uk": "можливо, {candidates}?"},
    "place_example": {
        "en": "write a city, hromada or oblast, e.g. Kyiv, Lviv oblast",
        "uk": "напишіть місто, громаду чи область, напр. Київ, Харківщина",
    },
    "quote_keyword": {
        "en": 'to require a word, quote it: "{word}"',
        "uk": 'щоб вимагати слово, візьміть його в лапки: "{word}"',
    },
    "close_quote": {"en": 'close it: "Укренерго"', "uk": 'закрийте їх: "Укренерго"'},
    "keyword_example": {"en": 'e.g. "Укренерго"', "uk": 'напр. "Укренерго"'},
    "temperature_example": {"en": "cold <= -15", "uk": "мороз -15"},
    "temperature_direction": {
        "en": "temperature <= -20 or temperature >= 30",
        "uk": "температура <= -20 або температура >= 30",
    },
    "affected_example": {"en": "affected >= 10000", "uk": "постраждалих >= 10000"},
    "severity_example": {
        "en": "severity high (none, low, medium, high, critical)",
        "uk": "серйозність висока (відсутня, низька, середня, висока, критична)",
    },
    "source_example": {
        "en": 'from UNIAN, or from "Ukrainska Pravda"',
        "uk": 'від УНІАН або від "Українська правда"',
    },
    "number_example": {
        "en": "say what the number is: cold <= -15 or affected >= 10000",
        "uk": "вкажіть, що це за число: мороз -15 або постраждалих >= 10000",
    },
    "delivery_example": {"en": "end with one of digest, instant, both", "uk": "один з: дайджест"},
}


@dataclass(eq=False)
class RuleSyntaxError(ValueError):
    """Why a rule text does not parse: where (`position`..`end`, 0-based), why, and a hint.

    `code` names the problem (a key of the message catalogue) so the bot can word it itself.
    """

    code: str
    position: int
    end: int
    text: str
    params: dict[str, str] = field(default_factory=dict)
    suggestion_code: str | None = None
    lang: str = "en"

    def __post_init__(self) -> None:
        ValueError.__init__(self, str(self))

    @property
    def message(self) -> str:
        return _render(_MESSAGES, self.code, self.lang, self.params)

    @property
    def suggestion(self) -> str | None:
        if self.suggestion_code is None:
            return None
        return _render(_SUGGESTIONS, self.suggestion_code, self.lang, self.params)

    def __str__(self) -> str:
        hint = self.suggestion
        return f"{self.message} — {hint}" if hint else self.message

    def pointer(self) -> str:
        """The rule text with a caret line under the offending part."""
        width = max(1, self.end - self.position)
        return f"{self.text}\n{' ' * self.position}{'^' * width}"


def _render(
    catalogue: dict[str, dict[str, str]], code: str, lang: str, params: dict[str, str]
) -> str:
    texts = catalogue[code]
    return texts.get(lang, texts["en"]).format(**params)


# ---------------------------------------------------------------------------------------------
# Lexing: words (anything between spaces and the few signs below), quotes, comparisons, commas.

_OPENERS = {'"': '"', "“": "”", "„": "“", "«": "»"}
_CLOSERS = {"“": '"”', "„": '“”"'}
_COMPARISON = re.compile(r"<=|>=|=<|=>|==|[<>=≤≥]")
# A parenthesised part stays inside its word: "Mykolaivka (Donetsk oblast, Kramatorsk raion)".
_WORD = re.compile(r"(?:\([^()]*\)|[^\s,;:\"“”„«»<>=≤≥])+")
# A P-code (what `display_name` falls back to) is a place only when the directory knows it;
# it is never suggested to someone who misspelt a name.
_PLACE_ID = re.compile(r"UA(?:\d{2}|\d{4}|\d{7}|\d{10})?")
_NUMBER = re.compile(r"([+\-−–]?)(\d+(?:\.\d+)?)(.*)")
_THOUSANDS = re.compile(r"\d{3}")
_SPACES = (" ", "\u00a0", "\u202f", "\u2009")


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str  # "word" | "quote" | "exclude_quote" | "cmp" | "comma"
    text: str  # the word, the quoted content, the comparison sign
    start: int
    end: int

    @property
    def folded(self) -> str:
        return fold(self.text) if self.kind == "word" else ""


def _lex(text: str, lang: str) -> list[_Token]:
    tokens: list[_Token] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch.isspace() or ch == ":":
            i += 1
            continue
        exclude = ch in "-−" and i + 1 < n and text[i + 1] in _OPENERS
        opener = text[i + 1] if exclude else ch
        if opener in _OPENERS:
            start = i
            i += 2 if exclude else 1
            closers = _CLOSERS.get(opener, _OPENERS[opener])
            close = next((j for j in range(i, n) if text[j] in closers), -1)
            if close < 0:
                raise RuleSyntaxError("unclosed_quote", start, n, text, {}, "close_quote", lang)
            kind = "exclude_quote" if exclude else "quote"
            tokens.append(_Token(kind, text[i:close], start, close + 1))
            i = close + 1
            continue
        if ch in ",;":
            tokens.append(_Token("comma", ch, i, i + 1))
            i += 1
            continue
        cmp = _COMPARISON.match(text, i)
        if cmp:
            tokens.append(_Token("cmp", cmp.group(), i, cmp.end()))
            i = cmp.end()
            continue
        word = _WORD.match(text, i)
        if word is None:  # a stray closing quote
            raise RuleSyntaxError("unexpected", i, i + 1, text, {"word": ch}, None, lang)
        tokens.append(_Token("word", word.group(), i, word.end()))
        i = word.end()
    return tokens


# ---------------------------------------------------------------------------------------------
# Parsing.


@dataclass
class _Draft:
    categories: set[Category] = field(default_factory=set)
    places: set[str] = field(default_factory=set)
    max_temp_c: float | None = None
    min_temp_c: float | None = None
    min_affected: int | None = None
    min_severity: Severity | None = None
    keywords: list[str] = field(default_factory=list)
    exclude_keywords: list[str] = field(default_factory=list)
    sources: set[str] = field(default_factory=set)
    exclude_sources: set[str] = field(default_factory=set)
    delivery: Delivery | None = None

    def rule(self) -> Rule:
        return Rule(
            categories=frozenset(self.categories),
            places=frozenset(self.places),
            max_temp_c=self.max_temp_c,
            min_temp_c=self.min_temp_c,
            min_affected=self.min_affected,
            min_severity=self.min_severity,
            keywords=tuple(dict.fromkeys(self.keywords)),
            exclude_keywords=tuple(dict.fromkeys(self.exclude_keywords)),
            sources=frozenset(self.sources),
            exclude_sources=frozenset(self.exclude_sources),
            delivery=self.delivery or Delivery.INSTANT,
        )


_MAX_PLACE_WORDS = 5


class _Parser:
    def __init__(self, text: str, places: PlaceDirectory, lang: str) -> None:
        self.text = text
        self.places = places
        self.lang = lang
        self.tokens = _lex(text, lang)
        self.i = 0
        self.draft = _Draft()

    # -- helpers ------------------------------------------------------------------------------

    def error(
        self,
        code: str,
        token: _Token | None,
        suggestion: str | None = None,
        **params: str,
    ) -> RuleSyntaxError:
        start, end = (token.start, token.end) if token else (len(self.text), len(self.text))
        return RuleSyntaxError(code, start, end, self.text, params, suggestion, self.lang)

    def peek(self, offset: int = 0) -> _Token | None:
        j = self.i + offset
        return self.tokens[j] if j < len(self.tokens) else None

    def phrase_at(self, j: int, table: Container[tuple[str, ...]], longest: int) -> int:
        """How many words from token `j` form the longest phrase of `table` (0 if none)."""
        run: list[str] = []
        for token in self.tokens[j : j + longest]:
            if token.kind != "word":
                break
            run.append(token.folded)
        for size in range(len(run), 0, -1):
            if tuple(run[:size]) in table:
                return size
        return 0

    def phrase_key(self, size: int) -> tuple[str, ...]:
        return tuple(t.folded for t in self.tokens[self.i : self.i + size])

    # -- top level ----------------------------------------------------------------------------

    def parse(self) -> Rule:
        if not self.tokens:
            raise self.error("empty", None, "empty")
        place_mode = False  # after "in Kyiv," the next word is tried as a place first
        while (token := self.peek()) is not None:
            if token.kind == "comma":
                self.i += 1
                continue
            if place_mode and token.kind == "word" and self.take_place():
                continue
            place_mode = False
            if token.kind == "quote":
                self.draft.keywords.append(self.keyword(token))
                self.i += 1
            elif token.kind == "exclude_quote":
                self.draft.exclude_keywords.append(self.keyword(token))
                self.i += 1
            elif token.kind == "cmp":
                raise self.error("unexpected", token, "number_example", word=token.text)
            else:
                place_mode = self.word(token)
        return self.draft.rule()

    def word(self, token: _Token) -> bool:
        """Consume one clause starting at a word; True when places may follow."""
        size = self.phrase_at(self.i, v.PHRASES, v.LONGEST_PHRASE)
        if size == 0:
            if token.text.startswith(("-", "−")) and len(token.text) > 1:
                if _NUMBER.fullmatch(token.text):
                    raise self.error("unexpected", token, "number_example", word=token.text)
                keyword = token.text[1:]
                if not is_valid_keyword(keyword):
                    raise self.error("empty_keyword", token, "keyword_example")
                self.draft.exclude_keywords.append(keyword)
                self.i += 1
                return False
            if self.take_place():
                return True
            if _NUMBER.fullmatch(token.text):
                raise self.error("unexpected", token, "number_example", word=token.text)
            raise self.unknown_word(token)
        meaning = v.PHRASES[self.phrase_key(size)]
        self.i += size
        if isinstance(meaning, frozenset):
            self.draft.categories |= meaning
        elif isinstance(meaning, Delivery):
            if self.draft.delivery is not None and self.draft.delivery != meaning:
                raise self.error("delivery_twice", token, "delivery_example")
            self.draft.delivery = meaning
        elif meaning is v.Word.IN:
            self.place_after(token)
            return True
        elif meaning is v.Word.COLD:
            if self.threshold_follows():
                self.temperature(token, cold=True)
            else:
                self.draft.categories.add(Category.COLD)
        elif meaning is v.Word.TEMPERATURE:
            self.temperature(token, cold=False)
        elif meaning is v.Word.AFFECTED:
            self.affected(token)
        elif meaning is v.Word.SEVERITY:
            self.severity(token)
        elif meaning is v.Word.FROM:
            self.draft.sources |= self.source_names(token)
        elif meaning is v.Word.NOT_FROM:
            self.draft.exclude_sources |= self.source_names(token)
        elif meaning is v.Word.NOT:
            nxt = self.peek()
            if nxt is None or nxt.kind != "quote":
                raise self.error("unexpected", token, "quote_keyword", word=token.text)
            self.draft.exclude_keywords.append(self.keyword(nxt))
            self.i += 1
        # Word.ANY leaves the categories open; Word.SEPARATOR joins clauses.
        return meaning is v.Word.SEPARATOR and bool(self.draft.places)

    def keyword(self, token: _Token) -> str:
        keyword = " ".join(token.text.split())
        if not is_valid_keyword(keyword):
            raise self.error("empty_keyword", token, "keyword_example")
        return keyword

    # -- places -------------------------------------------------------------------------------

    def take_place(self) -> bool:
        """Read the longest place name at the current word; False (nothing read) if none."""
        run: list[_Token] = []
        for token in self.tokens[self.i : self.i + _MAX_PLACE_WORDS]:
            if token.kind != "word":
                break
            run.append(token)
        for size in range(len(run), 0, -1):
            name = self.text[run[0].start : run[size - 1].end]
            place_id = self.places.lookup(name)
            if place_id is None and name.endswith("."):
                place_id = self.places.lookup(name.rstrip("."))
            if place_id is not None:
                self.draft.places.add(place_id)
                self.i += size
                return True
        return False

    def place_after(self, preposition: _Token) -> None:
        token = self.peek()
        if token is None or token.kind != "word":
            raise self.error("place_missing", token or preposition, "place_example")
        if not self.take_place():
            raise self.unknown_place(token)

    def unknown_place(self, token: _Token) -> RuleSyntaxError:
        # Name the whole run of unknown words up to the next grammar word ("Kiyv oblast").
        end = self.i
        while end < len(self.tokens) and self.tokens[end].kind == "word" and end - self.i < 3:
            if end > self.i and self.phrase_at(end, v.PHRASES, v.LONGEST_PHRASE):
                break
            end += 1
        last = self.tokens[end - 1]
        name = self.text[token.start : last.end]
        found = self.suggest_places(name) or self.suggest_places(token.text)
        span = _Token("word", name, token.start, last.end)
        if found:
            return self.error(
                "unknown_place", span, "did_you_mean", word=name, candidates=_or(found, self.lang)
            )
        return self.error("unknown_place", span, "place_example", word=name)

    def suggest_places(self, name: str) -> list[str]:
        # A bare P-code is no help to someone who misspelt a name.
        return [s for s in self.places.suggest(name) if not _PLACE_ID.fullmatch(s)]

    def unknown_word(self, token: _Token) -> RuleSyntaxError:
        close = difflib.get_close_matches(token.text.casefold(), v.ALL_WORDS, n=1, cutoff=0.8)
        if close:
            return self.error(
                "unknown_word", token, "did_you_mean", word=token.text, candidates=f"'{close[0]}'"
            )
        found = self.suggest_places(token.text)
        if found:
            return self.error(
                "unknown_place",
                token,
                "did_you_mean",
                word=token.text,
                candidates=_or(found, self.lang),
            )
        return self.error("unknown_word", token, "quote_keyword", word=token.text)

    # -- thresholds ---------------------------------------------------------------------------

    def threshold_follows(self) -> bool:
        token = self.peek()
        if token is None:
            return False
        if token.kind == "cmp":
            return True  # a sign can only start a threshold ("cold <=" then lacks its number)
        skip = self.phrase_at(self.i, v.COMPARATOR_PHRASES, 2)
        # A comparison word counts only before a number: "cold from UNIAN" names a source.
        token = self.peek(skip)
        return token is not None and token.kind == "word" and bool(_NUMBER.fullmatch(token.text))

    def comparison(self) -> str | None:
        """Read a comparison sign or phrase, if one is next: "<=", ">=", "=", "<" or ">"."""
        token = self.peek()
        if token is None:
            return None
        if token.kind == "cmp":
            self.i += 1
            sign = {"=<": "<=", "=>": ">=", "≤": "<=", "≥": ">=", "==": "="}.get(token.text)
            return sign or token.text
        if token.kind != "word":
            return None
        size = self.phrase_at(self.i, v.COMPARATOR_PHRASES, 2)
        if not size:
            return None
        key = self.phrase_key(size)
        self.i += size
        return v.COMPARATOR_PHRASES[key]

    def number(self) -> tuple[float, _Token] | None:
        """Read a number with its sign, thousands groups ("10 000"), multiplier and unit."""
        token = self.peek()
        if token is None or token.kind != "word":
            return None
        match = _NUMBER.fullmatch(token.text)
        if match is None:
            return None
        sign, digits, suffix = match.groups()
        self.i += 1
        last = token
        # "10 000" or "10,000": a group of exactly three digits straight after.
        while not suffix and "." not in digits:
            nxt, after = self.peek(), self.peek(1)
            gap = self.text[last.end : nxt.start] if nxt else ""
            if nxt and nxt.kind == "word" and _THOUSANDS.fullmatch(nxt.text) and gap in _SPACES:
                digits, last = digits + nxt.text, nxt
                self.i += 1
            elif (
                nxt
                and nxt.kind == "comma"
                and nxt.text == ","
                and nxt.start == last.end
                and after is not None
                and after.start == nxt.end
                and after.kind == "word"
                and _THOUSANDS.fullmatch(after.text)
            ):
                digits, last = digits + after.text, after
                self.i += 2
            else:
                break
        value = float(digits)
        suffix = fold(suffix)
        nxt = self.peek()
        if (
            not suffix
            and nxt is not None
            and nxt.kind == "word"
            and (nxt.folded in v.MULTIPLIER_WORDS or nxt.folded in v.UNIT_WORDS)
        ):
            suffix, last = nxt.folded, nxt
            self.i += 1
        if suffix in v.MULTIPLIER_WORDS:
            value *= v.MULTIPLIER_WORDS[suffix]
        elif suffix and suffix not in v.UNIT_WORDS:
            self.i -= 1
            return None
        if sign in "-−–" and sign:
            value = -value
        return value, _Token("word", self.text[token.start : last.end], token.start, last.end)

    def temperature(self, word: _Token, *, cold: bool) -> None:
        op = self.comparison()
        read = self.number()
        if read is None:
            suggestion = "temperature_example"
            raise self.error("temperature_number", self.peek(), suggestion)
        value, token = read
        if not math.isfinite(value):  # 400 digits overflow to inf, which cannot be written back
            raise self.error("temperature_number", token, "temperature_example")
        if op is None or op == "=":
            if not cold:
                raise self.error("temperature_direction", word, "temperature_direction")
            # "мороз 15" is read as fifteen degrees of frost, as Ukrainians say it.
            op, value = "<=", -abs(value)
        if op in ("<=", "<"):
            self.draft.max_temp_c = value
        else:
            self.draft.min_temp_c = value

    def affected(self, word: _Token) -> None:
        op = self.comparison()
        if op in ("<=", "<"):
            raise self.error("affected_minimum", word, "affected_example")
        read = self.number()
        if read is None:
            raise self.error("affected_number", self.peek(), "affected_example")
        value, token = read
        if value < 0 or not value.is_integer() or math.isinf(value):
            raise self.error("affected_number", token, "affected_example")
        self.draft.min_affected = int(value) + (1 if op == ">" else 0)

    def severity(self, word: _Token) -> None:
        self.comparison()  # "severity >= high" and "severity high" say the same
        token = self.peek()
        level = v.SEVERITY_WORDS.get(token.folded) if token else None
        if level is None:
            raise self.error("severity_level", token or word, "severity_example")
        self.draft.min_severity = level
        self.i += 1

    # -- sources ------------------------------------------------------------------------------

    def source_names(self, word: _Token) -> set[str]:
        """One outlet, or several joined by "or"/"або"; quote names of several words."""
        names: set[str] = set()
        while True:
            token = self.peek()
            if token is None or token.kind not in ("word", "quote"):
                raise self.error("source_name", token or word, "source_example")
            name = " ".join(token.text.split())
            if not name:
                raise self.error("source_name", token, "source_example")
            names.add(name)
            self.i += 1
            nxt = self.peek()
            if nxt is None or nxt.kind != "word" or nxt.folded not in _OR:
                return names
            self.i += 1


_OR = frozenset(fold(w) for w in ("or", "або", "|"))


def _or(candidates: list[str], lang: str) -> str:
    shown = candidates[:3]
    word = "або" if lang == "uk" else "or"
    return shown[0] if len(shown) == 1 else f"{', '.join(shown[:-1])} {word} {shown[-1]}"


def parse_rule(text: str, *, places: PlaceDirectory, lang: str = "en") -> Rule:
    """The `Rule` that `text` describes; raises `RuleSyntaxError` (messages in `lang`)."""
    return _Parser(text, places, lang).parse()


# ---------------------------------------------------------------------------------------------
# Formatting.

_SIMPLE_NAME = re.compile(r"[^\W_][\w.&'’-]*")


def format_rule(rule: Rule, *, places: PlaceDirectory, lang: str = "en") -> str:
    """The canonical text of `rule` in `lang` ("en" or "uk"); `parse_rule` reads it back."""
    words = v.CANONICAL.get(lang, v.CANONICAL["en"])
    parts: list[str] = []
    categories = set(rule.categories)
    names: list[str] = []
    if categories >= v.OUTAGES:
        names.append(words["outage"])
        categories -= v.OUTAGES
    names += [words[c] for c in Category if c in categories]
    if names:
        parts.append(", ".join(names))
    has_conditions = (
        rule.max_temp_c is not None
        or rule.min_temp_c is not None
        or rule.min_affected is not None
        or rule.min_severity is not None
        or rule.keywords
        or rule.exclude_keywords
    )
    if not names and not has_conditions:
        parts.append(words[v.Word.ANY])
    if rule.max_temp_c is not None:
        parts.append(f"{words[v.Word.TEMPERATURE]} <= {_number(rule.max_temp_c)}")
    if rule.min_temp_c is not None:
        parts.append(f"{words[v.Word.TEMPERATURE]} >= {_number(rule.min_temp_c)}")
    if rule.min_affected is not None:
        parts.append(f"{words[v.Word.AFFECTED]} >= {rule.min_affected}")
    if rule.min_severity is not None:
        parts.append(f"{words[v.Word.SEVERITY]} {words[rule.min_severity]}")
    parts += [_quote(k) for k in rule.keywords]
    parts += ["-" + _quote(k) for k in rule.exclude_keywords]
    if rule.places:
        names = sorted(places.display_name(p, lang) for p in rule.places)
        parts.append(f"{words[v.Word.IN]} {', '.join(names)}")
    joiner = f" {words['or']} "
    if rule.sources:
        shown = joiner.join(_source(s) for s in sorted(rule.sources))
        parts.append(f"{words[v.Word.FROM]} {shown}")
    if rule.exclude_sources:
        shown = joiner.join(_source(s) for s in sorted(rule.exclude_sources))
        parts.append(f"{words[v.Word.NOT_FROM]} {shown}")
    if rule.delivery is not Delivery.INSTANT:
        parts.append(words[rule.delivery])
    return " ".join(parts)


def _number(value: float) -> str:
    value = float(value)  # an int is a valid float annotation but has no is_integer() in 3.11
    return str(int(value)) if value.is_integer() else repr(value)


def _quote(text: str) -> str:
    return f"«{text}»" if '"' in text else f'"{text}"'


def _source(name: str) -> str:
    simple = (
        _SIMPLE_NAME.fullmatch(name) is not None
        and (fold(name),) not in v.PHRASES
        and fold(name) not in _OR
        and _NUMBER.fullmatch(name) is None
    )
    return name if simple else _quote(name)
