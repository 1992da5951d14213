"""`row_id`: the one reader of ids typed by people or carried in button data (found by the
command fuzzer: "/removesource 999…9" and "rule:pause:999…9" overflowed SQLite's INTEGER)."""

from __future__ import annotations

import pytest

from bot.handlers.common import MAX_ROW_ID, row_id
from bot.logs import token_secrets


@pytest.mark.parametrize(("text", "value"), [("1", 1), ("007", 7), (str(MAX_ROW_ID), MAX_ROW_ID)])
def test_row_ids_in_range_are_read(text: str, value: int) -> None:
    assert row_id(text) == value


@pytest.mark.parametrize(
    "text", ["", "-1", "+1", " 1", "1.0", "²", "١٢", "１", str(MAX_ROW_ID + 1), "9" * 400]
)
def test_anything_else_is_not_an_id(text: str) -> None:
    with pytest.raises(ValueError, match="not an id"):
        row_id(text)


def test_token_secrets_cover_the_bot_id_and_the_secret_half() -> None:
    assert token_secrets("7310558642:AAH-secretPart_123") == [
        "7310558642:AAH-secretPart_123",
        "AAH-secretPart_123",
        "7310558642",
    ]
    assert token_secrets("12:AAH-secretPart_123") == ["12:AAH-secretPart_123", "AAH-secretPart_123"]
    assert token_secrets(None) == []
