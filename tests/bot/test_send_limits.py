"""The send scheduler keeps Telegram's limits with a fake clock."""

from __future__ import annotations

from bot.delivery.limits import SendLimits, SendScheduler


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_global_rate_spaces_sends_evenly() -> None:
    clock = Clock()
    scheduler = SendScheduler(SendLimits(per_second=10), clock=clock)
    for chat in range(1, 200):
        while (wait := scheduler.wait_for(chat)) > 0:
            clock.now += wait
        scheduler.record_send(chat)
    assert 19.0 <= clock.now - 1000.0 <= 20.0  # 199 sends at 10/s


def test_private_chat_gets_one_message_per_second_and_group_one_per_three() -> None:
    clock = Clock()
    scheduler = SendScheduler(SendLimits(per_second=1000), clock=clock)
    scheduler.record_send(42)
    assert scheduler.wait_for(42) == 1.0
    assert scheduler.wait_for(43) <= 0.001
    scheduler.record_send(-100)
    assert scheduler.chat_wait(-100) == 3.0


def test_retry_after_pauses_everything() -> None:
    clock = Clock()
    scheduler = SendScheduler(SendLimits(), clock=clock)
    scheduler.pause(5)
    assert scheduler.wait_for(7) == 5.0
    clock.now += 5
    assert scheduler.wait_for(7) == 0.0
