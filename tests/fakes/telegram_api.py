"""An in-process fake of the Telegram Bot API: a real HTTP server on 127.0.0.1 for tests and
benchmarks, with helpers to inject user updates, inspect what the bot sent and inject faults.

Use it from the event loop that runs the bot (one loop, no threads)::

    async with FakeTelegramAPI() as api:
        app = api.application_builder().build()   # or base_url=f"{api.url}/bot"
        ...
        api.send_text(42, "/start")
        [reply] = await api.wait_for_messages(42, 1)

Error answers have the real Bot API shape, so PTB turns them into ``RetryAfter``,
``Forbidden``, ``BadRequest``, ``ChatMigrated``, ``InvalidToken`` or ``NetworkError``.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.parser
import email.policy
import json
import math
import random
import re
import socket
import time
from collections import deque
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import TYPE_CHECKING, Any, TypeVar
from urllib.parse import parse_qsl

import httpx
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

if TYPE_CHECKING:
    from telegram.ext import ApplicationBuilder

JSON = dict[str, Any]
T = TypeVar("T")

DEFAULT_TOKEN = "123456789:AAFakeTokenForTests_abcdefghijklmnopq"
MAX_TEXT_LENGTH = 4096
MAX_CALLBACK_DATA_BYTES = 64

# Methods whose successful calls land in ``FakeTelegramAPI.sent`` (they act on a chat).
CHAT_METHODS = frozenset(
    {
        "sendMessage",
        "editMessageText",
        "editMessageReplyMarkup",
        "deleteMessage",
        "sendChatAction",
        "answerCallbackQuery",
    }
)
_CHAT_ACTIONS = frozenset(
    {
        "typing",
        "upload_photo",
        "record_video",
        "upload_video",
        "record_voice",
        "upload_voice",
        "upload_document",
        "choose_sticker",
        "find_location",
        "record_video_note",
        "upload_video_note",
    }
)
_SCOPE_TYPES = frozenset(
    {
        "default",
        "all_private_chats",
        "all_group_chats",
        "all_chat_administrators",
        "chat",
        "chat_administrators",
        "chat_member",
    }
)
# Parameters that are plain strings on the wire; every other form value is JSON-encoded by
# PTB (numbers, booleans, objects), see telegram/request/_requestparameter.py.
_STRING_PARAMS = frozenset(
    {
        "text",
        "parse_mode",
        "callback_query_id",
        "url",
        "action",
        "language_code",
        "secret_token",
        "inline_message_id",
        "ip_address",
        "business_connection_id",
        "message_effect_id",
    }
)
_COMMAND_RE = re.compile(r"^/[A-Za-z0-9_]{1,32}(@[A-Za-z0-9_]+)?")
_LOOPBACK_URL_RE = re.compile(r"^http://(127\.0\.0\.1|localhost|\[::1\])(:\d+)?(/|$)")
_BOT_COMMAND_RE = re.compile(r"^[a-z0-9_]{1,32}$")


class ApiError(Exception):
    """A Bot API error answer: ``{"ok": false, "error_code": .., "description": ..}``."""

    def __init__(
        self, error_code: int, description: str, parameters: Mapping[str, Any] | None = None
    ) -> None:
        super().__init__(f"{error_code} {description}")
        self.error_code = error_code
        self.description = description
        self.parameters = dict(parameters) if parameters else None

    def to_json(self) -> JSON:
        body: JSON = {"ok": False, "error_code": self.error_code, "description": self.description}
        if self.parameters:
            body["parameters"] = self.parameters
        return body


def _bad_request(message: str) -> ApiError:
    return ApiError(400, f"Bad Request: {message}")


def _retry_after_error(seconds: int) -> ApiError:
    return ApiError(429, f"Too Many Requests: retry after {seconds}", {"retry_after": seconds})


def _migrated_error(new_chat_id: int) -> ApiError:
    return ApiError(
        400,
        "Bad Request: group chat was upgraded to a supergroup chat",
        {"migrate_to_chat_id": new_chat_id},
    )


# ---------------------------------------------------------------------------------------------
# Faults and rate limits
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Fault:
    """What to do to a matching call: wait ``delay`` seconds, then answer the error (if any)."""

    error_code: int | None = None
    description: str = ""
    parameters: Mapping[str, Any] | None = None
    delay: float = 0.0

    @classmethod
    def retry_after(cls, seconds: int = 1) -> Fault:
        error = _retry_after_error(seconds)
        return cls(error.error_code, error.description, error.parameters)

    @classmethod
    def blocked(cls) -> Fault:
        return cls(403, "Forbidden: bot was blocked by the user")

    @classmethod
    def kicked(cls) -> Fault:
        return cls(403, "Forbidden: bot was kicked from the group chat")

    @classmethod
    def bad_request(cls, message: str) -> Fault:
        return cls(400, f"Bad Request: {message}")

    @classmethod
    def not_modified(cls) -> Fault:
        return cls.bad_request("message is not modified")

    @classmethod
    def chat_not_found(cls) -> Fault:
        return cls.bad_request("chat not found")

    @classmethod
    def migrated(cls, new_chat_id: int) -> Fault:
        error = _migrated_error(new_chat_id)
        return cls(error.error_code, error.description, error.parameters)

    @classmethod
    def server_error(cls, code: int = 500, description: str = "Internal Server Error") -> Fault:
        return cls(code, description)

    @classmethod
    def slow(cls, seconds: float) -> Fault:
        return cls(delay=seconds)

    def error(self) -> ApiError | None:
        if self.error_code is None:
            return None
        return ApiError(self.error_code, self.description, self.parameters)


@dataclass(slots=True)
class FaultRule:
    """An installed fault: which calls it hits and how often. ``hits`` counts applications."""

    fault: Fault
    method: str | None = None
    chat_id: int | str | None = None
    remaining: int | None = None
    probability: float | None = None
    hits: int = 0

    @property
    def active(self) -> bool:
        return self.remaining is None or self.remaining > 0

    def matches(self, method: str, chat_id: int | str | None) -> bool:
        if not self.active:
            return False
        if self.method is not None and self.method.lower() != method.lower():
            return False
        return self.chat_id is None or self.chat_id == chat_id


@dataclass(frozen=True, slots=True)
class Rate:
    """At most ``count`` accepted calls in any window of ``per_seconds``."""

    count: int
    per_seconds: float


@dataclass(frozen=True, slots=True)
class RateLimits:
    """Telegram's published broadcast limits; calls over them are answered with 429."""

    global_rate: Rate = Rate(30, 1.0)
    private_chat_rate: Rate = Rate(1, 1.0)
    group_chat_rate: Rate = Rate(20, 60.0)
    methods: frozenset[str] = frozenset(
        {"sendMessage", "editMessageText", "editMessageReplyMarkup"}
    )


class _SlidingWindow:
    """Timestamps of accepted calls inside the last ``rate.per_seconds``."""

    __slots__ = ("rate", "stamps")

    def __init__(self, rate: Rate) -> None:
        self.rate = rate
        self.stamps: deque[float] = deque()

    def retry_after(self, now: float) -> int | None:
        """Seconds to wait if one more call now would break the rate, else None."""
        while self.stamps and self.stamps[0] <= now - self.rate.per_seconds:
            self.stamps.popleft()
        if len(self.stamps) < self.rate.count:
            return None
        return max(1, math.ceil(self.stamps[0] + self.rate.per_seconds - now))


# ---------------------------------------------------------------------------------------------
# Records handed to tests
# ---------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ApiCall:
    """One request the bot made. ``status`` is the HTTP status answered (200 when ok)."""

    method: str
    params: Mapping[str, Any]
    chat_id: int | str | None
    text: str | None
    parse_mode: str | None
    reply_markup: Mapping[str, Any] | None
    reply_to: int | None
    message_id: int | None
    time: float
    status: int = 200
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == 200


@dataclass(frozen=True, slots=True)
class BotMessage:
    """A message the bot sent, as it stands now (after edits).

    ``text`` is what the bot sent (with its HTML markup); ``plain_text`` is what the user sees.
    """

    chat_id: int
    message_id: int
    text: str
    plain_text: str
    parse_mode: str | None
    entities: tuple[Mapping[str, Any], ...]
    reply_markup: Mapping[str, Any] | None
    reply_to: int | None
    edits: int
    sent_at: float

    @property
    def buttons(self) -> list[tuple[str, str | None]]:
        """``(text, callback_data)`` of every inline button, row by row."""
        if not self.reply_markup:
            return []
        rows = self.reply_markup.get("inline_keyboard") or []
        return [(b.get("text", ""), b.get("callback_data")) for row in rows for b in row]


@dataclass(frozen=True, slots=True)
class CallbackAnswer:
    callback_query_id: str
    text: str | None
    show_alert: bool
    url: str | None


@dataclass(slots=True)
class _Chat:
    id: int
    type: str
    title: str | None = None
    username: str | None = None
    first_name: str | None = None
    next_message_id: int = 1
    blocked: str | None = None  # the 403 description while the bot may not write here
    migrated_to: int | None = None
    # Group administrators: user id -> "creator" or "administrator" (getChatMember).
    admins: dict[int, str] = field(default_factory=dict)

    def to_json(self) -> JSON:
        chat: JSON = {"id": self.id, "type": self.type}
        if self.type == "private":
            chat["first_name"] = self.first_name or f"User{self.id}"
            if self.username:
                chat["username"] = self.username
        else:
            chat["title"] = self.title or f"Group {self.id}"
            if self.username:
                chat["username"] = self.username
        return chat


@dataclass(slots=True)
class _Message:
    chat_id: int
    message_id: int
    date: int
    from_bot: bool
    sender: JSON
    raw_text: str | None = None
    text: str | None = None
    entities: list[JSON] = field(default_factory=list)
    parse_mode: str | None = None
    reply_markup: JSON | None = None
    reply_to: int | None = None
    location: JSON | None = None
    extra: JSON = field(default_factory=dict)
    edit_date: int | None = None
    edits: int = 0
    deleted: bool = False
    sent_at: float = 0.0


# ---------------------------------------------------------------------------------------------
# Telegram's HTML parse mode: validation, plain text and entities
# ---------------------------------------------------------------------------------------------

_HTML_ENTITY_TYPES = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "tg-spoiler": "spoiler",
    "span": "spoiler",
    "a": "text_link",
    "code": "code",
    "pre": "pre",
    "blockquote": "blockquote",
    "tg-emoji": "custom_emoji",
}
_HTML_ESCAPES = {"lt": "<", "gt": ">", "amp": "&", "quot": '"'}
_HTML_ENTITY_RE = re.compile(r"&(lt|gt|amp|quot|#[0-9]{1,7}|#[xX][0-9a-fA-F]{1,6});")
_HTML_TAG_NAME_RE = re.compile(r"[A-Za-z][A-Za-z0-9-]*")
_HTML_ATTR_RE = re.compile(
    r"""([A-Za-z][A-Za-z0-9_-]*)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'>]+)))?"""
)


def _utf16_len(text: str) -> int:
    return len(text.encode("utf-16-le")) // 2


def _unescape(value: str) -> str:
    return _HTML_ENTITY_RE.sub(lambda m: _decode_entity(m.group(1)), value)


def _decode_entity(name: str) -> str:
    if name in _HTML_ESCAPES:
        return _HTML_ESCAPES[name]
    code = int(name[2:], 16) if name[1:2] in ("x", "X") else int(name[1:])
    return chr(code) if 0 < code <= 0x10FFFF else ""


def parse_html(text: str) -> tuple[str, list[JSON]]:
    """Telegram's HTML parse mode: the plain text and its entities (UTF-16 offsets).

    Raises ``ApiError`` with Telegram's "can't parse entities" message on bad markup, such as
    an unescaped ``<`` from a news headline or an unsupported tag like ``<br>``.
    """
    out: list[str] = []
    pos16 = 0  # UTF-16 length of the plain text so far
    stack: list[tuple[str, int, dict[str, str]]] = []
    entities: list[JSON] = []
    i = 0
    n = len(text)

    def fail(message: str) -> ApiError:
        return _bad_request(f"can't parse entities: {message}")

    while i < n:
        ch = text[i]
        if ch == "<":
            offset = len(text[:i].encode())
            if text.startswith("/", i + 1):
                start_name = None
            else:
                match = _HTML_TAG_NAME_RE.match(text, i + 1)
                start_name = match.group(0).lower() if match else ""
                if start_name not in _HTML_ENTITY_TYPES:
                    raise fail(f'Unsupported start tag "{start_name}" at byte offset {offset}')
            end = text.find(">", i)
            if end == -1:
                kind = "end" if start_name is None else "start"
                raise fail(f"Unclosed {kind} tag at byte offset {offset}")
            inner = text[i + 1 : end]
            if inner.startswith("/"):
                name = inner[1:].strip().lower()
                if not stack:
                    raise fail(f'Unexpected end tag "{name}" at byte offset {offset}')
                open_name, start16, attrs = stack.pop()
                if name != open_name:
                    raise fail(
                        f'Unmatched end tag at byte offset {offset}, expected "</{open_name}>", '
                        f'found "</{name}>"'
                    )
                entity = _html_entity(open_name, attrs, start16, pos16 - start16, stack, entities)
                if entity is not None:
                    entities.append(entity)
            else:
                name = start_name or ""
                attrs = {
                    m.group(1).lower(): _unescape(m.group(2) or m.group(3) or m.group(4) or "")
                    for m in _HTML_ATTR_RE.finditer(inner, len(name))
                }
                if name == "span" and attrs.get("class") != "tg-spoiler":
                    raise fail(f'Tag "span" must have class "tg-spoiler" at byte offset {offset}')
                stack.append((name, pos16, attrs))
            i = end + 1
            continue
        if ch == "&":
            match = _HTML_ENTITY_RE.match(text, i)
            if match:
                piece = _decode_entity(match.group(1))
                out.append(piece)
                pos16 += _utf16_len(piece)
                i = match.end()
                continue
        # Plain run up to the next tag or entity.
        j = i + 1
        while j < n and text[j] not in "<&":
            j += 1
        piece = text[i:j]
        out.append(piece)
        pos16 += _utf16_len(piece)
        i = j
    if stack:
        raise fail(f'Can\'t find end tag corresponding to start tag "{stack[-1][0]}"')
    entities.sort(key=lambda e: (e["offset"], -e["length"]))
    return "".join(out), entities


def _html_entity(
    name: str,
    attrs: dict[str, str],
    offset: int,
    length: int,
    stack: list[tuple[str, int, dict[str, str]]],
    done: list[JSON],
) -> JSON | None:
    if length <= 0:
        return None
    kind = _HTML_ENTITY_TYPES[name]
    entity: JSON = {"type": kind, "offset": offset, "length": length}
    if kind == "code" and stack and stack[-1][0] == "pre":
        # <pre><code class="language-x"> is one pre entity with a language.
        language = attrs.get("class", "")
        if language.startswith("language-"):
            stack[-1][2]["language"] = language.removeprefix("language-")
        return None
    if kind == "pre" and attrs.get("language"):
        entity["language"] = attrs["language"]
    if kind == "text_link":
        if not attrs.get("href"):
            return None
        entity["url"] = attrs["href"]
    if kind == "custom_emoji":
        entity["custom_emoji_id"] = attrs.get("emoji-id", "")
    if kind == "blockquote" and "expandable" in attrs:
        entity["type"] = "expandable_blockquote"
    return entity


# ---------------------------------------------------------------------------------------------
# Request parameters
# ---------------------------------------------------------------------------------------------


class _Params:
    """Typed access to a request's parameters, with Telegram's error messages."""

    def __init__(self, raw: Mapping[str, Any]) -> None:
        self.raw = dict(raw)

    def get(self, name: str) -> Any:
        return self.raw.get(name)

    def integer(
        self, name: str, *, default: int | None = None, required: bool = False
    ) -> int | None:
        value = self.raw.get(name)
        if value is None or value == "":
            if required:
                raise _bad_request(f"{name} is empty")
            return default
        if isinstance(value, bool):
            raise _bad_request(f"invalid {name} specified")
        try:
            return int(value)
        except (TypeError, ValueError):
            raise _bad_request(f"invalid {name} specified") from None

    def string(self, name: str) -> str | None:
        value = self.raw.get(name)
        if value is None:
            return None
        return value if isinstance(value, str) else json.dumps(value)

    def boolean(self, name: str) -> bool:
        value = self.raw.get(name)
        if isinstance(value, str):
            return value.lower() in ("true", "1")
        return bool(value)

    def json_value(self, name: str) -> Any:
        value = self.raw.get(name)
        if isinstance(value, str):
            try:
                return json.loads(value)
            except ValueError:
                raise _bad_request(f"can't parse {name} JSON object") from None
        return value


def _decode_form_value(name: str, value: str) -> Any:
    if name in _STRING_PARAMS:
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value  # e.g. chat_id="@channelname"


async def _read_params(request: Request) -> dict[str, Any]:
    params: dict[str, Any] = {
        k: _decode_form_value(k, v) for k, v in request.query_params.multi_items()
    }
    body = await request.body()
    if not body:
        return params
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("application/json"):
        try:
            decoded = json.loads(body)
        except ValueError:
            raise _bad_request("can't parse JSON encoded request body") from None
        if not isinstance(decoded, dict):
            raise _bad_request("JSON object expected as request body")
        params.update(decoded)
    elif content_type.startswith("multipart/form-data"):
        message = email.parser.BytesParser(policy=email.policy.default).parsebytes(
            b"Content-Type: " + content_type.encode() + b"\r\n\r\n" + body
        )
        for part in message.iter_parts():
            name = part.get_param("name", header="content-disposition")
            payload = part.get_payload(decode=True)
            if isinstance(name, str) and isinstance(payload, bytes) and not part.get_filename():
                params[name] = _decode_form_value(name, payload.decode("utf-8", "replace"))
    else:
        form = parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True)
        params.update({k: _decode_form_value(k, v) for k, v in form})
    return params


def _status_phrase(code: int) -> str:
    try:
        return HTTPStatus(code).phrase
    except ValueError:
        return "Unknown"


def _reply_to_of(params: Mapping[str, Any]) -> int | None:
    reply = params.get("reply_parameters")
    if isinstance(reply, str):
        with contextlib.suppress(ValueError):
            reply = json.loads(reply)
    if isinstance(reply, dict) and reply.get("message_id") is not None:
        with contextlib.suppress(TypeError, ValueError):
            return int(reply["message_id"])
    value = params.get("reply_to_message_id")
    with contextlib.suppress(TypeError, ValueError):
        return int(value) if value is not None else None
    return None


class _QuietServer(uvicorn.Server):
    """uvicorn tuned for tests: no SIGINT/SIGTERM handlers (the test runner or script owns
    signals) and a stop that takes milliseconds instead of uvicorn's 0.1 s polling sleeps."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.exit_requested = asyncio.Event()

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield

    async def main_loop(self) -> None:
        counter = 0
        while not await self.on_tick(counter):  # on_tick refreshes the Date header
            counter = (counter + 1) % 864000
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.exit_requested.wait(), 0.1)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        for server in self.servers:
            server.close()
        for sock in sockets or []:
            sock.close()
        for connection in list(self.server_state.connections):
            connection.shutdown()  # idle keep-alive connections close now, busy ones after
        deadline = time.monotonic() + (self.config.timeout_graceful_shutdown or 5)
        while self.server_state.connections and not self.force_exit:
            if time.monotonic() > deadline:
                for task in self.server_state.tasks:
                    task.cancel()
                break
            await asyncio.sleep(0.005)
        for server in self.servers:
            await server.wait_closed()


# ---------------------------------------------------------------------------------------------
# The fake server
# ---------------------------------------------------------------------------------------------

Handler = Callable[["_Params"], Awaitable[Any]]


class FakeTelegramAPI:
    """A fake Bot API server with a test-facing API. All methods run in the server's loop."""

    def __init__(
        self,
        *,
        token: str = DEFAULT_TOKEN,
        bot_username: str = "winter_alerts_test_bot",
        bot_first_name: str = "Winter Alerts (test)",
        seed: int = 0,
        rate_limits: RateLimits | None = None,
        auto_create_chats: bool = True,
        clock: Callable[[], float] = time.monotonic,
        host: str = "127.0.0.1",
        deliver_webhooks: bool = True,
        webhook_retry_delay: float = 0.2,
    ) -> None:
        self.token = token
        self.bot_id = int(token.split(":", 1)[0]) if token.split(":", 1)[0].isdigit() else 1
        self.bot_user: JSON = {
            "id": self.bot_id,
            "is_bot": True,
            "first_name": bot_first_name,
            "username": bot_username,
        }
        self.rate_limits = rate_limits
        self.auto_create_chats = auto_create_chats
        self.clock = clock
        self.host = host
        self.rng = random.Random(seed)

        self.calls: list[ApiCall] = []
        self.sent: list[ApiCall] = []
        self.answers: dict[str, CallbackAnswer] = {}
        self.faults: list[FaultRule] = []
        self.webhook: JSON | None = None
        self.deliver_webhooks = deliver_webhooks
        self.webhook_retry_delay = webhook_retry_delay
        self.webhook_deliveries: list[JSON] = []  # updates the webhook accepted, in order
        self.internal_errors: list[Exception] = []  # exceptions the fake itself raised

        self._chats: dict[int, _Chat] = {}
        self._users: dict[int, JSON] = {}
        self._messages: dict[tuple[int, int], _Message] = {}
        self._bot_messages: dict[int, list[int]] = {}
        self._commands: dict[tuple[str, str], list[JSON]] = {}
        self._callback_queries: dict[str, tuple[int, int]] = {}
        self._updates: list[JSON] = []
        self._next_update_id = 100_000
        self._next_callback_id = 1
        self._poll_generation = 0
        self._windows: dict[int | None, _SlidingWindow] = {}
        self._webhook_task: asyncio.Task[None] | None = None
        self._webhook_error: tuple[int, str] | None = None
        self._gone: set[int] = set()  # forgotten chats: "chat not found" even when auto-creating

        self._changed = asyncio.Event()
        self._closing = asyncio.Event()
        self._server: _QuietServer | None = None
        self._serve_task: asyncio.Task[None] | None = None
        self._port: int | None = None

        self._handlers: dict[str, tuple[str, Handler]] = {}
        for name, handler in (
            ("getMe", self._get_me),
            ("getUpdates", self._get_updates),
            ("sendMessage", self._send_message),
            ("editMessageText", self._edit_message_text),
            ("editMessageReplyMarkup", self._edit_message_reply_markup),
            ("deleteMessage", self._delete_message),
            ("answerCallbackQuery", self._answer_callback_query),
            ("sendChatAction", self._send_chat_action),
            ("setMyCommands", self._set_my_commands),
            ("getMyCommands", self._get_my_commands),
            ("deleteMyCommands", self._delete_my_commands),
            ("setWebhook", self._set_webhook),
            ("deleteWebhook", self._delete_webhook),
            ("getWebhookInfo", self._get_webhook_info),
            ("getChat", self._get_chat),
            ("getChatMember", self._get_chat_member),
            ("getChatAdministrators", self._get_chat_administrators),
            ("close", self._true),
            ("logOut", self._true),
        ):
            self._handlers[name.lower()] = (name, handler)

    # -- lifecycle ---------------------------------------------------------------------------

    async def start(self) -> None:
        """Bind an ephemeral port and serve in the running loop until ``stop()``."""
        if self._serve_task is not None:
            raise RuntimeError("FakeTelegramAPI is already started")
        # IPPROTO_TCP explicitly: asyncio only sets TCP_NODELAY on sockets created with it, and
        # without it every response waits ~40 ms for the client's delayed ACK.
        sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, 0))
        self._port = sock.getsockname()[1]
        app = Starlette(
            routes=[
                Route("/bot{token}/{method}", self._endpoint, methods=["GET", "POST"]),
                Route("/file/bot{token}/{path:path}", self._file_endpoint, methods=["GET"]),
            ]
        )
        config = uvicorn.Config(
            app,
            lifespan="off",
            log_config=None,
            log_level="warning",
            access_log=False,
            timeout_graceful_shutdown=2,
        )
        self._closing.clear()
        self._server = _QuietServer(config)
        self._serve_task = asyncio.create_task(self._server.serve(sockets=[sock]))
        while not self._server.started:
            if self._serve_task.done():
                sock.close()
                self._serve_task.result()  # raises the startup error
                raise RuntimeError("fake Telegram server exited during startup")
            await asyncio.sleep(0.005)

    async def stop(self) -> None:
        """Wake pending long polls and delayed calls, then shut the server down."""
        if self._serve_task is None or self._server is None:
            return
        self._closing.set()
        self._notify()
        if self._webhook_task is not None:
            self._webhook_task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._webhook_task
            self._webhook_task = None
        self._server.should_exit = True
        self._server.exit_requested.set()
        try:
            await asyncio.wait_for(asyncio.shield(self._serve_task), timeout=5)
        except TimeoutError:
            self._server.force_exit = True
            await self._serve_task
        finally:
            self._serve_task = None
            self._server = None

    async def __aenter__(self) -> FakeTelegramAPI:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    @property
    def port(self) -> int:
        if self._port is None:
            raise RuntimeError("FakeTelegramAPI is not started")
        return self._port

    @property
    def url(self) -> str:
        """The value for ``TELEGRAM_API_URL``: methods live at ``{url}/bot{token}/{method}``."""
        return f"http://{self.host}:{self.port}"

    @property
    def base_url(self) -> str:
        return f"{self.url}/bot"

    @property
    def base_file_url(self) -> str:
        return f"{self.url}/file/bot"

    def application_builder(self) -> ApplicationBuilder[Any, Any, Any, Any, Any, Any]:
        """A PTB ``ApplicationBuilder`` pointed at this server with the right token."""
        from telegram.ext import Application

        return (
            Application.builder()
            .token(self.token)
            .base_url(self.base_url)
            .base_file_url(self.base_file_url)
        )

    # -- injecting what users do ----------------------------------------------------------------

    def add_chat(
        self,
        chat_id: int,
        *,
        chat_type: str | None = None,
        title: str | None = None,
        username: str | None = None,
        first_name: str | None = None,
    ) -> None:
        """Make a chat known (e.g. when ``auto_create_chats=False``); updates its details."""
        chat = self._chat(chat_id, create=True, chat_type=chat_type)
        if chat_type is not None:
            chat.type = chat_type
        chat.title = title or chat.title
        chat.username = username or chat.username
        chat.first_name = first_name or chat.first_name

    def send_text(
        self,
        chat_id: int,
        text: str,
        *,
        user_id: int | None = None,
        language_code: str | None = "en",
        chat_type: str | None = None,
        username: str | None = None,
        first_name: str | None = None,
        title: str | None = None,
        reply_to: int | None = None,
    ) -> JSON:
        """A user writes ``text`` (a leading ``/command`` gets its bot_command entity).

        ``chat_type`` defaults to "private" for a positive id and "group" ("supergroup" for
        -100...) for a negative one; ``user_id`` defaults to the chat id in private chats.
        """
        extra: JSON = {"text": text}
        match = _COMMAND_RE.match(text)
        if match:
            extra["entities"] = [
                {"type": "bot_command", "offset": 0, "length": _utf16_len(match.group(0))}
            ]
        return self._user_message(
            chat_id,
            extra,
            user_id=user_id,
            language_code=language_code,
            chat_type=chat_type,
            username=username,
            first_name=first_name,
            title=title,
            reply_to=reply_to,
        )

    def send_location(
        self,
        chat_id: int,
        latitude: float,
        longitude: float,
        *,
        user_id: int | None = None,
        language_code: str | None = "en",
        chat_type: str | None = None,
        username: str | None = None,
    ) -> JSON:
        """A user shares a location."""
        return self._user_message(
            chat_id,
            {"location": {"latitude": latitude, "longitude": longitude}},
            user_id=user_id,
            language_code=language_code,
            chat_type=chat_type,
            username=username,
        )

    def press_button(
        self,
        chat_id: int,
        message_id: int,
        callback_data: str,
        *,
        user_id: int | None = None,
        language_code: str | None = "en",
        strict: bool = True,
    ) -> str:
        """A user presses an inline button on a bot message; returns the callback query id.

        With ``strict`` the message must show a button with that callback_data (a user can
        only press what is on screen), which catches tests that press stale buttons.
        """
        message = self._messages.get((chat_id, message_id))
        if message is None or message.deleted or not message.from_bot:
            raise ValueError(f"no bot message {message_id} in chat {chat_id}")
        if strict:
            snapshot = self._snapshot(message)
            if callback_data not in [data for _, data in snapshot.buttons]:
                raise ValueError(
                    f"message {message_id} has no button {callback_data!r}: {snapshot.buttons}"
                )
        chat = self._chat(chat_id, create=False)
        user = self._user(user_id if user_id is not None else self._default_user(chat), chat)
        if language_code:
            user["language_code"] = language_code
        query_id = str(self._next_callback_id)
        self._next_callback_id += 1
        self._callback_queries[query_id] = (chat_id, message_id)
        self._push_update(
            {
                "callback_query": {
                    "id": query_id,
                    "from": dict(user),
                    "message": self._message_json(message),
                    "chat_instance": str(abs(chat_id) * 7 + 3),
                    "data": callback_data,
                }
            }
        )
        return query_id

    def add_member(
        self,
        chat_id: int,
        *,
        chat_type: str | None = None,
        user_id: int | None = None,
        title: str | None = None,
    ) -> JSON:
        """The bot is added to a group, or a private user unblocks it (my_chat_member)."""
        chat = self._chat(chat_id, create=True, chat_type=chat_type)
        if title:
            chat.title = title
        old = "kicked" if chat.blocked else "left"
        chat.blocked = None
        return self._member_update(chat, user_id, old, "member")

    def kick(self, chat_id: int, *, user_id: int | None = None) -> JSON:
        """The user blocks the bot (private) or the bot is removed from a group."""
        chat = self._chat(chat_id, create=True)
        chat.blocked = self._blocked_description(chat)
        return self._member_update(chat, user_id, "member", "kicked")

    def block(self, chat_id: int, description: str | None = None) -> None:
        """From now on every call to this chat answers 403 (no update is sent)."""
        chat = self._chat(chat_id, create=True)
        chat.blocked = description or self._blocked_description(chat)

    def unblock(self, chat_id: int) -> None:
        self._chat(chat_id, create=True).blocked = None

    def migrate_chat(self, chat_id: int, new_chat_id: int) -> None:
        """A group becomes a supergroup: calls to the old id answer 400 migrate_to_chat_id."""
        old = self._chat(chat_id, create=True, chat_type="group")
        old.migrated_to = new_chat_id
        new = self._chat(new_chat_id, create=True, chat_type="supergroup")
        new.title = old.title
        self._user_message(
            chat_id, {"migrate_to_chat_id": new_chat_id}, chat_type=old.type, user_id=None
        )

    def set_admin(
        self, chat_id: int, user_id: int, *, status: str | None = "administrator"
    ) -> None:
        """Make ``user_id`` an administrator ("administrator" or "creator") of a group, or an
        ordinary member again with ``status=None`` (what getChatMember reports)."""
        if status not in (None, "administrator", "creator"):
            raise ValueError(f"unknown admin status {status!r}")
        chat = self._chat(chat_id, create=True)
        if status is None:
            chat.admins.pop(user_id, None)
        else:
            chat.admins[user_id] = status

    def forget_chat(self, chat_id: int) -> None:
        """The chat disappears: calls to it answer 400 chat not found."""
        self._chats.pop(chat_id, None)
        self._gone.add(chat_id)

    # -- faults ---------------------------------------------------------------------------------

    def add_fault(
        self,
        fault: Fault,
        *,
        method: str | None = None,
        chat_id: int | str | None = None,
        times: int | None = None,
        probability: float | None = None,
    ) -> FaultRule:
        """Apply ``fault`` to matching calls: the next ``times`` ones (None: all), each with
        ``probability`` (seeded RNG). Rules are tried in the order they were added."""
        if times is not None and times < 0:
            raise ValueError("times must be >= 0")
        if probability is not None and not 0.0 <= probability <= 1.0:
            raise ValueError("probability must be within [0, 1]")
        rule = FaultRule(fault, method, chat_id, times, probability)
        self.faults.append(rule)
        return rule

    def remove_fault(self, rule: FaultRule) -> None:
        with contextlib.suppress(ValueError):
            self.faults.remove(rule)

    def clear_faults(self) -> None:
        self.faults.clear()

    # -- inspecting what the bot did ------------------------------------------------------------

    def messages_to(self, chat_id: int, *, include_deleted: bool = False) -> list[BotMessage]:
        """The bot's messages in a chat as they stand now, oldest first."""
        result = []
        for message_id in self._bot_messages.get(chat_id, []):
            message = self._messages[(chat_id, message_id)]
            if include_deleted or not message.deleted:
                result.append(self._snapshot(message))
        return result

    def last_message(self, chat_id: int) -> BotMessage | None:
        messages = self.messages_to(chat_id)
        return messages[-1] if messages else None

    def calls_to(self, method: str) -> list[ApiCall]:
        return [call for call in self.calls if call.method.lower() == method.lower()]

    def errors(self, status: int | None = None) -> list[ApiCall]:
        """Calls answered with an error (of one HTTP status, e.g. 429, if given)."""
        return [c for c in self.calls if not c.ok and (status is None or c.status == status)]

    def commands(
        self, *, scope: Mapping[str, Any] | None = None, language_code: str = ""
    ) -> list[JSON]:
        """The commands last set by setMyCommands for this scope and language."""
        return list(self._commands.get((self._scope_key(scope), language_code), []))

    @property
    def pending_updates(self) -> int:
        return len(self._updates)

    def peak_rate(self, window: float, *, chat_id: int | None = None) -> int:
        """Most successful rate-limited sends (see ``RateLimits.methods``) within any
        ``window`` seconds, for one chat or overall: what a benchmark compares to limits."""
        methods = (self.rate_limits or RateLimits()).methods
        stamps = [
            call.time
            for call in self.sent
            if call.method in methods and (chat_id is None or call.chat_id == chat_id)
        ]
        best = 0
        start = 0
        for end, stamp in enumerate(stamps):
            while stamp - stamps[start] >= window:
                start += 1
            best = max(best, end - start + 1)
        return best

    async def wait_for(
        self,
        predicate: Callable[[], T | None],
        timeout: float = 5.0,  # noqa: ASYNC109 - the scenario tests' API
        *,
        what: str = "condition",
    ) -> T:
        """Wait until ``predicate()`` is truthy (re-checked after every change); return it."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            changed = self._changed
            result = predicate()
            if result:
                return result
            remaining = deadline - loop.time()
            if remaining <= 0:
                recent = [(c.method, c.chat_id, c.status, c.text) for c in self.calls[-5:]]
                raise TimeoutError(
                    f"timed out after {timeout}s waiting for {what}; last calls: {recent}"
                )
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), remaining)

    async def wait_for_messages(
        self,
        chat_id: int,
        n: int = 1,
        timeout: float = 5.0,  # noqa: ASYNC109
    ) -> list[BotMessage]:
        """Wait until the bot has at least ``n`` messages in the chat; return them all."""

        def enough() -> list[BotMessage]:
            messages = self.messages_to(chat_id)
            return messages if len(messages) >= n else []

        return await self.wait_for(enough, timeout, what=f"{n} message(s) to chat {chat_id}")

    async def wait_for_updates_consumed(
        self,
        timeout: float = 5.0,  # noqa: ASYNC109
    ) -> None:
        """Wait until the bot has fetched and confirmed every injected update (it may still
        be handling the last one: wait for its visible effect when there is one)."""
        await self.wait_for(lambda: not self._updates, timeout, what="updates to be consumed")

    async def wait_for_answer(
        self,
        callback_query_id: str,
        timeout: float = 5.0,  # noqa: ASYNC109
    ) -> CallbackAnswer:
        return await self.wait_for(
            lambda: self.answers.get(callback_query_id),
            timeout,
            what=f"answer to callback query {callback_query_id}",
        )

    # -- HTTP layer -------------------------------------------------------------------------------

    async def _file_endpoint(self, request: Request) -> JSONResponse:
        return JSONResponse(ApiError(404, "Not Found").to_json(), status_code=404)

    async def _endpoint(self, request: Request) -> JSONResponse:
        if request.path_params["token"] != self.token:
            return JSONResponse(ApiError(401, "Unauthorized").to_json(), status_code=401)
        entry = self._handlers.get(request.path_params["method"].lower())
        if entry is None:
            return JSONResponse(ApiError(404, "Not Found").to_json(), status_code=404)
        name, handler = entry
        started = self.clock()
        params: dict[str, Any] = {}
        try:
            params = await _read_params(request)
            result = await self._dispatch(name, handler, _Params(params))
        except ApiError as error:
            self._record(name, params, started, None, status=error.error_code, error=error)
            return JSONResponse(error.to_json(), status_code=error.error_code)
        except Exception as exc:
            # A bug in the fake, or input it does not understand: answer like Telegram's 500
            # and keep the exception so the test can show it.
            self.internal_errors.append(exc)
            failure = ApiError(500, f"Internal Server Error: {exc!r}")
            self._record(name, params, started, None, status=500, error=failure)
            return JSONResponse(failure.to_json(), status_code=500)
        self._record(name, params, started, result)
        return JSONResponse({"ok": True, "result": result})

    async def _dispatch(self, name: str, handler: Handler, params: _Params) -> Any:
        chat_id = params.get("chat_id")
        if chat_id is None and name == "answerCallbackQuery":
            target = self._callback_queries.get(params.string("callback_query_id") or "")
            chat_id = target[0] if target else None
        rule = self._matching_fault(name, chat_id)
        if rule is not None:
            rule.hits += 1
            if rule.remaining is not None:
                rule.remaining -= 1
            if rule.fault.delay > 0:
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._closing.wait(), rule.fault.delay)
            error = rule.fault.error()
            if error is not None:
                raise error
        if chat_id is not None and name != "getChat":
            chat = self._resolve_chat(chat_id)
            if chat.migrated_to is not None:
                raise _migrated_error(chat.migrated_to)
            if chat.blocked:
                raise ApiError(403, chat.blocked)
            self._check_rate(name, chat)
        return await handler(params)

    def _matching_fault(self, method: str, chat_id: Any) -> FaultRule | None:
        if isinstance(chat_id, str) and chat_id.lstrip("-").isdigit():
            chat_id = int(chat_id)
        for rule in self.faults:
            if not rule.matches(method, chat_id):
                continue
            if rule.probability is not None and self.rng.random() >= rule.probability:
                continue
            return rule
        return None

    def _check_rate(self, method: str, chat: _Chat) -> None:
        limits = self.rate_limits
        if limits is None or method not in limits.methods:
            return
        now = self.clock()
        rate = limits.private_chat_rate if chat.type == "private" else limits.group_chat_rate
        chat_window = self._windows.get(chat.id)
        if chat_window is None or chat_window.rate != rate:
            chat_window = self._windows[chat.id] = _SlidingWindow(rate)
        global_window = self._windows.get(None)
        if global_window is None or global_window.rate != limits.global_rate:
            global_window = self._windows[None] = _SlidingWindow(limits.global_rate)
        waits = [w for w in (chat_window.retry_after(now), global_window.retry_after(now)) if w]
        if waits:
            raise _retry_after_error(max(waits))
        chat_window.stamps.append(now)
        global_window.stamps.append(now)

    def _record(
        self,
        method: str,
        params: Mapping[str, Any],
        started: float,
        result: Any,
        *,
        status: int = 200,
        error: ApiError | None = None,
    ) -> None:
        chat_id = params.get("chat_id")
        if isinstance(chat_id, str) and chat_id.lstrip("-").isdigit():
            chat_id = int(chat_id)
        message_id = params.get("message_id")
        if isinstance(result, dict) and "message_id" in result:
            message_id = result["message_id"]
            chat_id = result["chat"]["id"]
        if method == "answerCallbackQuery":
            target = self._callback_queries.get(str(params.get("callback_query_id")))
            if target:
                chat_id, message_id = target
        markup = params.get("reply_markup")
        if isinstance(markup, str):
            with contextlib.suppress(ValueError):
                markup = json.loads(markup)
        text = params.get("text")
        call = ApiCall(
            method=method,
            params=dict(params),
            chat_id=chat_id,
            text=text if isinstance(text, str) else None,
            parse_mode=params.get("parse_mode"),
            reply_markup=markup if isinstance(markup, dict) else None,
            reply_to=_reply_to_of(params),
            message_id=message_id if isinstance(message_id, int) else None,
            time=started if status != 200 else self.clock(),
            status=status,
            error=error.description if error else None,
        )
        self.calls.append(call)
        if status == 200 and method in CHAT_METHODS:
            self.sent.append(call)
        self._notify()

    # -- state helpers ----------------------------------------------------------------------------

    def _notify(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    def _chat(self, chat_id: int, *, create: bool, chat_type: str | None = None) -> _Chat:
        chat = self._chats.get(chat_id)
        if chat is None:
            if not create:
                raise _bad_request("chat not found")
            if chat_type is None:
                chat_type = (
                    "private"
                    if chat_id > 0
                    else ("supergroup" if str(chat_id).startswith("-100") else "group")
                )
            chat = self._chats[chat_id] = _Chat(chat_id, chat_type)
            self._gone.discard(chat_id)
        return chat

    def _resolve_chat(self, chat_id: Any) -> _Chat:
        if chat_id is None or chat_id == "":
            raise _bad_request("chat_id is empty")
        if isinstance(chat_id, str) and chat_id.startswith("@"):
            for chat in self._chats.values():
                if chat.username and chat.username.lower() == chat_id[1:].lower():
                    return chat
            raise _bad_request("chat not found")
        try:
            numeric = int(chat_id)
        except (TypeError, ValueError):
            raise _bad_request("chat not found") from None
        create = self.auto_create_chats and numeric not in self._gone
        return self._chat(numeric, create=create)

    def _blocked_description(self, chat: _Chat) -> str:
        if chat.type == "private":
            return "Forbidden: bot was blocked by the user"
        if chat.type == "channel":
            return "Forbidden: bot is not a member of the channel chat"
        return f"Forbidden: bot was kicked from the {chat.type} chat"

    def _default_user(self, chat: _Chat) -> int:
        return chat.id if chat.type == "private" else 1_000_001

    def _user(
        self,
        user_id: int,
        chat: _Chat,
        *,
        username: str | None = None,
        first_name: str | None = None,
    ) -> JSON:
        user = self._users.get(user_id)
        if user is None:
            user = self._users[user_id] = {
                "id": user_id,
                "is_bot": False,
                "first_name": first_name or chat.first_name or f"User{user_id}",
            }
        if username:
            user["username"] = username
        if first_name:
            user["first_name"] = first_name
        return user

    def _user_message(
        self,
        chat_id: int,
        content: JSON,
        *,
        user_id: int | None,
        language_code: str | None = None,
        chat_type: str | None = None,
        username: str | None = None,
        first_name: str | None = None,
        title: str | None = None,
        reply_to: int | None = None,
    ) -> JSON:
        chat = self._chat(chat_id, create=True, chat_type=chat_type)
        if chat.type == "private":
            chat.username = username or chat.username
            chat.first_name = first_name or chat.first_name
        elif title:
            chat.title = title
        user = self._user(
            user_id if user_id is not None else self._default_user(chat),
            chat,
            username=username,
            first_name=first_name,
        )
        if language_code:
            user["language_code"] = language_code
        message = _Message(
            chat_id=chat.id,
            message_id=self._next_message_id(chat),
            date=int(time.time()),
            from_bot=False,
            sender=dict(user),
            text=content.get("text"),
            raw_text=content.get("text"),
            entities=list(content.get("entities", [])),
            location=content.get("location"),
            reply_to=reply_to,
            extra={k: v for k, v in content.items() if k not in ("text", "entities", "location")},
        )
        self._messages[(chat.id, message.message_id)] = message
        return self._push_update({"message": self._message_json(message)})

    def _member_update(self, chat: _Chat, user_id: int | None, old: str, new: str) -> JSON:
        user = self._user(user_id if user_id is not None else self._default_user(chat), chat)
        bot = dict(self.bot_user)
        new_member: JSON = {"status": new, "user": bot}
        if new == "kicked":
            new_member["until_date"] = 0
        old_member: JSON = {"status": old, "user": bot}
        if old == "kicked":
            old_member["until_date"] = 0
        return self._push_update(
            {
                "my_chat_member": {
                    "chat": chat.to_json(),
                    "from": dict(user),
                    "date": int(time.time()),
                    "old_chat_member": old_member,
                    "new_chat_member": new_member,
                }
            }
        )

    def _push_update(self, body: JSON) -> JSON:
        update = {"update_id": self._next_update_id, **body}
        self._next_update_id += 1
        self._updates.append(update)
        self._notify()
        return update

    def _next_message_id(self, chat: _Chat) -> int:
        message_id = chat.next_message_id
        chat.next_message_id += 1
        return message_id

    def _message_json(self, message: _Message, *, with_reply: bool = True) -> JSON:
        chat = self._chats[message.chat_id]
        body: JSON = {
            "message_id": message.message_id,
            "from": dict(self.bot_user) if message.from_bot else dict(message.sender),
            "chat": chat.to_json(),
            "date": message.date,
        }
        if message.text is not None:
            body["text"] = message.text
            if message.entities:
                body["entities"] = [dict(e) for e in message.entities]
        if message.location is not None:
            body["location"] = dict(message.location)
        if message.reply_markup and "inline_keyboard" in message.reply_markup:
            body["reply_markup"] = message.reply_markup
        if message.edit_date is not None:
            body["edit_date"] = message.edit_date
        if with_reply and message.reply_to is not None:
            target = self._messages.get((message.chat_id, message.reply_to))
            if target is not None and not target.deleted:
                body["reply_to_message"] = self._message_json(target, with_reply=False)
        body.update(message.extra)
        return body

    def _snapshot(self, message: _Message) -> BotMessage:
        return BotMessage(
            chat_id=message.chat_id,
            message_id=message.message_id,
            text=message.raw_text or "",
            plain_text=message.text or "",
            parse_mode=message.parse_mode,
            entities=tuple(dict(e) for e in message.entities),
            reply_markup=message.reply_markup,
            reply_to=message.reply_to,
            edits=message.edits,
            sent_at=message.sent_at,
        )

    @staticmethod
    def _scope_key(scope: Any) -> str:
        if not scope:
            scope = {"type": "default"}
        return json.dumps(scope, sort_keys=True)

    def _bot_message(self, params: _Params, *, action: str) -> _Message:
        chat = self._resolve_chat(params.get("chat_id"))
        if params.get("inline_message_id"):
            raise _bad_request("MESSAGE_ID_INVALID")
        message_id = params.integer("message_id", required=True)
        assert message_id is not None
        message = self._messages.get((chat.id, message_id))
        if message is None or message.deleted:
            raise _bad_request(f"message to {action} not found")
        return message

    # -- Bot API methods ------------------------------------------------------------------------

    async def _true(self, params: _Params) -> bool:
        return True

    async def _get_me(self, params: _Params) -> JSON:
        return {
            **self.bot_user,
            "can_join_groups": True,
            "can_read_all_group_messages": False,
            "supports_inline_queries": False,
            "can_connect_to_business": False,
            "has_main_web_app": False,
        }

    async def _get_updates(self, params: _Params) -> list[JSON]:
        self._check_no_webhook()
        offset = params.integer("offset", default=0) or 0
        limit = min(max(params.integer("limit", default=100) or 100, 1), 100)
        timeout = min(max(params.integer("timeout", default=0) or 0, 0), 50)
        if offset > 0:
            self._updates = [u for u in self._updates if u["update_id"] >= offset]
        elif offset < 0:
            self._updates = self._updates[offset:]
        # A newer getUpdates ends an older waiting one, as Telegram does.
        self._poll_generation += 1
        generation = self._poll_generation
        self._notify()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while not self._updates and not self._closing.is_set():
            remaining = deadline - loop.time()
            if remaining <= 0:
                break
            changed = self._changed
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(changed.wait(), remaining)
            if generation != self._poll_generation:
                raise ApiError(
                    409,
                    "Conflict: terminated by other getUpdates request; "
                    "make sure that only one bot instance is running",
                )
            self._check_no_webhook()
        return [dict(u) for u in self._updates[:limit]]

    def _check_no_webhook(self) -> None:
        if self.webhook is not None:
            raise ApiError(
                409,
                "Conflict: can't use getUpdates method while webhook is active; "
                "use deleteWebhook to delete the webhook first",
            )

    def _validated_markup(self, params: _Params) -> JSON | None:
        markup = params.json_value("reply_markup")
        if markup is None:
            return None
        if not isinstance(markup, dict) or not (
            {"inline_keyboard", "keyboard", "remove_keyboard", "force_reply"} & markup.keys()
        ):
            raise _bad_request("can't parse reply keyboard markup JSON object")
        rows = markup.get("inline_keyboard")
        if rows is None:
            return markup
        if not isinstance(rows, list) or not all(isinstance(row, list) for row in rows):
            raise _bad_request(
                'field "inline_keyboard" of the InlineKeyboardMarkup must be an Array of Arrays'
            )
        for row in rows:
            for button in row:
                if not isinstance(button, dict) or not button.get("text"):
                    raise _bad_request("can't parse inline keyboard button: Text is empty")
                data = button.get("callback_data")
                if data is not None and not (
                    isinstance(data, str) and 1 <= len(data.encode()) <= MAX_CALLBACK_DATA_BYTES
                ):
                    raise _bad_request("BUTTON_DATA_INVALID")
                if len(button.keys() - {"text"}) == 0:
                    raise _bad_request(
                        "can't parse inline keyboard button: Text buttons are unallowed in the "
                        "inline keyboard"
                    )
        return markup

    @staticmethod
    def _rendered_text(params: _Params) -> tuple[str, str, list[JSON], str | None]:
        """(raw text, plain text, entities, parse_mode) after Telegram's checks."""
        raw = params.string("text")
        if raw is None or not raw.strip():
            raise _bad_request("message text is empty")
        parse_mode = params.string("parse_mode")
        if parse_mode:
            mode = parse_mode.lower()
            if mode == "html":
                plain, entities = parse_html(raw)
            elif mode in ("markdown", "markdownv2"):
                plain, entities = raw, []  # not parsed: Markdown is not used by this bot
            else:
                raise _bad_request(f"unsupported parse_mode {parse_mode}")
        else:
            given = params.json_value("entities") or []
            if not isinstance(given, list) or not all(isinstance(e, dict) for e in given):
                raise _bad_request("can't parse entities JSON object")
            plain, entities = raw, given
        if not plain.strip():
            raise _bad_request("message text is empty")
        if _utf16_len(plain) > MAX_TEXT_LENGTH:
            raise _bad_request("message is too long")
        return raw, plain, entities, parse_mode or None

    async def _send_message(self, params: _Params) -> JSON:
        chat = self._resolve_chat(params.get("chat_id"))
        raw, plain, entities, parse_mode = self._rendered_text(params)
        markup = self._validated_markup(params)
        reply_to = _reply_to_of(params.raw)
        if reply_to is not None:
            target = self._messages.get((chat.id, reply_to))
            reply = params.json_value("reply_parameters") or {}
            allow = params.boolean("allow_sending_without_reply") or (
                isinstance(reply, dict) and bool(reply.get("allow_sending_without_reply"))
            )
            if target is None or target.deleted:
                if not allow:
                    raise _bad_request("message to be replied not found")
                reply_to = None
        message = _Message(
            chat_id=chat.id,
            message_id=self._next_message_id(chat),
            date=int(time.time()),
            from_bot=True,
            sender=self.bot_user,
            raw_text=raw,
            text=plain,
            entities=entities,
            parse_mode=parse_mode,
            reply_markup=markup,
            reply_to=reply_to,
            sent_at=self.clock(),
        )
        self._messages[(chat.id, message.message_id)] = message
        self._bot_messages.setdefault(chat.id, []).append(message.message_id)
        return self._message_json(message)

    def _check_editable(self, message: _Message) -> None:
        if not message.from_bot:
            raise _bad_request("message can't be edited")

    def _apply_edit(
        self,
        message: _Message,
        *,
        raw: str | None,
        plain: str | None,
        entities: list[JSON],
        parse_mode: str | None,
        markup: JSON | None,
    ) -> JSON:
        same_text = plain is None or (plain == message.text and entities == message.entities)
        if same_text and markup == message.reply_markup:
            raise _bad_request(
                "message is not modified: specified new message content and reply markup are "
                "exactly the same as a current content and reply markup of the message"
            )
        if plain is not None:
            message.raw_text, message.text = raw, plain
            message.entities, message.parse_mode = entities, parse_mode
        # Like Telegram, an edit without reply_markup removes the inline keyboard.
        message.reply_markup = markup
        message.edits += 1
        message.edit_date = int(time.time())
        return self._message_json(message)

    async def _edit_message_text(self, params: _Params) -> JSON:
        message = self._bot_message(params, action="edit")
        self._check_editable(message)
        raw, plain, entities, parse_mode = self._rendered_text(params)
        return self._apply_edit(
            message,
            raw=raw,
            plain=plain,
            entities=entities,
            parse_mode=parse_mode,
            markup=self._validated_markup(params),
        )

    async def _edit_message_reply_markup(self, params: _Params) -> JSON:
        message = self._bot_message(params, action="edit")
        self._check_editable(message)
        return self._apply_edit(
            message,
            raw=None,
            plain=None,
            entities=[],
            parse_mode=None,
            markup=self._validated_markup(params),
        )

    async def _delete_message(self, params: _Params) -> bool:
        message = self._bot_message(params, action="delete")
        message.deleted = True
        return True

    async def _answer_callback_query(self, params: _Params) -> bool:
        query_id = params.string("callback_query_id")
        if not query_id:
            raise _bad_request("callback_query_id is empty")
        if query_id not in self._callback_queries or query_id in self.answers:
            raise _bad_request(
                "query is too old and response timeout expired or query ID is invalid"
            )
        text = params.string("text")
        if text is not None and len(text) > 200:
            raise _bad_request("MESSAGE_TOO_LONG")
        self.answers[query_id] = CallbackAnswer(
            callback_query_id=query_id,
            text=text,
            show_alert=params.boolean("show_alert"),
            url=params.string("url"),
        )
        return True

    async def _send_chat_action(self, params: _Params) -> bool:
        self._resolve_chat(params.get("chat_id"))
        action = params.string("action")
        if action not in _CHAT_ACTIONS:
            raise _bad_request("wrong parameter action in request")
        return True

    def _commands_key(self, params: _Params) -> tuple[str, str]:
        scope = params.json_value("scope")
        if scope is not None and (
            not isinstance(scope, dict) or scope.get("type") not in _SCOPE_TYPES
        ):
            raise _bad_request("wrong bot command scope type specified")
        language = params.string("language_code") or ""
        if language and not re.fullmatch(r"[a-z]{2}", language):
            raise _bad_request("invalid language code specified")
        return self._scope_key(scope), language

    async def _set_my_commands(self, params: _Params) -> bool:
        commands = params.json_value("commands")
        if not isinstance(commands, list):
            raise _bad_request("commands is empty" if commands is None else "can't parse commands")
        if len(commands) > 100:
            raise _bad_request("BOT_COMMANDS_TOO_MUCH")
        for command in commands:
            if not isinstance(command, dict) or not _BOT_COMMAND_RE.match(
                str(command.get("command", ""))
            ):
                raise _bad_request("BOT_COMMAND_INVALID")
            description = command.get("description")
            if not isinstance(description, str) or not 1 <= len(description) <= 256:
                raise _bad_request("BOT_COMMAND_DESCRIPTION_INVALID")
        key = self._commands_key(params)
        self._commands[key] = [
            {"command": c["command"], "description": c["description"]} for c in commands
        ]
        return True

    async def _get_my_commands(self, params: _Params) -> list[JSON]:
        return list(self._commands.get(self._commands_key(params), []))

    async def _delete_my_commands(self, params: _Params) -> bool:
        self._commands.pop(self._commands_key(params), None)
        return True

    async def _set_webhook(self, params: _Params) -> bool:
        url = params.string("url") or ""
        if not url:
            self.webhook = None
            return True
        # Telegram insists on HTTPS; plain HTTP to this machine is allowed so that tests can
        # point the webhook at a local receiver.
        if not url.startswith("https://") and not _LOOPBACK_URL_RE.match(url):
            raise _bad_request("bad webhook: An HTTPS URL must be provided for webhook")
        if params.boolean("drop_pending_updates"):
            self._updates.clear()
        self.webhook = {
            "url": url,
            "secret_token": params.string("secret_token"),
            "max_connections": params.integer("max_connections", default=40),
            "allowed_updates": params.json_value("allowed_updates"),
        }
        self._webhook_error = None
        if self.deliver_webhooks and (self._webhook_task is None or self._webhook_task.done()):
            self._webhook_task = asyncio.create_task(self._deliver_webhook_updates())
        self._notify()  # a waiting getUpdates now answers 409
        return True

    async def _deliver_webhook_updates(self) -> None:
        """POST pending updates to the webhook one by one, in order, retrying failures."""
        async with httpx.AsyncClient(timeout=10) as http:
            while self.webhook is not None and not self._closing.is_set():
                changed = self._changed
                if not self._updates:
                    await changed.wait()
                    continue
                update = self._updates[0]
                headers = {}
                if self.webhook.get("secret_token"):
                    headers["X-Telegram-Bot-Api-Secret-Token"] = self.webhook["secret_token"]
                try:
                    response = await http.post(self.webhook["url"], json=update, headers=headers)
                except httpx.HTTPError as exc:
                    failure: str | None = f"Connection failed: {exc.__class__.__name__}"
                else:
                    failure = None
                    if not response.is_success:
                        failure = (
                            "Wrong response from the webhook: "
                            f"{response.status_code} {_status_phrase(response.status_code)}"
                        )
                if failure is None:
                    if self._updates and self._updates[0] is update:
                        self._updates.pop(0)
                    self.webhook_deliveries.append(update)
                    self._notify()
                    continue
                self._webhook_error = (int(time.time()), failure)
                self._notify()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._closing.wait(), self.webhook_retry_delay)

    async def _delete_webhook(self, params: _Params) -> bool:
        self.webhook = None
        self._notify()  # ends the delivery loop
        if params.boolean("drop_pending_updates"):
            self._updates.clear()
        return True

    async def _get_webhook_info(self, params: _Params) -> JSON:
        info: JSON = {
            "url": self.webhook["url"] if self.webhook else "",
            "has_custom_certificate": False,
            "pending_update_count": len(self._updates),
        }
        if self.webhook:
            info["max_connections"] = self.webhook["max_connections"]
            if self._webhook_error:
                info["last_error_date"], info["last_error_message"] = self._webhook_error
            if self.webhook["allowed_updates"]:
                info["allowed_updates"] = self.webhook["allowed_updates"]
        return info

    async def _get_chat(self, params: _Params) -> JSON:
        chat = self._resolve_chat(params.get("chat_id"))
        return {
            **chat.to_json(),
            "accent_color_id": 0,
            "max_reaction_count": 11,
            "accepted_gift_types": {
                "unlimited_gifts": False,
                "limited_gifts": False,
                "unique_gifts": False,
                "premium_subscription": False,
                "gifts_from_channels": False,
            },
        }

    def _chat_member(self, chat: _Chat, user_id: int) -> JSON:
        user = self.bot_user if user_id == self.bot_id else self._users.get(user_id)
        if user is None:
            user = {"id": user_id, "is_bot": False, "first_name": f"User{user_id}"}
        status = chat.admins.get(user_id, "member")
        if status == "creator":
            return {"status": "creator", "user": user, "is_anonymous": False}
        if status == "administrator":
            rights = [
                "can_manage_chat",
                "can_delete_messages",
                "can_manage_video_chats",
                "can_restrict_members",
                "can_promote_members",
                "can_change_info",
                "can_invite_users",
                "can_post_stories",
                "can_edit_stories",
                "can_delete_stories",
            ]
            return {
                "status": "administrator",
                "user": user,
                "can_be_edited": False,
                "is_anonymous": False,
                **dict.fromkeys(rights, True),
            }
        return {"status": "member", "user": user}

    async def _get_chat_member(self, params: _Params) -> JSON:
        chat = self._resolve_chat(params.get("chat_id"))
        user_id = params.integer("user_id", required=True)
        assert user_id is not None
        return self._chat_member(chat, user_id)

    async def _get_chat_administrators(self, params: _Params) -> list[JSON]:
        chat = self._resolve_chat(params.get("chat_id"))
        if chat.type == "private":
            raise _bad_request("there are no administrators in the private chat")
        return [self._chat_member(chat, user_id) for user_id in chat.admins]
