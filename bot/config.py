"""The bot's settings: read once from the environment (and an optional `.env`), then passed down.

Nothing else in the project reads `os.environ`. `load_settings()` turns invalid values into a
`ConfigError` whose text names each bad variable on its own line.
"""

from __future__ import annotations

import re
from datetime import time
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from rules.grouping import DEFAULT_THRESHOLD

DEFAULT_DATABASE_URL = "sqlite+aiosqlite:///./data/bot.db"

# Telegram accepts 1-256 of these characters as a webhook secret_token.
_WEBHOOK_SECRET_RE = re.compile(r"^[A-Za-z0-9_-]{1,256}$")

LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"]


class ConfigError(Exception):
    """The environment holds invalid settings; the message has one line per bad variable."""


def normalise_database_url(url: str) -> str:
    """Pick the async driver for the URL forms people paste (Heroku's `postgres://`, ...)."""
    url = url.strip()
    for prefix in (
        "postgres://",
        "postgresql://",
        "postgresql+psycopg2://",
        "postgresql+psycopg://",
    ):
        if url.startswith(prefix):
            return "postgresql+asyncpg://" + url[len(prefix) :]
    if url.startswith("sqlite://") and not url.startswith("sqlite+"):
        return "sqlite+aiosqlite://" + url[len("sqlite://") :]
    return url


class Settings(BaseSettings):
    """Every setting of the bot; the environment variable is the field name in upper case."""

    model_config = SettingsConfigDict(
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        case_sensitive=False,
        # An empty `WEBHOOK_URL=` in a .env means "not set", not "the empty string".
        env_ignore_empty=True,
        frozen=True,
    )

    telegram_bot_token: SecretStr | None = Field(
        default=None,
        description="Bot token from @BotFather. Required by `run`; never logged.",
    )
    telegram_api_url: str = Field(
        default="https://api.telegram.org",
        description="Base URL of the Telegram Bot API (a local Bot API server or a test fake).",
    )
    database_url: str = Field(
        default=DEFAULT_DATABASE_URL,
        # A PostgreSQL URL may carry a password: keep it out of repr(); use `database_url_safe`.
        repr=False,
        description=(
            "SQLAlchemy URL. SQLite (file created on first run) or PostgreSQL; "
            "`postgres://` and `sqlite:///` forms are converted to the async drivers."
        ),
    )
    feeds_file: Path | None = Field(
        default=None,
        description="Feed catalogue file to load instead of the built-in one.",
    )
    poll_interval_seconds: int = Field(
        default=300, ge=1, description="Default seconds between two polls of one feed."
    )
    allow_private_feed_hosts: bool = Field(
        default=False,
        description="Allow feeds on private/loopback addresses (tests and local setups only).",
    )
    admin_chat_ids: Annotated[frozenset[int], NoDecode] = Field(
        default=frozenset(),
        description="Comma-separated Telegram chat ids allowed to run admin commands.",
    )
    webhook_url: str | None = Field(
        default=None,
        description="Public HTTPS URL for Telegram webhooks; unset means long polling.",
    )
    webhook_secret: SecretStr | None = Field(
        default=None,
        validate_default=True,
        description=(
            "Secret Telegram sends with each webhook call (1-256 of `A-Z a-z 0-9 _ -`). "
            "Required when WEBHOOK_URL is set."
        ),
    )
    default_timezone: str = Field(
        default="Europe/Kyiv", description="IANA time zone for new subscribers."
    )
    send_rate_per_second: float = Field(
        default=30.0, gt=0, description="Most messages sent to Telegram per second, overall."
    )
    log_level: LogLevel = Field(default="INFO", description="Logging level.")
    user_agent: str = Field(
        default="winter-alerts-bot/0.1 (+https://github.com/winter-alerts-bot)",
        min_length=1,
        description="User-Agent header sent when fetching feeds.",
    )
    max_rules_per_chat: int = Field(default=50, ge=1, description="Most rules one chat may keep.")
    alert_window_hours: float = Field(
        default=6.0,
        gt=0,
        description="Only items published this many hours ago or later raise instant alerts.",
    )
    edit_delay_seconds: float = Field(
        default=15.0,
        ge=0,
        description=(
            "An edit of an alert already sent (and an escalation reply, which follows it) "
            "waits this long in the queue: news arriving meanwhile goes into the same edit, "
            "and fresh alerts go out first."
        ),
    )
    update_delay_seconds: float = Field(
        default=5.0,
        ge=0,
        description=(
            "The edits and replies that news about a story already told (another outlet, new "
            "figures) brings wait this long, with whatever else arrives meanwhile: one round "
            "of edits instead of one per outlet. A new story is matched at once, and chats "
            "new to an updated story are told within a second."
        ),
    )
    story_join_threshold: float = Field(
        default=DEFAULT_THRESHOLD,
        gt=0,
        le=1,
        description=(
            "How alike a headline must be to a story to join it (0–1). Higher keeps more "
            "stories apart: fewer unrelated reports in one alert, more alerts for one event. "
            "The default is tuned on the Google News reference; on general Ukrainian news "
            "feeds 0.15 is stricter and measured better (event F1 0.52 against 0.48, see "
            "Performance)."
        ),
    )
    digest_default_time: time = Field(
        default=time(8, 0), description="Local time (HH:MM) of the daily digest for new chats."
    )

    @field_validator("telegram_api_url")
    @classmethod
    def _api_url(cls, value: str) -> str:
        value = value.strip().rstrip("/")
        if not value.startswith(("https://", "http://")):
            raise ValueError("must start with https:// (or http:// for a local server)")
        return value

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str) -> str:
        url = normalise_database_url(value)
        if not url.startswith(("sqlite+aiosqlite://", "postgresql+asyncpg://")):
            raise ValueError("must be a sqlite:/// or postgresql:// URL")
        return url

    @field_validator("feeds_file")
    @classmethod
    def _feeds_file(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_file():
            raise ValueError(f"no such file: {value}")
        return value

    @field_validator("admin_chat_ids", mode="before")
    @classmethod
    def _admin_ids(cls, value: Any) -> Any:
        if isinstance(value, str):
            parts = [p.strip() for p in value.replace(";", ",").split(",")]
            ids = []
            for part in parts:
                if not part:
                    continue
                try:
                    ids.append(int(part))
                except ValueError:
                    raise ValueError(f"{part!r} is not a chat id (expected integers)") from None
            return frozenset(ids)
        if isinstance(value, int):
            return frozenset({value})
        return value

    @field_validator("webhook_url")
    @classmethod
    def _webhook_url(cls, value: str | None) -> str | None:
        if value is not None and not value.strip().startswith("https://"):
            raise ValueError("Telegram only calls https:// webhook URLs")
        return value.strip() if value is not None else None

    @field_validator("webhook_secret")
    @classmethod
    def _webhook_secret(cls, value: SecretStr | None, info: ValidationInfo) -> SecretStr | None:
        if value is None:
            if info.data.get("webhook_url"):
                raise ValueError("required when WEBHOOK_URL is set (1-256 of A-Z a-z 0-9 _ -)")
            return None
        if not _WEBHOOK_SECRET_RE.match(value.get_secret_value()):
            raise ValueError("must be 1-256 characters from A-Z a-z 0-9 _ -")
        return value

    @field_validator("default_timezone")
    @classmethod
    def _timezone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r} (e.g. Europe/Kyiv)") from None
        return value

    @field_validator("log_level", mode="before")
    @classmethod
    def _log_level(cls, value: Any) -> Any:
        return value.strip().upper() if isinstance(value, str) else value

    @property
    def database_url_safe(self) -> str:
        """The database URL with any password masked, for logs."""
        from sqlalchemy.engine import make_url

        return make_url(self.database_url).render_as_string(hide_password=True)

    @property
    def timezone(self) -> ZoneInfo:
        return ZoneInfo(self.default_timezone)

    def require_token(self) -> str:
        """The bot token, for commands that talk to Telegram; `ConfigError` when unset."""
        if self.telegram_bot_token is None or not self.telegram_bot_token.get_secret_value():
            raise ConfigError(
                "invalid configuration:\n"
                "TELEGRAM_BOT_TOKEN: required to run the bot (get one from @BotFather)"
            )
        return self.telegram_bot_token.get_secret_value()


def env_name(field_name: str) -> str:
    """The environment variable that sets `field_name`."""
    return field_name.upper()


def load_settings(*, env_file: Path | str | None = ".env", **overrides: Any) -> Settings:
    """Read the settings once; invalid values raise `ConfigError` naming each variable.

    `overrides` (field names) win over the environment; tests and commands use them.
    """
    try:
        return Settings(_env_file=env_file, **overrides)  # type: ignore[call-arg]
    except ValidationError as exc:
        raise ConfigError(_describe(exc)) from None


def _describe(exc: ValidationError) -> str:
    lines = []
    for error in exc.errors(include_url=False, include_input=False):
        loc = error.get("loc") or ()
        name = env_name(str(loc[0])) if loc else "settings"
        message = str(error.get("msg", "invalid value"))
        message = message.removeprefix("Value error, ")
        lines.append(f"{name}: {message}")
    return "\n".join(["invalid configuration:", *lines])


def settings_table_markdown() -> str:
    """A Markdown table of every setting (variable, default, meaning) for the README."""
    rows = ["| Variable | Default | Meaning |", "|---|---|---|"]
    for name, field in Settings.model_fields.items():
        default = _default_text(field.default)
        rows.append(f"| `{env_name(name)}` | {default} | {field.description} |")
    return "\n".join(rows) + "\n"


def _default_text(default: Any) -> str:
    if default is None or default == frozenset():
        return "—"
    if isinstance(default, time):
        return f"`{default.strftime('%H:%M')}`"
    if isinstance(default, bool):
        return f"`{str(default).lower()}`"
    if isinstance(default, float) and default.is_integer():
        return f"`{int(default)}`"
    return f"`{default}`"
