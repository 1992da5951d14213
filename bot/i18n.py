"""User-facing text: the Ukrainian and English catalogues in `bot/locales/*.toml`.

Every text a person reads comes from here, never inline. A missing key in one language
falls back to English; the tests keep both catalogues' keys and placeholders equal.
"""

from __future__ import annotations

import tomllib
from functools import cache
from importlib import resources

LANGUAGES = ("uk", "en")
DEFAULT_LANGUAGE = "en"


@cache
def catalogue(lang: str) -> dict[str, str]:
    """The flat key -> text mapping of one language (cached)."""
    text = resources.files("bot.locales").joinpath(f"{lang}.toml").read_text(encoding="utf-8")
    return _flatten(tomllib.loads(text))


def _flatten(tree: dict[str, object], prefix: str = "") -> dict[str, str]:
    flat: dict[str, str] = {}
    for key, value in tree.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(_flatten(value, f"{name}."))
        else:
            flat[name] = str(value)
    return flat


def pick_language(language_code: str | None) -> str:
    """Our language for Telegram's `language_code`: Ukrainian for uk (and ru speakers in
    Ukraine read Ukrainian more often than English), English otherwise."""
    code = (language_code or "").split("-")[0].lower()
    return "uk" if code in ("uk", "ru") else DEFAULT_LANGUAGE


def t(lang: str, key: str, /, **values: object) -> str:
    """The text for `key` in `lang`, with `{placeholders}` filled from `values`."""
    lang = lang if lang in LANGUAGES else DEFAULT_LANGUAGE
    template = catalogue(lang).get(key) or catalogue(DEFAULT_LANGUAGE)[key]
    return template.format(**values) if values else template
