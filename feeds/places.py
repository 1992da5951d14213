"""Find the Ukrainian places where the events of a news text happen.

One Aho-Corasick pass over the normalised text (`feeds.gazetteer`), word-boundary checks,
then cheap rules: capital letters for names, the noun after an adjective, ambiguity.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from feeds.gazetteer import Entry, Gazetteer, load_gazetteer, normalise
from feeds.models import COUNTRY, PlaceMention

_UKRAINE = PlaceMention(place_id=COUNTRY, oblast=COUNTRY, name="Ukraine")

# What the noun after an oblast/raion/hromada adjective says it is.
_TOKEN = re.compile(r"[^\W\d_][\w'-]*|[.!?;:()\"«»]|\d+")
_OBLAST_BEFORE = re.compile(r"(?:област\w*|oblasts|regions)[^.!?;]{0,60}$")
_CITY_DISTRICT = re.compile(
    r"[\w\s,'-]{0,60}?\b(?:район\w*|district)\s+(?:міста\s+|города\s+|of\s+)?([^\W\d_][\w'-]*"
    r"(?:\s+[^\W\d_][\w'-]*)?)"
)
_WORD_BEFORE = re.compile(r"[^\W\d_][\w'-]*\.?|[,.;:!?()\"«»]")
# fmt: off
_PREPOSITIONS = frozenset({
    "у", "в", "во", "біля", "поблизу", "під", "до", "з", "із", "зі", "від", "через", "на",
    "по", "около", "возле", "под", "из", "от", "для", "між", "между", "неподалік",
    "неподалеку", "район", "районі", "районах", "м.", "с.", "смт", "смт.", "село", "селі",
    "села", "селище", "селищі", "селища", "місто", "міста", "місті", "городе", "город",
    "города", "поселок", "посёлок", "поселке", "in", "near", "at", "from", "to", "of",
    "outside", "around", "towards", "village", "town", "city",
})
# fmt: on
_UPPER_WORD_AFTER = re.compile(r"\s+[A-ZА-ЯІЇЄҐЁ]")
_LOWER_WORD_AFTER = re.compile(r"\s+[a-zа-яіїєґё]")
_STREET_BEFORE = re.compile(
    r"(?:вулиц\w*|вул\.|просп\w*|провул\w*|бульвар\w*|площ\w*|"
    r"улиц\w*|ул\.|street|avenue|st\.)\s+(?:[^\W\d_]+\s+)?$"
)
_CONNECTORS = frozenset(["та", "і", "й", "и", "а", "також", "and", "or", "або", "чи", "both"])
_OBLAST_WORDS = ("обл", "регіон", "регион", "region", "oblast", "province")
_OBLAST_ABBREVIATIONS = frozenset({"ова", "ода", "ога", "ova", "oda", "огв", "вца"})
_RAION_WORDS = ("район", "district", "raion", "р-н", "р-ну", "р-ні")
_HROMADA_WORDS = ("громад", "hromad", "тг", "отг", "community", "communities")
_CITY_WORDS = ("міськ", "місто", "міста", "місті", "городск", "город", "city")
_CITY_EXACT = frozenset({"мер", "мэр", "mayor", "мвa", "мва"})
_ADJECTIVE_ENDINGS = ("ській", "ської", "ських", "ська", "ський", "ському", "ськім", "ськими",
                      "ськ", "ской", "ских", "ская", "ский", "ском", "скую", "цької", "цькій",
                      "цьких", "цька", "цкой", "цких", "цкая", "зької", "зькій", "зьких",
                      "ькій", "ької", "ьких")  # fmt: skip

# "Kyiv says ...": the government, not the city.
_METONYMY_AFTER = re.compile(
    r"(?:'s)?\s*,?\s*(?:says|said|has said|warned|warns|claims|claimed|accused|accuses|denied|"
    r"denies|wants|hopes|insists|insisted|announced|believes|urged|urges|asked|asks|responded|"
    r"confirmed|seeks|sought|rejected|agreed|demanded|vowed|plans|intends|meanwhile|"
    r"and its (?:allies|partners|western)|"
    r"заявив|заявил|заявляє|заявляет|звинуватив|обвинил|вимагає|требует)\b"
)
_METONYMY_POSSESSIVE = re.compile(
    r"'s\s+(?:counteroffensive|air power|counter-offensive|forces|troops|allies|army|military|"
    r"government|partners|western|request|bid|position|leadership|backers|officials|"
    r"defen[cs]e|war|offensive|strategy|push|push for|ability|decision|demands|drones?|"
    r"missiles?|strikes?|attacks?|negotiat\w*|envoy|delegation)\b"
)
_METONYMY_BEFORE = re.compile(
    r"(?:officials|authorities|government|leaders|diplomats|moscow|москва|москвою|москвой)"
    r"\s+(?:in|and|і|и|та)\s+$|(?:between|between moscow and|and moscow|"
    r"москвою і|москвой и|між|между)\s+$|"
    # aid to the state, pressure on the state: "jets to Kyiv", "допомоги Києву"
    r"(?:aid|support|weapons|jets|arms|pressure|loans?|assistance|supplies|deliveries|"
    r"ammunition|missiles|tanks)\s+(?:to|for|on)\s+$|"
    r"(?:допомог\w*|підтримк\w*|зброї|зброю|тиск\w*(?: на)?|кредит\w*|позиці\w*|"
    r"пріоритет\w*|партнер\w*|лояльн\w*(?: до)?|помощ\w*|поддержк\w*|оружи\w*|"
    r"давлени\w*(?: на)?|позици\w*|приоритет\w*)\s+$"
)
_METONYMY_PAIR = re.compile(r"^\s*(?:and|і|и|та|-)\s*(?:moscow|москв)")
_SURNAME_AFTER = re.compile(r"\s+[A-ZА-ЯІЇЄҐ][a-zа-яіїєґ']+")
# A dateline at the start of a line: "СИМФЕРОПОЛЬ, 18 янв" or "KYIV (Reuters) -".
_DATELINE_AFTER = re.compile(r"\s*(?:,|\(|—|–|-\s)")

_DATED = re.compile(r"[.,]\s+\d{1,2}\s+[^\W\d_]{3,}")
# "у Києві та області", "in Kharkiv and the region"
_AND_REGION = re.compile(
    r"\s+(?:та|і|й|и|and)\s+(?:the\s+)?(?:област[іи]|обл\.|region|oblast|surrounding region)\b"
)
# Is the text about Ukraine as a whole (besides any finer place)?
_NATIONWIDE = re.compile(
    r"(?<!\w)(?:across|throughout|all over|in|inside|of|on|to|the whole of|всій|всей|по всій|"
    r"по всей|в|у|по|на|з|із|территори\w+|територі\w+|регіонах|регионах|областях|областей)\s+"
    r"(?:україн(?:і|у|а|и|ою)\b|украин(?:е|у|а|ы|ой)\b|ukraine\b)|"
    r"ukraine(?:'s)\s+(?:power|energy|grid|electricity|infrastructure|gas|heating|"
    r"national|network|system|capital|regions|cities)|"
    r"(?:the country's|країни|страны)\s+(?:energy|power|grid|electricity)|"
    r"(?:регіон\w*|област\w*|регион\w*|regions)\s+(?:країни|страны|of the country)|"
    r"по всій країні|по всей стране|across the country|nationwide|"
    r"україн\w+\s+енерг\w+|украин\w+\s+энерг\w+|енергосистем\w+\s+україни|"
    r"энергосистем\w+\s+украины|енергетичн\w+\s+інфраструктур\w+\s+україни|"
    r"энергетическ\w+\s+инфраструктур\w+\s+украины|"
    r"ukrainian\s+(?:power|energy|grid|cities|regions|homes|households|families|consumers|"
    r"civilians|people)|ukrainians\b|українців|українці|украинцев|украинцы"
)
# Ukraine named only as the subject of a war, sanctions or aid elsewhere: not about Ukraine.
_ELSEWHERE_BEFORE = re.compile(
    r"(?:war|invasion|conflict|sanctions?|aid|support|help|assistance|weapons|arms|over|"
    r"about|regarding|invading|invaded|for|sent|fight|fighting|deployed|, )\s*"
    r"(?:in|on|of|against|for|to|over|with)?\s*"
    r"(?:the\s+)?$"
)
_ELSEWHERE_AFTER = re.compile(
    r"^(?:'s)?\s*(?:war|invasion|conflict|aid|grain deal|peace|-russia|and russia|"
    r", israel|, taiwan|, gaza)\b"
)
_ELSEWHERE_PAIR = re.compile(r"(?:russia-|russia and |russia's war on |russian war in )$")


@dataclass(slots=True)
class _Hit:
    start: int
    end: int  # exclusive
    entries: tuple[Entry, ...]


def find_places(text: str, *, language: str | None = None) -> tuple[PlaceMention, ...]:
    """Places (resolved to gazetteer ids) where the events of `text` happen.

    A single ``UA`` mention when the text is about Ukraine but names no finer place; ``()``
    when it is not about Ukraine. `language` is accepted for callers that know it; the
    matcher reads all three languages at once.
    """
    if not text:
        return ()
    gazetteer = load_gazetteer()
    low = normalise(text)
    hits = _longest_hits(gazetteer, text, low)
    country_hits: list[_Hit] = []
    state_named = False
    found: dict[str, tuple[str, str]] = {}  # place id -> surface, in text order
    pending: list[tuple[_Hit, list[str]]] = []  # ambiguous settlement names
    for hit in hits:
        kinds = {kind for _, kind in hit.entries}
        surface = text[hit.start : hit.end]
        if "S" in kinds:
            continue
        if kinds & {"U", "u"}:
            country_hits.append(hit)
            continue
        if _is_metonymy(low, hit) or (
            any(kind in "Nnpc" for _, kind in hit.entries) and _is_dateline(text, hit)
        ):
            state_named = True  # "Kyiv says", "KYIV, Jan 12 (Reuters)": Ukraine, no finer place
            continue
        if any(kind == "K" for _, kind in hit.entries):
            if not _UPPER_WORD_AFTER.match(text, hit.end):
                found.setdefault("UA80", (surface, "K"))
            continue
        fixed = [pid for pid, kind in hit.entries if kind in "OF"]
        if fixed:
            for pid in dict.fromkeys(fixed):
                found.setdefault(pid, (surface, hit.entries[0][1]))
            continue
        area = _adjective_place(gazetteer, low, hit, explicit_only=True)
        if area:  # "у Покровському районі", "Одеській області"
            found.setdefault(area, (surface, "A"))
            continue
        names = _settlement_candidates(gazetteer, text, low, hit)
        if names:
            town = len(names[0]) > 4 and _level(gazetteer, names[0]) == "town"
            if len(names) == 1 and not town:
                found.setdefault(names[0], (surface, "N"))
                region = _AND_REGION.match(low, hit.end)
                if region:  # "у Києві та області"
                    oblast = "UA32" if names[0] == "UA80" else names[0][:4]
                    found.setdefault(oblast, (text[hit.start : region.end()], "O"))
            else:
                # Small towns share names with places elsewhere (and in Russia): only
                # when their oblast is named too.
                pending.append((hit, names))
            continue
        area = _adjective_place(gazetteer, low, hit)
        if area:
            found.setdefault(area, (surface, "A"))
    if pending:
        context = {pid[:4] for pid in found}
        for hit, names in pending:
            inside = [pid for pid in names if pid[:4] in context]
            if len({pid[:4] for pid in inside}) == 1:
                found.setdefault(inside[0], (text[hit.start : hit.end], "N"))
            elif len({pid[:4] for pid in names}) == 1 and _level(gazetteer, names[0]) != "town":
                found.setdefault(names[0], (text[hit.start : hit.end], "N"))
    mentions = [
        PlaceMention(place_id=pid, oblast=_oblast_of(pid), name=_name(gazetteer, pid),
                     surface=surface)
        for pid, (surface, _) in found.items()
    ]  # fmt: skip
    if not mentions:
        about = state_named or any(not _elsewhere(low, hit) for hit in country_hits)
        return (_UKRAINE,) if about else ()
    if _NATIONWIDE.search(low):
        mentions.append(_UKRAINE)
    return tuple(mentions)


def _elsewhere(low: str, hit: _Hit) -> bool:
    """ "sanctions over Ukraine", "the war in Ukraine": Ukraine is not where events happen."""
    before = low[max(0, hit.start - 30) : hit.start]
    after = low[hit.end : hit.end + 20]
    return bool(
        _ELSEWHERE_BEFORE.search(before)
        or _ELSEWHERE_AFTER.match(after)
        or _ELSEWHERE_PAIR.search(before)
    )


def _oblast_of(place_id: str) -> str:
    return place_id[:4] if len(place_id) >= 4 else place_id


def _level(gazetteer: Gazetteer, place_id: str) -> str:
    place = gazetteer.get(place_id)
    return place.level if place else ""


def _name(gazetteer: Gazetteer, place_id: str) -> str:
    place = gazetteer.get(place_id)
    return place.name_en if place else place_id


def _longest_hits(gazetteer: Gazetteer, text: str, low: str) -> list[_Hit]:
    """Whole-word matches, leftmost-longest, without overlaps.

    Headlines glued together by aggregators ("NBC NewsKyiv Mayor") still count as words
    where a lower-case letter meets an upper-case one.
    """
    raw: list[_Hit] = []
    n = len(low)
    patterns = gazetteer.patterns
    for end, surface in gazetteer.automaton.iter(low):
        start = end - len(surface) + 1
        if start > 0 and low[start - 1].isalnum():
            if not (text[start].isupper() and text[start - 1].islower()):
                continue
        elif start > 1 and low[start - 1] == "-" and low[start - 2].isalnum():
            continue
        glued_after = end + 1 < n and text[end + 1].isupper() and text[end].islower()
        if end + 1 < n and low[end + 1].isalnum() and not glued_after:
            continue
        raw.append(_Hit(start, end + 1, patterns[surface]))
    raw.sort(key=lambda h: (h.start, -h.end))
    out: list[_Hit] = []
    last_end = -1
    for hit in raw:
        if hit.start >= last_end:
            out.append(hit)
            last_end = hit.end
    return out


def _sentence_initial(text: str, start: int) -> bool:
    i = start - 1
    while i >= 0 and text[i] in " \t\"'«„“(":
        i -= 1
    return i < 0 or text[i] in ".!?\n:;—–|"


def _settlement_candidates(gazetteer: Gazetteer, text: str, low: str, hit: _Hit) -> list[str]:
    """Settlement ids a capitalised name may mean, most prominent first ([] if none fits)."""
    names = [(pid, kind) for pid, kind in hit.entries if kind in "Nnpc"]
    if not names or not text[hit.start].isupper():
        return []
    if _is_dateline(text, hit) or _STREET_BEFORE.search(low, max(0, hit.start - 20), hit.start):
        return []
    if not _after_preposition(text, low, hit.start):
        # "Volodymyr Zelensky", "на Покровському напрямку": a person or an adjective.
        names = [(pid, kind) for pid, kind in names if kind in "Nn" or pid in gazetteer.centres]
    # A name that is also a common word or a person's name ("Суми", "Volodymyr") counts
    # only mid-sentence and not before a capitalised word (a surname), unless it is an
    # oblast centre.
    strict = _sentence_initial(text, hit.start) or bool(_SURNAME_AFTER.match(text, hit.end))
    if _LOWER_WORD_AFTER.match(text, hit.end):
        # "на Покровському напрямку": an adjective before its noun, not the town.
        names = [(pid, kind) for pid, kind in names if kind != "c"]
    ids = [pid for pid, kind in names if kind in "Nc" or not strict or pid in gazetteer.centres]
    if not ids:
        return []

    def rank(pid: str) -> int:
        if pid in gazetteer.centres:
            return 0
        place = gazetteer.get(pid)
        return 1 if place and place.level == "city" else 2

    best = min(rank(pid) for pid in ids)
    return [pid for pid in ids if rank(pid) == best]


def _after_preposition(text: str, low: str, start: int) -> bool:
    """True when a preposition ("у", "near") or a settlement noun ("смт") governs the name,
    possibly across a list ("біля Щербинівки, Нелипівки та Сухої Балки")."""
    words = list(_WORD_BEFORE.finditer(low, max(0, start - 120), start))
    for match in reversed(words[-12:]):
        word = match.group()
        if word in _PREPOSITIONS:
            return True
        if word in _CONNECTORS or word == ",":
            continue
        if not text[match.start()].isupper():  # only other names of a list may come between
            return False
    return False


def _is_metonymy(low: str, hit: _Hit) -> bool:
    """ "Kyiv says", "Moscow and Kyiv": the state, not the city (only for capitals)."""
    if not any(pid == "UA80" and kind in "Nnp" for pid, kind in hit.entries):
        return False
    after = low[hit.end : hit.end + 40]
    before = low[max(0, hit.start - 30) : hit.start]
    return bool(
        _METONYMY_AFTER.match(after)
        or _METONYMY_POSSESSIVE.match(after)
        or _METONYMY_BEFORE.search(before)
        or _METONYMY_PAIR.match(after)
    )


def _is_dateline(text: str, hit: _Hit) -> bool:
    """ "СИМФЕРОПОЛЬ, 18 янв –", "Київ. 28 вересня. УНІАН.": where the reporter files from."""
    if _DATED.match(text, hit.end) and _sentence_initial(text, hit.start):
        return True
    surface = text[hit.start : hit.end]
    if not surface.isupper() or len(surface) < 4:
        return False
    line_start = hit.start == 0 or text[hit.start - 1] == "\n"
    return line_start and bool(_DATELINE_AFTER.match(text, hit.end))


def _adjective_place(
    gazetteer: Gazetteer, low: str, hit: _Hit, *, explicit_only: bool = False
) -> str | None:
    """Resolve an oblast/raion/hromada adjective by the noun that follows it.

    With `explicit_only`, only when that noun is there (else None).
    """
    adjectives = [(pid, kind) for pid, kind in hit.entries if kind in "ARH"]
    if not adjectives:
        return None
    noun = _following_noun(low, hit.end)
    if explicit_only and noun is None:
        return None
    if noun is None and _OBLAST_BEFORE.search(low, max(0, hit.start - 80), hit.start):
        noun = "oblast"  # "у ряді областей, включно з Київською"
    if noun == "oblast":
        ids = [pid for pid, kind in adjectives if kind == "A"]
        ids = ["UA32" if pid == "UA80" else pid for pid in ids]
    elif noun == "city":
        ids = [gazetteer.centre_of.get(pid, pid) for pid, kind in adjectives if kind == "A"]
    elif noun == "raion":
        ids = [pid for pid, kind in adjectives if kind == "R"]
        if _is_city_district(gazetteer, low, hit.end):
            return None  # "Покровський район Кривого Рогу" is a district of the city
    elif noun == "hromada":
        ids = [pid for pid, kind in adjectives if kind == "H"]
    else:
        # "херсонські аграрії", "київські енергетики": the oblast, or Kyiv the city.
        ids = [pid for pid, kind in adjectives if kind == "A"]
        ids = ["UA80" if pid == "UA32" else pid for pid in ids]
    ids = list(dict.fromkeys(ids))
    return ids[0] if len(ids) == 1 else None


def _is_city_district(gazetteer: Gazetteer, low: str, end: int) -> bool:
    """True when the "район" after `end` is followed by a city name in the genitive."""
    match = _CITY_DISTRICT.match(low, end)
    if not match:
        return False
    words = match.group(1)
    for candidate in (words, words.split()[0]):
        if any(kind in "Nnp" for _, kind in gazetteer.patterns.get(candidate, ())):
            return True
    return False


def _following_noun(low: str, end: int) -> str | None:
    """ "oblast", "raion", "hromada", "city" or None: what the adjective ending at `end` is."""
    # Lists of adjectives may be long: "у Київській, Донецькій, ... та Одеській областях".
    for count, match in enumerate(_TOKEN.finditer(low, end, min(len(low), end + 400))):
        token = match.group()
        if token in "()":
            continue
        if count > 40 or not token[0].isalnum():
            return None
        if token.startswith(_OBLAST_WORDS) or token in _OBLAST_ABBREVIATIONS:
            return "oblast"
        if token.startswith(_RAION_WORDS):
            return "raion"
        if token.startswith(_HROMADA_WORDS):
            return "hromada"
        if token.startswith(_CITY_WORDS) or token in _CITY_EXACT:
            return "city"
        if token in _CONNECTORS or token.endswith(_ADJECTIVE_ENDINGS) or token == "частково":
            continue
        return None
    return None
