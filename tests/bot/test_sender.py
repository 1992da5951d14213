"""The sender against the fake Bot API: delivery, edits, 429s, blocked and migrated chats,
permanent errors, and a crash mid-delivery."""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import select

from bot.delivery import sender as sender_module
from bot.delivery.sender import Sender
from bot.services import Services
from bot.storage import alerts as alerts_store
from bot.storage import outbox
from bot.storage import subscribers as subscribers_store
from bot.storage.db import utc_now
from bot.storage.tables import OutboxRow
from rules.models import Story
from tests.bot.pipeline_support import *  # noqa: F403
from tests.bot.pipeline_support import bot_for, make_settings, opened, subscribe
from tests.fakes import FakeTelegramAPI, Fault

pytest_plugins = ["tests.fakes.fixtures"]


@pytest.fixture
async def services(fake_telegram: FakeTelegramAPI, database_url: str) -> AsyncIterator[Services]:
    settings = make_settings(fake_telegram, database_url, send_rate_per_second=200.0)
    async with opened(settings) as svc:
        yield svc


@pytest.fixture
async def sender(services: Services, fake_telegram: FakeTelegramAPI) -> AsyncIterator[Sender]:
    async with bot_for(fake_telegram) as bot:
        sender = Sender(services, bot)
        yield sender
        await sender.aclose()


async def queue(
    services: Services, chat_id: int, key: str, *, kind: str = "notice", **payload: Any
) -> int:
    async with services.db.sessions() as session, session.begin():
        row = await outbox.enqueue(
            session,
            chat_id=chat_id,
            kind=kind,
            payload={"text": f"message {key}", **payload},
            dedupe_key=key,
        )
    return row.id


async def queue_one_each(services: Services, chats: list[int]) -> None:
    """One notice for each of `chats`, queued in that order."""
    async with services.db.sessions() as session, session.begin():
        await outbox.enqueue_many(
            session,
            messages=[
                outbox.NewMessage(chat, "notice", {"text": f"m{chat}"}, f"k{chat}")
                for chat in chats
            ],
        )


async def drain(sender: Sender, *, rounds: int = 40, pause: float = 0.05) -> None:
    """Drain until the queue is empty (retries included), within `rounds` batches."""
    for _ in range(rounds):
        await sender.drain_once()
        async with sender.services.db.sessions() as session:
            if await outbox.depth(session) == 0:
                return
        await asyncio.sleep(pause)
    raise AssertionError("outbox not drained")


async def statuses(services: Services) -> dict[str, str]:
    async with services.db.sessions() as session:
        rows = await session.execute(select(OutboxRow.dedupe_key, OutboxRow.status))
        return dict(rows.all())


def texts(api: FakeTelegramAPI, chat_id: int) -> list[str]:
    return [m.text for m in api.messages_to(chat_id)]


async def test_delivers_in_order_and_records_the_alert_message_for_edits(
    services: Services, sender: Sender, fake_telegram: FakeTelegramAPI
) -> None:
    await subscribe(services, 11)
    story = Story(id="s-1", title="t", first_published=utc_now(), last_published=utc_now())
    async with services.db.sessions() as session, session.begin():
        from bot.storage.stories import save_story

        await save_story(session, story=story)
        await alerts_store.record_alert(session, chat_id=11, story_id="s-1", fingerprint="f1")
    await queue(services, 11, "a1", kind="alert", story_id="s-1", parse_mode="HTML")
    await queue(services, 11, "e1", kind="edit", story_id="s-1", text="<b>edited</b>",
                parse_mode="HTML")  # fmt: skip
    await queue(services, 11, "r1", kind="reply", story_id="s-1", text="worse")
    await drain(sender)

    messages = fake_telegram.messages_to(11)
    assert [m.plain_text for m in messages] == ["edited", "worse"]
    assert messages[0].edits == 1
    assert messages[1].reply_to == messages[0].message_id
    async with services.db.sessions() as session:
        alert = await alerts_store.get_alert(session, chat_id=11, story_id="s-1")
    assert alert is not None and alert.message_id == messages[0].message_id
    assert set((await statuses(services)).values()) == {"sent"}


MARKUP = {"inline_keyboard": [[{"text": "Pause this rule", "callback_data": "pause:3"}]]}


@pytest.mark.parametrize("backend", ["own", "bot's httpx"])
async def test_a_message_carries_its_markup_silence_and_no_link_preview(
    services: Services, fake_telegram: FakeTelegramAPI, backend: str
) -> None:
    await queue(services, 12, "q1", text="<b>Kyiv</b> & Lviv", parse_mode="HTML",
                reply_markup=MARKUP, disable_notification=True)  # fmt: skip
    await queue(services, 13, "q2", text="plain <not html>")
    async with bot_for(fake_telegram) as bot:
        sender = Sender(services, bot, request=bot.request if backend != "own" else None)
        await drain(sender)
        await sender.aclose()

    [silent] = fake_telegram.messages_to(12)
    assert silent.plain_text == "Kyiv & Lviv" and silent.entities
    assert silent.buttons == [("Pause this rule", "pause:3")]
    [plain] = fake_telegram.messages_to(13)
    assert plain.plain_text == "plain <not html>" and plain.parse_mode is None
    calls = {c.chat_id: c.params for c in fake_telegram.calls_to("sendMessage")}
    assert calls[12]["disable_notification"] is True
    assert not calls[13].get("disable_notification")
    assert all(p["link_preview_options"] == {"is_disabled": True} for p in calls.values())


async def test_a_long_queue_goes_out_batch_after_batch_in_one_drain(
    services: Services, sender: Sender, fake_telegram: FakeTelegramAPI
) -> None:
    # 200/s: batches of 400, the second claimed while the first one's last 100 go out.
    chats = list(range(1000, 1500))
    await queue_one_each(services, chats)
    assert await sender.drain_once() == len(chats)
    assert Counter(c.chat_id for c in fake_telegram.calls_to("sendMessage")) == Counter(chats)
    assert set((await statuses(services)).values()) == {"sent"}


async def test_a_storm_of_429s_delays_but_loses_nothing(
    services: Services, sender: Sender, fake_telegram: FakeTelegramAPI
) -> None:
    chats = list(range(100, 120))
    for chat in chats:
        await queue(services, chat, f"n{chat}")
    rule = fake_telegram.add_fault(Fault.retry_after(1), method="sendMessage", times=6)
    await drain(sender)
    assert rule.hits == 6
    assert services.metrics.retry_after._value.get() == 6
    for chat in chats:
        assert texts(fake_telegram, chat) == [f"message n{chat}"]
    assert set((await statuses(services)).values()) == {"sent"}


async def test_a_blocked_chat_is_deactivated_and_nobody_else_misses_a_message(
    services: Services, sender: Sender, fake_telegram: FakeTelegramAPI
) -> None:
    await subscribe(services, 21, "power outage in Kyiv")
    await subscribe(services, 22, "power outage in Kyiv")
    fake_telegram.block(21)
    for n in range(3):
        await queue(services, 21, f"b{n}")
        await queue(services, 22, f"c{n}")
    await drain(sender)

    assert texts(fake_telegram, 22) == ["message c0", "message c1", "message c2"]
    assert texts(fake_telegram, 21) == []
    # One refused call was enough: the chat's other rows were dropped, not each tried.
    assert len([c for c in fake_telegram.calls_to("sendMessage") if c.chat_id == 21]) == 1
    status = await statuses(services)
    assert {status[f"b{n}"] for n in range(3)} == {"dead"}
    async with services.db.sessions() as session:
        chat = await subscribers_store.get_subscriber(session, chat_id=21)
    assert chat is not None and not chat.active
    assert {c for _, c in [(r, r) for r in services.rulebook.rules_of(21)]} == set()
    assert services.rulebook.rules_of(22)


async def test_transient_errors_are_retried_with_backoff(
    services: Services, sender: Sender, fake_telegram: FakeTelegramAPI
) -> None:
    fake_telegram.add_fault(Fault.server_error(502, "Bad Gateway"), method="sendMessage", times=1)
    await queue(services, 31, "t1")
    await sender.drain_once()
    async with services.db.sessions() as session:
        [row] = (await session.execute(select(OutboxRow))).scalars().all()
    assert row.status == "pending" and row.attempts == 1
    assert row.next_attempt_at > utc_now()  # backoff, not an immediate retry
    # Jump the row's time forward rather than sleeping through the backoff.
    async with services.db.sessions() as session, session.begin():
        await session.execute(
            OutboxRow.__table__.update().values(next_attempt_at=utc_now() - timedelta(seconds=1))
        )
    await drain(sender)
    assert texts(fake_telegram, 31) == ["message t1"]


async def test_permanent_bad_requests_fail_and_not_modified_counts_as_sent(
    services: Services, sender: Sender, fake_telegram: FakeTelegramAPI
) -> None:
    fake_telegram.add_fault(Fault.bad_request("can't parse entities"), chat_id=41, times=1)
    await queue(services, 41, "bad")
    fake_telegram.add_fault(Fault.not_modified(), chat_id=42, times=1)
    await queue(services, 42, "same")
    await drain(sender)
    status = await statuses(services)
    assert status == {"bad": "failed", "same": "sent"}
    assert len(fake_telegram.calls_to("sendMessage")) == 2  # neither retried


async def test_a_migrated_group_moves_with_its_rules_and_gets_the_message(
    services: Services, sender: Sender, fake_telegram: FakeTelegramAPI
) -> None:
    await subscribe(services, -51, "power outage in Kyiv")
    fake_telegram.migrate_chat(-51, -1000051)
    await queue(services, -51, "m1")
    await drain(sender)
    assert texts(fake_telegram, -1000051) == ["message m1"]
    async with services.db.sessions() as session:
        assert await subscribers_store.get_subscriber(session, chat_id=-51) is None
        moved = await subscribers_store.get_subscriber(session, chat_id=-1000051)
    assert moved is not None and moved.kind == "supergroup"
    assert services.rulebook.rules_of(-1000051) and not services.rulebook.rules_of(-51)


async def test_a_crash_mid_delivery_loses_nothing_and_repeats_at_most_one_per_chat(
    services: Services, fake_telegram: FakeTelegramAPI
) -> None:
    chats = list(range(200, 230))
    for chat in chats:
        for n in range(2):
            await queue(services, chat, f"{chat}-{n}")
    async with bot_for(fake_telegram) as bot:
        first = Sender(services, bot)
        # "Crash": claim a batch and send part of it the way the sender does (one message
        # per chat in flight), and never record the outcome.
        async with services.db.sessions() as session, session.begin():
            claimed = await outbox.claim_batch(session, now=utc_now(), limit=10)
        first_per_chat = {m.chat_id: m for m in reversed(claimed)}
        for message in list(first_per_chat.values())[:5]:
            await bot.send_message(message.chat_id, message.payload["text"])
        second = Sender(services, bot)
        assert await second.recover() == 10
        await drain(second)
        await first.aclose()
        await second.aclose()

    per_chat = {chat: Counter(texts(fake_telegram, chat)) for chat in chats}
    for chat, counts in per_chat.items():
        assert set(counts) == {f"message {chat}-0", f"message {chat}-1"}, chat
        assert sum(counts.values()) - 2 <= 1, counts
    assert sum(sum(c.values()) for c in per_chat.values()) == 2 * len(chats) + 5


async def test_a_standby_leaves_a_live_senders_claims_until_they_lapse(
    services: Services, fake_telegram: FakeTelegramAPI
) -> None:
    """A sender taking over (recover_on_start=False) must not resend rows another sender
    still holds: that one may be alive, with the rows in flight. Once the claim lapses (the
    other one really died), they are sent."""
    for chat in range(300, 306):
        await queue(services, chat, f"{chat}")
    now = utc_now()
    async with services.db.sessions() as session, session.begin():
        held = await outbox.claim_batch(
            session, now=now, limit=3, claim_seconds=sender_module.CLAIM_SECONDS
        )
    held_keys = {m.dedupe_key for m in held}
    async with bot_for(fake_telegram) as bot:
        standby = Sender(services, bot, recover_on_start=False, clock=lambda: now)
        running = asyncio.create_task(standby.run_forever())  # the role's loop, start included

        def sent_texts() -> set[str]:
            return {m for chat in range(300, 306) for m in texts(fake_telegram, chat)}

        for _ in range(100):
            if len(sent_texts()) >= 3:
                break
            await asyncio.sleep(0.05)
        await asyncio.sleep(0.5)  # time enough to send more, were it going to
        standby.request_stop()
        await running
        sent = sent_texts()
        assert sent == {f"message {chat}" for chat in range(300, 306)} - {
            f"message {key}" for key in held_keys
        }
        lapsed = now + timedelta(seconds=sender_module.CLAIM_SECONDS + 1)
        later = Sender(services, bot, recover_on_start=False, clock=lambda: lapsed)
        await later.drain_once()
        await later.aclose()
    assert Counter(m for chat in range(300, 306) for m in texts(fake_telegram, chat)) == Counter(
        f"message {chat}" for chat in range(300, 306)
    )


async def test_a_late_outcome_does_not_undo_a_newer_claim(services: Services) -> None:
    """Sender A's claim lapsed and sender B claimed the row; A's late 'put it back in the
    queue' (a release or a retry) must leave B's claim alone, or B's 'sent' would not apply
    and the row would go out a third time."""
    row_id = await queue(services, 400, "400")
    now = utc_now()
    async with services.db.sessions() as session, session.begin():
        (old,) = await outbox.claim_batch(session, now=now, limit=1, claim_seconds=10)
    lapsed = now + timedelta(seconds=11)
    async with services.db.sessions() as session, session.begin():
        (new,) = await outbox.claim_batch(session, now=lapsed, limit=1, claim_seconds=10)
    assert new.id == old.id == row_id and new.claimed_until != old.claimed_until
    async with services.db.sessions() as session, session.begin():
        assert not await outbox.mark_retry(
            session,
            outbox_id=row_id,
            now=lapsed,
            delay=1.0,
            error="late",
            claimed_until=old.claimed_until,
        )
        await sender_module._release(session, old, lapsed, "late release")
    async with services.db.sessions() as session:
        row = (await session.execute(select(OutboxRow).where(OutboxRow.id == row_id))).scalar_one()
        assert (row.status, row.claimed_until) == ("sending", new.claimed_until)
    # Under its own claim, the newer holder's outcome applies.
    async with services.db.sessions() as session, session.begin():
        assert await outbox.mark_retry(
            session,
            outbox_id=row_id,
            now=lapsed,
            delay=1.0,
            error="5xx",
            claimed_until=new.claimed_until,
        )
    assert (await statuses(services))["400"] == "pending"


async def test_edits_of_alerts_sent_earlier_find_their_messages_in_one_lookup_a_batch(
    services: Services, fake_telegram: FakeTelegramAPI
) -> None:
    """A sender that did not send the alerts itself (restarted, or the standby) learns the
    original message ids of a claimed batch's edits and replies together when it claims them
    (one query per story, not one per edit), and edits and replies to the right messages."""
    chats = [31, 32, 33]
    story = Story(id="s-2", title="t", first_published=utc_now(), last_published=utc_now())
    for chat in chats:
        await subscribe(services, chat)
    async with services.db.sessions() as session, session.begin():
        from bot.storage.stories import save_story

        await save_story(session, story=story)
        for chat in chats:
            await alerts_store.record_alert(session, chat_id=chat, story_id="s-2", fingerprint="f")
    for chat in chats:
        await queue(services, chat, f"a{chat}", kind="alert", story_id="s-2")
    async with bot_for(fake_telegram) as bot:
        first = Sender(services, bot)
        await drain(first)
        await first.aclose()
        for chat in chats:
            await queue(services, chat, f"e{chat}", kind="edit", story_id="s-2", text="newer")
            await queue(services, chat, f"r{chat}", kind="reply", story_id="s-2", text="worse")
        second = Sender(services, bot)
        await drain(second)
        assert set(second._originals) == {(chat, "s-2") for chat in chats}
        await second.aclose()
    for chat in chats:
        original, reply = fake_telegram.messages_to(chat)
        assert (original.plain_text, original.edits) == ("newer", 1)
        assert (reply.plain_text, reply.reply_to) == ("worse", original.message_id)
    assert set((await statuses(services)).values()) == {"sent"}


async def test_a_chats_messages_leave_with_a_margin_over_its_limit(
    services: Services, fake_telegram: FakeTelegramAPI
) -> None:
    """Telegram counts a chat's messages on arrival: spacing them exactly one second apart
    on departure lets network jitter bring two within a second (a 429, and a pause for
    every chat). The sender keeps a margin."""
    for n in range(4):
        await queue(services, 41, f"m{n}")
    async with bot_for(fake_telegram) as bot:
        sender = Sender(services, bot)
        await drain(sender)
        await sender.aclose()
    times = [c.time for c in fake_telegram.calls_to("sendMessage") if c.chat_id == 41]
    assert len(times) == 4
    gaps = [later - earlier for earlier, later in itertools.pairwise(times)]
    assert min(gaps) >= 1.0 + sender_module.CHAT_SPACING_MARGIN * 0.5, gaps


async def test_a_chat_waiting_on_its_limit_does_not_hold_back_the_next_batch(
    services: Services, sender: Sender, fake_telegram: FakeTelegramAPI
) -> None:
    """At 200/s a batch is 400 rows. Chat 41's four messages need over three seconds (one a
    second), the other 396 chats of the first batch two: the next batch's chats go out as
    soon as it is claimed, not after chat 41's last message."""
    for n in range(4):
        await queue(services, 41, f"m{n}")
    others = list(range(1000, 1400))
    await queue_one_each(services, others)
    assert await sender.drain_once() == 4 + len(others)
    sent = {c.chat_id: c.time for c in fake_telegram.calls_to("sendMessage")}
    last_of_41 = max(c.time for c in fake_telegram.calls_to("sendMessage") if c.chat_id == 41)
    second_batch = others[-4:]
    assert all(sent[chat] < last_of_41 - 0.5 for chat in second_batch), [
        round(last_of_41 - sent[chat], 2) for chat in second_batch
    ]
    assert Counter(c.chat_id for c in fake_telegram.calls_to("sendMessage")) == Counter(
        [41] * 4 + others
    )
    assert set((await statuses(services)).values()) == {"sent"}


async def test_a_chats_new_alert_goes_before_its_follow_ups_carried_from_the_last_batch(
    services: Services, sender: Sender, fake_telegram: FakeTelegramAPI
) -> None:
    """Chat 41 has four replies in a full first batch (one a second), and a notice that
    becomes due while they go out: the notice, claimed with the next batch, takes the chat's
    next turn instead of waiting behind the replies left over from the first."""
    others = list(range(1000, 1396))
    replies = [outbox.NewMessage(41, "reply", {"text": f"r{n}"}, f"r41-{n}") for n in range(4)]
    replies += [outbox.NewMessage(chat, "reply", {"text": "r"}, f"r{chat}") for chat in others]
    async with services.db.sessions() as session, session.begin():
        await outbox.enqueue_many(session, messages=replies)
        await outbox.enqueue(
            session,
            chat_id=41,
            kind="notice",
            payload={"text": "news"},
            dedupe_key="news41",
            not_before=utc_now() + timedelta(seconds=0.6),
        )
    assert await sender.drain_once() == len(replies) + 1
    texts = [c.params["text"] for c in fake_telegram.calls_to("sendMessage") if c.chat_id == 41]
    assert len(texts) == 5
    assert texts.index("news") < 4, texts
    assert set((await statuses(services)).values()) == {"sent"}


async def alerted(services: Services, chat_id: int, *story_ids: str) -> None:
    """Stories `story_ids`, each with an alert recorded for `chat_id` (as the worker does)."""
    from bot.storage.stories import save_story

    async with services.db.sessions() as session, session.begin():
        for story_id in story_ids:
            story = Story(
                id=story_id, title=story_id, first_published=utc_now(), last_published=utc_now()
            )
            await save_story(session, story=story)
            await alerts_store.record_alert(
                session, chat_id=chat_id, story_id=story_id, fingerprint="f"
            )


async def queue_alerts(services: Services, chat_id: int, *story_ids: str, **payload: Any) -> None:
    for story_id in story_ids:
        await queue(services, chat_id, f"a:{chat_id}:{story_id}", kind="alert",
                    text=f"<b>{story_id}</b>", parse_mode="HTML", reply_markup=MARKUP,
                    story_id=story_id, **payload)  # fmt: skip


async def test_alerts_waiting_for_one_chat_go_out_as_one_message_never_edited_after(
    services: Services, sender: Sender, fake_telegram: FakeTelegramAPI
) -> None:
    """Three alerts for chat 41 at once leave in one message (Telegram would space them a
    second apart); chat 42's single alert goes as it is. A later edit of one story in the
    bundle is not made (it would replace the other two); a reply points at the bundle."""
    for chat in (41, 42):
        await subscribe(services, chat)
    await alerted(services, 41, "s-a", "s-b", "s-c")
    await alerted(services, 42, "s-a")
    await queue_alerts(services, 41, "s-a", "s-b", "s-c", disable_notification=True)
    await queue_alerts(services, 42, "s-a")
    await drain(sender)

    [bundle] = fake_telegram.messages_to(41)
    assert bundle.plain_text == "s-a\n\ns-b\n\ns-c"
    assert bundle.buttons == [("Pause this rule", "pause:3")]
    [call] = [c for c in fake_telegram.calls_to("sendMessage") if c.chat_id == 41]
    assert call.params["disable_notification"] is True
    [single] = fake_telegram.messages_to(42)
    assert single.plain_text == "s-a"
    async with services.db.sessions() as session:
        stored = {
            (chat, story): await alerts_store.get_alert(session, chat_id=chat, story_id=story)
            for chat, story in [(41, "s-a"), (41, "s-b"), (41, "s-c"), (42, "s-a")]
        }
    assert {(a.message_id, a.bundled) for k, a in stored.items() if k[0] == 41 and a} == {
        (bundle.message_id, True)
    }
    assert (stored[(42, "s-a")].message_id, stored[(42, "s-a")].bundled) == (
        single.message_id,
        False,
    )

    await queue(services, 41, "e41", kind="edit", story_id="s-b", text="newer")
    await queue(services, 41, "r41", kind="reply", story_id="s-b", text="worse")
    await queue(services, 42, "e42", kind="edit", story_id="s-a", text="newer")
    await drain(sender)
    bundle, reply = fake_telegram.messages_to(41)
    assert (bundle.plain_text, bundle.edits) == ("s-a\n\ns-b\n\ns-c", 0)
    assert (reply.plain_text, reply.reply_to) == ("worse", bundle.message_id)
    assert [(m.plain_text, m.edits) for m in fake_telegram.messages_to(42)] == [("newer", 1)]
    status = await statuses(services)
    assert status["e41"] == "failed" and status["e42"] == status["r41"] == "sent"


async def test_a_bundle_that_is_refused_or_delayed_loses_none_of_its_alerts(
    services: Services, sender: Sender, fake_telegram: FakeTelegramAPI
) -> None:
    """A 429 on a bundle hands all of its alerts back (each is delivered once, later); a chat
    that blocked the bot ends all of them."""
    for chat in (41, 43):
        await subscribe(services, chat)
    await alerted(services, 41, "s-a", "s-b")
    await alerted(services, 43, "s-a", "s-b")
    await queue_alerts(services, 41, "s-a", "s-b")
    await queue_alerts(services, 43, "s-a", "s-b")
    fake_telegram.block(43)
    rule = fake_telegram.add_fault(Fault.retry_after(1), method="sendMessage", chat_id=41, times=1)
    await drain(sender)

    assert rule.hits == 1
    delivered = [m.plain_text for m in fake_telegram.messages_to(41)]
    assert sorted("\n\n".join(delivered).split("\n\n")) == ["s-a", "s-b"]
    status = await statuses(services)
    assert status["a:41:s-a"] == status["a:41:s-b"] == "sent"
    assert status["a:43:s-a"] == status["a:43:s-b"] == "dead"
    assert len([c for c in fake_telegram.calls_to("sendMessage") if c.chat_id == 43]) == 1
