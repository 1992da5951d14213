"""A test service (feed server, fake Bot API) in a spawned process of its own, driven over a
pipe: the parent calls `rpc_*` coroutines of the child's service object and gets the result.

A separate process gives the service its own core and event loop, as a real feed site or
Telegram would have, and lets the bot's processes be killed without touching it.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import threading
from multiprocessing.connection import Connection
from typing import Any, Protocol


class Service(Protocol):
    async def start(self) -> dict[str, Any]: ...

    async def stop(self) -> None: ...


class ChildError(RuntimeError):
    """The child's service raised; the message carries its repr."""


def _serve(conn: Connection, factory: type[Service], kwargs: dict[str, Any]) -> None:
    asyncio.run(_main(conn, factory, kwargs))


async def _main(conn: Connection, factory: type[Service], kwargs: dict[str, Any]) -> None:
    service = factory(**kwargs)
    info = await service.start()
    conn.send(("ready", info))
    loop = asyncio.get_running_loop()
    try:
        while True:
            try:
                # A thread waits on the pipe so that the service keeps serving meanwhile.
                name, args = await loop.run_in_executor(None, conn.recv)
            except (EOFError, OSError):  # the parent is gone
                return
            if name == "stop":
                break
            try:
                result = await getattr(service, f"rpc_{name}")(**args)
            except Exception as exc:
                conn.send(("error", repr(exc)))
            else:
                conn.send(("ok", result))
    finally:
        await service.stop()
    conn.send(("ok", None))


class ChildService:
    """The parent's handle: `call(name, **args)`; `close()` stops the child (kills if stuck)."""

    def __init__(self, factory: type[Service], **kwargs: Any) -> None:
        context = multiprocessing.get_context("spawn")
        self._conn, child_conn = context.Pipe()
        self._lock = threading.Lock()
        self.process = context.Process(
            target=_serve, args=(child_conn, factory, kwargs), daemon=True
        )
        self.process.start()
        child_conn.close()
        if not self._conn.poll(60):
            self.close()
            raise ChildError(f"{factory.__name__} did not start within 60 s")
        status, info = self._conn.recv()
        assert status == "ready", (status, info)
        self.info: dict[str, Any] = info

    def call(self, name: str, timeout: float = 60.0, **args: Any) -> Any:
        with self._lock:
            self._conn.send((name, args))
            if not self._conn.poll(timeout):
                raise ChildError(f"{name}: no answer within {timeout} s")
            status, result = self._conn.recv()
        if status != "ok":
            raise ChildError(f"{name}: {result}")
        return result

    def close(self) -> None:
        if self.process.is_alive():
            try:
                with self._lock:
                    self._conn.send(("stop", {}))
                    self._conn.poll(10)
            except (OSError, EOFError):
                pass
            self.process.join(timeout=10)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(timeout=5)
        self._conn.close()
