"""The fake Telegram Bot API (tests/fakes) in its own process, as Telegram is another machine:
the test injects faults and reads back every call the bot processes made.
"""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass
from typing import Any

from tests.fakes import FakeTelegramAPI, Fault, Rate, RateLimits
from tests.scaleout.child import ChildService


@dataclass(frozen=True, slots=True)
class Call:
    """One Bot API request: `at` is time.monotonic() when it was answered (or refused)."""

    method: str
    chat_id: int | None
    text: str | None
    status: int
    at: float


class FakeApiService:
    """The server side (runs in the child process)."""

    def __init__(self, *, token: str, global_rate: int | None = None) -> None:
        limits = RateLimits(global_rate=Rate(global_rate, 1.0)) if global_rate else None
        self.api = FakeTelegramAPI(token=token, rate_limits=limits, clock=time.monotonic)

    async def start(self) -> dict[str, Any]:
        await self.api.start()
        return {"url": self.api.url}

    async def stop(self) -> None:
        await self.api.stop()

    async def rpc_add_fault(
        self,
        *,
        error_code: int | None = None,
        description: str = "",
        parameters: dict[str, Any] | None = None,
        delay: float = 0.0,
        method: str | None = None,
        chat_id: int | None = None,
        times: int | None = None,
        probability: float | None = None,
    ) -> None:
        fault = Fault(error_code, description, parameters, delay)
        self.api.add_fault(
            fault, method=method, chat_id=chat_id, times=times, probability=probability
        )

    async def rpc_clear_faults(self) -> None:
        self.api.clear_faults()

    async def rpc_calls(self, *, start: int = 0) -> list[tuple[Any, ...]]:
        return [
            (c.method, c.chat_id if isinstance(c.chat_id, int) else None, c.text, c.status, c.time)
            for c in self.api.calls[start:]
        ]

    async def rpc_internal_errors(self) -> list[str]:
        return [repr(e) for e in self.api.internal_errors]


class FakeApi:
    """The test's handle on the fake Bot API process."""

    def __init__(self, *, token: str, global_rate: int | None = None) -> None:
        self._child = ChildService(FakeApiService, token=token, global_rate=global_rate)
        self.url: str = self._child.info["url"]
        self.token = token

    def add_fault(
        self,
        fault: Fault,
        *,
        method: str | None = None,
        chat_id: int | None = None,
        times: int | None = None,
        probability: float | None = None,
    ) -> None:
        self._child.call(
            "add_fault",
            error_code=fault.error_code,
            description=fault.description,
            parameters=dict(fault.parameters) if fault.parameters else None,
            delay=fault.delay,
            method=method,
            chat_id=chat_id,
            times=times,
            probability=probability,
        )

    def clear_faults(self) -> None:
        self._child.call("clear_faults")

    def calls(self) -> list[Call]:
        return [Call(*row) for row in self._child.call("calls")]

    def delivered(self) -> list[Call]:
        """sendMessage calls that Telegram accepted (the user saw them), in order."""
        return [c for c in self.calls() if c.method == "sendMessage" and c.status == 200]

    def delivered_counts(self) -> Counter[tuple[int, str]]:
        """How often each (chat, text) was delivered: the exactly-once check reads this."""
        return Counter((c.chat_id, c.text or "") for c in self.delivered() if c.chat_id is not None)

    def internal_errors(self) -> list[str]:
        return list(self._child.call("internal_errors"))

    def close(self) -> None:
        self._child.close()
