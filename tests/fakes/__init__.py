"""Fakes of external services for tests: a real local Telegram Bot API server."""

from tests.fakes.telegram_api import (
    DEFAULT_TOKEN,
    ApiCall,
    ApiError,
    BotMessage,
    CallbackAnswer,
    FakeTelegramAPI,
    Fault,
    FaultRule,
    Rate,
    RateLimits,
    parse_html,
)

__all__ = [
    "DEFAULT_TOKEN",
    "ApiCall",
    "ApiError",
    "BotMessage",
    "CallbackAnswer",
    "FakeTelegramAPI",
    "Fault",
    "FaultRule",
    "Rate",
    "RateLimits",
    "parse_html",
]
