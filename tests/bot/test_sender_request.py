"""The sender's HTTP backend (`bot.delivery.request.H11Request`): Telegram's errors reach the
sender as the same PTB exceptions as through PTB's own HTTPXRequest, and the connection
handling holds up against a server that closes, chunks, stalls or refuses."""

from __future__ import annotations

import asyncio
import ipaddress
import json
import ssl
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from telegram.error import (
    BadRequest,
    ChatMigrated,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TelegramError,
    TimedOut,
)
from telegram.request import BaseRequest, HTTPXRequest, RequestData
from telegram.request._requestparameter import RequestParameter

from bot.delivery.request import H11Request, uses_proxy
from tests.fakes import FakeTelegramAPI, Fault

pytest_plugins = ["tests.fakes.fixtures"]


def form(**fields: str) -> RequestData:
    return RequestData([RequestParameter(name, value, None) for name, value in fields.items()])


@pytest.fixture(params=["h11", "httpx"])
async def request_backend(request: pytest.FixtureRequest) -> AsyncIterator[BaseRequest]:
    backend: BaseRequest = (
        H11Request(read_timeout=5.0) if request.param == "h11" else HTTPXRequest(read_timeout=5.0)
    )
    async with backend:
        yield backend


# -- Telegram's answers, through PTB's request layer --------------------------------------


async def test_a_sent_message_comes_back_as_the_result_dict(
    request_backend: BaseRequest, fake_telegram: FakeTelegramAPI
) -> None:
    markup = {"inline_keyboard": [[{"text": "Пауза", "callback_data": "pause:7"}]]}
    result = await request_backend.post(
        f"{fake_telegram.base_url}{fake_telegram.token}/sendMessage",
        form(
            chat_id="77",
            text="<b>Київ</b>: 300 000 без світла & -18°C",
            parse_mode="HTML",
            reply_markup=json.dumps(markup),
            link_preview_options='{"is_disabled":true}',
        ),
    )
    assert isinstance(result, dict)
    [message] = fake_telegram.messages_to(77)
    assert result["message_id"] == message.message_id
    assert message.plain_text == "Київ: 300 000 без світла & -18°C"
    assert message.buttons == [("Пауза", "pause:7")]
    [call] = fake_telegram.calls_to("sendMessage")
    assert call.params["link_preview_options"] == {"is_disabled": True}


@pytest.mark.parametrize(
    ("fault", "expected", "check"),
    [
        pytest.param(
            Fault.retry_after(3),
            RetryAfter,
            lambda e: "retry in 3 seconds" in e.message.lower(),
            id="429-retry-after",
        ),
        pytest.param(
            Fault.blocked(), Forbidden, lambda e: "blocked" in e.message.lower(), id="403"
        ),
        pytest.param(
            Fault.migrated(-100123), ChatMigrated, lambda e: e.new_chat_id == -100123, id="migrate"
        ),
        pytest.param(
            Fault.bad_request("can't parse entities"),
            BadRequest,
            lambda e: "can't parse entities" in e.message.lower(),
            id="400",
        ),
        pytest.param(
            Fault.not_modified(),
            BadRequest,
            lambda e: "message is not modified" in e.message.lower(),
            id="400-not-modified",
        ),
        pytest.param(
            Fault.server_error(502, "Bad Gateway"),
            NetworkError,
            lambda e: "bad gateway" in e.message.lower(),
            id="502",
        ),
    ],
)
async def test_telegram_errors_map_to_the_same_ptb_exceptions(
    request_backend: BaseRequest,
    fake_telegram: FakeTelegramAPI,
    fault: Fault,
    expected: type[TelegramError],
    check: Callable[[Any], bool],
) -> None:
    fake_telegram.add_fault(fault, method="sendMessage", times=1)
    url = f"{fake_telegram.base_url}{fake_telegram.token}/sendMessage"
    with pytest.raises(expected) as caught:
        await request_backend.post(url, form(chat_id="5", text="hello"))
    assert type(caught.value) is expected
    assert check(caught.value), caught.value
    # The connection is fine after an error answer: the next call goes through.
    assert isinstance(await request_backend.post(url, form(chat_id="5", text="again")), dict)


async def test_a_wrong_token_is_invalid_token(
    request_backend: BaseRequest, fake_telegram: FakeTelegramAPI
) -> None:
    with pytest.raises(InvalidToken):
        await request_backend.post(f"{fake_telegram.base_url}1:wrong/getMe", None)


async def test_files_are_not_uploaded() -> None:
    from telegram import InputFile

    data = RequestData([RequestParameter("document", "attach://f", [InputFile(b"x", "f")])])
    async with H11Request() as backend:
        with pytest.raises(NetworkError, match="does not upload files"):
            await backend.post("http://127.0.0.1:9/sendDocument", data)


# -- connections, against a hand-written HTTP server --------------------------------------

Reply = Callable[[bytes, asyncio.StreamWriter], Awaitable[bool]]  # True: keep the connection


class RawServer:
    """An HTTP/1.1 server written by hand, to answer in ways a real one rarely does."""

    def __init__(self, reply: Reply, *, ssl_context: ssl.SSLContext | None = None) -> None:
        self.reply = reply
        self.ssl_context = ssl_context
        self.connections = 0
        self.requests: list[bytes] = []
        self.server: asyncio.Server | None = None

    @property
    def url(self) -> str:
        assert self.server is not None
        port = self.server.sockets[0].getsockname()[1]
        return f"http://127.0.0.1:{port}/bot1:x/sendMessage"

    async def __aenter__(self) -> RawServer:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=self.ssl_context)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                request = head + await reader.readexactly(length)
                self.requests.append(request)
                keep = await self.reply(request, writer)
                await writer.drain()
                if not keep:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


OK_BODY = b'{"ok":true,"result":{"message_id":1}}'


async def answer_ok(request: bytes, writer: asyncio.StreamWriter) -> bool:
    writer.write(
        b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s"
        % (len(OK_BODY), OK_BODY)
    )
    return True


async def test_one_connection_carries_request_after_request() -> None:
    async with RawServer(answer_ok) as server, H11Request() as backend:
        for n in range(5):
            assert await backend.post(server.url, form(chat_id=str(n), text="hi")) == {
                "message_id": 1
            }
        assert server.connections == 1 and len(server.requests) == 5
    head = server.requests[0].split(b"\r\n\r\n")[0].lower()
    assert b"content-type: application/x-www-form-urlencoded" in head
    assert server.requests[0].endswith(b"chat_id=0&text=hi")


async def test_a_chunked_answer_is_read_whole() -> None:
    async def chunked(request: bytes, writer: asyncio.StreamWriter) -> bool:
        half = len(OK_BODY) // 2
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
        for part in (OK_BODY[:half], OK_BODY[half:]):
            writer.write(b"%x\r\n%s\r\n" % (len(part), part))
            await writer.drain()
            await asyncio.sleep(0.01)
        writer.write(b"0\r\n\r\n")
        return True

    async with RawServer(chunked) as server, H11Request() as backend:
        assert await backend.post(server.url, form(text="x")) == {"message_id": 1}
        assert await backend.post(server.url, form(text="y")) == {"message_id": 1}
        assert server.connections == 1


async def test_connection_close_and_idle_closes_open_a_new_connection() -> None:
    async def once(request: bytes, writer: asyncio.StreamWriter) -> bool:
        writer.write(
            b"HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: %d\r\n\r\n%s"
            % (len(OK_BODY), OK_BODY)
        )
        return False  # and the server closes it

    async with RawServer(once) as server, H11Request() as backend:
        for _ in range(3):
            assert await backend.post(server.url, form(text="x")) == {"message_id": 1}
            await asyncio.sleep(0.01)  # the close reaches the client while it is idle
        assert server.connections == 3
        assert backend.open_connections == 0


async def test_idle_connections_expire() -> None:
    clock = [0.0]
    async with (
        RawServer(answer_ok) as server,
        H11Request(keepalive_seconds=5.0, clock=lambda: clock[0]) as backend,
    ):
        await backend.post(server.url, form(text="x"))
        clock[0] = 4.0
        await backend.post(server.url, form(text="y"))
        assert server.connections == 1
        clock[0] = 10.0
        await backend.post(server.url, form(text="z"))
        assert server.connections == 2


async def test_a_silent_server_times_out_and_its_connection_is_dropped() -> None:
    stalls = [True]

    async def stall_once(request: bytes, writer: asyncio.StreamWriter) -> bool:
        if stalls.pop() if stalls else False:
            await asyncio.sleep(1.0)  # answers after the client gave up
        return await answer_ok(request, writer)

    async with RawServer(stall_once) as server, H11Request(read_timeout=0.1) as backend:
        with pytest.raises(TimedOut):
            await backend.post(server.url, form(text="x"))
        # A late answer on the old connection must not be read as the next one's.
        assert await backend.post(server.url, form(text="y")) == {"message_id": 1}
        assert server.connections == 2


async def test_a_connection_cut_mid_answer_is_a_network_error() -> None:
    async def cut(request: bytes, writer: asyncio.StreamWriter) -> bool:
        writer.write(b'HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n{"ok":')
        return False

    async with RawServer(cut) as server, H11Request(read_timeout=10.0) as backend:
        with pytest.raises(NetworkError) as caught:
            await asyncio.wait_for(backend.post(server.url, form(text="x")), 2.0)
        assert not isinstance(caught.value, TimedOut)  # noticed at once, not waited out


async def test_a_refused_connection_is_a_network_error() -> None:
    async with RawServer(answer_ok) as server:
        url = server.url
    async with H11Request() as backend:
        with pytest.raises(NetworkError) as caught:
            await backend.post(url, form(text="x"))
        assert not isinstance(caught.value, TimedOut)


async def test_requests_beyond_the_pool_wait_and_time_out() -> None:
    release = asyncio.Event()

    async def held(request: bytes, writer: asyncio.StreamWriter) -> bool:
        await release.wait()
        return await answer_ok(request, writer)

    async with (
        RawServer(held) as server,
        H11Request(connection_pool_size=1, pool_timeout=0.1) as backend,
    ):
        first = asyncio.create_task(backend.post(server.url, form(text="1")))
        await asyncio.sleep(0.05)
        with pytest.raises(TimedOut, match="Pool timeout"):
            await backend.post(server.url, form(text="2"))
        third = asyncio.create_task(backend.post(server.url, form(text="3")))
        await asyncio.sleep(0.05)
        release.set()
        assert await first == {"message_id": 1}
        assert await asyncio.wait_for(third, 2) == {"message_id": 1}
        assert server.connections == 1  # the third waited for the first one's connection


async def test_shutdown_closes_idle_connections() -> None:
    async with RawServer(answer_ok) as server:
        backend = H11Request()
        await backend.post(server.url, form(text="x"))
        assert backend.open_connections == 1
        await backend.shutdown()
        assert backend.open_connections == 0


def self_signed(tmp_path: Path) -> tuple[Path, Path]:
    """A certificate for 127.0.0.1, signed by itself, and its key."""
    x509 = pytest.importorskip("cryptography.x509")
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = datetime.now(UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(days=1))
        .not_valid_after(now + timedelta(days=1))
        .add_extension(
            x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
            critical=False,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


async def test_https_verifies_the_server_and_keeps_the_connection(tmp_path: Path) -> None:
    cert, key = self_signed(tmp_path)
    served = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    served.load_cert_chain(cert, key)
    trusting = ssl.create_default_context(cafile=str(cert))
    async with RawServer(answer_ok, ssl_context=served) as server:
        url = server.url.replace("http://", "https://")
        async with H11Request(ssl_context=trusting) as backend:
            for text in ("x", "y"):
                assert await backend.post(url, form(text=text)) == {"message_id": 1}
            assert server.connections == 1
        # Not signed by anyone the default context (certifi's list) trusts: refused.
        async with H11Request() as backend:
            with pytest.raises(NetworkError, match="CERTIFICATE_VERIFY_FAILED"):
                await backend.post(url, form(text="z"))


@pytest.mark.parametrize(
    ("environ", "expected"),
    [
        pytest.param({}, False, id="none"),
        pytest.param({"HTTPS_PROXY": "http://proxy:3128"}, True, id="https"),
        pytest.param({"all_proxy": "socks5://proxy:1080"}, True, id="all-lowercase"),
        pytest.param({"HTTP_PROXY": ""}, False, id="empty"),
    ],
)
def test_a_proxy_in_the_environment_is_noticed(environ: dict[str, str], expected: bool) -> None:
    assert uses_proxy(environ) is expected
