"""Settings: defaults, normalisation, validation messages naming the variable, secrets hidden."""

from __future__ import annotations

import logging
from datetime import time
from pathlib import Path

import pytest

from bot.config import ConfigError, Settings, load_settings, settings_table_markdown

TOKEN = "123456:AAH-secret-token-value"


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No setting leaks in from the machine, and no .env from the working directory."""
    for name in Settings.model_fields:
        monkeypatch.delenv(name.upper(), raising=False)
    monkeypatch.chdir(tmp_path)


def test_defaults() -> None:
    s = load_settings(env_file=None)
    assert s.telegram_bot_token is None
    assert s.telegram_api_url == "https://api.telegram.org"
    assert s.database_url == "sqlite+aiosqlite:///./data/bot.db"
    assert (s.poll_interval_seconds, s.max_rules_per_chat, s.alert_window_hours) == (300, 50, 6)
    assert (s.send_rate_per_second, s.log_level) == (30, "INFO")
    assert s.default_timezone == "Europe/Kyiv" and s.digest_default_time == time(8, 0)
    assert s.admin_chat_ids == frozenset() and s.webhook_url is None
    assert s.allow_private_feed_hosts is False and s.feeds_file is None


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("postgres://u:p@db:5432/bot", "postgresql+asyncpg://u:p@db:5432/bot"),
        ("postgresql://u@db/bot", "postgresql+asyncpg://u@db/bot"),
        ("postgresql+asyncpg://u@db/bot", "postgresql+asyncpg://u@db/bot"),
        ("sqlite:///./x.db", "sqlite+aiosqlite:///./x.db"),
        ("sqlite+aiosqlite:////abs/x.db", "sqlite+aiosqlite:////abs/x.db"),
    ],
)
def test_database_url_normalised(
    monkeypatch: pytest.MonkeyPatch, given: str, expected: str
) -> None:
    monkeypatch.setenv("DATABASE_URL", given)
    assert load_settings(env_file=None).database_url == expected


def test_environment_and_env_file(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    feeds = tmp_path / "feeds.toml"
    feeds.write_text("", encoding="utf-8")
    env = tmp_path / ".env"
    env.write_text(
        f"TELEGRAM_BOT_TOKEN={TOKEN}\nADMIN_CHAT_IDS=12, -100500 ,7\nLOG_LEVEL=debug\n"
        f"FEEDS_FILE={feeds}\nWEBHOOK_URL=\nDIGEST_DEFAULT_TIME=07:30\n",
        encoding="utf-8",
    )
    monkeypatch.setenv("POLL_INTERVAL_SECONDS", "60")
    s = load_settings(env_file=env)
    assert s.telegram_bot_token is not None
    assert s.telegram_bot_token.get_secret_value() == TOKEN
    assert s.admin_chat_ids == frozenset({12, -100500, 7})
    assert s.log_level == "DEBUG" and s.poll_interval_seconds == 60
    assert s.feeds_file == feeds and s.webhook_url is None  # empty means unset
    assert s.digest_default_time == time(7, 30)
    # The default `.env` is the one in the working directory.
    assert load_settings().admin_chat_ids == frozenset({12, -100500, 7})


def test_token_and_passwords_never_shown(caplog: pytest.LogCaptureFixture) -> None:
    s = load_settings(
        env_file=None,
        telegram_bot_token=TOKEN,
        database_url="postgres://bot:hunter2@db/bot",
        webhook_url="https://bot.example/hook",
        webhook_secret="s3cret_value",
    )
    with caplog.at_level(logging.INFO):
        logging.getLogger("test").info("settings: %s %r", s, s)
    for shown in (repr(s), str(s), caplog.text, s.database_url_safe):
        assert TOKEN not in shown and "hunter2" not in shown and "s3cret_value" not in shown
    assert s.database_url_safe == "postgresql+asyncpg://bot:***@db/bot"


def test_each_bad_variable_gets_a_named_line(monkeypatch: pytest.MonkeyPatch) -> None:
    bad = {
        "POLL_INTERVAL_SECONDS": "0",
        "ADMIN_CHAT_IDS": "12,abc",
        "DEFAULT_TIMEZONE": "Europe/Atlantis",
        "DATABASE_URL": "mysql://x/y",
        "SEND_RATE_PER_SECOND": "-1",
        "LOG_LEVEL": "LOUD",
        "WEBHOOK_URL": "https://bot.example/hook",
        "FEEDS_FILE": "/no/such/feeds.toml",
        "DIGEST_DEFAULT_TIME": "25:00",
    }
    for name, value in bad.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", TOKEN)
    with pytest.raises(ConfigError) as caught:
        load_settings(env_file=None)
    lines = str(caught.value).splitlines()[1:]
    named = {line.split(":", 1)[0] for line in lines}
    assert named == (set(bad) - {"WEBHOOK_URL"}) | {"WEBHOOK_SECRET"}
    assert len(lines) == len(named)
    message = str(caught.value)
    assert "'abc' is not a chat id" in message
    assert "WEBHOOK_SECRET: required when WEBHOOK_URL is set" in message
    assert "unknown time zone 'Europe/Atlantis'" in message
    assert TOKEN not in message


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("WEBHOOK_URL", "http://insecure.example/hook"),
        ("TELEGRAM_API_URL", "api.telegram.org"),
        ("MAX_RULES_PER_CHAT", "0"),
        ("ALERT_WINDOW_HOURS", "0"),
        ("ALLOW_PRIVATE_FEED_HOSTS", "perhaps"),
        ("STORY_JOIN_THRESHOLD", "0"),
        ("STORY_JOIN_THRESHOLD", "1.5"),
    ],
)
def test_single_bad_value(monkeypatch: pytest.MonkeyPatch, name: str, value: str) -> None:
    monkeypatch.setenv(name, value)
    monkeypatch.setenv("WEBHOOK_SECRET", "ok-secret")
    with pytest.raises(ConfigError, match=f"^invalid configuration:\n{name}: "):
        load_settings(env_file=None)


def test_webhook_secret_charset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WEBHOOK_URL", "https://bot.example/hook")
    monkeypatch.setenv("WEBHOOK_SECRET", "has spaces!")
    with pytest.raises(ConfigError, match="WEBHOOK_SECRET: must be 1-256 characters"):
        load_settings(env_file=None)


def test_settings_table_lists_every_variable() -> None:
    table = settings_table_markdown()
    for name, field in Settings.model_fields.items():
        assert f"| `{name.upper()}` |" in table
        assert field.description and field.description in table
    assert "| `POLL_INTERVAL_SECONDS` | `300` |" in table
    assert "| `DIGEST_DEFAULT_TIME` | `08:00` |" in table
    assert len(table.strip().splitlines()) == len(Settings.model_fields) + 2


def test_require_token() -> None:
    with pytest.raises(ConfigError, match="TELEGRAM_BOT_TOKEN: required to run the bot"):
        load_settings(env_file=None).require_token()
    assert load_settings(env_file=None, telegram_bot_token=TOKEN).require_token() == TOKEN
