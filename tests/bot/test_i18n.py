"""Both catalogues say the same things: same keys, same placeholders."""

from __future__ import annotations

import string

import pytest

from bot.i18n import LANGUAGES, catalogue, pick_language, t


def _placeholders(template: str) -> set[str]:
    return {name for _, name, _, _ in string.Formatter().parse(template) if name}


def test_catalogues_have_the_same_keys_and_placeholders() -> None:
    en, uk = catalogue("en"), catalogue("uk")
    assert set(en) == set(uk)
    for key in en:
        assert _placeholders(en[key]) == _placeholders(uk[key]), key


@pytest.mark.parametrize(
    ("code", "lang"),
    [("uk", "uk"), ("uk-UA", "uk"), ("ru", "uk"), ("en-GB", "en"), ("de", "en"), (None, "en")],
)
def test_pick_language(code: str | None, lang: str) -> None:
    assert pick_language(code) == lang


def test_unknown_language_falls_back_to_english() -> None:
    assert t("de", "alert.read_more") == t("en", "alert.read_more")
    assert set(LANGUAGES) == {"uk", "en"}
