"""Alerts that queued up for one chat leave together, as one message.

Telegram lets a bot send a chat one message a second. A subscriber whose rule is "everything
in Ukraine" can be matched by thirty stories in the minute after a night of strikes; sent one
by one, the last would arrive half a minute late, and the phone would ring thirty times. So
when a chat's turn comes and several of its alerts are waiting in the sender's claimed rows,
they go as one message: their texts one after the other, up to `MAX_ALERTS` and Telegram's
4,096 characters. Only alerts with the same buttons (the same rule to pause) and the same
parse mode join; the message is silent only if every alert in it is.

Such a message is not edited later for one of its stories (the edit would replace the others'
text); escalations and resolutions still come as replies pointing at it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from bot.storage.outbox import OutboxMessage

# Telegram's limit on a message's text; counted on the HTML, which is never shorter than
# the text Telegram counts after parsing it.
MAX_TEXT_LENGTH = 4096
MAX_ALERTS = 10
SEPARATOR = "\n\n"


def joins(lead: OutboxMessage, other: OutboxMessage) -> bool:
    """Whether `other` may go out in one message with the alert `lead`."""
    return (
        other.kind == "alert"
        and lead.kind == "alert"
        and other.chat_id == lead.chat_id
        and other.id != lead.id
        and other.payload.get("parse_mode") == lead.payload.get("parse_mode")
        and other.payload.get("reply_markup") == lead.payload.get("reply_markup")
    )


def companions(lead: OutboxMessage, waiting: Iterable[OutboxMessage]) -> list[OutboxMessage]:
    """The alerts among `waiting` (in their order) that go out with `lead`: as many as fit."""
    chosen: list[OutboxMessage] = []
    length = len(str(lead.payload.get("text", "")))
    for other in waiting:
        if len(chosen) + 1 >= MAX_ALERTS:
            break
        if not joins(lead, other):
            continue
        added = len(SEPARATOR) + len(str(other.payload.get("text", "")))
        if length + added > MAX_TEXT_LENGTH:
            continue
        chosen.append(other)
        length += added
    return chosen


def bundle_payload(alerts: Sequence[OutboxMessage]) -> dict[str, Any]:
    """The payload of the one message that carries `alerts` (the first one leads)."""
    lead = alerts[0].payload
    payload: dict[str, Any] = {
        "text": SEPARATOR.join(str(a.payload.get("text", "")) for a in alerts),
        "disable_notification": all(a.payload.get("disable_notification") for a in alerts),
    }
    for key in ("parse_mode", "reply_markup"):
        if lead.get(key):
            payload[key] = lead[key]
    return payload
