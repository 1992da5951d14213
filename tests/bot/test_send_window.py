"""The sender's in-flight limit: grows while the network is the wait, shrinks when round trips
are our own queueing (see `bot.delivery.sender._Window`)."""

from __future__ import annotations

from bot.delivery.sender import INITIAL_IN_FLIGHT, MAX_IN_FLIGHT, MIN_IN_FLIGHT, _Window


def _feed(window: _Window, round_trip: float, n: int, *, full: bool = True) -> None:
    for _ in range(n):
        window.count += 1
        window.release(round_trip, was_full=full)


def test_grows_to_cover_a_slow_network_while_it_holds_sends_back() -> None:
    window = _Window()
    _feed(window, 0.060, 250)  # Telegram 60 ms away: steady round trips, no queueing
    assert window.limit >= 60  # 1000/s x 60 ms, reached in a quarter of a second at 1000/s
    _feed(window, 0.060, 1000)
    assert window.limit == MAX_IN_FLIGHT


def test_does_not_grow_when_the_pace_is_what_holds_sends_back() -> None:
    window = _Window()
    _feed(window, 0.060, 400, full=False)
    assert window.limit == INITIAL_IN_FLIGHT


def test_shrinks_when_round_trips_are_queueing_in_our_own_loop() -> None:
    window = _Window()
    _feed(window, 0.002, 50)  # an idle loop: the server answers in 2 ms
    _feed(window, 0.040, 300)  # a saturated loop: twenty times that
    assert MIN_IN_FLIGHT <= window.limit <= 5
    _feed(window, 0.002, 300)  # the queue is gone: room to grow again
    assert window.limit > 10


async def test_acquire_waits_for_a_free_slot() -> None:
    import asyncio

    window = _Window()
    window.limit = 2.0
    await window.acquire()
    await window.acquire()
    third = asyncio.create_task(window.acquire())
    await asyncio.sleep(0.01)
    assert not third.done() and window.full
    window.release(None, was_full=True)
    await asyncio.wait_for(third, 1)
    assert window.count == 2
