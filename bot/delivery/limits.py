"""Telegram's sending limits as a scheduler of send times.

Telegram allows about 30 messages/s per bot overall (1000/s with paid broadcasts), about one
message per second to one private chat and 20 per minute to one group. We space sends
evenly rather than bursting, so a 429 is the exception and a long fan-out runs at the
configured rate.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class SendLimits:
    per_second: float = 30.0
    private_chat_interval: float = 1.0
    group_chat_interval: float = 3.0  # 20 per minute

    def chat_interval(self, chat_id: int) -> float:
        # Group and channel ids are negative in the Bot API.
        return self.group_chat_interval if chat_id < 0 else self.private_chat_interval


class SendScheduler:
    """Decides when the next message to a chat may go out; remembers what it allowed."""

    def __init__(self, limits: SendLimits, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.limits = limits
        self._clock = clock
        self._next_global = 0.0
        self._next_chat: dict[int, float] = {}
        self._paused_until = 0.0

    def wait_for(self, chat_id: int) -> float:
        """Seconds until a message to `chat_id` may be sent (0 when it may go now)."""
        now = self._clock()
        ready = max(self._next_global, self._next_chat.get(chat_id, 0.0), self._paused_until)
        return max(0.0, ready - now)

    def chat_wait(self, chat_id: int) -> float:
        """Seconds this chat alone must wait, ignoring the global pace."""
        return max(0.0, self._next_chat.get(chat_id, 0.0) - self._clock())

    def record_send(self, chat_id: int) -> None:
        now = self._clock()
        self._next_global = max(now, self._next_global) + 1.0 / self.limits.per_second
        self._next_chat[chat_id] = now + self.limits.chat_interval(chat_id)
        if len(self._next_chat) > 100_000:
            self._forget_idle(now)

    def pause(self, seconds: float) -> None:
        """Telegram said RetryAfter: nothing goes out for `seconds`."""
        self._paused_until = max(self._paused_until, self._clock() + seconds)

    def _forget_idle(self, now: float) -> None:
        self._next_chat = {c: t for c, t in self._next_chat.items() if t > now}
