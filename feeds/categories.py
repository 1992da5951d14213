"""What an item reports: power, heating or water outages, cold, attacks on energy
infrastructure, restoration. Vocabulary by stem in Ukrainian, Russian and English.

Each sentence is read on its own: a category needs its cue in a sentence that is not
negated ("відключень не буде", "no blackouts"), and an outage cue in a clause that reports
supply coming back ("світло повернули", "power restored") counts as restoration, not outage.
Runs on lower-cased text from `feeds.normalize.normalize`.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from feeds.models import Category

_W = r"[^\W\d_]*"  # the rest of a word after its stem


def _any(*parts: str) -> re.Pattern[str]:
    return re.compile("|".join(f"(?:{p})" for p in parts))


# --- supply words, reused by several categories
_ELECTRICITY_EN = r"power|electricity|electric(?:al)? supply|light(?:s)?|the grid"
_ELECTRICITY_UK = rf"світл{_W}|електр{_W}|електроенерг{_W}|електропостач{_W}|живлен{_W}|напруг{_W}"
_ELECTRICITY_RU = rf"свет{_W}|электр{_W}|электроэнерг{_W}|электроснабж{_W}|энергоснабж{_W}|напряжен{_W}"
_HEAT_EN = r"heat(?:ing)?|hot water|radiators?"
_HEAT_UK = rf"тепл(?:а|о|ом)\b|опален{_W}|теплопостач{_W}|гаряч{_W} вод{_W}|гарячого водопостач{_W}"
_HEAT_RU = rf"отоплен{_W}|теплоснабж{_W}|горяч{_W} вод{_W}|горячего водоснабж{_W}"
_WATER_EN = r"(?<!hot )(?:running )?water(?! bottle)(?: supply| supplies)?"
_WATER_UK = rf"(?<!гарячої )вод(?:и|а|у|ою)\b|(?<!гарячого )водопостач{_W}|водопровід{_W}"
_WATER_RU = rf"(?<!горячей )вод(?:ы|а|у|ой)\b|(?<!горячего )водоснабж{_W}"

_WITHOUT = r"without|no|lost|lose|losing|cut off from|cut|cuts to|deprived of|left without"
_WITHOUT_UK = r"без|немає|нема|відсутн" + _W
_WITHOUT_RU = r"без|нет|отсутству" + _W


def _deprived(en: str, uk: str, ru: str) -> str:
    """"without X" in three languages, allowing two words between ("no power or heat")."""
    return (
        rf"\b(?:{_WITHOUT})\s(?:[\w']+\s){{0,3}}?(?:{en})\b"
        rf"|\b(?:{_WITHOUT_UK})\s(?:[\w']+\s){{0,2}}?(?:{uk})"
        rf"|\b(?:{_WITHOUT_RU})\s(?:[\w']+\s){{0,2}}?(?:{ru})"
    )


_SHUTOFF_UK = rf"відключен{_W}|відключ{_W}|вимкнен{_W}|вимика{_W}|перебо{_W}|зникл{_W}|знеструм{_W}"
_SHUTOFF_RU = rf"отключен{_W}|отключ{_W}|выключ{_W}|перебо{_W}|обесточ{_W}|пропал{_W}"

_POWER = _any(
    _deprived(_ELECTRICITY_EN, _ELECTRICITY_UK, _ELECTRICITY_RU),
    r"\b(?:power|electricity) (?:outage|cut|shortage|failure|shut-?off)s?",
    r"\bblackouts?\b|\bblack-outs?\b|\boutages?\b|\bpower cuts?\b|rolling cuts|de-?energi[sz]",
    r"\bknock(?:s|ed|ing)? out (?:the )?(?:power|electricity)|plung\w* (?:\w+ )*?into (?:the )?dark",
    r"\bin the dark\b|\bdarkness\b|\bcut (?:off )?(?:the )?(?:power|electricity)",
    r"\b(?:power|electricity) (?:was |were |has been |had been |is |are )?(?:cut|off|down|lost|out)\b",
    rf"знеструм{_W}|блекаут{_W}|блэкаут{_W}|обесточ{_W}",
    rf"(?:відключен{_W}|вимкнен{_W}|перебо{_W}|відключ{_W}) (?:\w+ ){{0,2}}?(?:{_ELECTRICITY_UK})",
    rf"(?:отключен{_W}|перебо{_W}|отключ{_W}) (?:\w+ ){{0,2}}?(?:{_ELECTRICITY_RU})",
    rf"графік{_W} (?:\w+ )?(?:відключен|вимкнен|погодинн|стабілізац){_W}",
    rf"график{_W} (?:\w+ )?(?:отключен|почасов|стабилизац){_W}",
    rf"(?:аварійн|екстрен|погодинн){_W} (?:\w+ )?відключен{_W}",
    rf"(?:аварийн|экстренн|почасов){_W} (?:\w+ )?отключен{_W}",
    rf"(?:{_ELECTRICITY_UK}) (?:\w+ )?(?:немає|зникл{_W}|вимкнул{_W}|відключил{_W})",
)
_HEATING = _any(
    _deprived(_HEAT_EN, _HEAT_UK, _HEAT_RU),
    r"\bheat(?:ing)? (?:outage|cut|shut-?off|failure)s?|\bcut (?:off )?(?:the )?heat(?:ing)?\b",
    r"\bheat(?:ing)? (?:was |were |has been |is |are )?(?:cut|off|down|lost|out)\b",
    r"\bcuts? heat(?:ing)?|\bcold radiators|\bunheated\b",
    rf"(?:відключен{_W}|відключ{_W}|вимкн{_W}|перебо{_W}) (?:\w+ ){{0,2}}?(?:{_HEAT_UK})",
    rf"(?:отключен{_W}|отключ{_W}|перебо{_W}) (?:\w+ ){{0,2}}?(?:{_HEAT_RU})",
    rf"(?:тепло|опалення|теплопостачання) (?:\w+ ){{0,2}}?(?:відключ|вимика|вимкн|зник){_W}",
    rf"(?:тепло|отопление|теплоснабжение) (?:\w+ ){{0,2}}?(?:отключ|пропал){_W}",
    rf"(?:теплопостачання|опалення) (?:\w+ )?відсутн{_W}",
)
_WATER = _any(
    _deprived(_WATER_EN, _WATER_UK, _WATER_RU),
    r"\bwater (?:outage|cut|shortage|supply (?:cut|disrupt|interrupt))\w*",
    r"\bwater (?:supply )?(?:was |were |has been |is |are )?(?:cut|off|disrupted|lost)\b",
    rf"(?:відключен{_W}|відключ{_W}|перебо{_W}) (?:\w+ ){{0,2}}?(?:{_WATER_UK})",
    rf"(?:отключен{_W}|отключ{_W}|перебо{_W}) (?:\w+ ){{0,2}}?(?:{_WATER_RU})",
    rf"водопостачання (?:\w+ )?(?:відсутн|порушен|припинен){_W}",
    rf"водоснабжение (?:\w+ )?(?:отсутству|нарушен|прекращен){_W}",
)
_COLD = _any(
    r"\bfreezing (?:temperature|weather|cold|winter|condition|homes|apartment|flat|night)s?",
    r"\bfreez(?:e|ing) to death|\bsub-?zero\b|\bbelow (?:zero|freezing)\b|\bfrosts?\b|\bfrosty\b",
    r"\bcold (?:snap|spell|weather|temperature|front|homes|apartments|flats|wave)s?|\bbitter(?:ly)? cold",
    r"\bwinter cold\b|\bextreme cold\b|\bsevere cold\b|\bsnowstorms?\b|\bblizzards?\b|\bsnowfall",
    r"\bheavy snow\b|\bfirst snows?\b|\bicy\b|\bfreezing\b(?! (?:of|assets|funds|prices|tariff))",
    rf"мороз{_W}|похолод{_W}|холод{_W}|заморозк{_W}|снігопад{_W}|хуртовин{_W}|завірюх{_W}",
    rf"заметіл{_W}|ожеледиц{_W}|гололед{_W}|гололёд{_W}|\bсніг{_W}|\bснег{_W}|метел{_W}|вьюг{_W}",
    rf"мерзн{_W}|мерзнут{_W}|замерза{_W}|замерз{_W}|пункт{_W} обігрів{_W}|пункт{_W} обогрев{_W}",
    rf"мінусов{_W} температур{_W}|минусов{_W} температур{_W}|нижче нуля|ниже нуля",
)
# "Cold War", "cold-blooded", "cold feet": cold words that are not the weather.
_NOT_COLD = re.compile(
    r"cold war|cold-blooded|cold blood|холодн\w* війн\w*|холодн\w* войн\w*|cold feet|cold call"
    r"|frozen (?:conflict|assets|funds)|freez\w* (?:of )?(?:assets|funds|prices|tariffs|the conflict)"
    r"|заморож\w* (?:актив|тариф|цін|цен|конфлікт|конфликт)|холодильник\w*|холодн\w* пост"
)
_ATTACK = (
    r"attack|strike|struck|shell|bomb|missile|drone|shahed|hit\b|hits\b|hitting|barrage|target"
    r"|destroy|damag|sabotag|terror|blast|explosion"
    rf"|атак{_W}|удар{_W}|обстр{_W}|ракет{_W}|дрон{_W}|шахед{_W}|безпілотник{_W}|беспилотник{_W}"
    rf"|приліт{_W}|прильот{_W}|прилет{_W}|влучан{_W}|попадан{_W}|поцілил{_W}|бомб{_W}|вибух{_W}"
    rf"|взрыв{_W}|пошкодж{_W}|поврежд{_W}|зруйнов{_W}|разруш{_W}|знищ{_W}|уничтож{_W}|терор{_W}"
    rf"|террор{_W}|обстрел{_W}|\bбил{_W}|\bбьют\b|поцел{_W}|уразив|уразил"
)
_ENERGY_TARGET = (
    r"energy|power (?:plant|station|grid|line|infrastructure|facilit|system|generat|network)"
    r"|grid\b|substation|thermal plant|hydro|chp|transformer|electricity|gas (?:infrastructure"
    r"|facilit|production|pipeline|storage)|heating plant|boiler|power supply"
    rf"|енергет{_W}|енергооб'єкт{_W}|енергосистем{_W}|енергоінфраструктур{_W}|підстанц{_W}"
    rf"|\bтец\b|\bтес\b|\bгес\b|електростанц{_W}|електромереж{_W}|лінії? електропередач{_W}"
    rf"|газов{_W} інфраструктур{_W}|котельн{_W}|теплоелектроцентрал{_W}|енергоблок{_W}"
    rf"|энергет{_W}|энергообъект{_W}|энергосистем{_W}|энергоинфраструктур{_W}|подстанц{_W}"
    rf"|\bтэц\b|\bтэс\b|\bгэс\b|электростанц{_W}|электросет{_W}|лэп\b|газов{_W} инфраструктур{_W}"
    rf"|об'єкт{_W} енергетики|объект{_W} энергетики|критичн{_W} інфраструктур{_W}"
    rf"|критическ{_W} инфраструктур{_W}|critical infrastructure|нафтогаз{_W}|нафтогаз{_W}"
)
_ENERGY_ATTACK = re.compile(
    rf"(?:{_ATTACK})[^.!?\n]{{0,90}}?(?:{_ENERGY_TARGET})"
    rf"|(?:{_ENERGY_TARGET})[^.!?\n]{{0,60}}?(?:{_ATTACK})"
)
# Attacks elsewhere in the world, or by Ukraine on Russia's refineries, are still attacks on
# energy infrastructure by the labelling guide; only pure policy talk ("energy prices") is
# excluded, which the attack words already do.

_RESTORED = _any(
    r"\b(?:restored|reconnected|resumed|back on|(?:power|electricity|heat(?:ing)?|water) "
    r"(?:is |was |has been )?(?:back|returned))\b",
    r"\b(?:restored|reconnected) (?:power|electricity|heat(?:ing)?|water|supply|supplies)",
    rf"повернул{_W}|повернуто|повертають|повертається|відновил{_W}|відновлено|відновлен[оі] "
    rf"(?:електро|тепло|водо)|заживил{_W}|заживлен{_W}|перепідключил{_W}|підключил{_W}|"
    rf"вдалося (?:\w+ )?(?:перепідключити|повернути|відновити|заживити|підключити)",
    rf"знову (?:зі? |з'явил{_W} )?(?:світл{_W}|електр{_W}|тепл{_W}|вод{_W})|світло дали|дали світло",
    rf"вернул{_W}|возвращ{_W}|восстановил{_W}|восстановлен{_W}|(?<!от)подключил{_W}|переподключил{_W}"
    rf"|запитал{_W}|удалось (?:\w+ )?(?:переподключить|вернуть|восстановить|подключить)"
    rf"|снова (?:со? |появил{_W} )?(?:свет{_W}|электр{_W}|тепл{_W}|вод{_W})|дали свет",
)
# Future, intent or negation turns a restoration word into its opposite ("ще не відновили",
# "working to restore", "will be restored").
_NOT_RESTORED = re.compile(
    r"(?:\bnot|n't|\byet to|\bto be|\bwill be|\bcould be|\bshould be|\bmay be|\bmight be"
    r"|\bexpected to be|\buntil|\bbefore)\s(?:(?:yet|been|fully|be)\s)*(?:restored|reconnected)"
    r"|\bне (?:\w+ )?(?:повернул|відновил|заживил|восстановил|вернул|подключил)"
)
_NEGATED_OUTAGE = re.compile(
    r"\bno (?:power )?(?:outages|blackouts|shutdowns)\b|without (?:power )?(?:outages|blackouts)"
    r"|без відключень|без отключений|відключен\w* не (?:буде|плану|прогнозу|застосов)"
    r"|отключен\w* не (?:будет|планир|прогнозир|примен)|не буде відключен|не будет отключен"
    r"|(?:outages|blackouts) (?:are|were|will be) not\b|avoid(?:ed)? (?:power )?(?:outages|blackouts)"
    r"|уникнути відключен|избежать отключен"
)
_SENTENCES = re.compile(r"[^.!?\n]+(?:[.!?]+|\n|$)")
_CLAUSE = re.compile(r",\s|;\s|\s(?:but|while|whereas|але|однак|проте|а|но|однако|тоді як)\s")


def _sentences(text: str) -> Iterable[str]:
    for m in _SENTENCES.finditer(text):
        s = m.group()
        if len(s) > 2:
            yield s


def _supply_found(sentence: str) -> set[Category]:
    """Outage categories a sentence reports, clause by clause (restored clauses excluded)."""
    found: set[Category] = set()
    for clause in _CLAUSE.split(sentence) if _RESTORED.search(sentence) else (sentence,):
        if _RESTORED.search(clause) and not _NOT_RESTORED.search(clause):
            continue
        if _POWER.search(clause):
            found.add(Category.POWER_OUTAGE)
        if _HEATING.search(clause):
            found.add(Category.HEATING_OUTAGE)
        if _WATER.search(clause):
            found.add(Category.WATER_OUTAGE)
    return found


def find_categories(text: str, *, temperatures: tuple[float, ...] = ()) -> frozenset[Category]:
    """The categories `text` (normalised, lower-cased) reports.

    `temperatures` (°C, from `feeds.temperatures`) let a stated frost count as cold and
    keep "похолодання до +14" from counting as cold.
    """
    found: set[Category] = set()
    for sentence in _sentences(text):
        if _NEGATED_OUTAGE.search(sentence):
            continue
        found |= _supply_found(sentence)
        if _RESTORED.search(sentence):
            restored = [m for m in _RESTORED.finditer(sentence)]
            if restored and not _NOT_RESTORED.search(sentence):
                found.add(Category.RESTORATION)
        if _ENERGY_ATTACK.search(sentence):
            found.add(Category.ENERGY_ATTACK)
        if _COLD.search(sentence) and not _NOT_COLD.search(sentence):
            found.add(Category.COLD)
    if temperatures:
        if min(temperatures) < 0:
            found.add(Category.COLD)
        elif min(temperatures) > 5 and Category.COLD in found and not _FROST_WORDS.search(text):
            found.discard(Category.COLD)
    return frozenset(found)


# Words that mean frost or snow for certain, whatever the thermometer says.
_FROST_WORDS = re.compile(r"мороз|frost|snow|сніг|снег|ожеледиц|гололед|sub-?zero|below zero")
