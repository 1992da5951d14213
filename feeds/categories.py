"""What an item reports: power, heating or water outages, cold, attacks on energy
infrastructure, restoration. Vocabulary by stem in Ukrainian, Russian and English.

Each sentence is read on its own. An outage is a deprivation word ("without", "без",
"відключення", "knock out", "to restore") followed by the supplies it is about ("no power,
heat or water" is three outages), or a supply followed by its loss ("тепло відключили"), or
a word that means an outage by itself ("blackout", "знеструмлення"). A clause reporting
supply brought back ("світло повернули", "power restored") is restoration, not an outage,
and so are outages called off ("Укренерго скасувало відключення", "outages were cancelled"):
the story that announced them ends. A negated outage ("відключень не буде", "no blackouts")
is nothing. An attack counts when it hits energy infrastructure or causes an outage in the
same sentence, and not when it is only threatened ("warns of", "would sabotage"). Runs on
lower-cased normalised text.
"""

from __future__ import annotations

import re

import ahocorasick

from feeds.models import Category

_W = r"[^\W\d_]*"  # the rest of a word after its stem

# --- supplies: what people are left without
_POWER = re.compile(
    r"\b(?:power\b(?! (?:plant|station|grid|line|compan|engineer|generat|unit|facilit|sector"
    r"|system))"
    r"|electr\w*|lights?\b|the grid\b|grid\b"
    rf"|світл{_W}|електр{_W}|живлен{_W}|напруг{_W}|енергопостач{_W}|енергоживлен{_W}"
    rf"|свет(?!офор|лы|л[аоы]?\b){_W}|электр{_W}|энергоснабж{_W}|напряжен{_W})"
)
_HEAT = re.compile(
    r"\b(?:heat(?:ing)?\b|hot water|radiators?\b"
    rf"|тепл(?:а|о|ом|і)\b|опален{_W}|теплопостач{_W}|гаряч{_W} вод{_W}|гарячого водопостач{_W}"
    rf"|отоплен{_W}|теплоснабж{_W}|горяч{_W} вод{_W}|горячего водоснабж{_W})"
)
_WATER = re.compile(
    r"\b(?:(?:running |drinking |tap )?water\b(?! bottle)"
    rf"|водопостач{_W}|вод(?:и|а|у|ою)\b|водопостачанн{_W}|водоснабж{_W}|вод(?:ы|ой)\b)"
)
_HOT_WATER = re.compile(
    rf"hot water|гаряч{_W} вод{_W}|гарячого водопостач{_W}|горяч{_W} вод{_W}|горячего водоснабж{_W}"
)

# Words after which the supplies named are missing (or being brought back, which means
# they are missing now: "race to restore power").
_DEPRIVE = re.compile(
    r"\b(?:without|no|lack(?:s|ed|ing)?(?: of)?|lost|los(?:e|es|ing)|cut(?:s"
    r"|ting)?(?: off)?(?: from)?"
    r"|deprived of|shortages? of|knock(?:s|ed|ing)? out|t(?:ook|akes?|aking) out|disrupt\w*"
    r"|disruptions? (?:to|of|in)|interrupt\w*|outages? of|shut(?:s|ting)? (?:off|down)"
    r"|shutdowns? of|problems? with|(?:to|race to|work to|working to|efforts to|rush(?:es|ing)? to"
    r"|scrambl\w* to) restore|restoring|restoration of"
    rf"|без|немає|нема|відсутн{_W}|втратил{_W}|позбавл{_W}|дефіцит{_W}|відключ{_W}|вимкн{_W}"
    rf"|вимика{_W}|перебо{_W}|проблем{_W} (?:з|із|зі)|припин{_W}|порушен{_W}|обмежен{_W}"
    rf"|відновити|відновлення|повернути|нет|отсутств{_W}|лишил{_W}|потерял{_W}|дефицит{_W}"
    rf"|отключ{_W}|выключ{_W}|перебо{_W}|проблем{_W} с|прекращ{_W}|нарушен{_W}|ограничен{_W}"
    r"|восстановить|восстановление|вернуть)(?=\s|$)"
)
# The list of supplies after a deprivation word ends at a word that starts something else.
_SPAN_END = re.compile(
    r"[.;:!?]|\s(?:for|after|since|due|because|in|at|on|from|until|as|amid|while|when|to|by"
    r"|після|через|внаслідок|у|в|на|до|з|від|поки|коли|после|из-за|в результате|от|пока|когда)\s"
)
_SPAN = 60
_TOKEN = re.compile(r"[\w'-]+|,")
_LIST_TOKENS = 10
_HOT = frozenset({"hot", "гарячої", "гарячого", "гаряче", "горячей", "горячего", "горячее"})
# Words that may stand in a list of supplies without ending it.
_FILLER_WORDS = (
    ", the a an any their its his her running drinking tap basic services service like such as"
    " access to of reliable stable central centralised centralized mains gas and or nor no"
    " even both either і й та и або чи а також навіть без немає нема нет ни газу газа"
    " постійного питної питьевой централізованого централизованого холодної холодной"
    " централізованої централизованной ще еще зі з із со с all external outside supply"
    " споживання потребления подачі подачи"
)
_FILLERS = frozenset(_FILLER_WORDS.split())
# A supply and then its loss: "тепло відключили", "power was cut", "heating has been off".
_LOSS_AFTER = re.compile(
    r"(?:is|was|were|been|are|went|turned|switched|mostly|largely|remains?|remained) (?:off|out"
    r"|down)\b"
    r"|\b(?:cut|lost|disrupted|interrupted|knocked out)\b"
    rf"|відключ{_W}|вимкн{_W}|вимика{_W}|зник{_W}|відсутн{_W}|немає|нема\b|припин{_W}|порушен{_W}"
    rf"|отключ{_W}|выключ{_W}|пропал{_W}|отсутств{_W}|нет\b|прекращ{_W}|нарушен{_W}"
)
_SUPPLY_THEN_LOSS = re.compile(
    r"\b(?:power|electricity|heat(?:ing)?|water(?:\s+supply)?|hot water"
    rf"|світло|електропостачання|електроенергія|тепло|опалення|теплопостачання|водопостачання"
    rf"|вода|свет|электричество|электроснабжение|тепло|отопление|теплоснабжение|водоснабжение"
    rf"|вода)\b(?:\s[\w']+){{0,2}}?\s(?:{_LOSS_AFTER.pattern})"
)
# Words that are an outage by themselves.
_POWER_ALONE = re.compile(
    r"\b(?:black-?outs?\b|\boutages?\b|\bpower cuts?\b|\brolling cuts\b|de-?energi[sz]"
    r"|\b(?:plung|left|leav|thrown|throw|sank|sink|remain|out of"
    r"|pull\w* \w+ out of)\w* (?:[\w']+ ){0,5}?"
    r"(?:in|into|of)? ?(?:the )?dark(?:ness)?\b"
    rf"|знеструм{_W}|блекаут{_W}|блэкаут{_W}|обесточ{_W}"
    rf"|(?:занур|поринул|опинил|залиш|занурю){_W} (?:\w+ ){{0,3}}?[ув] темряв{_W}"
    rf"|(?:погруз|оказал|остал|остави|погружа){_W} (?:\w+ ){{0,3}}?во? (?:тьм|темнот){_W}"
    rf"|графік{_W} (?:\w+ )?(?:відключен|вимкнен|погодинн|стабілізац){_W}"
    rf"|график{_W} (?:\w+ )?(?:отключен|почасов|стабилизац){_W}"
    rf"|(?:аварійн|екстрен|погодинн|планов|стабілізаційн){_W} (?:\w+ )?(?:відключен|вимкнен){_W}"
    rf"|(?:аварийн|экстренн|почасов|планов|стабилизационн){_W} (?:\w+ )?отключен{_W})"
)
_HEAT_ALONE = re.compile(
    rf"\b(?:unheated\b|\bcold radiators\b|не опалю{_W}|не отаплива{_W}|не гріють|не греют"
    rf"|тепло (?:\w+ ){{0,2}}?(?:почнуть|будуть|стали) відключ{_W})"
)
_HYPOTHETICAL = re.compile(
    r"\b(?:may|could|might|can|would)\s(?:[\w']+\s){0,3}$"
    r"|\b(?:може|можуть|можлив\w*|доведеться|может|могут|возможн\w*"
    r"|придется)\s(?:[\w']+\s){0,3}$"
)
_NOT_OUTAGE = re.compile(
    r"\bno (?:power )?(?:outages|blackouts|shutdowns)\b|without (?:power )?(?:outages|blackouts)"
    rf"|без (?:\w+ )?(?:відключень|вимкнень|отключений)|(?:відключен|вимкнен){_W} не (?:буде|плану"
    rf"|прогнозу|застосов)"
    rf"|отключен{_W} не (?:будет|планир|прогнозир|примен)|не буде (?:\w+ )?відключен"
    rf"|не будет (?:\w+ )?отключен"
    r"|(?:outages|blackouts) (?:are|were|will be) not\b|avoid(?:ed)? (?:power )?(?:outages"
    r"|blackouts)"
    r"|уникнути (?:\w+ )?(?:відключен|блекаут)|избежать (?:\w+ )?(?:отключен|блэкаут)"
    r"|internet outage|outage of (?:the )?internet|anti-?blackout|антиблекаут"
    # outages cancelled or reduced are not outages reported (cancelled ones are restoration:
    # `_CALLED_OFF`)
    rf"|(?:скасува|відмін|отмен|cancel|call(?:ed|s)? off|lift)\w* (?:\w+ ){{0,3}}?(?:відключен"
    rf"|обмежен|графік|отключен|ограничен|график|outage|blackout|power cut|restriction)"
    rf"|(?:зменш|скорот|уменьш|сокра|reduc|fewer|less)\w* (?:\w+ ){{0,3}}?(?:відключен|отключен"
    rf"|outage|blackout|power cut)"
)

# --- restoration: supply brought back (done, not intended)
_RESTORED = re.compile(
    r"\b(?:restored|reconnected|resumed|back on|switched back on|turned back on|(?:is|was|has been"
    r"|are"
    r"|were|have been) back|returned)\b"
    rf"|\b(?:повернул{_W}|повернуто|повертають|повертається|відновил{_W}|відновлено|відновлен[аі]\b"
    rf"|заживил{_W}|заживлен{_W}|перепідключил{_W}|підключил{_W}|з'явил{_W}|дали\b"
    rf"|вдалося (?:\w+ )?(?:перепідключити|повернути|відновити|заживити|підключити|подати)"
    rf"|знову (?:зі? |є )|вернул{_W}|возвращ{_W}|восстановил{_W}|восстановлен[оаы]?\b|восстановлены"
    rf"|подключил{_W}|переподключил{_W}|запитал{_W}|появил{_W}"
    rf"|удалось (?:\w+ )?(?:переподключить|вернуть|восстановить|подключить|подать)|снова (?:со? "
    rf"|есть ))"
)
# Outages called off (done, or said as done in a headline's present tense): the supply stays
# or comes back, so a story of those outages ends. "Will not cancel" and "may cancel" do not.
_CUT = (
    r"(?:відключен|вимкнен|графік|отключен|график|outage|blackout|power cut|power shutdown"
    r"|(?:обмежен|ограничен)\w* (?:\w+ ){0,2}?(?:для|світл|електр|спожив|свет|электр|потреб)"
    r"|restrictions? on (?:power|electricity))"
)
_CALLED_OFF = re.compile(
    r"(?<!не )(?<!not )\b(?:скасувал\w*|скасовано|скасовані|скасовує|скасовують|відмінил\w*"
    r"|відмінено|отменил\w*|отменен\w*|отменяет|отменяют|cancel(?:l?ed|s)|call(?:ed|s) off"
    rf"|lift(?:ed|s))\s(?:\w+ ){{0,3}}?{_CUT}"
    rf"|{_CUT}\w* (?:\w+ ){{0,3}}?(?<!не )(?:скасовано|скасували|відмінено|отменены|отменили"
    r"|(?:were|have been|are|is|was|has been) (?:cancel(?:l)?ed|called off|lifted))\b"
)
# One of these must be in a sentence before `_CALLED_OFF` runs: most sentences have none,
# and the pattern is slow to fail (over the 12,101 sentences of the English/Polish corpus:
# 0.32 s ungated, 0.07 s gated; extraction takes about 0.5 ms an item).
_CALL_OFF_STEMS = ("скасов", "скасув", "відмін", "отмен", "cancel", " off", "lift")
# Words that make a restoration about power, heat or water (people "returned home" is not).
_RESTORED_WHAT = re.compile(
    r"\b(?:power|electric|light|heat|water|gas\b|suppl|grid|energy|consumers|households|homes"
    r"|customers"
    r"|світл|електр|живлен|тепл|опален|вод(?:а|и|у|ою)\b|водопостач|газ|абонент|споживач|домівк"
    r"|осел|родин"
    r"|постачан|свет|электр|отоплен|энерго|вод(?:а|ы|у|ой)\b|водоснабж|потребител|семей|снабжен)"
)
_RESTORATION_ALONE = re.compile(
    rf"заживил{_W}|заживлен{_W}|перепідключ{_W}|переподключ{_W}|запитал{_W}"
)
_NOT_RESTORED = re.compile(
    r"(?:\b(?:not|yet to|to be|will be|could be|should be|may be|might be"
    r"|expected to be|until|before)|n't)\s(?:(?:yet|been|fully|be)\s)*(?:restored|reconnected|back)"
    r"|\bне (?:\w+ )?(?:повернул|відновил|заживил|восстановил|вернул|подключил)"
)

# --- cold
_COLD = re.compile(
    r"\b(?:freezing (?:temperature|weather|cold|winter|condition|homes?|apartment|flat|night"
    r"|rain)s?"
    r"|\b(?:in|amid|into|through|are|were|is|people|residents) freezing\b"
    r"|\bfreezing (?:residents|people|ukrainians|kyiv|capital|city|homes|flats)\b|\bfreez(?:e"
    r"|ing) to death"
    r"|\bsub-?zero\b|\bbelow (?:zero|freezing)\b|\bfrosts?\b|\bcold (?:snap|spell|weather"
    r"|temperature"
    r"|front|homes?|apartments?|flats?|wave|winter|nights?)s?|\bbitter(?:ly)? cold|\bin the cold\b"
    r"|\bwinter cold\b|\bextreme cold\b|\bsevere cold\b|\bsnow(?:s|fall|falls|storms?|ed|ing)?\b"
    r"|\bblizzards?\b|\bicy\b|\bsleet\b"
    r"|\bkeep(?:ing)? warm\b|\bstay(?:ing)? warm\b|\bwarming (?:centers|centres|points|shelters)\b"
    rf"|мороз{_W}|похолод{_W}|холод(?!ногір|ильн|ноярськ){_W}|заморозк{_W}|снігопад{_W}"
    rf"|хуртовин{_W}"
    rf"|завірюх{_W}|заметіл{_W}|ожеледиц{_W}|гололед{_W}|\bсніг{_W}|\bснег{_W}|\bснеж{_W}"
    rf"|\bсніж{_W}"
    rf"|метел[ьи]|вьюг{_W}|мерзн{_W}|замерза{_W}|замерзл{_W}|пункт{_W} обігрів{_W}"
    rf"|пункт{_W} обогрев{_W}"
    rf"|пункт{_W} незламност{_W}|мінусов{_W} температур{_W}|минусов{_W} температур{_W}|нижче нуля"
    rf"|ниже нуля|зігріт{_W}|зігріва{_W}|гріються|греются|греться|согре{_W}|выстуж{_W}|вистуд{_W}"
    rf"|вистиг{_W}|остыл{_W}|охолол{_W}|льодян{_W} дощ|ледян{_W} дожд{_W})"
)
_NOT_COLD = re.compile(
    r"cold war|cold-blooded|cold blood|cold feet|cold call|cold shoulder|frosty reception"
    r"|out in the cold|на холодну|холодн\w* (?:душ|розрахун|прийом|кров|расчет|приём|прием)"
    r"|холодн\w* війн\w*|холодн\w* войн\w*|frozen (?:conflict|assets|funds)"
    r"|freez\w* (?:of )?(?:assets|funds|prices|tariffs|the conflict|sperm|eggs)"
)
# Words that mean frost or snow for certain, whatever the thermometer says.
_FROST_WORDS = re.compile(r"мороз|frost|snow|сніг|снег|ожеледиц|гололед|sub-?zero|below zero")

# --- attacks on energy infrastructure
_ATTACK = (
    r"attack|strike|struck|shell|bomb(?! shelter)|missile|drone|shahed|\bhit\b|\bhits\b|hitting"
    r"|barrage|target|destroy|damag|sabotag|terror|blast|explosion|blew up|blown up|pound|batter"
    r"|pummel|airstrike|air raid|blow(?:s|ing)? up"
    rf"|атак{_W}|удар{_W}|обстр{_W}|ракет{_W}|дрон{_W}|шахед{_W}|безпілотник{_W}|беспилотник{_W}"
    rf"|приліт{_W}|прильот{_W}|прилет{_W}|влучан{_W}|влучил{_W}|попадан{_W}|поцілил{_W}|бомб{_W}"
    rf"|вибух{_W}|взрыв{_W}|пошкодж{_W}|поврежд{_W}|зруйнов{_W}|разруш{_W}|знищ{_W}|уничтож{_W}"
    rf"|терор{_W}|террор{_W}|\bбил{_W}|\bбив{_W}|\bвдари{_W}|\bвдарил{_W}|\bударил{_W}|\bбьют\b"
    rf"|поцел{_W}|уразив|уразил|разбит{_W}"
    rf"|виведен{_W} з ладу|выведен{_W} из строя|налет{_W}|наліт{_W}|бойов{_W} ді{_W}"
    rf"|боев{_W} действ{_W}"
)
_ENERGY_TARGET = (
    r"energy (?:and \w+ )?(?:infrastructure|facilit|system|grid|sector|site|object|asset|network"
    r"|plant|supply|target"
    r"|company|equipment)|power (?:plant|station|grid|line|infrastructure|facilit|system|generat"
    r"|network|supply|supplies|substation)|powerplant|\bgrid\b|substation|thermal plant"
    r"|hydroelectric"
    r"|\bchp\b|transformer|nuclear (?:power )?plant|hydro ?power|\bdam\b(?= and (?:a )?hydro)"
    r"|electricity (?:infrastructure|grid|network|system|supply|facilit)"
    r"|gas (?:infrastructure|facilit|production|pipeline|storage)|heating (?:plant|main|pipeline"
    r"|network"
    r"|facilit|infrastructure)|boiler|power and heat|electricity and heat|energy terror"
    rf"|енергетик{_W}|енергетиц{_W}|енергетичн{_W}|енергооб'єкт{_W}|енергосистем{_W}"
    rf"|енергоінфраструктур{_W}"
    rf"|підстанц{_W}|\bтец|\bтес\b|\bгес\b|електростанц{_W}|електромереж{_W}"
    rf"|ліні{_W} електропередач{_W}"
    rf"|газов{_W} інфраструктур{_W}|котельн{_W}|теплоелектро{_W}|енергоблок{_W}|тепломереж{_W}"
    rf"|энергетик{_W}|энергетическ{_W}|энергообъект{_W}|энергосистем{_W}|энергоинфраструктур{_W}"
    rf"|подстанц{_W}"
    rf"|\bтэц|\bтэс\b|\bгэс\b|электростанц{_W}|электросет{_W}|\bлэп\b|газов{_W} инфраструктур{_W}"
    rf"|теплоэлектро{_W}|теплосет{_W}|об'єкт{_W} (?:енергетики|критичної)|объект{_W} (?:энергетики"
    rf"|критической)"
    rf"|критичн{_W} інфраструктур{_W}|критическ{_W} инфраструктур{_W}|critical infrastructure"
    rf"|нафтогаз{_W}|нефтегаз{_W}|газовидобу{_W}|газодобы{_W}"
)
_ENERGY_WAR = re.compile(
    r"\benergy (?:attack|strike|terror|war)\w*|енергетичн\w* терор\w*|энергетическ\w* террор\w*"
)
_ATTACK_WORD = re.compile(rf"\b(?:{_ATTACK})")
_TARGET_WORD = re.compile(rf"\b(?:{_ENERGY_TARGET})")
# How far an attack word may be from the energy target it hits ("strikes on ... power plants").
_ATTACK_BEFORE = 90
_ATTACK_AFTER = 60
_ATTACK_CAUSE = re.compile(
    r"attack|strike|struck|shelling|bombard|missile|drone|shahed|airstrike|air raid|barrage"
    rf"|атак{_W}|удар{_W}|обстріл{_W}|обстрел{_W}|ракет{_W}|дрон{_W}|шахед{_W}|безпілотник{_W}"
    rf"|беспилотник{_W}|прильот{_W}|прилет{_W}|налет{_W}|наліт{_W}|бойов{_W} ді{_W}"
    rf"|боев{_W} действ{_W}"
)
# Threats, warnings, questions and plans are not attacks that happened.
_NOT_ATTACK = re.compile(
    r"\b(?:warn|threat|could\b|would\b|may\b|might\b|plan(?:s|ned|ning)?\b|possible\b|fear"
    r"|endanger|prepar|brac(?:e|es|ing) for|попереджа|загроз|може\b|можуть\b|плану|чи\b"
    r"|предупрежда|угроз|может\b"
    r"|могут\b|планиру|готу|готовит)|тиме\b|тимуть\b"
)
# Every category needs one of these word beginnings in its sentence (a supply or outage word
# "s", a cold word "c", an energy target "t", a restoration "r"): sentences without one are
# skipped, which keeps long articles cheap. Found with one Aho-Corasick pass.
_TRIGGERS = {
    "s": "power electr light grid heat radiator water blackout black-out outage de-energ deenerg"
    " dark світл електр живлен напруг енергопост енергожив свет электр энергоснаб тепл опал гаряч"
    " горяч вод отоплен знеструм блекаут блэкаут обесточ темряв тьм темнот графік график відключ"
    " отключ вимкн",
    "c": "freez frost sub-zero subzero below cold snow blizzard icy sleet keep stay warming мороз"
    " похолод холод заморозк сніг снег сніж снеж хуртовин завірюх заметіл ожеледиц гололед метел"
    " вьюг мерзн замерз пункт мінусов минусов нижче ниже зігр гріють грею грет согре выстуж вистуд"
    " вистиг остыл охолол льодян ледян",
    "t": "energy substation thermal hydro chp transformer nuclear gas boiler heating енерг энерг"
    " підстанц подстанц тец тэц тес тэс гес гэс котельн газ нафтогаз нефтегаз лэп ліні об'єкт"
    " объект критичн критическ critical теплоелектро теплоэлектро тепломереж теплосет"
    " електростанц электростанц електромереж электросет powerplant",
    "r": "заживл заживил перепідключ переподключ запитал",
}
_TRIGGER = ahocorasick.Automaton()
for _group, _stems in _TRIGGERS.items():
    for _stem in _stems.split():
        _TRIGGER.add_word(_stem, (len(_stem), _group))
_TRIGGER.make_automaton()


def _trigger_hits(text: str) -> list[tuple[int, str]]:
    """(start, group) of every trigger stem that begins a word, in text order."""
    hits = []
    for end, (length, group) in _TRIGGER.iter(text):
        start = end - length + 1
        if start == 0 or not text[start - 1].isalnum():
            hits.append((start, group))
    hits.sort()
    return hits


# A full stop between digits ("1.5m", "33.5 тис.") does not end a sentence.
_SENTENCES = re.compile(r"(?:[^.!?\n]|\.(?=\d))+(?:[.!?]+|\n|$)")
_CLAUSE = re.compile(r",\s|;\s|\s(?:but|while|whereas|але|однак|проте|а|но|однако|тоді як)\s")
_OUTAGES = (Category.POWER_OUTAGE, Category.HEATING_OUTAGE, Category.WATER_OUTAGE)


def _supplies(span: str) -> set[Category]:
    """Which supplies a short span names ("power, heat or water")."""
    found: set[Category] = set()
    if _HOT_WATER.search(span):
        found.add(Category.HEATING_OUTAGE)
        span = _HOT_WATER.sub(" ", span)
    if _POWER.search(span):
        found.add(Category.POWER_OUTAGE)
    if _HEAT.search(span):
        found.add(Category.HEATING_OUTAGE)
    if _WATER.search(span):
        found.add(Category.WATER_OUTAGE)
    return found


def _hypothetical(clause: str, start: int) -> bool:
    """An outage word governed by "may", "could", "може" is a possibility, not a report."""
    return _HYPOTHETICAL.search(clause, max(0, start - 40), start) is not None


def _listed_supplies(span: str) -> set[Category]:
    """The supplies listed right after a deprivation word: "no power, heat or water" names
    three; the list ends at the first word that is neither a supply nor a filler, so "без
    нього електромотори" names none."""
    found: set[Category] = set()
    tokens = _TOKEN.findall(span)
    i = 0
    while i < len(tokens) and i < _LIST_TOKENS:
        token = tokens[i]
        if token in _HOT and i + 1 < len(tokens):
            pair = _supplies(f"{token} {tokens[i + 1]}")
            if pair:
                found |= pair
                i += 2
                continue
        supplies = _supplies(token)
        if supplies:
            found |= supplies
        elif token not in _FILLERS:
            break
        i += 1
    return found


def _outages(clause: str) -> set[Category]:
    """The outages one clause reports."""
    found: set[Category] = set()
    for m in _DEPRIVE.finditer(clause):
        if _hypothetical(clause, m.start()):
            continue
        span = clause[m.end() : m.end() + _SPAN]
        stop = _SPAN_END.search(span, 1)
        if stop:
            span = span[: stop.start()]
        found |= _listed_supplies(span)
    for m in _SUPPLY_THEN_LOSS.finditer(clause):
        found |= _supplies(m.group())
    alone = _POWER_ALONE.search(clause)
    if alone and not _hypothetical(clause, alone.start()):
        found.add(Category.POWER_OUTAGE)
    if _HEAT_ALONE.search(clause):
        found.add(Category.HEATING_OUTAGE)
    return found


def _restored(clause: str) -> bool:
    if _RESTORATION_ALONE.search(clause):
        return _NOT_RESTORED.search(clause) is None
    if _RESTORED.search(clause) is None or _RESTORED_WHAT.search(clause) is None:
        return False
    return _NOT_RESTORED.search(clause) is None


def _attack(sentence: str, outages: set[Category]) -> bool:
    """An attack on energy infrastructure, or an attack that caused the outages reported."""
    if outages and _ATTACK_CAUSE.search(sentence):
        return True
    targets = [m.start() for m in _TARGET_WORD.finditer(sentence)]
    if not targets:
        return _ENERGY_WAR.search(sentence) is not None
    for m in _ATTACK_WORD.finditer(sentence):
        a = m.start()
        if any(-_ATTACK_AFTER <= t - a <= _ATTACK_BEFORE for t in targets):
            return True
    return _ENERGY_WAR.search(sentence) is not None


def _read_sentence(sentence: str, groups: set[str]) -> set[Category]:
    """The categories one sentence reports; `groups` are the trigger kinds it holds."""
    found: set[Category] = set()
    outages: set[Category] = set()
    if "s" in groups or "r" in groups:
        called_off = (
            any(stem in sentence for stem in _CALL_OFF_STEMS)
            and _CALLED_OFF.search(sentence) is not None
        )
        negated = called_off or _NOT_OUTAGE.search(sentence) is not None
        clauses = _CLAUSE.split(sentence) if _RESTORED.search(sentence) else [sentence]
        if called_off:
            found.add(Category.RESTORATION)
        for clause in clauses:
            if _restored(clause):
                found.add(Category.RESTORATION)
            elif not negated:
                outages |= _outages(clause)
                if _NOT_RESTORED.search(clause):
                    # "power has not yet been restored": still out.
                    outages |= _supplies(clause)
        found |= outages
    # Supply words double as targets ("power grid", "heating pipeline").
    if (
        ("t" in groups or "s" in groups)
        and _attack(sentence, outages)
        and _NOT_ATTACK.search(sentence) is None
    ):
        found.add(Category.ENERGY_ATTACK)
    if "c" in groups and _COLD.search(sentence) and not _NOT_COLD.search(sentence):
        found.add(Category.COLD)
    return found


def find_categories(text: str, *, temperatures: tuple[float, ...] = ()) -> frozenset[Category]:
    """The categories `text` (normalised, lower-cased) reports.

    `temperatures` (°C, from `feeds.temperatures`) let a stated frost count as cold and
    keep "похолодання до +14" from counting as cold.
    """
    found: set[Category] = set()
    triggers = _trigger_hits(text)
    i = 0
    for m in _SENTENCES.finditer(text):
        while i < len(triggers) and triggers[i][0] < m.start():
            i += 1
        if i >= len(triggers):
            break
        groups: set[str] = set()
        while i < len(triggers) and triggers[i][0] < m.end():
            groups.add(triggers[i][1])
            i += 1
        if groups:
            found |= _read_sentence(m.group(), groups)
    if temperatures:
        if min(temperatures) < 0:
            found.add(Category.COLD)
        elif min(temperatures) > 5 and Category.COLD in found and not _FROST_WORDS.search(text):
            found.discard(Category.COLD)
    return frozenset(found)
