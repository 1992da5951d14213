"""Every command, fed generated arguments (and callback data never issued), through the real
Application on SQLite against the fake Bot API: the bot answers briefly or ignores, never
reaches the error handler with an exception, and the stored rules stay consistent.

Hypothesis runs in a worker thread and hands each example to the bot's event loop, so the
fake Bot API and the Application stay in the loop that started them."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from functools import partial
from pathlib import Path
from typing import Any, TypeVar

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rules import vocabulary
from tests.bot.handlers_support import Harness
from tests.fakes import FakeTelegramAPI
from tests.security.support import (
    ADMIN,
    GROUP,
    GROUP_MEMBER,
    TEST_FEED_HOST,
    USER,
    ErrorRecords,
    check_consistency,
    error_records,
    hostile_bot,
)
from tests.security.test_rule_fuzz import HOSTILE_PIECES

T = TypeVar("T")
SENTINEL = 8800  # a chat whose /help answer shows that every earlier update was handled
APOLOGY = "Something went wrong on my side"
EXAMPLES = 30

_JUNK = st.text(max_size=120) | st.text(
    st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=40
)
_PIECES = st.sampled_from(
    [*HOSTILE_PIECES, "", "0", "-1", "9" * 30, "²", "١٢", "٣", "⁴", "1.5", "1e9", "0x10", "+1",
     "on", "off", "yes", "no", "all", "now", "@winter_alerts_test_bot", "<script>", "'; DROP"]
)  # fmt: skip


def _words(*pieces: str) -> st.SearchStrategy[str]:
    """Arguments built from hostile pieces, command-specific words and junk text."""
    word = st.sampled_from(pieces) | _PIECES | _JUNK
    return _JUNK | st.lists(word, max_size=6).map(" ".join)


_TIMES = ("07:30", "7:30", "25:99", "23:59", "24:00", "00:00", "-1:00", "07:60", "７:３０",
          "99999999999:00", "7", "07.30", "7h", "12:00 PM", "23:00-07:00", "23:00 - 07:00",
          "23:00-", "-07:00", "--", "22:00-22:00", "07:00—23:00")  # fmt: skip
_ZONES = ("Europe/Kyiv", "Europe/Kiev", "UTC", "utc", "Etc/GMT+14", "Etc/GMT-15", "UTC+3",
          "+03:00", "../../etc/passwd", "/etc/localtime", "localtime", "posixrules",
          "Europe/" + "A" * 300, "Europe/Kyiv\x00", "Europe\\Kyiv", "Київ", "Kyiv", "..", ".",
          "zoneinfo/Europe/Kyiv", "right/UTC", "Europe/Kyiv/..", "*", "Europe/*")  # fmt: skip
# No URL here needs DNS (the resolver is the system's, and nothing may leave the machine):
# literals, names refused by name (*.localhost), malformed ones, or the served test host.
_URLS = ("http://127.0.0.1/feed", "https://feeds.test/rss.xml", "ftp://x/", "http://", "http:",
         "https://[::1", "http://[::1]:99999/", "http://127.0.0.1:-1/", "file:///etc/passwd",
         "javascript:alert(1)", "http://%00.localhost/", "http://a b.localhost/",
         "HTTP://10.0.0.1", "http://" + "a" * 300 + ".localhost/", "//127.0.0.1/")  # fmt: skip

ARGUMENTS: dict[str, st.SearchStrategy[str]] = {
    "add": _words(*vocabulary.ALL_WORDS, "Kyiv", "Київ", "Kiyv", "Харківщина", "oblast"),
    "test": _words(*vocabulary.ALL_WORDS, "Kyiv", "Київ", "Kiyv", "Харківщина", "oblast"),
    "digest": _words(*_TIMES),
    "quiet": _words(*_TIMES),
    "timezone": _words(*_ZONES),
    "language": _words("uk", "en", "ru", "EN", "Українська", "english", "xx" * 50),
    "addsource": _words(*_URLS),
    "removesource": _words(*_URLS, "1", "0", "-5", "²", "١", "9" * 40, "00001"),
    "start": _words("setup", "UA80", "ref_123", "a" * 64),
    "rules": _words("delete", "1", "all"),
    "status": _JUNK,
    "sources": _JUNK,
    "stop": _JUNK,
    "forget": _words("yes", "confirm", "всі"),
    "help": _words("add", "rules"),
    "stats": _JUNK,
}
# Inputs that found bugs (or are near them), always tried from every chat besides the examples.
EXPLICIT: dict[str, list[str]] = {
    "removesource": ["9" * 40, "2147483648", "²", "١٢", "-1", "0"],
    "addsource": ["http://[::1/", "http://[10.0.0.1", "https://[::1"],
    "rules": ["9" * 40],
    "digest": ["99999999999:00", "７:３０"],
    "quiet": ["23:00-07:00 " * 50],
    "timezone": ["../../etc/passwd", "Europe/Kyiv\x00", "/etc/localtime", "Europe/" + "A" * 300],
}
_NAMES = st.text(
    st.characters(codec="ascii", categories=["Ll", "Lu", "Nd"]) | st.just("_"),
    min_size=1,
    max_size=40,
).filter(lambda name: name.lower() not in ARGUMENTS)
UNKNOWN = st.tuples(_NAMES, _JUNK).map(lambda pair: f"/{pair[0]} {pair[1]}".rstrip())

_CALLBACK_PREFIXES = ("rule:", "rules:", "setup:", "lang:", "forget:", "rule:pause:",
                      "rule:resume:", "rules:delete:", "rules:page:", "setup:place:",
                      "setup:watch:", "setup:deliver:", "setup:places_done", "lang:xx:",
                      "forget:yes:")  # fmt: skip


def _fits(data: str) -> bool:
    return 1 <= len(data.encode()) <= 64


CALLBACKS = (
    st.sampled_from(
        ["rule:pause:abc", "rules:delete:999999:0", "setup:place:../../", "rule:pause:-1",
         "rule:pause:99999999999999999999999", "rules:delete:1:-1", "rules:delete::",
         "setup:place:UA", "setup:place:" + "9" * 40, "lang:zz", "forget:yes", "forget:no",
         "setup:watch:nuclear", "setup:deliver:never", "rule:resume:0", "x" * 64, "::::",
         "rule:pause:²", "rules:delete:١:0"]
    )
    | st.tuples(st.sampled_from(_CALLBACK_PREFIXES), st.text(max_size=40)).map("".join)
    | st.text(min_size=1, max_size=64)
).filter(_fits)  # fmt: skip


class Driver:
    """Runs one example at a time in the bot's loop and checks what came of it."""

    def __init__(self, bot: Harness, errors: ErrorRecords, loop: asyncio.AbstractEventLoop):
        self.bot, self.api, self.errors, self.loop = bot, bot.api, errors, loop
        self.handled_count = 0

    def run(self, make: Callable[[], Coroutine[Any, Any, T]]) -> T:
        return asyncio.run_coroutine_threadsafe(make(), self.loop).result(timeout=60)

    async def handled(self) -> None:
        """Wait until every update injected so far was handled (PTB handles them in order)."""
        before = len(self.api.messages_to(SENTINEL))
        self.api.send_text(SENTINEL, "/help")
        await self.api.wait_for_messages(SENTINEL, before + 1, timeout=20)
        self.handled_count += 1

    async def command(self, chat: int, text: str) -> None:
        user = GROUP_MEMBER if chat == GROUP else None
        seen = len(self.errors.records)
        before = len(self.api.messages_to(chat))
        self.api.send_text(chat, text, user_id=user)
        if chat == ADMIN and text.lower().startswith(("/addsource ", "/addsource@")):
            # Not blocking the other updates: wait for its own answer.
            await self.api.wait_for_messages(chat, before + 1, timeout=20)
        await self.handled()
        self.check(chat, before, seen, text)

    async def press(self, chat: int, data: str) -> None:
        seen = len(self.errors.records)
        before = len(self.api.messages_to(chat))
        target = self.api.messages_to(chat)[-1]
        self.api.press_button(chat, target.message_id, data, strict=False)
        await self.handled()
        self.check(chat, before, seen, f"button {data!r}")

    def check(self, chat: int, before: int, seen: int, what: str) -> None:
        new = self.errors.texts()[seen:]
        assert new == [], (what, new)
        for message in self.api.messages_to(chat)[before:]:
            assert APOLOGY not in message.plain_text, (what, message.plain_text)
            assert 0 < len(message.plain_text) <= 4096, what


async def _with_driver(
    fake_telegram: FakeTelegramAPI, tmp_path: Path, body: Callable[[Driver], None], *, least: int
) -> None:
    """Run `body` against a fresh bot; at least `least` updates must have been tried."""
    served = frozenset({TEST_FEED_HOST})  # served by the recording transport, never resolved
    async with hostile_bot(fake_telegram, tmp_path, allowed_hosts=served) as (bot, _network):
        fake_telegram.add_member(GROUP, title="Fuzz group")
        for chat in (USER, ADMIN, SENTINEL):
            await bot.say(chat, "/help")
        await bot.settle()
        # PTB logs a failing getUpdates at ERROR too; only our handlers' errors matter here.
        logging.getLogger("telegram.ext.Updater").setLevel(logging.CRITICAL)
        with error_records() as errors:
            driver = Driver(bot, errors, asyncio.get_running_loop())
            await asyncio.to_thread(body, driver)
            await check_consistency(bot)
        assert errors.texts() == []
        assert driver.handled_count >= least, driver.handled_count


_CHATS = st.sampled_from([USER, ADMIN, GROUP])
_FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


def _fuzz_command(driver: Driver, name: str) -> None:
    @_FUZZ
    @given(chat=_CHATS, args=ARGUMENTS[name], mention=st.booleans())
    def one(chat: int, args: str, mention: bool) -> None:
        command = f"/{name}@winter_alerts_test_bot" if mention else f"/{name}"
        driver.run(partial(driver.command, chat, f"{command} {args}".rstrip()))

    one()
    for args in EXPLICIT.get(name, []):
        for chat in (USER, ADMIN, GROUP):
            driver.run(partial(driver.command, chat, f"/{name} {args}"))


def _fuzz_commands(driver: Driver, names: list[str]) -> None:
    for name in names:
        _fuzz_command(driver, name)
        driver.run(partial(check_consistency, driver.bot))


async def test_rule_commands_with_fuzzed_arguments(
    fake_telegram: FakeTelegramAPI, tmp_path: Path
) -> None:
    names = ["add", "test", "rules", "start", "help"]
    await _with_driver(
        fake_telegram, tmp_path, lambda d: _fuzz_commands(d, names), least=EXAMPLES * len(names)
    )


async def test_settings_commands_with_fuzzed_arguments(
    fake_telegram: FakeTelegramAPI, tmp_path: Path
) -> None:
    names = ["digest", "quiet", "timezone", "language", "status", "sources", "stop", "forget"]
    await _with_driver(
        fake_telegram, tmp_path, lambda d: _fuzz_commands(d, names), least=EXAMPLES * len(names)
    )


async def test_admin_and_unknown_commands_and_forged_buttons(
    fake_telegram: FakeTelegramAPI, tmp_path: Path
) -> None:
    def body(driver: Driver) -> None:
        _fuzz_commands(driver, ["addsource", "removesource", "stats"])

        @_FUZZ
        @given(chat=_CHATS, text=UNKNOWN)
        def unknown(chat: int, text: str) -> None:
            driver.run(partial(driver.command, chat, text))

        @settings(_FUZZ, max_examples=EXAMPLES * 3)
        @given(chat=st.sampled_from([USER, ADMIN]), data=CALLBACKS)
        def button(chat: int, data: str) -> None:
            driver.run(partial(driver.press, chat, data))

        unknown()
        for data in ("rule:pause:99999999999999999999999", "rules:delete:2147483648:0",
                     "rules:pause:9" + "9" * 30 + ":0", "rule:resume:²", "rule:pause:-1",
                     "rules:test:99999999999999999999999"):  # fmt: skip
            for chat in (USER, ADMIN):
                driver.run(partial(driver.press, chat, data))
        button()
        driver.run(partial(check_consistency, driver.bot))

    await _with_driver(fake_telegram, tmp_path, body, least=EXAMPLES * 7)
