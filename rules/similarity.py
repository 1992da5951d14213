"""How alike two headlines are: normalisation, content terms and a weighted overlap score.

Terms are words minus stop words, English ones stripped of inflection ("strikes", "striking"
-> "strik"), spelling and transliteration variants folded ("Kiev" -> "kyiv", "Zelenskiy" ->
"zelensky"), then cut to a short prefix (a crude stem that also works for inflected Ukrainian
and Russian). Weights come from how common a term is among the headlines seen so far
(`TermStats`), so "Ukraine" or "attack" weigh little and "Oreshnik" a lot (`DOMAIN_STOPWORDS`,
which drops such words outright, is an option that measured worse). With `concepts`, the words
reporters use interchangeably for one thing ("blackout", "electricity", "світло" -> "power";
"strike", "shelling", "удар" -> "attack") and Ukrainian and Russian forms of the common names
("Києві", "Киев" -> "kyiv") become one term, so two wordings of one event share terms.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections import Counter
from collections.abc import Iterable

from rapidfuzz import fuzz

STEM_LENGTH = 6

# Function words of English, Ukrainian and Russian headlines: they say nothing of the event.
_STOPWORD_TEXT = """
    a an the of in on at to for from by with as and or but is are was were be been being has
    have had it its this that these those after before amid over under into about says said
    say than not no what why how who whom will would can could may might more most up out off
    via per vs new also amid against while during just still again live updates update latest
    і й та та ж в у на до з із зі за по від для про що як це не але чи як після через під над
    між вже ще його її їх біля після близько понад майже
    и в во на к с со за по от для о об что как это не но или после через под над между уже
    еще его ее их около более почти
    де коли чому хто який яка яке які якої якого скільки чого навіщо чи буде будуть може можуть
    стало відомо назвав назвала назвали названо розповів розповіла розповіли пояснив пояснила
    пояснили заявив заявила заявили повідомив повідомила повідомили відреагував відреагували
    деталі подробиці фото відео кадри огляд день року рік році знову також саме лише
    сьогодні завтра вчора вночі уночі ночі зранку ввечері сегодня завтра вчера ночью утром
    где когда почему кто какой какая какие сколько может могут будет стало известно заявил
    заявила заявили рассказал рассказали объяснил объяснили подробности фото видео года год
    січня лютого березня квітня травня червня липня серпня вересня жовтня листопада грудня
    января февраля марта апреля мая июня июля августа сентября октября ноября декабря
"""
STOPWORDS = frozenset(_STOPWORD_TEXT.split())

# Words of nearly every headline on the war and its energy front, and the labels of live blogs
# and briefings: sharing them says nothing of sharing an event.
_DOMAIN_STOPWORD_TEXT = """
    ukraine ukraines ukrainian ukrainians russia russias russian russians war wars news live
    blog briefing updates latest report reports reported official officials
    україна україни україні україну український українські росія росії рф війна війни новини
    украина украины украине россия россии война войны новости
"""
DOMAIN_STOPWORDS = frozenset(_DOMAIN_STOPWORD_TEXT.split())

# Beginnings of the same words in Ukrainian and Russian ("України", "російські", "РФ", "війни"),
# dropped from Cyrillic headlines always, not only with `domain_stopwords`: a Ukrainian outlet
# names Ukraine or Russia in about a quarter of its headlines, on every subject, so there the
# words say nothing of the event. An English world-news feed names Ukraine only in its Ukraine
# news, where the word does mark the subject (dropping it measured worse on the Google News
# reference, and better on the Ukrainian event reference: see `rules.grouping`).
_CYRILLIC_DOMAIN_PREFIXES = ("україн", "украин", "росі", "росс", "війн", "войн", "новин", "новост")
_CYRILLIC_DOMAIN_WORDS = frozenset({"рф"})


def is_cyrillic_domain_word(word: str) -> bool:
    """True for a Ukrainian or Russian headline word naming Ukraine, Russia, the war or news."""
    return word in _CYRILLIC_DOMAIN_WORDS or word.startswith(_CYRILLIC_DOMAIN_PREFIXES)


# Transliteration and spelling variants of the same name or word, folded to one form.
VARIANTS = {
    "kiev": "kyiv",
    "kyivs": "kyiv",
    "zelenskyy": "zelensky",
    "zelenskiy": "zelensky",
    "zelenskyi": "zelensky",
    "zelenski": "zelensky",
    "odessa": "odesa",
    "kharkov": "kharkiv",
    "kharkhiv": "kharkiv",
    "dnepr": "dnipro",
    "dnipropetrovsk": "dnipro",
    "zaporozhye": "zaporizhzhia",
    "zaporizhia": "zaporizhzhia",
    "zaporizhzhya": "zaporizhzhia",
    "lvov": "lviv",
    "nikolaev": "mykolaiv",
    "mykolayiv": "mykolaiv",
    "chernigov": "chernihiv",
    "defence": "defense",
    "offence": "offense",
    "programme": "program",
}

# Words for one thing in this domain, by the term they fold into (written as headline words;
# `title_terms` stems them the same way as the headline's). Deliberately not "energy": an
# "energy minister" is not a blackout.
_CONCEPT_TEXT = {
    "power": """power electricity electric electrical blackout blackouts outage outages powerless
        grid darkness dark""",
    "heat": "heat heating warm warmth radiator radiators heater heaters",
    "cold": "cold freezing freeze frozen frigid frost winter chill icy",
    "attack": """attack strike struck bombard bombardment bombing bombs barrage pound pummel
        batter blitz hit shelling assault blast""",
}
# Ukrainian and Russian word beginnings (after case folding), by the English term they fold
# into: inflection changes the ending ("Київ", "Києві", "Києва"), so a prefix decides.
_CYRILLIC_CONCEPTS = (
    ("світл", "power"),
    ("електр", "power"),
    ("знеструм", "power"),
    ("блекаут", "power"),
    ("свет", "power"),
    ("электр", "power"),
    ("обесточ", "power"),
    ("блэкаут", "power"),
    ("опален", "heat"),
    ("отоплен", "heat"),
    ("тепл", "heat"),
    ("холод", "cold"),
    ("мороз", "cold"),
    ("атак", "attack"),
    ("удар", "attack"),
    ("обстр", "attack"),
    ("вибух", "attack"),
    ("взрыв", "attack"),
    ("енерг", "energy"),
    ("энерг", "energy"),
    ("київ", "kyiv"),
    ("києв", "kyiv"),
    ("киев", "kyiv"),
    ("харк", "kharkiv"),
    ("харьк", "kharkiv"),
    ("одес", "odesa"),
    ("дніпр", "dnipro"),
    ("днепр", "dnipro"),
    ("львів", "lviv"),
    ("львов", "lviv"),
    ("зеленськ", "zelens"),
    ("зеленск", "zelens"),
)

# Headlines of daily round-ups ("List of key events, day 1,431", "Campaign Assessment,
# January 24"): they cover many events at once, so their words must not pull separate events
# into one story. Live blogs with an event in the headline ("Ukraine war briefing: Kyiv
# struggles to ...") are not round-ups: their labels are domain stop words instead.
_ROUNDUP = re.compile(
    r"\b(key events|day \d+|as it happened|what we know|round ?up|digest|campaign assessment"
    r"|підсумки|новини за|огляд матеріалів|онлайн|итоги|новости за)\b"
)

# " - Reuters", " | DW", " – Militarnyi": a short tail after a dash or bar names the publisher.
_SUFFIX = re.compile(r"\s+[-–—|]\s+([^-–—|]{1,40})$")
_APOSTROPHES = re.compile(r"[’'`ʼ‘]")
_POSSESSIVE = re.compile(r"(?<=\w)[’'`ʼ]s\b")
_THOUSANDS = re.compile(r"(?<=\d)[,.  ](?=\d{3}\b)")
_NON_WORD = re.compile(r"[^\w\s]|_")
_SPACES = re.compile(r"\s+")


def strip_publisher(title: str, source_name: str | None = None) -> str:
    """`title` without a trailing publisher name (" - Reuters", " | DW", up to two of them).

    A tail is taken for a publisher only when it is short and does not start with a digit or a
    minus sign, so "Kyiv - 20 degrees" style endings survive.
    """
    text = title.strip()
    if source_name:
        for sep in (" - ", " | ", " – ", " — "):
            if text.endswith(sep + source_name):
                return text[: -len(sep + source_name)].rstrip()
    for _ in range(2):
        match = _SUFFIX.search(text)
        if match is None:
            break
        tail = match.group(1).strip()
        if not tail or tail[0].isdigit() or len(tail.split()) > 5:
            break
        text = text[: match.start()].rstrip()
    return text


def normalise_title(title: str, source_name: str | None = None) -> str:
    """Lower case, publisher suffix removed, punctuation gone, "1,330" -> "1330", spaces single."""
    text = unicodedata.normalize("NFKC", strip_publisher(title, source_name)).casefold()
    text = text.replace("ё", "е").replace("−", "-")
    text = _POSSESSIVE.sub("", text)
    text = _APOSTROPHES.sub("", text)
    text = _THOUSANDS.sub("", text)
    text = _NON_WORD.sub(" ", text)
    return _SPACES.sub(" ", text).strip()


def is_roundup(normalised: str) -> bool:
    """True for a live blog, briefing or daily round-up headline (of a normalised title)."""
    return _ROUNDUP.search(normalised) is not None


def english_stem(word: str) -> str:
    """`word` without its English inflection: "strikes", "striking", "struck" stay apart, but
    "strikes"/"striking" -> "strik", "killed"/"kills" -> "kill", "cities" -> "city".

    A light suffix stripper (plural, -ed, -ing, final -e), not Porter: enough to make two
    wordings of one headline share terms. Words outside a-z are returned unchanged.
    """
    if len(word) <= 3 or not (word.isascii() and word.isalpha()):
        return word
    w = word
    if w.endswith("ies") and len(w) > 4:
        w = w[:-3] + "y"
    elif w.endswith(("sses", "xes", "ches", "shes")):
        w = w[:-2]
    elif w.endswith("s") and not w.endswith(("ss", "us", "is")):
        w = w[:-1]
    for suffix in ("ing", "ed"):
        stem = w[: -len(suffix)]
        if w.endswith(suffix) and len(stem) >= 3 and any(ch in "aeiouy" for ch in stem):
            # "cutting" -> "cut", "stopped" -> "stop", but "killed" -> "kill".
            if stem[-1] == stem[-2] and stem[-1] not in "lsz":
                stem = stem[:-1]
            w = stem
            break
    if w.endswith("e") and len(w) > 3:
        w = w[:-1]
    return w


def title_terms(
    title: str,
    source_name: str | None = None,
    *,
    stem: bool = True,
    domain_stopwords: bool = False,
    concepts: bool = False,
) -> frozenset[str]:
    """The content terms of a headline: normalised words minus stop words (and, when asked,
    domain stop words), variants folded, English inflection stripped, cut to a stem, and (with
    `concepts`) synonyms and other-language forms folded into one term (see `concept_of`).

    Domain stop words are off by default: measured on the Google News reference they cost
    recall for no precision, as inverse-frequency weights already make them light."""
    terms = set()
    for word in normalise_title(title, source_name).split():
        if word in STOPWORDS or (len(word) < 2 and not word.isdigit()):
            continue
        if domain_stopwords and word in DOMAIN_STOPWORDS:
            continue
        if not word.isascii() and is_cyrillic_domain_word(word):
            continue
        # Words with digits ("geran5", "1330") are names or numbers: cutting them loses them.
        if any(ch.isdigit() for ch in word):
            terms.add(word)
            continue
        if concepts and not word.isascii():
            folded = concept_of(word)
            if folded is not None:
                terms.add(folded)
                continue
        if stem:
            word = english_stem(VARIANTS.get(word, word))
        term = word[:STEM_LENGTH]
        terms.add(_CONCEPTS.get(term, term) if concepts else term)
    return frozenset(terms)


def _term(word: str) -> str:
    return english_stem(VARIANTS.get(word, word))[:STEM_LENGTH]


_CONCEPTS = {
    _term(word): _term(head) for head, words in _CONCEPT_TEXT.items() for word in words.split()
}


def concept_of(word: str) -> str | None:
    """The term a normalised word folds into as a concept ("blackouts" -> "power", "світла" ->
    "power", "Києві" -> "kyiv"), or None when it stands for itself."""
    if word.isascii():
        return _CONCEPTS.get(_term(word))
    for prefix, concept in _CYRILLIC_CONCEPTS:
        if word.startswith(prefix):
            return concept
    return None


class TermStats:
    """Document frequencies of terms over the headlines seen, for inverse-frequency weights.

    The `prior` keeps early weights flat (with few headlines seen nothing is known to be common).
    """

    __slots__ = ("_df", "_docs", "_prior")

    def __init__(self, *, prior: int = 20) -> None:
        self._df: Counter[str] = Counter()
        self._docs = 0
        self._prior = prior

    def add(self, terms: Iterable[str]) -> None:
        self._docs += 1
        self._df.update(set(terms))

    def weight(self, term: str) -> float:
        return math.log((self._docs + self._prior) / (self._df[term] + 1))

    def document_frequency(self, term: str) -> int:
        return self._df[term]


def term_similarity(a: frozenset[str], b: frozenset[str], stats: TermStats | None = None) -> float:
    """Weighted cosine of two term sets, in [0, 1] (uniform weights without `stats`)."""
    if not a or not b:
        return 0.0
    shared = a & b
    if not shared:
        return 0.0

    def weight(term: str) -> float:
        return stats.weight(term) ** 2 if stats is not None else 1.0

    num = sum(weight(t) for t in shared)
    den = math.sqrt(sum(weight(t) for t in a) * sum(weight(t) for t in b))
    return num / den if den > 0 else 0.0


def title_similarity(
    a: str, b: str, *, stats: TermStats | None = None, a_source: str | None = None
) -> float:
    """How alike two headlines are, in [0, 1]: the larger of the weighted term overlap and
    (for near-identical wording, such as syndicated copies) the character-level ratio."""
    norm_a, norm_b = normalise_title(a, a_source), normalise_title(b)
    if not norm_a or not norm_b:
        return 0.0
    overlap = term_similarity(title_terms(a, a_source), title_terms(b), stats)
    return max(overlap, near_copy_score(norm_a, norm_b))


def near_copy_score(norm_a: str, norm_b: str) -> float:
    """The character-level similarity of two normalised titles, counted only when they are
    near copies (>= 0.9): below that, wording overlap says more than character overlap."""
    # Series differ only in a number ("Assessment, January 24" / "January 25", "Day 1437"):
    # near copies must carry the same numbers.
    if _numbered(norm_a) != _numbered(norm_b):
        return 0.0
    ratio = fuzz.token_sort_ratio(norm_a, norm_b) / 100.0
    return ratio if ratio >= 0.9 else 0.0


def _numbered(normalised: str) -> frozenset[str]:
    return frozenset(w for w in normalised.split() if any(ch.isdigit() for ch in w))


def fuzzy_term_score(a: frozenset[str], b: frozenset[str]) -> float:
    """rapidfuzz's token-set ratio of two term sets, in [0, 1], discounted when they share
    fewer than two terms (one shared word is a topic, not an event)."""
    if len(a & b) < 2:
        return 0.0
    return fuzz.token_set_ratio(" ".join(sorted(a)), " ".join(sorted(b))) / 100.0 - 0.5
