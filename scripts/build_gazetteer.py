"""Regenerate `feeds/data/gazetteer.json.gz` from the official KATOTTG codifier and OCHA P-codes.

Build-time only (needs pymorphy3 with its uk/ru dictionaries: `pip install .[gazetteer]`):

    python scripts/build_gazetteer.py [SOURCE_DIR] [--out feeds/data/gazetteer.json.gz]

SOURCE_DIR (default `../shared/data/gazetteer`) holds the KATOTTG CSV, the OCHA raion/hromada
P-code CSV and the radatlas city list; see `feeds/data/PROVENANCE.md`.
The output holds every place (oblast, raion, hromada, city, town) and every surface form
(inflected Ukrainian and Russian forms, English and historical variants) mapped to place ids,
and the OCHA hromada centroids that `Gazetteer.nearest` turns a shared location into a place with.
"""

from __future__ import annotations

import argparse
import csv
import gzip
import json
import math
import re
import sys
from collections import defaultdict
from collections.abc import Iterable
from pathlib import Path

import pymorphy3

# Pattern kinds (must match feeds/gazetteer.py):
#   N  settlement name (noun): needs a capital letter in the text
#   O  oblast-level name that needs no context ("Одещина", "Kharkiv oblast", "Крим")
#   A  oblast adjective: resolved by the noun that follows (область / район / місто)
#   R  raion adjective: only with "район" following
#   H  hromada adjective: only with "громада" following
#   F  fixed phrase or demonym that needs nothing ("кияни", "Ukrainian capital")
#   U  the country named as a noun ("Україна", "Ukraine"); u: as an adjective ("Ukrainian")
#   p  a person's name too ("Володимир"): only right after a preposition
#   c  an adjective-like case form ("Покровському"): only right after a preposition
#   L  for lookup of typed names only, never matched in running text
#   K  "у столиці": Kyiv, unless a capitalised word (another country) follows
#   S  stop phrase: a longer match that hides the place inside it ("Kyiv Independent")
# A lower-case kind ("n") marks a name that is also a common word: capital letter AND not
# sentence-initial (unless it is an oblast centre).

APOSTROPHES = str.maketrans({"’": "'", "ʼ": "'", "`": "'", "‘": "'", "ё": "е", "Ё": "Е"})

UK_TRANSLIT = {
    "а": "a", "б": "b", "в": "v", "г": "h", "ґ": "g", "д": "d", "е": "e", "є": "ie",
    "ж": "zh", "з": "z", "и": "y", "і": "i", "ї": "i", "й": "i", "к": "k", "л": "l",
    "м": "m", "н": "n", "о": "o", "п": "p", "р": "r", "с": "s", "т": "t", "у": "u",
    "ф": "f", "х": "kh", "ц": "ts", "ч": "ch", "ш": "sh", "щ": "shch", "ь": "", "ю": "iu",
    "я": "ia", "'": "",
}  # fmt: skip
UK_TRANSLIT_INITIAL = {"є": "ye", "ї": "yi", "й": "y", "ю": "yu", "я": "ya"}

# Oblast id -> English names (first is the display name), oblast-centre adjective stem users
# type, Russian oblast adjective, Ukrainian and Russian region nouns ("-щина" and others).
OBLASTS: dict[str, dict[str, list[str]]] = {
    "UA01": {"en": ["Crimea", "Autonomous Republic of Crimea", "Krym"],
             "ru_adj": ["Крымская"], "uk_region": ["Крим", "Кримський півострів"],
             "ru_region": ["Крым"], "en_region": ["Crimea", "Crimean peninsula"]},
    "UA05": {"en": ["Vinnytsia", "Vinnitsa", "Vinnytsya", "Vinnytska"], "ru_adj": ["Винницкая"],
             "uk_region": ["Вінниччина", "Вінничина"], "ru_region": ["Винничина"]},
    "UA07": {"en": ["Volyn", "Volynska", "Volhynia"], "ru_adj": ["Волынская"],
             "uk_region": ["Волинь"], "ru_region": ["Волынь"], "en_region": ["Volhynia"]},
    "UA12": {"en": ["Dnipropetrovsk", "Dnipro", "Dnepropetrovsk", "Dnipropetrovska"],
             "ru_adj": ["Днепропетровская"],
             "uk_region": ["Дніпропетровщина", "Січеславщина"], "ru_region": ["Днепропетровщина"]},
    "UA14": {"en": ["Donetsk", "Donetska"], "ru_adj": ["Донецкая"],
             "uk_region": ["Донеччина"], "ru_region": ["Донетчина", "Донеччина"]},
    "UA18": {"en": ["Zhytomyr", "Zhitomir", "Zhytomyrska"], "ru_adj": ["Житомирская"],
             "uk_region": ["Житомирщина"], "ru_region": ["Житомирщина"]},
    "UA21": {"en": ["Zakarpattia", "Zakarpatska", "Transcarpathia", "Zakarpattya"],
             "ru_adj": ["Закарпатская"], "uk_region": ["Закарпаття"],
             "ru_region": ["Закарпатье"], "en_region": ["Transcarpathia", "Zakarpattia"]},
    "UA23": {"en": ["Zaporizhzhia", "Zaporizhia", "Zaporozhye", "Zaporizhzhya", "Zaporizka",
                    "Zaporozhzhia"],
             "ru_adj": ["Запорожская"], "uk_region": ["Запоріжжя"], "ru_region": []},
    "UA26": {"en": ["Ivano-Frankivsk", "Ivano-Frankovsk", "Ivano-Frankivska"],
             "ru_adj": ["Ивано-Франковская"],
             "uk_region": ["Івано-Франківщина", "Прикарпаття"],
             "ru_region": ["Ивано-Франковщина", "Прикарпатье"], "en_region": ["Prykarpattia"]},
    "UA32": {"en": ["Kyiv", "Kiev", "Kyivska", "Kyiv Oblast"], "ru_adj": ["Киевская"],
             "uk_region": ["Київщина"], "ru_region": ["Киевщина"]},
    "UA35": {"en": ["Kirovohrad", "Kirovograd", "Kirovohradska", "Kropyvnytskyi"],
             "ru_adj": ["Кировоградская"],
             "uk_region": ["Кіровоградщина"], "ru_region": ["Кировоградщина"]},
    "UA44": {"en": ["Luhansk", "Lugansk", "Luhanska"], "ru_adj": ["Луганская"],
             "uk_region": ["Луганщина"], "ru_region": ["Луганщина"]},
    "UA46": {"en": ["Lviv", "Lvov", "Lvivska"], "ru_adj": ["Львовская"],
             "uk_region": ["Львівщина"], "ru_region": ["Львовщина"]},
    "UA48": {"en": ["Mykolaiv", "Nikolaev", "Nikolayev", "Mykolayiv", "Mykolaivska"],
             "ru_adj": ["Николаевская"],
             "uk_region": ["Миколаївщина"], "ru_region": ["Николаевщина"]},
    "UA51": {"en": ["Odesa", "Odessa", "Odeska"], "ru_adj": ["Одесская"],
             "uk_region": ["Одещина"], "ru_region": ["Одесщина", "Одесчина"]},
    "UA53": {"en": ["Poltava", "Poltavska"], "ru_adj": ["Полтавская"],
             "uk_region": ["Полтавщина"], "ru_region": ["Полтавщина"]},
    "UA56": {"en": ["Rivne", "Rovno", "Rivnenska"], "ru_adj": ["Ровенская", "Ривненская"],
             "uk_region": ["Рівненщина"], "ru_region": ["Ровенщина", "Ривненщина"]},
    "UA59": {"en": ["Sumy", "Sumska"], "ru_adj": ["Сумская"],
             "uk_region": ["Сумщина"], "ru_region": ["Сумщина"]},
    "UA61": {"en": ["Ternopil", "Ternopol", "Ternopilska"], "ru_adj": ["Тернопольская"],
             "uk_region": ["Тернопільщина"], "ru_region": ["Тернопольщина"]},
    "UA63": {"en": ["Kharkiv", "Kharkov", "Kharkivska"], "ru_adj": ["Харьковская"],
             "uk_region": ["Харківщина", "Слобожанщина"], "ru_region": ["Харьковщина"]},
    "UA65": {"en": ["Kherson", "Khersonska"], "ru_adj": ["Херсонская"],
             "uk_region": ["Херсонщина"], "ru_region": ["Херсонщина"]},
    "UA68": {"en": ["Khmelnytskyi", "Khmelnytsky", "Khmelnitsky", "Khmelnytskyy",
                    "Khmelnytska"],
             "ru_adj": ["Хмельницкая"], "uk_region": ["Хмельниччина"],
             "ru_region": ["Хмельнитчина"]},
    "UA71": {"en": ["Cherkasy", "Cherkassy", "Cherkaska"], "ru_adj": ["Черкасская"],
             "uk_region": ["Черкащина"], "ru_region": ["Черкасщина", "Черкащина"]},
    "UA73": {"en": ["Chernivtsi", "Chernovtsy", "Chernivetska"], "ru_adj": ["Черновицкая"],
             "uk_region": ["Чернівеччина", "Буковина"], "ru_region": ["Буковина"],
             "en_region": ["Bukovyna", "Bukovina"]},
    "UA74": {"en": ["Chernihiv", "Chernigov", "Chernihivska"], "ru_adj": ["Черниговская"],
             "uk_region": ["Чернігівщина"], "ru_region": ["Черниговщина"]},
    "UA80": {"en": ["Kyiv"], "ru_adj": [], "uk_region": [], "ru_region": []},
    "UA85": {"en": ["Sevastopol"], "ru_adj": [], "uk_region": [], "ru_region": []},
}  # fmt: skip

# Hand-kept variants of settlements: (oblast, Ukrainian name in KATOTTG) -> variants.
# "uk"/"ru" entries are inflected at build time; "en" entries are matched as written.
SETTLEMENT_VARIANTS: dict[tuple[str, str], dict[str, list[str]]] = {
    ("UA80", "Київ"): {"en": ["Kiev", "Kyiv City"], "ru": ["Киев"]},
    ("UA85", "Севастополь"): {"ru": ["Севастополь"]},
    ("UA51", "Одеса"): {"en": ["Odessa", "Odesa City"], "ru": ["Одесса"], "uk": ["Одесса"]},
    ("UA23", "Запоріжжя"): {"en": ["Zaporozhye", "Zaporizhia", "Zaporizhzhya", "Zaporozhzhia"],
                           "ru": ["Запорожье"]},
    ("UA12", "Дніпро"): {"en": ["Dnepr", "Dnipropetrovsk", "Dnepropetrovsk"],
                        "ru": ["Днепр", "Днепропетровск"], "uk": ["Дніпропетровськ"]},
    ("UA48", "Миколаїв"): {"en": ["Nikolaev", "Nikolayev", "Mykolayiv"], "ru": ["Николаев"]},
    ("UA46", "Львів"): {"en": ["Lvov", "Lwow", "Lemberg"], "ru": ["Львов"]},
    ("UA63", "Харків"): {"en": ["Kharkov"], "ru": ["Харьков"]},
    ("UA44", "Луганськ"): {"en": ["Lugansk"], "ru": ["Луганск"]},
    ("UA18", "Житомир"): {"en": ["Zhitomir"]},
    ("UA05", "Вінниця"): {"en": ["Vinnitsa", "Vinnytsya"]},
    ("UA56", "Рівне"): {"en": ["Rovno"], "ru": ["Ровно"]},
    ("UA21", "Ужгород"): {"en": ["Uzhgorod"]},
    ("UA26", "Івано-Франківськ"): {"en": ["Ivano-Frankovsk"]},
    ("UA61", "Тернопіль"): {"en": ["Ternopol"]},
    ("UA68", "Хмельницький"): {"en": ["Khmelnitsky", "Khmelnytsky", "Khmelnitskiy"],
                              "ru": ["Хмельницкий"]},
    ("UA71", "Черкаси"): {"en": ["Cherkassy"], "ru": ["Черкассы"]},
    ("UA73", "Чернівці"): {"en": ["Chernovtsy", "Czernowitz"], "ru": ["Черновцы"]},
    ("UA74", "Чернігів"): {"en": ["Chernigov"], "ru": ["Чернигов"]},
    ("UA35", "Кропивницький"): {"en": ["Kirovohrad", "Kirovograd", "Kropyvnytskyy"],
                               "ru": ["Кропивницкий", "Кировоград"], "uk": ["Кіровоград"]},
    ("UA14", "Бахмут"): {"en": ["Artemivsk", "Artyomovsk"], "ru": ["Артемовск"],
                        "uk": ["Артемівськ"]},
    ("UA14", "Покровськ"): {"en": ["Krasnoarmiisk", "Krasnoarmeysk"], "ru": ["Красноармейск"],
                           "uk": ["Красноармійськ"]},
    ("UA14", "Торецьк"): {"en": ["Dzerzhynsk"], "uk": ["Дзержинськ"], "ru": ["Дзержинск"]},
    ("UA14", "Слов'янськ"): {"en": ["Slovyansk", "Slavyansk"], "ru": ["Славянск"]},
    ("UA14", "Краматорськ"): {"ru": ["Краматорск"]},
    ("UA14", "Маріуполь"): {"ru": ["Мариуполь"]},
    ("UA14", "Вугледар"): {"en": ["Vugledar"], "ru": ["Угледар"]},
    ("UA14", "Авдіївка"): {"en": ["Avdiivka", "Avdeevka", "Avdiyivka"], "ru": ["Авдеевка"]},
    ("UA14", "Часів Яр"): {"ru": ["Часов Яр"]},
    ("UA23", "Енергодар"): {"en": ["Energodar", "Enerhodar"], "ru": ["Энергодар"]},
    ("UA23", "Мелітополь"): {"ru": ["Мелитополь"]},
    ("UA23", "Бердянськ"): {"en": ["Berdyansk"], "ru": ["Бердянск"]},
    ("UA12", "Кривий Ріг"): {"en": ["Krivoy Rog", "Kryvyi Rih", "Kryvyy Rih"],
                            "ru": ["Кривой Рог"]},
    ("UA12", "Кам'янське"): {"en": ["Dniprodzerzhynsk"], "uk": ["Дніпродзержинськ"],
                            "ru": ["Каменское", "Днепродзержинск"]},
    ("UA12", "Нікополь"): {"ru": ["Никополь"]},
    ("UA12", "Павлоград"): {"ru": ["Павлоград"]},
    ("UA53", "Горішні Плавні"): {"uk": ["Комсомольськ"], "ru": ["Горишние Плавни"]},
    ("UA53", "Кременчук"): {"en": ["Kremenchug"], "ru": ["Кременчуг"]},
    ("UA51", "Чорноморськ"): {"en": ["Illichivsk", "Ilyichevsk"], "uk": ["Іллічівськ"],
                             "ru": ["Черноморск", "Ильичевск"]},
    ("UA51", "Ізмаїл"): {"en": ["Izmail", "Izmayil"], "ru": ["Измаил"]},
    ("UA65", "Нова Каховка"): {"ru": ["Новая Каховка"]},
    ("UA63", "Ізюм"): {"en": ["Izyum"], "ru": ["Изюм"]},
    ("UA63", "Куп'янськ"): {"en": ["Kupyansk", "Kupiansk"], "ru": ["Купянск"]},
    ("UA44", "Сєвєродонецьк"): {"en": ["Severodonetsk", "Sievierodonetsk"],
                               "ru": ["Северодонецк"]},
    ("UA44", "Лисичанськ"): {"ru": ["Лисичанск"]},
    ("UA32", "Біла Церква"): {"ru": ["Белая Церковь"]},
    ("UA32", "Бориспіль"): {"en": ["Boryspil", "Borispol"], "ru": ["Борисполь"]},
    ("UA32", "Бровари"): {"ru": ["Бровары"]},
    ("UA32", "Ірпінь"): {"ru": ["Ирпень"]},
    ("UA32", "Вишгород"): {"en": ["Vyshgorod"], "ru": ["Вышгород"]},
    ("UA32", "Чорнобиль"): {"en": ["Chernobyl", "Chornobyl"], "ru": ["Чернобыль"]},
    ("UA32", "Славутич"): {"ru": ["Славутич"]},
    ("UA01", "Сімферополь"): {"ru": ["Симферополь"]},
    ("UA46", "Шептицький"): {"uk": ["Червоноград"], "en": ["Chervonohrad"],
                            "ru": ["Червоноград"]},
    ("UA18", "Звягель"): {"uk": ["Новоград-Волинський"], "en": ["Novohrad-Volynskyi"]},
}  # fmt: skip

# Transliterated city names that are also English words: only after a preposition ("in Bar").
EN_ORDINARY_WORDS = {"bar", "chop", "mena", "turka", "busk", "samar", "oster", "brody", "saky"}

# Fixed phrases (kind F) and stop phrases (kind S), lower-case, matched as written.
FIXED: dict[str, str] = {
    "ukrainian capital": "UA80", "ukraine's capital": "UA80", "capital of ukraine": "UA80",
    "kyivans": "UA80", "kyivites": "UA80", "kievans": "UA80", "odesans": "UA51",
    "odessans": "UA51", "odessites": "UA51",
    "столиця україни": "UA80", "столиці україни": "UA80", "столицю україни": "UA80",
    "українська столиця": "UA80", "українській столиці": "UA80", "української столиці": "UA80",
    "українську столицю": "UA80", "столица украины": "UA80", "столице украины": "UA80",
    "столицы украины": "UA80", "украинская столица": "UA80", "украинской столице": "UA80",
    "украинской столицы": "UA80", "украинскую столицу": "UA80",
    "заес": "UA23", "заэс": "UA23", "znpp": "UA23", "zaporizhzhia npp": "UA23",
    "дніпрогес": "UA23", "днепрогэс": "UA23", "dniprohes": "UA23",
    "dnipro hydroelectric": "UA23", "dnipro hydroelectric power": "UA23",
    "kakhovka dam": "UA65", "kakhovka reservoir": "UA65", "каховська гес": "UA65",
    "каховської гес": "UA65", "каховской гэс": "UA65", "kakhovka hydroelectric": "UA65",
}  # fmt: skip
# "у столиці" means Kyiv in Ukrainian news, unless a country follows ("у столиці Польщі").
CAPITAL = ["у столиці", "в столиці", "у столицю", "в столицю", "в столице", "в столицу",
           "столичні", "столичних", "столичные", "столичных"]  # fmt: skip
DEMONYMS: dict[str, list[str]] = {
    "UA80": ["кияни", "киянин", "киянка", "киевляне", "киевлянин", "киевлянка"],
    "UA51": ["одесити", "одесит", "одеситка", "одесситы", "одессит", "одесситка"],
    "UA63": ["харків'яни", "харків'янин", "харьковчане", "харьковчанин"],
    "UA65": ["херсонці", "херсонець", "херсонцы", "херсонец"],
    "UA48": ["миколаївці", "миколаєвець", "николаевцы", "николаевец"],
    "UA23": ["запоріжці", "запоріжець", "запорожцы", "запорожец"],
    "UA12": ["дніпряни", "дніпрянин", "днепряне", "днепрянин"],
    "UA46": ["львів'яни", "львів'янин", "львовяне", "львовянин"],
    "UA14": ["маріупольці", "маріуполець", "мариупольцы", "мариуполец"],
    "UA59": ["сумчани", "сумчанин", "сумчане"],
    "UA53": ["полтавці", "полтавець", "полтавчане"],
    "UA71": ["черкащани", "черкасцы"],
    "UA74": ["чернігівці", "черниговцы"],
}  # fmt: skip
STOP = [
    "річка дніпро", "річки дніпро", "річці дніпро", "річку дніпро", "через дніпро",
    "реки днепр", "река днепр", "реке днепр", "через днепр", "на дніпрі", "на днепре",
    "druzhba pipeline", "druzhba oil pipeline", "нафтопровід «дружба»", "нафтопроводу «дружба»",
    "нефтепровод «дружба»", "нефтепровода «дружба»", "нафтопровід дружба",
    "kyiv independent", "kyiv post", "kyiv school of economics", "kyiv-mohyla", "kyiv mohyla",
    "kyiv international institute", "kiev international institute", "dynamo kyiv",
    "dynamo kiev", "динамо київ", "динамо киев", "shakhtar donetsk", "шахтар донецьк",
    "шахтер донецк", "zorya luhansk", "зоря луганськ", "odesa journal", "odessa journal",
    "київ оперативний", "киев оперативный", "kyiv operational", "kyiv times", "kyiv insider",
    "chicken kiev", "chicken kyiv", "dnipro river", "river dnipro", "dnieper river",
    "риа новости крым", "новости крым", "ria novosti crimea", "крымский мост", "кримський міст",
    "crimean bridge", "kyivindependent", "kyiv-based think tank", "kiev-based think tank",
    "odessa, texas", "odessa, tx", "odessa texas", "odessa, missouri", "odessa, delaware",
    "odessa, washington", "odessa, florida", "odessa, new york", "odessa, ontario",
    "odessa, minnesota", "kherson, texas", "kharkiv, texas",
]  # fmt: skip

COUNTRY_NOUNS = {"uk": ["Україна"], "ru": ["Украина"], "en": ["Ukraine"]}
COUNTRY_ADJECTIVES = {"uk": ["український"], "ru": ["украинский"]}
COUNTRY_PEOPLE = ["українці", "українець", "українка", "украинцы", "украинец", "украинка",
                  "ukrainian", "ukrainians"]  # fmt: skip

# Institutions and people that only Ukrainian domestic news names: the text is about Ukraine.
DOMESTIC = [
    "Зеленський", "Зеленский", "Zelensky", "Zelenskyy", "Zelenskiy", "Верховна Рада",
    "Верховная Рада", "Verkhovna Rada", "Кабмін", "Кабмин", "Кабінет міністрів",
    "Укренерго", "Укрэнерго", "Ukrenergo", "Нафтогаз", "Naftogaz", "ДТЕК", "ДТЭК", "DTEK",
    "Укргідрометцентр", "Укргидрометцентр", "ЗСУ", "ВСУ", "гривня", "гривна", "hryvnia",
    "НБУ", "НАБУ", "NABU", "Міненерго", "Минэнерго", "Офіс президента", "Офис президента",
    "Кличко", "Klitschko", "Шмигаль", "Шмыгаль", "Shmyhal", "Свириденко", "Svyrydenko",
    "Залужний", "Залужный", "Zaluzhnyi", "Укрзалізниця", "Укрзализныця", "Ukrzaliznytsia",
    "НКРЕКП", "НКРЭКУ", "Енергоатом", "Энергоатом", "Energoatom", "Слуга народу",
    "Слуга народа", "МОЗ", "Укргазвидобування", "Укртрансгаз", "Ukrtransgaz",
]  # fmt: skip

# OCHA hromada P-codes that are not KATOTTG hromadas: the place a point there resolves to.
CENTROID_PLACES = {"UA8000000": "UA80", "UA8500000": "UA85", "UA3200000": "UA32"}  # Chornobyl zone
# Kyiv is ringed by small suburban hromadas whose centroids (Kotsiubynske, an enclave; Vyshneve;
# Chabany; Borshchahivka) lie closer to its outer districts than Kyiv's own centroid does, so a
# disk around Maidan Nezalezhnosti counts as Kyiv before the nearest centroid is sought. 11 km
# reaches Obolon, Troieshchyna, Osokorky, Teremky and Sviatoshyn and stays 2 km short of the
# nearest neighbouring centroid (Chabanivska, 13 km); Kyiv's far edges (Bykivnia, Bortnychi,
# Pushcha-Vodytsia) still go to the suburb whose centroid is nearest.
CITY_CORES = [("UA80", 50.4501, 30.5234, 11.0)]
COORD_DIGITS = 4  # about 11 m: finer than any centroid means

UK_CASES = ("nomn", "gent", "datv", "accs", "ablt", "loct", "voct")
RU_CASES = ("nomn", "gent", "datv", "accs", "ablt", "loct", "loc2", "gen2")


def norm(s: str) -> str:
    return " ".join(s.translate(APOSTROPHES).strip().split())


def translit_uk(name: str) -> str:
    """Ukrainian national transliteration (KMU 2010), word-initial forms included."""
    out: list[str] = []
    prev_alpha = False
    low = norm(name).lower()
    for i, ch in enumerate(low):
        if ch == "г" and i > 0 and low[i - 1] == "з":
            out.append("gh")
        elif not prev_alpha and ch in UK_TRANSLIT_INITIAL:
            out.append(UK_TRANSLIT_INITIAL[ch])
        else:
            out.append(UK_TRANSLIT.get(ch, ch))
        prev_alpha = ch.isalpha() or ch == "'"
    text = "".join(out)
    return re.sub(r"(^|[\s-])(\w)", lambda m: m.group(1) + m.group(2).upper(), text)


def guess_ru(name: str) -> str:
    """A rough Russian spelling of a Ukrainian city name ("Тернівка" -> "Терновка").

    Used only for cities that no source gives a Russian name for; a wrong guess just never
    matches.
    """
    low = re.sub(r"ів\b", "ов", norm(name).lower())
    for uk, ru in (("ськ", "ск"), ("цьк", "цк"), ("зьк", "зск"), ("ївка", "евка"),
                   ("івка", "овка"), ("'", ""), ("и", "ы"), ("і", "и"), ("ї", "и"),
                   ("є", "е")):  # fmt: skip
        low = low.replace(uk, ru)
    return re.sub(r"(^|[\s-])(\w)", lambda m: m.group(1) + m.group(2).upper(), low)


class Inflector:
    """Inflected forms of names and adjectives, from every matching pymorphy3 parse."""

    def __init__(self) -> None:
        self.uk = pymorphy3.MorphAnalyzer(lang="uk")
        self.ru = pymorphy3.MorphAnalyzer(lang="ru")

    def _analyzer(self, lang: str) -> pymorphy3.MorphAnalyzer:
        return self.uk if lang == "uk" else self.ru

    def word_forms(self, word: str, lang: str, *, adjective: bool) -> dict[str, set[str]]:
        """Forms keyed by "case/number[/gender]" for one word given in the nominative."""
        morph = self._analyzer(lang)
        cases = UK_CASES if lang == "uk" else RU_CASES
        low = word.lower()
        forms: dict[str, set[str]] = defaultdict(set)
        wanted = "ADJF" if adjective else "NOUN"
        for p in morph.parse(low):
            tag = p.tag
            if wanted != tag.POS or tag.case != "nomn" or p.word != low:
                continue
            for lex in p.lexeme:
                lt = lex.tag
                if lt.case not in cases:
                    continue
                if not adjective and lt.number != tag.number and "Pltm" not in tag:
                    continue
                # The Ukrainian dictionary leaves the number of singular forms unset.
                number = lt.number or "sing"
                key = f"{lt.case}/{number}" + (f"/{lt.gender}" if adjective else "")
                forms[key].add(lex.word)
        if not forms:
            forms["nomn/sing"].add(low)
        else:
            forms["nomn/" + "any"].add(low)
        return forms

    def name_forms(self, name: str, lang: str) -> set[str]:
        """All case forms of a (possibly multi-word) settlement name, lower-case."""
        name = norm(name)
        parts = re.split(r"([\s-])", name)
        words = parts[0::2]
        seps = parts[1::2]
        if len(words) == 1:
            return {f for fs in self.word_forms(name, lang, adjective=False).values() for f in fs}
        per_word: list[dict[str, set[str]]] = []
        for i, w in enumerate(words):
            last = i == len(words) - 1
            noun = self.word_forms(w, lang, adjective=False)
            adj = self.word_forms(w, lang, adjective=True)
            # A word before the head noun is usually an adjective ("Кривий Ріг", "Біла
            # Церква"); a prefix like "Івано-" stays as written.
            if not last and len(adj) > 2:
                gender = self._gender(w, lang)
                per_word.append(
                    {
                        k.rsplit("/", 1)[0]: v
                        for k, v in adj.items()
                        if k.endswith("/" + str(gender)) or "/plur" in k
                    }
                )
            elif len(noun) > 2:
                per_word.append(noun)
            elif len(adj) > 2:
                gender = self._gender(w, lang)
                per_word.append(
                    {
                        k.rsplit("/", 1)[0]: v
                        for k, v in adj.items()
                        if k.endswith("/" + str(gender)) or "/plur" in k
                    }
                )
            else:
                per_word.append({"*": {w.lower()}})
        cases = UK_CASES if lang == "uk" else RU_CASES
        result = {name.lower()}
        for case in cases:
            for number in ("sing", "plur"):
                key = f"{case}/{number}"
                choices: list[set[str]] = []
                for forms in per_word:
                    got = forms.get(key) or forms.get("*")
                    if got is None:
                        break
                    choices.append(got)
                else:
                    combos = [""]
                    for j, options in enumerate(choices):
                        sep = seps[j - 1] if j else ""
                        combos = [c + sep + o for c in combos for o in sorted(options)][:8]
                    result.update(combos)
        return result

    def _gender(self, word: str, lang: str) -> str | None:
        for p in self._analyzer(lang).parse(word.lower()):
            if p.tag.POS == "ADJF" and p.tag.case == "nomn":
                return str(p.tag.gender) if p.tag.gender else "plur"
        return None

    def adjective_forms(self, adj: str, lang: str) -> set[str]:
        """Every form (all genders, numbers, cases) of an adjective such as "Одеська"."""
        adj = norm(adj)
        if "-" in adj:
            head, _, tail = adj.rpartition("-")
            return {f"{head.lower()}-{f}" for f in self.adjective_forms(tail, lang)}
        morph = self._analyzer(lang)
        out = {adj.lower()}
        for p in morph.parse(adj.lower()):
            if p.tag.POS == "ADJF" and p.word == adj.lower():
                out.update(lex.word for lex in p.lexeme)
        return out

    def is_common_word(self, form: str, lemmas: set[str], lang: str) -> bool:
        """True when `form` is also a dictionary form of a word that is not the place name."""
        for p in self._analyzer(lang).parse(form):
            if not p.is_known or "Geox" in p.tag:
                continue
            if p.normal_form in lemmas and p.tag.POS == "NOUN" and "anim" not in p.tag:
                continue  # the place name itself
            return True
        return False


def read_katottg(path: Path) -> list[dict[str, str]]:
    units: list[dict[str, str]] = []
    with path.open(encoding="utf-8") as fh:
        reader = csv.reader(fh, delimiter=";")
        next(reader)
        for row in reader:
            codes, cat, name = row[:5], row[5].strip(), norm(row[6])
            if cat in ("C", "B"):
                continue
            code = next(c for c in reversed(codes[:4]) if c)
            cut = {"O": 4, "K": 4, "P": 6, "H": 9, "M": 12, "X": 12}[cat]
            units.append({"id": code[:cut], "cat": cat, "uk": name})
    return units


def read_ocha(path: Path) -> dict[str, dict[str, str]]:
    with path.open(encoding="utf-8") as fh:
        return {row["pcode"]: row for row in csv.DictReader(fh)}


def read_radatlas(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def nearest_hromada(ocha: dict[str, dict[str, str]], lat: float, lon: float) -> str:
    best, best_d = "", math.inf
    for code, row in ocha.items():
        if row["level"] != "hromada":
            continue
        d = (float(row["lat"]) - lat) ** 2 + ((float(row["lon"]) - lon) * 0.66) ** 2
        if d < best_d:
            best, best_d = code, d
    return best


class Builder:
    def __init__(self, source: Path) -> None:
        self.inf = Inflector()
        self.units = read_katottg(source / "katottg_kodifikator_2025-05-16.csv")
        self.ocha = read_ocha(source / "ocha_pcodes_raions_hromadas_uk_ru_en.csv")
        self.radatlas = read_radatlas(source / "radatlas_cities_uk_ru_en.csv")
        self.places: dict[str, dict[str, str | None]] = {}
        self.patterns: dict[str, set[tuple[str, str]]] = defaultdict(set)
        self.centres: set[str] = set()

    def add(self, surface: str, place_id: str, kind: str) -> None:
        s = norm(surface).lower()
        if len(s) >= 2:
            self.patterns[s].add((place_id, kind))

    def is_person_name(self, name: str) -> bool:
        """ "Володимир", "Ніна": a first name or surname as well as a place."""
        return any(
            p.tag.case == "nomn"
            and ("Name" in p.tag or "Surn" in p.tag or "Patr" in p.tag or "anim" in p.tag)
            for p in self.inf.uk.parse(norm(name).lower())
        )

    def is_adjectival(self, name: str, lang: str) -> bool:
        """ "Покровське", "Золоте": a name declined like an adjective."""
        last = re.split(r"[\s-]", norm(name).lower())[-1]
        analyzer = self.inf.uk if lang == "uk" else self.inf.ru
        return any(
            p.tag.POS == "ADJF" and p.tag.case == "nomn" and p.word == last
            for p in analyzer.parse(last)
        )

    def add_name(self, name: str, place_id: str, lang: str, *, common_check: bool = True) -> None:
        if lang == "en":
            self.add(name, place_id, "N")
            return
        if common_check and " " not in name and self.is_person_name(name):
            # "Володимир", "Шевченка": only right after a preposition ("у Володимирі").
            for form in self.inf.name_forms(name, lang):
                self.add(form, place_id, "p")
            return
        if common_check and self.is_adjectival(name, lang):
            # "на Покровському напрямку" is an adjective; "у Покровському" may be the town.
            nominative = norm(name).lower()
            for form in self.inf.name_forms(name, lang):
                self.add(form, place_id, "N" if form == nominative else "c")
            return
        forms = self.inf.name_forms(name, lang)
        lemmas = {norm(name).lower()}
        for form in forms:
            common = common_check and " " not in form and "-" not in form
            common = common and self.inf.is_common_word(form, lemmas, lang)
            self.add(form, place_id, "n" if common else "N")

    def check_oblast_codes(self, index_ts: Path) -> None:
        """The OCHA oblast index and the KATOTTG codifier must agree on the admin-1 codes."""
        text = index_ts.read_text(encoding="utf-8")
        block = text[text.index("oblastByISO = Object.freeze") :]
        ocha = set(re.findall(r"'(UA\d\d)'", block[: block.index("})")]))
        katottg = {u["id"] for u in self.units if u["cat"] in ("O", "K")}
        if ocha != katottg or ocha != set(OBLASTS):
            raise SystemExit(f"oblast codes disagree: {sorted(ocha ^ katottg)}")

    def build(self) -> dict[str, object]:
        self._country()
        self._oblasts()
        self._settlements()
        self._raions_hromadas()
        self._fixed()
        places = [
            [pid, p["level"], p["oblast"], p["en"], p["uk"], p["ru"]]
            for pid, p in sorted(self.places.items())
        ]
        for entries in self.patterns.values():
            # "Українці" is the people, never the village Українка.
            if any(kind in "Uu" for _, kind in entries):
                entries -= {e for e in entries if e[1] in "Nn"}
        patterns = {s: sorted(v) for s, v in sorted(self.patterns.items()) if v}
        return {"version": 1, "places": places, "patterns": patterns,
                "centres": sorted(self.centres), "centroids": self._centroids(),
                "cores": [list(core) for core in CITY_CORES]}  # fmt: skip

    def _centroids(self) -> list[list[object]]:
        """[place id, lat, lon] of every OCHA hromada centroid, for `Gazetteer.nearest`."""
        out: list[list[object]] = []
        for code, row in sorted(self.ocha.items()):
            if row["level"] != "hromada":
                continue
            pid = CENTROID_PLACES.get(code, code)
            if pid not in self.places:
                raise SystemExit(f"OCHA hromada {code} has no place in the gazetteer")
            lat, lon = (
                round(float(row["lat"]), COORD_DIGITS),
                round(float(row["lon"]), COORD_DIGITS),
            )
            out.append([pid, lat, lon])
        return out

    def _country(self) -> None:
        self.places["UA"] = {"level": "country", "oblast": "UA", "en": "Ukraine",
                             "uk": "Україна", "ru": "Украина"}  # fmt: skip

    def _oblasts(self) -> None:
        for u in self.units:
            if u["cat"] not in ("O", "K"):
                continue
            oid, info = u["id"], OBLASTS[u["id"]]
            if u["cat"] == "K":
                ru = {"UA80": "Киев", "UA85": "Севастополь"}[oid]
                self.places[oid] = {"level": "city", "oblast": oid, "en": info["en"][0],
                                    "uk": u["uk"], "ru": ru}  # fmt: skip
                self.add_name(u["uk"], oid, "uk", common_check=False)
                self.add_name(ru, oid, "ru", common_check=False)
                self.add(info["en"][0], oid, "N")
                self.add(info["en"][0] + " city", oid, "O")
                for lang, names in SETTLEMENT_VARIANTS.get((oid, u["uk"]), {}).items():
                    for v in names:
                        self.add_name(v, oid, lang, common_check=False)
                self.centres.add(oid)
                continue
            uk_name = "Автономна Республіка Крим" if oid == "UA01" else f"{u['uk']} область"
            ru_adj = info["ru_adj"][0] if info["ru_adj"] else ""
            ru_name = "Автономная Республика Крым" if oid == "UA01" else f"{ru_adj} область"
            en_name = "Crimea" if oid == "UA01" else f"{info['en'][0]} oblast"
            self.places[oid] = {"level": "oblast", "oblast": oid, "en": en_name,
                                "uk": uk_name, "ru": ru_name}  # fmt: skip
            for full in (uk_name, ru_name, en_name):
                self.add(full, oid, "O")
            if oid != "UA01":
                for form in self.inf.adjective_forms(u["uk"], "uk"):
                    self.add(form, oid, "A")
                for adj in info["ru_adj"]:
                    for form in self.inf.adjective_forms(adj, "ru"):
                        self.add(form, oid, "A")
                for en in info["en"]:
                    for noun in (
                        "oblast",
                        "region",
                        "province",
                        "regional",
                        "oblast's",
                        "region's",
                        "province's",
                        "oblast administration",
                        "oblasts",
                        "regions",
                        "provinces",
                    ):
                        self.add(f"{en} {noun}", oid, "O")
            else:
                for form in self.inf.adjective_forms("Кримська", "uk"):
                    self.add(form, oid, "A")
                for form in self.inf.adjective_forms("Крымская", "ru"):
                    self.add(form, oid, "A")
                self.add("Crimean", oid, "O")
                self.add("Crimea", oid, "O")
                self.add("Autonomous Republic of Crimea", oid, "O")
                self.add("АР Крим", oid, "O")
                self.add("АРК", oid, "O")
            for word in info.get("uk_region", []):
                for form in self.inf.name_forms(word, "uk"):
                    self.add(form, oid, "O")
            for word in info.get("ru_region", []):
                for form in self.inf.name_forms(word, "ru"):
                    self.add(form, oid, "O")
            for word in info.get("en_region", []):
                self.add(word, oid, "O")

    def _settlement_ru(self) -> dict[str, tuple[str, str]]:
        """radatlas city -> (settlement id, Russian name), located by nearest hromada."""
        by_hromada: dict[str, list[dict[str, str]]] = defaultdict(list)
        for u in self.units:
            if u["cat"] == "M":
                by_hromada[u["id"][:9]].append(u)
        out: dict[str, tuple[str, str]] = {}
        for row in self.radatlas:
            uk = norm(row["name_uk"])
            if uk in ("Київ", "Севастополь"):
                continue
            hromada = nearest_hromada(self.ocha, float(row["lat"]), float(row["lon"]))
            oblast = hromada[:4]
            same = [u for u in self.units if u["cat"] == "M" and u["id"][:4] == oblast
                    and u["uk"] == uk]  # fmt: skip
            cities = same or by_hromada.get(hromada, [])
            if len(cities) != 1:
                print(f"radatlas: cannot place {uk} near {hromada}", file=sys.stderr)
                continue
            out[cities[0]["id"]] = (uk, norm(row["name_ru"]))
        return out

    def _settlements(self) -> None:
        radatlas = self._settlement_ru()
        centre_names = {
            ("UA05", "Вінниця"), ("UA07", "Луцьк"), ("UA12", "Дніпро"), ("UA14", "Донецьк"),
            ("UA18", "Житомир"), ("UA21", "Ужгород"), ("UA23", "Запоріжжя"),
            ("UA26", "Івано-Франківськ"), ("UA35", "Кропивницький"), ("UA44", "Луганськ"),
            ("UA46", "Львів"), ("UA48", "Миколаїв"), ("UA51", "Одеса"), ("UA53", "Полтава"),
            ("UA56", "Рівне"), ("UA59", "Суми"), ("UA61", "Тернопіль"), ("UA63", "Харків"),
            ("UA65", "Херсон"), ("UA68", "Хмельницький"), ("UA71", "Черкаси"),
            ("UA73", "Чернівці"), ("UA74", "Чернігів"), ("UA01", "Сімферополь"),
        }  # fmt: skip
        for u in self.units:
            if u["cat"] not in ("M", "X"):
                continue
            pid, oblast, uk = u["id"], u["id"][:4], u["uk"]
            level = "city" if u["cat"] == "M" else "town"
            en = translit_uk(uk)
            ru = radatlas.get(pid, (None, None))[1]
            variants = SETTLEMENT_VARIANTS.get((oblast, uk), {})
            if ru is None and variants.get("ru"):
                ru = variants["ru"][0]
            self.places[pid] = {"level": level, "oblast": oblast, "en": en, "uk": uk, "ru": ru}
            if u["cat"] == "M" and (oblast, uk) in centre_names:
                self.centres.add(pid)
            self.add_name(uk, pid, "uk")
            if ru:
                self.add_name(ru, pid, "ru")
            elif u["cat"] == "M":
                self.add_name(guess_ru(uk), pid, "ru")
            if u["cat"] == "M" or len(en) >= 6:
                ordinary = en.lower() in EN_ORDINARY_WORDS or self.is_person_name(uk)
                self.add(en, pid, "p" if ordinary else "N")
            else:
                self.add(en, pid, "L")  # too short to trust in running text
            ra = radatlas.get(pid)
            if ra and ra[0] != uk:  # a pre-2016 name kept by radatlas
                self.add_name(ra[0], pid, "uk")
            for lang in ("uk", "ru", "en"):
                for v in variants.get(lang, []):
                    self.add_name(v, pid, lang)

    def _raions_hromadas(self) -> None:
        for u in self.units:
            if u["cat"] not in ("P", "H"):
                continue
            pid, oblast = u["id"], u["id"][:4]
            row = self.ocha.get(pid)
            level = "raion" if u["cat"] == "P" else "hromada"
            en = row["name_en"] if row else translit_uk(u["uk"])
            ru = row["name_ru"] if row else None
            self.places[pid] = {"level": level, "oblast": oblast, "en": en, "uk": u["uk"],
                                "ru": ru}  # fmt: skip
            kind = "R" if level == "raion" else "H"
            for form in self.inf.adjective_forms(u["uk"], "uk"):
                self.add(form, pid, kind)
            if ru:
                for form in self.inf.adjective_forms(ru, "ru"):
                    self.add(form, pid, kind)
            nouns = ("raion", "district") if level == "raion" else ("hromada", "community")
            for noun in nouns:
                self.add(f"{en} {noun}", pid, "O")
            if level == "raion":
                # "Pavlohrad district": the raion named after its city.
                stem = re.sub(r"(?:s|ts|z)?kyi$", "", en)
                cities = sorted(
                    p["en"] for cid, p in self.places.items()
                    if len(cid) == 12 and cid.startswith(pid) and p["level"] == "city"
                    and str(p["en"]).startswith(stem)
                )  # fmt: skip
                for city in cities[:1]:
                    for noun in ("raion", "district"):
                        self.add(f"{city} {noun}", pid, "O")

    def _fixed(self) -> None:
        for surface, pid in FIXED.items():
            self.add(surface, pid, "F")
        for surface in CAPITAL:
            self.add(surface, "UA80", "K")
        for pid, words in DEMONYMS.items():
            for w in words:
                lang = "ru" if any(c in w for c in "ыэъ") or w.endswith(("не", "цы")) else "uk"
                forms = self.inf.name_forms(w, lang) | {w}
                for form in forms:
                    self.add(form, pid, "F")
        for lang, words in COUNTRY_NOUNS.items():
            for w in words:
                for form in self.inf.name_forms(w, lang) if lang != "en" else {w}:
                    self.add(form, "UA", "U")
        for lang, words in COUNTRY_ADJECTIVES.items():
            for w in words:
                for form in self.inf.adjective_forms(w, lang):
                    self.add(form, "UA", "u")
        for w in COUNTRY_PEOPLE:
            lang = (
                "en"
                if w.isascii()
                else ("ru" if "ы" in w or (w.endswith("ец") and "ї" not in w) else "uk")
            )
            for form in (self.inf.name_forms(w, lang) if lang != "en" else {w}) | {w}:
                self.add(form, "UA", "u")
        for word in DOMESTIC:
            if " " in word or word.isascii() or word.isupper():
                self.add(word, "UA", "u")
                continue
            for lang in ("uk", "ru"):
                for form in self.inf.name_forms(word, lang):
                    self.add(form, "UA", "u")
        for surface in STOP:
            self.add(surface, "", "S")


def main(argv: Iterable[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("source", nargs="?", default="../shared/data/gazetteer")
    parser.add_argument(
        "--out",
        default=str(
            Path(__file__).resolve().parent.parent / "feeds" / "data" / "gazetteer.json.gz"
        ),
    )
    args = parser.parse_args(list(argv) if argv is not None else None)
    builder = Builder(Path(args.source))
    builder.check_oblast_codes(Path(args.source) / "infoportal_oblastIndex.ts")
    data = builder.build()
    raw = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
    # mtime=0 keeps the file byte-identical when nothing changed.
    with open(args.out, "wb") as out, gzip.GzipFile(fileobj=out, mode="wb", mtime=0) as fh:
        fh.write(raw)
    n_places = len(data["places"])  # type: ignore[arg-type]
    n_patterns = len(data["patterns"])  # type: ignore[arg-type]
    n_centroids = len(data["centroids"])  # type: ignore[arg-type]
    print(
        f"wrote {args.out}: {n_places} places, {n_patterns} surfaces, {n_centroids} centroids",
        file=sys.stderr,
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
