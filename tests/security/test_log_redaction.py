"""Records are redacted when they are made: a handler that a library attached to its own
logger before ours (and so never passes through our handler's filter) still never sees the
token, in the message, its arguments or a traceback."""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator

import pytest

from bot.logs import REDACTED, setup_logging, token_secrets

TOKEN = "7310558642:AAH-leakCanary_Zq81xVb3Tt0pLmN4"


@pytest.fixture
def foreign_handler() -> Iterator[io.StringIO]:
    """A third-party handler on a library logger, added before `setup_logging` runs."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(logging.Formatter("%(message)s"))
    library = logging.getLogger("some.library")
    library.addHandler(handler)
    library.setLevel(logging.DEBUG)
    factory = logging.getLogRecordFactory()
    root = logging.getLogger()
    saved_level, saved_handlers = root.level, list(root.handlers)
    setup_logging("INFO", secrets=token_secrets(TOKEN), stream=io.StringIO())
    try:
        yield stream
    finally:
        library.removeHandler(handler)
        library.setLevel(logging.NOTSET)
        root.handlers[:] = saved_handlers
        root.setLevel(saved_level)
        logging.setLogRecordFactory(factory)


def test_a_handler_added_before_ours_sees_no_token(foreign_handler: io.StringIO) -> None:
    log = logging.getLogger("some.library")
    log.info("POST https://api.telegram.org/bot%s/sendMessage", TOKEN)
    try:
        raise RuntimeError(f"failed: https://api.telegram.org/bot{TOKEN}/getMe")
    except RuntimeError:
        log.exception("request failed")
    written = foreign_handler.getvalue()
    assert "sendMessage" in written and "request failed" in written
    assert REDACTED in written
    for secret in token_secrets(TOKEN):
        assert secret not in written


def test_setting_up_twice_swaps_secrets_instead_of_stacking(
    foreign_handler: io.StringIO,
) -> None:
    other = "5550001112:BBQ-anotherSecretValue_123456"
    setup_logging("INFO", secrets=token_secrets(other), stream=io.StringIO())
    logging.getLogger("some.library").warning("token %s", other)
    assert other not in foreign_handler.getvalue()
    # One wrapper only: the factory's inner factory is not itself a redacting wrapper.
    factory = logging.getLogRecordFactory()
    assert type(getattr(factory, "inner", None)) is not type(factory)
