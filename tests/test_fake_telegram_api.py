"""Tests for the fake Telegram Bot API server: raw HTTP behaviour and a real PTB round trip."""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from pytest_httpserver import HTTPServer
from telegram import (
    BotCommand,
    BotCommandScopeAllGroupChats,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    Update,
)
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
)
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    ChatMemberHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from tests.fakes import FakeTelegramAPI, Fault, Rate, RateLimits, parse_html


class FakeClock:
    """A hand-driven monotonic clock so rate-limit tests never sleep."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def client(fake_telegram: FakeTelegramAPI) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(
        base_url=f"{fake_telegram.url}/bot{fake_telegram.token}", timeout=10
    ) as http:
        yield http


async def call(http: httpx.AsyncClient, method: str, **params: Any) -> tuple[int, Any]:
    """POST like PTB does: form fields, non-strings JSON-encoded."""
    form = {k: v if isinstance(v, str) else json.dumps(v) for k, v in params.items()}
    response = await http.post(f"/{method}", data=form)
    return response.status_code, response.json()


async def ok(http: httpx.AsyncClient, method: str, **params: Any) -> Any:
    status, body = await call(http, method, **params)
    assert status == 200, body
    assert body["ok"] is True
    return body["result"]


async def error(http: httpx.AsyncClient, method: str, **params: Any) -> tuple[int, str, Any]:
    status, body = await call(http, method, **params)
    assert body["ok"] is False
    assert body["error_code"] == status
    return status, body["description"], body.get("parameters")


# -- transport, token and method names ---------------------------------------------------------


async def test_get_me_over_form_json_and_get(
    fake_telegram: FakeTelegramAPI, client: httpx.AsyncClient
) -> None:
    me = await ok(client, "getMe")
    assert me["is_bot"] is True
    assert me["username"] == "winter_alerts_test_bot"
    assert me["id"] == 123456789
    assert (await client.post("/getMe", json={})).json()["result"] == me
    assert (await client.get("/getme")).json()["result"] == me  # names are case-insensitive


async def test_json_body_is_accepted(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/sendMessage",
        json={
            "chat_id": 7,
            "text": "123",
            "reply_markup": {"inline_keyboard": [[{"text": "A", "callback_data": "a"}]]},
        },
    )
    result = response.json()["result"]
    assert result["text"] == "123"  # a numeric-looking text stays a string
    assert result["reply_markup"]["inline_keyboard"][0][0]["callback_data"] == "a"


async def test_wrong_token_is_401_and_unknown_method_404(fake_telegram: FakeTelegramAPI) -> None:
    async with httpx.AsyncClient(base_url=fake_telegram.url) as http:
        wrong = await http.post("/bot999:nope/getMe")
        assert wrong.status_code == 401
        assert wrong.json() == {"ok": False, "error_code": 401, "description": "Unauthorized"}
        unknown = await http.post(f"/bot{fake_telegram.token}/sendPigeon")
        assert unknown.status_code == 404
        assert unknown.json()["description"] == "Not Found"
        assert (await http.get(f"/file/bot{fake_telegram.token}/x.jpg")).status_code == 404


async def test_calls_are_recorded_with_status(
    fake_telegram: FakeTelegramAPI, client: httpx.AsyncClient
) -> None:
    await ok(client, "sendMessage", chat_id=3, text="hi")
    await error(client, "sendMessage", chat_id=3, text="")
    sends = fake_telegram.calls_to("sendMessage")
    assert [(c.status, c.chat_id, c.text) for c in sends] == [(200, 3, "hi"), (400, 3, "")]
    assert sends[1].error == "Bad Request: message text is empty"
    assert [c.method for c in fake_telegram.sent] == ["sendMessage"]


# -- sendMessage ---------------------------------------------------------------------------------


async def test_message_ids_increase_per_chat(
    fake_telegram: FakeTelegramAPI, client: httpx.AsyncClient
) -> None:
    ids = [
        (await ok(client, "sendMessage", chat_id=1, text=f"m{i}"))["message_id"] for i in range(3)
    ]
    other = await ok(client, "sendMessage", chat_id=2, text="x")
    assert ids == [1, 2, 3]
    assert other["message_id"] == 1
    fake_telegram.send_text(1, "hello")  # the user's message takes the next id in the chat
    assert (await ok(client, "sendMessage", chat_id=1, text="m4"))["message_id"] == 5
    assert [m.text for m in fake_telegram.messages_to(1)] == ["m0", "m1", "m2", "m4"]


async def test_html_is_parsed_into_entities(
    fake_telegram: FakeTelegramAPI, client: httpx.AsyncClient
) -> None:
    sent = await ok(
        client,
        "sendMessage",
        chat_id=9,
        text='<b>Київ</b>: −20 &lt;°C&gt; <a href="https://x.ua/a?b=1&amp;c=2">news</a>',
        parse_mode="HTML",
    )
    assert sent["text"] == "Київ: −20 <°C> news"
    assert sent["entities"] == [
        {"type": "bold", "offset": 0, "length": 4},
        {"type": "text_link", "offset": 15, "length": 4, "url": "https://x.ua/a?b=1&c=2"},
    ]
    [message] = fake_telegram.messages_to(9)
    assert message.text.startswith("<b>Київ</b>")
    assert message.plain_text == "Київ: −20 <°C> news"
    assert message.parse_mode == "HTML"


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        pytest.param("a < b", 'Unsupported start tag ""', id="unescaped-lt"),
        pytest.param("line<br>next", 'Unsupported start tag "br"', id="br"),
        pytest.param("<b>bold", "Can't find end tag", id="unclosed"),
        pytest.param("<b><i>x</b></i>", 'expected "</i>", found "</b>"', id="misnested"),
        pytest.param("<b>x", 'corresponding to start tag "b"', id="eof"),
    ],
)
async def test_bad_html_is_rejected(client: httpx.AsyncClient, text: str, fragment: str) -> None:
    status, description, _ = await error(
        client, "sendMessage", chat_id=1, text=text, parse_mode="HTML"
    )
    assert status == 400
    assert description.startswith("Bad Request: can't parse entities: ")
    assert fragment in description


@pytest.mark.parametrize(
    ("html", "plain", "entities"),
    [
        pytest.param("plain & simple", "plain & simple", [], id="bare-ampersand"),
        pytest.param("&#128293;<i>x</i>", "🔥x", [("italic", 2, 1)], id="astral-utf16"),
        pytest.param(
            '<pre><code class="language-python">x=1</code></pre>',
            "x=1",
            [("pre", 0, 3)],
            id="pre-code",
        ),
        pytest.param("<tg-spoiler>s</tg-spoiler><u></u>", "s", [("spoiler", 0, 1)], id="empty"),
        pytest.param(
            "<blockquote expandable>q</blockquote>",
            "q",
            [("expandable_blockquote", 0, 1)],
            id="expandable",
        ),
    ],
)
def test_parse_html(html: str, plain: str, entities: list[tuple[str, int, int]]) -> None:
    text, parsed = parse_html(html)
    assert text == plain
    assert [(e["type"], e["offset"], e["length"]) for e in parsed] == entities


def test_parse_html_keeps_pre_language() -> None:
    _, [entity] = parse_html('<pre><code class="language-python">x</code></pre>')
    assert entity["language"] == "python"


async def test_text_length_limit_counts_plain_text(client: httpx.AsyncClient) -> None:
    await ok(client, "sendMessage", chat_id=1, text="я" * 4096)
    await ok(client, "sendMessage", chat_id=1, text=f"<b>{'я' * 4096}</b>", parse_mode="HTML")
    _, description, _ = await error(client, "sendMessage", chat_id=1, text="я" * 4097)
    assert description == "Bad Request: message is too long"
    _, description, _ = await error(client, "sendMessage", chat_id=1, text="🔥" * 2049)
    assert description == "Bad Request: message is too long"  # 4098 UTF-16 units
    for empty in ("", "   ", "<b> </b>"):
        _, description, _ = await error(
            client, "sendMessage", chat_id=1, text=empty, parse_mode="HTML"
        )
        assert description == "Bad Request: message text is empty"
    _, description, _ = await error(client, "sendMessage", chat_id=1, text="x", parse_mode="BBCode")
    assert "unsupported parse_mode" in description
    _, description, _ = await error(client, "sendMessage", chat_id=1, text="x", entities=5)
    assert description == "Bad Request: can't parse entities JSON object"


async def test_reply_markup_and_reply_are_stored(
    fake_telegram: FakeTelegramAPI, client: httpx.AsyncClient
) -> None:
    fake_telegram.send_text(4, "where?")
    markup = {"inline_keyboard": [[{"text": "Yes", "callback_data": "yes"}]]}
    sent = await ok(
        client,
        "sendMessage",
        chat_id=4,
        text="answer",
        reply_markup=markup,
        reply_parameters={"message_id": 1},
    )
    assert sent["reply_to_message"]["text"] == "where?"
    assert sent["reply_markup"] == markup
    old_style = await ok(client, "sendMessage", chat_id=4, text="again", reply_to_message_id=1)
    assert old_style["reply_to_message"]["message_id"] == 1
    [first, second] = fake_telegram.messages_to(4)
    assert first.reply_to == 1 and second.reply_to == 1
    assert first.buttons == [("Yes", "yes")]
    assert fake_telegram.sent[0].reply_markup == markup
    assert fake_telegram.sent[0].reply_to == 1

    _, description, _ = await error(
        client, "sendMessage", chat_id=4, text="x", reply_parameters={"message_id": 99}
    )
    assert description == "Bad Request: message to be replied not found"
    await ok(
        client,
        "sendMessage",
        chat_id=4,
        text="x",
        reply_parameters={"message_id": 99, "allow_sending_without_reply": True},
    )


@pytest.mark.parametrize(
    ("markup", "fragment"),
    [
        pytest.param(
            {"inline_keyboard": [[{"text": "A", "callback_data": "x" * 65}]]},
            "BUTTON_DATA_INVALID",
            id="long-data",
        ),
        pytest.param(
            {"inline_keyboard": [[{"text": "A"}]]}, "Text buttons are unallowed", id="no-action"
        ),
        pytest.param(
            {"inline_keyboard": [[{"callback_data": "a"}]]}, "Text is empty", id="no-text"
        ),
        pytest.param({"colour": "red"}, "can't parse reply keyboard markup", id="not-markup"),
    ],
)
async def test_bad_reply_markup_is_rejected(
    client: httpx.AsyncClient, markup: dict[str, Any], fragment: str
) -> None:
    _, description, _ = await error(client, "sendMessage", chat_id=1, text="x", reply_markup=markup)
    assert fragment in description


# -- edits, deletes, chat actions, getChat -------------------------------------------------------


async def test_edit_message_text_and_markup(
    fake_telegram: FakeTelegramAPI, client: httpx.AsyncClient
) -> None:
    markup = {"inline_keyboard": [[{"text": "Mute", "callback_data": "mute"}]]}
    sent = await ok(client, "sendMessage", chat_id=5, text="−10°C", reply_markup=markup)
    mid = sent["message_id"]
    edited = await ok(
        client,
        "editMessageText",
        chat_id=5,
        message_id=mid,
        text="<b>−20°C</b>",
        parse_mode="HTML",
        reply_markup=markup,
    )
    assert edited["text"] == "−20°C" and "edit_date" in edited
    _, description, _ = await error(
        client,
        "editMessageText",
        chat_id=5,
        message_id=mid,
        text="<b>−20°C</b>",
        parse_mode="HTML",
        reply_markup=markup,
    )
    assert description.startswith("Bad Request: message is not modified")
    # As on Telegram, an edit without reply_markup drops the keyboard.
    await ok(client, "editMessageText", chat_id=5, message_id=mid, text="−25°C")
    [message] = fake_telegram.messages_to(5)
    assert (message.text, message.reply_markup, message.edits) == ("−25°C", None, 2)

    await ok(client, "editMessageReplyMarkup", chat_id=5, message_id=mid, reply_markup=markup)
    assert fake_telegram.messages_to(5)[0].buttons == [("Mute", "mute")]
    _, description, _ = await error(
        client, "editMessageReplyMarkup", chat_id=5, message_id=mid, reply_markup=markup
    )
    assert description.startswith("Bad Request: message is not modified")

    _, description, _ = await error(client, "editMessageText", chat_id=5, message_id=77, text="x")
    assert description == "Bad Request: message to edit not found"
    fake_telegram.send_text(5, "user text")
    user_mid = mid + 1
    _, description, _ = await error(
        client, "editMessageText", chat_id=5, message_id=user_mid, text="x"
    )
    assert description == "Bad Request: message can't be edited"
    methods = [c.method for c in fake_telegram.sent]
    assert methods == [
        "sendMessage",
        "editMessageText",
        "editMessageText",
        "editMessageReplyMarkup",
    ]


async def test_delete_message(fake_telegram: FakeTelegramAPI, client: httpx.AsyncClient) -> None:
    sent = await ok(client, "sendMessage", chat_id=6, text="oops")
    assert await ok(client, "deleteMessage", chat_id=6, message_id=sent["message_id"]) is True
    assert fake_telegram.messages_to(6) == []
    assert len(fake_telegram.messages_to(6, include_deleted=True)) == 1
    _, description, _ = await error(
        client, "deleteMessage", chat_id=6, message_id=sent["message_id"]
    )
    assert description == "Bad Request: message to delete not found"


async def test_chat_action_get_chat_close_and_log_out(
    fake_telegram: FakeTelegramAPI, client: httpx.AsyncClient
) -> None:
    assert await ok(client, "sendChatAction", chat_id=8, action="typing") is True
    _, description, _ = await error(client, "sendChatAction", chat_id=8, action="dancing")
    assert "action" in description
    fake_telegram.send_text(-55, "hi", title="Kyiv heating")
    chat = await ok(client, "getChat", chat_id=-55)
    assert (chat["type"], chat["title"]) == ("group", "Kyiv heating")
    assert await ok(client, "close") is True
    assert await ok(client, "logOut") is True


async def test_unknown_chats(fake_telegram: FakeTelegramAPI, client: httpx.AsyncClient) -> None:
    _, description, _ = await error(client, "sendMessage", text="x")
    assert description == "Bad Request: chat_id is empty"
    fake_telegram.forget_chat(11)
    _, description, _ = await error(client, "sendMessage", chat_id=11, text="x")
    assert description == "Bad Request: chat not found"
    _, description, _ = await error(client, "sendMessage", chat_id="@nobody", text="x")
    assert description == "Bad Request: chat not found"
    fake_telegram.auto_create_chats = False
    _, description, _ = await error(client, "sendMessage", chat_id=12, text="x")
    assert description == "Bad Request: chat not found"
    fake_telegram.add_chat(12, username="olena")
    await ok(client, "sendMessage", chat_id="@olena", text="x")
    assert [m.text for m in fake_telegram.messages_to(12)] == ["x"]


# -- commands and webhooks ----------------------------------------------------------------------


async def test_my_commands_per_scope_and_language(
    fake_telegram: FakeTelegramAPI, client: httpx.AsyncClient
) -> None:
    en = [{"command": "start", "description": "Start"}]
    uk = [
        {"command": "start", "description": "Почати"},
        {"command": "rules", "description": "Правила"},
    ]
    await ok(client, "setMyCommands", commands=en)
    await ok(client, "setMyCommands", commands=uk, language_code="uk")
    group_scope = {"type": "all_group_chats"}
    await ok(client, "setMyCommands", commands=en[:1], scope=group_scope, language_code="uk")
    assert await ok(client, "getMyCommands") == en
    assert await ok(client, "getMyCommands", language_code="uk") == uk
    assert await ok(client, "getMyCommands", scope=group_scope, language_code="uk") == en
    assert await ok(client, "getMyCommands", language_code="de") == []
    assert fake_telegram.commands(language_code="uk") == uk
    await ok(client, "deleteMyCommands", language_code="uk")
    assert await ok(client, "getMyCommands", language_code="uk") == []
    for bad in ([{"command": "Start", "description": "x"}], [{"command": "go", "description": ""}]):
        status, _, _ = await error(client, "setMyCommands", commands=bad)
        assert status == 400
    status, _, _ = await error(client, "setMyCommands", commands=en, scope={"type": "moon"})
    assert status == 400


async def test_webhook_lifecycle(fake_telegram: FakeTelegramAPI, client: httpx.AsyncClient) -> None:
    info = await ok(client, "getWebhookInfo")
    assert (info["url"], info["pending_update_count"]) == ("", 0)
    _, description, _ = await error(client, "setWebhook", url="http://insecure.example/hook")
    assert "HTTPS" in description
    unreachable = "https://127.0.0.1:1/hook"  # nothing listens on port 1
    await ok(client, "setWebhook", url=unreachable, secret_token="s3")
    fake_telegram.send_text(1, "hi")
    info = await ok(client, "getWebhookInfo")
    for _ in range(50):  # the first delivery attempt fails within milliseconds
        if "last_error_message" in info:
            break
        await asyncio.sleep(0.02)
        info = await ok(client, "getWebhookInfo")
    assert (info["url"], info["pending_update_count"]) == (unreachable, 1)
    assert info["last_error_message"].startswith("Connection failed")
    status, description, _ = await error(client, "getUpdates")
    assert status == 409 and "webhook is active" in description
    await ok(client, "deleteWebhook", drop_pending_updates=True)
    assert await ok(client, "getUpdates") == []


async def test_webhook_delivery_retries_until_accepted(
    fake_telegram: FakeTelegramAPI, client: httpx.AsyncClient, httpserver: HTTPServer
) -> None:
    fake_telegram.webhook_retry_delay = 0.05
    httpserver.expect_oneshot_request("/hook", method="POST").respond_with_data("", status=500)
    httpserver.expect_request(
        "/hook", method="POST", headers={"X-Telegram-Bot-Api-Secret-Token": "s3"}
    ).respond_with_json({})
    await ok(client, "setWebhook", url=httpserver.url_for("/hook"), secret_token="s3")
    first = fake_telegram.send_text(1, "/start")
    second = fake_telegram.send_text(1, "Київ")
    await fake_telegram.wait_for(lambda: len(fake_telegram.webhook_deliveries) == 2)
    assert fake_telegram.webhook_deliveries == [first, second]
    posted = [json.loads(request.get_data()) for request, _ in httpserver.log]
    assert posted == [first, first, second]  # the 500 made it retry the first update
    info = await ok(client, "getWebhookInfo")
    assert info["pending_update_count"] == 0
    assert (
        info["last_error_message"] == "Wrong response from the webhook: 500 Internal Server Error"
    )


# -- getUpdates -------------------------------------------------------------------------------


async def test_get_updates_offset_semantics(
    fake_telegram: FakeTelegramAPI, client: httpx.AsyncClient
) -> None:
    first = fake_telegram.send_text(1, "a")["update_id"]
    fake_telegram.send_text(1, "b")
    fake_telegram.send_text(2, "c")
    updates = await ok(client, "getUpdates")
    assert [u["update_id"] for u in updates] == [first, first + 1, first + 2]
    assert len(await ok(client, "getUpdates")) == 3  # not confirmed yet
    assert [u["message"]["text"] for u in await ok(client, "getUpdates", limit=1)] == ["a"]
    confirmed = await ok(client, "getUpdates", offset=first + 1)
    assert [u["message"]["text"] for u in confirmed] == ["b", "c"]
    assert [u["message"]["text"] for u in await ok(client, "getUpdates")] == ["b", "c"]
    assert [u["message"]["text"] for u in await ok(client, "getUpdates", offset=-1)] == ["c"]
    assert fake_telegram.pending_updates == 1
    assert await ok(client, "getUpdates", offset=first + 3) == []


async def test_long_poll_wakes_on_inject(
    fake_telegram: FakeTelegramAPI, client: httpx.AsyncClient
) -> None:
    started = time.monotonic()
    poll = asyncio.create_task(ok(client, "getUpdates", timeout=20))
    await asyncio.sleep(0.1)
    assert not poll.done()
    fake_telegram.send_text(1, "/start")
    [update] = await asyncio.wait_for(poll, 2)
    assert update["message"]["entities"] == [{"type": "bot_command", "offset": 0, "length": 6}]
    assert time.monotonic() - started < 1.5


async def test_long_poll_times_out_empty(client: httpx.AsyncClient) -> None:
    started = time.monotonic()
    assert await ok(client, "getUpdates", timeout=1) == []
    assert 0.9 <= time.monotonic() - started < 2.5


async def test_newer_get_updates_terminates_older(client: httpx.AsyncClient) -> None:
    older = asyncio.create_task(call(client, "getUpdates", timeout=20))
    await asyncio.sleep(0.1)
    assert await ok(client, "getUpdates") == []
    status, body = await asyncio.wait_for(older, 2)
    assert status == 409 and "terminated by other getUpdates" in body["description"]


async def test_stop_releases_a_pending_long_poll() -> None:
    api = FakeTelegramAPI()
    await api.start()
    async with httpx.AsyncClient(base_url=f"{api.url}/bot{api.token}") as http:
        poll = asyncio.create_task(ok(http, "getUpdates", timeout=30))
        await asyncio.sleep(0.1)
        started = time.monotonic()
        await api.stop()
        assert await asyncio.wait_for(poll, 2) == []
        assert time.monotonic() - started < 2


async def test_injected_update_shapes(fake_telegram: FakeTelegramAPI) -> None:
    text = fake_telegram.send_text(
        -100123, "/rules@winter_alerts_test_bot", user_id=77, username="olena", language_code="uk"
    )["message"]
    assert text["chat"]["type"] == "supergroup"
    assert text["from"] == {
        "id": 77,
        "is_bot": False,
        "first_name": "User77",
        "username": "olena",
        "language_code": "uk",
    }
    assert text["entities"][0]["length"] == len("/rules@winter_alerts_test_bot")
    assert "entities" not in fake_telegram.send_text(1, "no / command")["message"]
    location = fake_telegram.send_location(1, 50.45, 30.52)["message"]
    assert location["location"] == {"latitude": 50.45, "longitude": 30.52}
    kicked = fake_telegram.kick(1)["my_chat_member"]
    assert kicked["new_chat_member"]["status"] == "kicked"
    assert kicked["old_chat_member"]["status"] == "member"
    added = fake_telegram.add_member(-5, title="Bucha")["my_chat_member"]
    assert (added["chat"]["title"], added["old_chat_member"]["status"]) == ("Bucha", "left")
    with pytest.raises(ValueError, match="no bot message"):
        fake_telegram.press_button(1, 1, "x")


# -- callback queries --------------------------------------------------------------------------


async def test_answer_callback_query(
    fake_telegram: FakeTelegramAPI, client: httpx.AsyncClient
) -> None:
    markup = {"inline_keyboard": [[{"text": "OK", "callback_data": "ok:1"}]]}
    sent = await ok(client, "sendMessage", chat_id=3, text="alert", reply_markup=markup)
    with pytest.raises(ValueError, match="no button"):
        fake_telegram.press_button(3, sent["message_id"], "other")
    query_id = fake_telegram.press_button(3, sent["message_id"], "ok:1", language_code="uk")
    [update] = await ok(client, "getUpdates")
    query = update["callback_query"]
    assert (query["id"], query["data"], query["from"]["language_code"]) == (query_id, "ok:1", "uk")
    assert query["message"]["message_id"] == sent["message_id"]
    await ok(client, "answerCallbackQuery", callback_query_id=query_id, text="Done")
    assert fake_telegram.answers[query_id].text == "Done"
    assert fake_telegram.sent[-1].chat_id == 3
    _, description, _ = await error(client, "answerCallbackQuery", callback_query_id=query_id)
    assert "query ID is invalid" in description
    _, description, _ = await error(client, "answerCallbackQuery", callback_query_id="nope")
    assert "query ID is invalid" in description


# -- faults ---------------------------------------------------------------------------------


async def test_fault_for_next_n_calls_of_one_chat(
    fake_telegram: FakeTelegramAPI, client: httpx.AsyncClient
) -> None:
    rule = fake_telegram.add_fault(Fault.retry_after(7), method="sendMessage", chat_id=1, times=2)
    await ok(client, "sendMessage", chat_id=2, text="other chat unaffected")
    await ok(client, "getMe")
    for _ in range(2):
        status, description, parameters = await error(client, "sendMessage", chat_id=1, text="x")
        assert (status, parameters) == (429, {"retry_after": 7})
        assert description == "Too Many Requests: retry after 7"
    await ok(client, "sendMessage", chat_id=1, text="third time lucky")
    assert rule.hits == 2 and not rule.active


async def test_probability_faults_are_seeded() -> None:
    async def outcomes(seed: int) -> list[int]:
        async with (
            FakeTelegramAPI(seed=seed) as api,
            httpx.AsyncClient(base_url=f"{api.url}/bot{api.token}") as http,
        ):
            api.add_fault(Fault.server_error(502, "Bad Gateway"), probability=0.3)
            return [(await call(http, "getMe"))[0] for _ in range(40)]

    first, again, other = await outcomes(1), await outcomes(1), await outcomes(2)
    assert first == again
    assert first != other
    assert set(first) == {200, 502}
    assert 4 <= first.count(502) <= 20


async def test_slow_fault_delays_then_answers(
    fake_telegram: FakeTelegramAPI, client: httpx.AsyncClient
) -> None:
    rule = fake_telegram.add_fault(Fault.slow(0.4), method="getMe", times=1)
    started = time.monotonic()
    await ok(client, "getMe")
    assert time.monotonic() - started >= 0.4
    started = time.monotonic()
    await ok(client, "getMe")
    assert time.monotonic() - started < 0.4  # the one-shot delay is spent
    assert (rule.hits, rule.active) == (1, False)


async def test_blocked_migrated_and_kicked_chats(
    fake_telegram: FakeTelegramAPI, client: httpx.AsyncClient
) -> None:
    fake_telegram.block(10)
    status, description, _ = await error(client, "sendMessage", chat_id=10, text="x")
    assert (status, description) == (403, "Forbidden: bot was blocked by the user")
    fake_telegram.unblock(10)
    await ok(client, "sendMessage", chat_id=10, text="x")
    fake_telegram.kick(-20)
    status, description, _ = await error(client, "sendMessage", chat_id=-20, text="x")
    assert (status, description) == (403, "Forbidden: bot was kicked from the group chat")
    fake_telegram.add_member(-20)
    await ok(client, "sendMessage", chat_id=-20, text="back")
    fake_telegram.migrate_chat(-30, -1000000000030)
    status, _, parameters = await error(client, "sendMessage", chat_id=-30, text="x")
    assert (status, parameters) == (400, {"migrate_to_chat_id": -1000000000030})
    await ok(client, "sendMessage", chat_id=-1000000000030, text="x")
    fake_telegram.add_fault(Fault.not_modified(), method="editMessageText", times=1)
    _, description, _ = await error(client, "editMessageText", chat_id=10, message_id=1, text="y")
    assert description == "Bad Request: message is not modified"


# -- rate limits -----------------------------------------------------------------------------


async def test_rate_limits_per_private_chat_group_and_globally() -> None:
    clock = FakeClock()
    limits = RateLimits(global_rate=Rate(5, 1.0), group_chat_rate=Rate(2, 60.0))
    async with (
        FakeTelegramAPI(rate_limits=limits, clock=clock) as api,
        httpx.AsyncClient(base_url=f"{api.url}/bot{api.token}") as http,
    ):
        await ok(http, "sendMessage", chat_id=1, text="a")
        status, _, parameters = await error(http, "sendMessage", chat_id=1, text="b")
        assert (status, parameters) == (429, {"retry_after": 1})
        assert await ok(http, "sendChatAction", chat_id=1, action="typing")  # not counted
        clock.now += 1.0
        await ok(http, "sendMessage", chat_id=1, text="b")

        await ok(http, "sendMessage", chat_id=-7, text="g1")
        clock.now += 10
        await ok(http, "sendMessage", chat_id=-7, text="g2")
        _, _, parameters = await error(http, "sendMessage", chat_id=-7, text="g3")
        assert parameters == {"retry_after": 50}

        clock.now += 100
        for chat_id in range(100, 105):
            await ok(http, "sendMessage", chat_id=chat_id, text="fan-out")
        _, description, _ = await error(http, "sendMessage", chat_id=200, text="one too many")
        assert description == "Too Many Requests: retry after 1"
        assert api.peak_rate(1.0) == 5
        assert [c.chat_id for c in api.errors(429)] == [1, -7, 200]
        assert api.peak_rate(1.0, chat_id=1) == 1


async def test_rate_limits_can_be_switched_on_later(
    fake_telegram: FakeTelegramAPI, client: httpx.AsyncClient
) -> None:
    for _ in range(3):
        await ok(client, "sendMessage", chat_id=1, text="no limits by default")
    fake_telegram.rate_limits = RateLimits()
    await ok(client, "sendMessage", chat_id=2, text="x")
    status, _, _ = await error(client, "sendMessage", chat_id=2, text="y")
    assert status == 429


# -- wait helpers ------------------------------------------------------------------------------


async def test_wait_helpers_time_out_with_context(fake_telegram: FakeTelegramAPI) -> None:
    with pytest.raises(TimeoutError, match="1 message"):
        await fake_telegram.wait_for_messages(1, 1, timeout=0.2)
    with pytest.raises(TimeoutError):
        await fake_telegram.wait_for_answer("1", timeout=0.1)


# -- python-telegram-bot against the fake -------------------------------------------------------


async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Greet with a button."""
    assert update.effective_message is not None and update.effective_user is not None
    keyboard = InlineKeyboardMarkup([[InlineKeyboardButton("Subscribe", callback_data="sub")]])
    greeting = "Привіт" if update.effective_user.language_code == "uk" else "Hello"
    await update.effective_message.reply_html(
        f"<b>{greeting}</b>!", reply_markup=keyboard, do_quote=True
    )


async def echo(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Repeat the text."""
    assert update.effective_message is not None and update.effective_message.text is not None
    await update.effective_message.reply_text(update.effective_message.text)


async def subscribe(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Answer the button and drop it from the message."""
    query = update.callback_query
    assert query is not None
    await query.answer("Subscribed")
    await query.edit_message_text("Subscribed to Kyiv")


async def membership(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Remember who blocked the bot."""
    assert update.my_chat_member is not None
    if update.my_chat_member.new_chat_member.status == "kicked":
        context.bot_data.setdefault("blocked", []).append(update.my_chat_member.chat.id)


async def test_ptb_application_round_trip(fake_telegram: FakeTelegramAPI) -> None:
    app = fake_telegram.application_builder().build()
    app.add_handler(CommandHandler("start", start))
    app.add_handler(CallbackQueryHandler(subscribe, pattern="^sub$"))
    app.add_handler(ChatMemberHandler(membership, ChatMemberHandler.MY_CHAT_MEMBER))
    app.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, echo))
    async with app:
        assert app.bot.username == "winter_alerts_test_bot"  # getMe during initialize
        await app.start()
        assert app.updater is not None
        await app.updater.start_polling(poll_interval=0, timeout=10)
        try:
            fake_telegram.send_text(42, "/start", language_code="uk")
            [greeting] = await fake_telegram.wait_for_messages(42, 1)
            assert greeting.plain_text == "Привіт!"
            assert greeting.reply_to == 1
            assert greeting.buttons == [("Subscribe", "sub")]

            query_id = fake_telegram.press_button(42, greeting.message_id, "sub")
            assert (await fake_telegram.wait_for_answer(query_id)).text == "Subscribed"
            edited = await fake_telegram.wait_for(
                lambda: [m for m in fake_telegram.messages_to(42) if m.edits]
            )
            assert edited[0].text == "Subscribed to Kyiv"
            assert edited[0].reply_markup is None

            fake_telegram.send_text(42, "Київ −20")
            messages = await fake_telegram.wait_for_messages(42, 2)
            assert messages[-1].text == "Київ −20"

            fake_telegram.kick(42)
            await fake_telegram.wait_for_updates_consumed()
            await fake_telegram.wait_for(lambda: app.bot_data.get("blocked"))
            assert app.bot_data["blocked"] == [42]
        finally:
            await app.updater.stop()
            await app.stop()
    # The updater confirmed everything it handled before stopping.
    assert fake_telegram.pending_updates == 0


@pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")
async def test_ptb_maps_errors_to_its_exceptions(fake_telegram: FakeTelegramAPI) -> None:
    app = fake_telegram.application_builder().build()
    bot = app.bot
    async with bot:
        fake_telegram.add_fault(Fault.retry_after(3), method="sendMessage", times=1)
        # PTB's message carries the parsed parameter (its retry_after attribute is mid-deprecation).
        with pytest.raises(RetryAfter, match="Retry in 3 seconds"):
            await bot.send_message(1, "x")

        fake_telegram.kick(2)
        with pytest.raises(Forbidden, match="blocked by the user"):
            await bot.send_message(2, "x")

        fake_telegram.migrate_chat(-3, -1003)
        with pytest.raises(ChatMigrated) as migrated:
            await bot.send_message(-3, "x")
        assert migrated.value.new_chat_id == -1003

        with pytest.raises(BadRequest, match=r"(?i)can't parse entities"):
            await bot.send_message(1, "1 < 2", parse_mode="HTML")

        fake_telegram.add_fault(Fault.server_error(502, "Bad Gateway"), times=1)
        with pytest.raises(NetworkError):
            await bot.get_me()

        message = await bot.send_message(1, "<i>ok</i>", parse_mode="HTML")
        assert message.text_html == "<i>ok</i>"
        edited = await bot.edit_message_text(
            "<b>ok</b>", chat_id=1, message_id=message.message_id, parse_mode="HTML"
        )
        assert not isinstance(edited, bool) and edited.text_html == "<b>ok</b>"
        await bot.set_my_commands([BotCommand("start", "Почати")], language_code="uk")
        await bot.set_my_commands(
            [BotCommand("rules", "Rules")], scope=BotCommandScopeAllGroupChats()
        )
        [command] = await bot.get_my_commands(language_code="uk")
        assert (command.command, command.description) == ("start", "Почати")
        assert fake_telegram.commands(scope={"type": "all_group_chats"})[0]["command"] == "rules"
        chat = await bot.get_chat(1)
        assert chat.type == "private"
        assert (await bot.get_webhook_info()).url == ""

    wrong = Application.builder().token("1:wrong").base_url(fake_telegram.base_url).build()
    with pytest.raises(InvalidToken):
        await wrong.bot.get_me()
