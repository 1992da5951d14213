"""The sender's in-flight limit: twice the rate times the shortest recent round trip, between
`MIN_IN_FLIGHT` and `MAX_IN_FLIGHT` (see `bot.delivery.sender._Window`)."""

from __future__ import annotations

import asyncio

import pytest

from bot.delivery.sender import MAX_IN_FLIGHT, MIN_IN_FLIGHT, ROUND_TRIP_WINDOW, _Window


def _feed(window: _Window, round_trips: list[float]) -> None:
    for round_trip in round_trips:
        window.count += 1
        window.release(round_trip)


@pytest.mark.parametrize(
    ("per_second", "round_trip", "expected"),
    [
        pytest.param(1000, 0.060, 120, id="telegram-60ms-away"),
        pytest.param(1000, 0.0005, MIN_IN_FLIGHT, id="local-network"),
        pytest.param(1000, 0.5, MAX_IN_FLIGHT, id="very-slow-route"),
        pytest.param(30, 0.060, MIN_IN_FLIGHT, id="free-tier"),
    ],
)
def test_covers_the_round_trip_at_the_rate(
    per_second: float, round_trip: float, expected: int
) -> None:
    window = _Window(per_second)
    _feed(window, [round_trip] * 10)
    assert window.limit == expected


def test_queueing_in_round_trips_neither_grows_nor_shrinks_it() -> None:
    # A busy machine: answers in 0.5 ms at best, often 10 ms. An earlier limit shrank to 4
    # here and held 1000/s down to 600-800/s.
    window = _Window(1000)
    _feed(window, [0.0005, 0.010, 0.003, 0.008] * 200)
    assert window.limit == MIN_IN_FLIGHT
    _feed(window, [0.060] * 10 + [0.200] * 10)  # Telegram's route, with queueing on top
    assert window.limit == MIN_IN_FLIGHT  # still the shortest of the recent round trips


def test_a_route_that_became_slower_is_noticed_within_two_sample_windows() -> None:
    window = _Window(1000)
    _feed(window, [0.020] * ROUND_TRIP_WINDOW)
    assert window.limit == 40
    _feed(window, [0.060] * (2 * ROUND_TRIP_WINDOW))
    assert window.limit == 120


async def test_acquire_waits_for_a_free_slot() -> None:
    window = _Window(1000)
    for _ in range(MIN_IN_FLIGHT):
        await window.acquire()
    late = asyncio.create_task(window.acquire())
    await asyncio.sleep(0.01)
    assert not late.done() and window.full
    window.release(None)
    await asyncio.wait_for(late, 1)
    assert window.count == MIN_IN_FLIGHT
