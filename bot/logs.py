"""Logging for the bot process: the bot token is removed from every record when the record is
made (httpx and PTB put request URLs, which contain it, into messages and tracebacks), so no
handler sees it, not even one a library adds before ours; our stderr handler filters again.
"""

from __future__ import annotations

import logging
import sys
from collections.abc import Callable, Iterable
from typing import Any

REDACTED = "[REDACTED]"
_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# Libraries that log every request URL at INFO: keep them quiet even at LOG_LEVEL=INFO.
_NOISY = ("httpx", "httpcore", "telegram.ext.Updater", "apscheduler", "uvicorn.access")


class RedactingFilter(logging.Filter):
    """Replaces each secret in the formatted message (and traceback) with `[REDACTED]`."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        # Longest first, so a secret that contains another is replaced whole.
        self.secrets = sorted({s for s in secrets if s}, key=len, reverse=True)

    def redact(self, text: str) -> str:
        for secret in self.secrets:
            if secret in text:
                text = text.replace(secret, REDACTED)
        return text

    def filter(self, record: logging.LogRecord) -> bool:
        if not self.secrets:
            return True
        message = record.getMessage()
        clean = self.redact(message)
        if clean != message:
            record.msg, record.args = clean, None
        if record.exc_info and record.exc_info[0] is not None:
            # Format the traceback now, redacted; the formatter reuses `exc_text`.
            text = logging.Formatter().formatException(record.exc_info)
            record.exc_text = self.redact(text)
            record.exc_info = None
        elif record.exc_text:
            record.exc_text = self.redact(record.exc_text)
        if record.stack_info:
            record.stack_info = self.redact(record.stack_info)
        return True


def token_secrets(token: str | None) -> list[str]:
    """What to hide of a token: the whole token, its secret half (after the colon) and the
    bot's numeric id before it (half of the credential; PTB logs it with every getMe and sent
    message at DEBUG)."""
    if not token:
        return []
    secrets = [token]
    bot_id, _, secret = token.partition(":")
    if len(secret) >= 8:
        secrets.append(secret)
    if bot_id.isdigit() and len(bot_id) >= 6:  # a short number would blank unrelated figures
        secrets.append(bot_id)
    return secrets


class _RedactingRecordFactory:
    """Wraps the process's LogRecord factory: records are redacted as they are created, before
    any logger's or handler's filter or formatter sees them. Installed once; a later
    `setup_logging` only swaps the secrets (no wrapper around a wrapper)."""

    def __init__(self, inner: Callable[..., logging.LogRecord]) -> None:
        self.inner = inner
        self.redactor = RedactingFilter(())

    def __call__(self, *args: Any, **kwargs: Any) -> logging.LogRecord:
        record = self.inner(*args, **kwargs)
        self.redactor.filter(record)
        return record


def redact_all_records(secrets: Iterable[str]) -> None:
    """Make every LogRecord of this process free of `secrets` from the moment it exists."""
    factory = logging.getLogRecordFactory()
    if not isinstance(factory, _RedactingRecordFactory):
        factory = _RedactingRecordFactory(factory)
        logging.setLogRecordFactory(factory)
    factory.redactor = RedactingFilter(secrets)


def setup_logging(
    level: str = "INFO", *, secrets: Iterable[str] = (), stream: object = None
) -> logging.Handler:
    """Configure the root logger once for the process; returns the handler it installed."""
    redact_all_records(secrets)
    handler = logging.StreamHandler(stream or sys.stderr)  # type: ignore[arg-type]
    handler.setFormatter(logging.Formatter(_FORMAT))
    handler.addFilter(RedactingFilter(secrets))
    root = logging.getLogger()
    for old in list(root.handlers):
        if getattr(old, "_winter_alerts", False):
            root.removeHandler(old)
    handler._winter_alerts = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level)
    for name in _NOISY:
        logging.getLogger(name).setLevel(max(logging.WARNING, logging.getLevelName(level)))
    return handler
