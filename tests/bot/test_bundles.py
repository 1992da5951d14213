"""Which waiting alerts of a chat go out together (bot/delivery/bundles.py)."""

from __future__ import annotations

from typing import Any

from bot.delivery import bundles
from bot.storage.db import utc_now
from bot.storage.outbox import OutboxMessage

PAUSE_3 = {"inline_keyboard": [[{"text": "Pause", "callback_data": "rule:pause:3"}]]}
PAUSE_4 = {"inline_keyboard": [[{"text": "Pause", "callback_data": "rule:pause:4"}]]}


def alert(n: int, *, chat: int = 41, kind: str = "alert", **payload: Any) -> OutboxMessage:
    fields = {"text": f"<b>story {n}</b>", "parse_mode": "HTML", "reply_markup": PAUSE_3}
    return OutboxMessage(
        id=n,
        chat_id=chat,
        kind=kind,
        payload={**fields, **payload},
        dedupe_key=f"k{n}",
        status="sending",
        attempts=0,
        next_attempt_at=utc_now(),
        claimed_until=None,
        last_error=None,
        created_at=utc_now(),
        sent_at=None,
    )


def test_only_the_same_chats_alerts_of_the_same_rule_join() -> None:
    lead = alert(1)
    waiting = [
        lead,
        alert(2),
        alert(3, chat=42),
        alert(4, reply_markup=PAUSE_4),
        alert(5, kind="edit"),
        alert(6, parse_mode=None),
        alert(7),
    ]
    assert [m.id for m in bundles.companions(lead, waiting)] == [2, 7]


def test_a_bundle_stays_within_telegrams_length_and_its_count() -> None:
    long = "x" * 1500
    lead = alert(1, text=long)
    chosen = bundles.companions(lead, [alert(n, text=long) for n in range(2, 6)])
    assert [m.id for m in chosen] == [2]  # 3 x 1500 and separators would pass 4096
    payload = bundles.bundle_payload([lead, *chosen])
    assert len(payload["text"]) <= bundles.MAX_TEXT_LENGTH

    many = bundles.companions(alert(1), [alert(n) for n in range(2, 40)])
    assert len(many) + 1 == bundles.MAX_ALERTS


def test_a_bundle_is_silent_only_when_every_alert_in_it_is() -> None:
    quiet, loud = alert(1, disable_notification=True), alert(2, disable_notification=False)
    assert bundles.bundle_payload([quiet, alert(3, disable_notification=True)])[
        "disable_notification"
    ]
    payload = bundles.bundle_payload([quiet, loud])
    assert payload["disable_notification"] is False
    assert payload["text"] == "<b>story 1</b>\n\n<b>story 2</b>"
    assert payload["reply_markup"] == PAUSE_3 and payload["parse_mode"] == "HTML"
    assert "story_id" not in payload
