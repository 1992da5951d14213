"""`/start`: a welcome and a three-step guided setup with inline buttons — places, what to
watch, instant or digest — that ends in ordinary rules the person can see and edit in /rules.
"""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import Any

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import BaseHandler, CallbackQueryHandler, CommandHandler, MessageHandler, filters

from bot.handlers.common import (
    BotContext,
    edit_or_reply,
    is_chat_admin,
    reply,
    require_admin,
    subscriber_for,
)
from bot.i18n import t
from bot.storage import rules as rules_store
from bot.storage import setup_drafts as drafts_store
from bot.storage import subscribers as subscribers_store
from bot.storage.errors import RuleLimitReached
from feeds.models import Category
from rules.language import RuleSyntaxError, format_rule
from rules.rule import Delivery, Rule

# Kyiv city first: most subscribers live there, and it is its own oblast-level unit.
FIRST_PLACE = "UA80"
WATCHES: tuple[tuple[str, Category], ...] = (
    ("power", Category.POWER_OUTAGE),
    ("heating", Category.HEATING_OUTAGE),
    ("water", Category.WATER_OUTAGE),
    ("attacks", Category.ENERGY_ATTACK),
)
COLD_STEPS: tuple[int | None, ...] = (None, -10, -15, -20)
_STAGES = ("places", "watch", "delivery")


@dataclass(slots=True)
class SetupDraft:
    """What the person has chosen so far; stored after every step (`setup_drafts`), so a
    restart or another web process carries on from the same point."""

    places: list[str] = field(default_factory=list)
    watches: set[str] = field(default_factory=set)
    cold_c: int | None = None
    stage: str = "places"

    def toggle_place(self, place_id: str) -> None:
        if place_id in self.places:
            self.places.remove(place_id)
        else:
            self.places.append(place_id)

    def rules(self, delivery: Delivery) -> list[Rule]:
        """The rules this setup stands for: one for the categories, one for the cold."""
        places = frozenset(self.places)
        found: list[Rule] = []
        categories = frozenset(c for key, c in WATCHES if key in self.watches)
        if categories:
            found.append(Rule(categories=categories, places=places, delivery=delivery))
        if self.cold_c is not None:
            found.append(Rule(max_temp_c=float(self.cold_c), places=places, delivery=delivery))
        return found

    def to_dict(self) -> dict[str, Any]:
        return {
            "places": list(self.places),
            "watches": sorted(self.watches),
            "cold_c": self.cold_c,
            "stage": self.stage,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> SetupDraft | None:
        """The draft stored as `data`, or None when it is not one (a shape from elsewhere)."""
        places, watches = data.get("places"), data.get("watches")
        cold, stage = data.get("cold_c"), data.get("stage")
        if not (isinstance(places, list) and all(isinstance(p, str) for p in places)):
            return None
        if not (isinstance(watches, list) and set(watches) <= {k for k, _ in WATCHES}):
            return None
        if cold not in COLD_STEPS or stage not in _STAGES:
            return None
        return cls(places=places, watches=set(watches), cold_c=cold, stage=stage)


async def _draft(context: BotContext, chat_id: int) -> SetupDraft | None:
    async with context.services.db.sessions() as session:
        stored = await drafts_store.load_draft(session, chat_id=chat_id)
    return SetupDraft.from_dict(stored) if stored is not None else None


async def _save(context: BotContext, chat_id: int, draft: SetupDraft) -> None:
    async with context.services.db.sessions() as session, session.begin():
        await drafts_store.save_draft(session, chat_id=chat_id, draft=draft.to_dict())


def _place_name(context: BotContext, place_id: str, lang: str) -> str:
    return context.services.gazetteer.display_name(place_id, lang)


def _mark(chosen: bool, text: str) -> str:
    return f"✅ {text}" if chosen else text


def places_keyboard(context: BotContext, draft: SetupDraft, lang: str) -> InlineKeyboardMarkup:
    """Kyiv city first, then every oblast by name in the chat's language; typed towns on top."""
    gazetteer = context.services.gazetteer
    oblasts = [p.id for p in gazetteer.oblasts() if p.id != FIRST_PLACE]
    oblasts.sort(key=lambda pid: _place_name(context, pid, lang))
    extra = [p for p in draft.places if p != FIRST_PLACE and p not in oblasts]
    ids = [*extra, FIRST_PLACE, *oblasts]
    buttons = [
        InlineKeyboardButton(
            _mark(pid in draft.places, _place_name(context, pid, lang)),
            callback_data=f"setup:place:{pid}",
        )
        for pid in ids
    ]
    rows = [buttons[i : i + 2] for i in range(0, len(buttons), 2)]
    rows.append([InlineKeyboardButton(t(lang, "start.next"), callback_data="setup:places_done")])
    return InlineKeyboardMarkup(rows)


def watch_keyboard(draft: SetupDraft, lang: str) -> InlineKeyboardMarkup:
    rows = [
        [
            InlineKeyboardButton(
                _mark(key in draft.watches, t(lang, f"start.watch_{key}")),
                callback_data=f"setup:watch:{key}",
            )
        ]
        for key, _ in WATCHES
    ]
    cold = (
        t(lang, "start.cold_off")
        if draft.cold_c is None
        else _mark(True, t(lang, "start.cold_on", threshold=f"−{abs(draft.cold_c)}"))
    )
    rows.append([InlineKeyboardButton(cold, callback_data="setup:cold")])
    rows.append([InlineKeyboardButton(t(lang, "start.next"), callback_data="setup:watch_done")])
    return InlineKeyboardMarkup(rows)


def delivery_keyboard(lang: str) -> InlineKeyboardMarkup:
    return InlineKeyboardMarkup(
        [
            [
                InlineKeyboardButton(
                    t(lang, f"start.deliver_{d}"), callback_data=f"setup:deliver:{d}"
                )
            ]
            for d in ("instant", "digest", "both")
        ]
    )


def _places_text(context: BotContext, draft: SetupDraft, lang: str) -> str:
    chosen = ", ".join(html.escape(_place_name(context, p, lang)) for p in draft.places)
    return t(lang, "start.places", chosen=chosen or t(lang, "start.chosen_none"))


async def start(update: Update, context: BotContext) -> None:
    """Welcome the chat, switch its alerts back on and begin the guided setup."""
    subscriber = await subscriber_for(update, context)
    lang = subscriber.language
    services = context.services
    chat_id = subscriber.chat_id
    admin = await is_chat_admin(update, context)
    resumed = subscriber.paused and admin
    if resumed:
        async with services.db.sessions() as session, session.begin():
            await subscribers_store.update_subscriber(session, chat_id=chat_id, paused=False)
        await services.rulebook.refresh_chat(chat_id)
    async with services.db.sessions() as session:
        count = await rules_store.count_rules(session, chat_id=chat_id)
    text = t(lang, "start.welcome_back", count=count) if count else t(lang, "start.welcome")
    await reply(update, f"{text}\n{t(lang, 'start.resumed')}" if resumed else text)
    if not admin:
        await reply(update, t(lang, "errors.admins_only"))
        return
    draft = SetupDraft()
    await _save(context, chat_id, draft)
    await reply(
        update, _places_text(context, draft, lang), markup=places_keyboard(context, draft, lang)
    )


async def setup_button(update: Update, context: BotContext) -> None:
    """A button of the setup: toggle a place or a watch, or go to the next step."""
    query = update.callback_query
    assert query is not None and query.data is not None
    subscriber = await subscriber_for(update, context)
    lang = subscriber.language
    if not await require_admin(update, context, lang):
        return
    chat_id = subscriber.chat_id
    draft = await _draft(context, chat_id)
    if draft is None:
        await query.answer(t(lang, "start.expired"), show_alert=True)
        return
    _, action, *rest = query.data.split(":", 2)
    value = rest[0] if rest else ""
    if action == "place" and draft.stage == "places":
        if context.services.gazetteer.get(value) is not None:
            draft.toggle_place(value)
            await _save(context, chat_id, draft)
        await query.answer()
        await edit_or_reply(
            update, _places_text(context, draft, lang), markup=places_keyboard(context, draft, lang)
        )
    elif action == "places_done":
        if not draft.places:
            await query.answer(t(lang, "start.need_place"), show_alert=True)
            return
        draft.stage = "watch"
        await _save(context, chat_id, draft)
        await query.answer()
        await edit_or_reply(update, t(lang, "start.watch"), markup=watch_keyboard(draft, lang))
    elif action in ("watch", "cold") and draft.stage == "watch":
        if action == "cold":
            draft.cold_c = COLD_STEPS[(COLD_STEPS.index(draft.cold_c) + 1) % len(COLD_STEPS)]
        elif value in dict(WATCHES):
            draft.watches ^= {value}
        await _save(context, chat_id, draft)
        await query.answer()
        await edit_or_reply(update, t(lang, "start.watch"), markup=watch_keyboard(draft, lang))
    elif action == "watch_done" and draft.stage == "watch":
        if not draft.watches and draft.cold_c is None:
            await query.answer(t(lang, "start.need_watch"), show_alert=True)
            return
        draft.stage = "delivery"
        await _save(context, chat_id, draft)
        await query.answer()
        time_text = subscriber.digest_time.strftime("%H:%M")
        await edit_or_reply(
            update, t(lang, "start.deliver", time=time_text), markup=delivery_keyboard(lang)
        )
    elif action == "deliver" and draft.stage == "delivery" and value in set(Delivery):
        await query.answer()
        await _finish(update, context, draft, Delivery(value), lang)
    else:
        # A button of an older step (or a tampered one): nothing to do.
        await query.answer(t(lang, "start.expired"))


async def _finish(
    update: Update, context: BotContext, draft: SetupDraft, delivery: Delivery, lang: str
) -> None:
    """Store the chosen rules and show them."""
    chat = update.effective_chat
    assert chat is not None
    services = context.services
    texts: list[str] = []
    problem: str | None = None
    for rule in draft.rules(delivery):
        text = format_rule(rule, places=services.gazetteer, lang=lang)
        try:
            stored = await services.rulebook.add(chat_id=chat.id, text=text, lang=lang)
        except RuleLimitReached as exc:
            problem = t(lang, "rules.limit", limit=exc.limit)
            break
        except RuleSyntaxError:  # format_rule's output always parses; keep the rest anyway
            continue
        texts.append(f"• <code>{html.escape(stored.text)}</code>")
    if delivery is not Delivery.INSTANT:
        async with services.db.sessions() as session, session.begin():
            await subscribers_store.update_subscriber(session, chat_id=chat.id, digest_enabled=True)
    async with services.db.sessions() as session, session.begin():
        await drafts_store.delete_draft(session, chat_id=chat.id)
    done = t(lang, "start.done", rules="\n".join(texts) or "—")
    await edit_or_reply(update, f"{done}\n\n{problem}" if problem else done)


async def typed_place(update: Update, context: BotContext) -> None:
    """Text while choosing places: a town or oblast name to add; otherwise a hint."""
    message = update.effective_message
    if message is None or message.text is None:
        return
    chat = update.effective_chat
    assert chat is not None
    draft = await _draft(context, chat.id)
    if draft is None or draft.stage != "places":
        if chat.type == chat.PRIVATE:
            subscriber = await subscriber_for(update, context)
            await reply(update, t(subscriber.language, "errors.plain_text"))
        return
    # In a group, other members' chatter during an admin's setup is not for us.
    if not await is_chat_admin(update, context):
        return
    subscriber = await subscriber_for(update, context)
    lang = subscriber.language
    gazetteer = context.services.gazetteer
    name = message.text.strip()
    place_id = gazetteer.lookup(name)
    if place_id is None:
        suggestions = gazetteer.suggest(name)
        hint = (
            t(lang, "start.did_you_mean", candidates=", ".join(html.escape(s) for s in suggestions))
            if suggestions
            else t(lang, "start.place_hint")
        )
        await reply(update, t(lang, "start.place_unknown", text=html.escape(name[:100]), hint=hint))
        return
    if place_id not in draft.places:
        draft.places.append(place_id)
        await _save(context, chat.id, draft)
    await reply(
        update,
        _places_text(context, draft, lang),
        markup=places_keyboard(context, draft, lang),
    )


async def shared_location(update: Update, context: BotContext) -> None:
    """A location while choosing places: add the oblast (or Kyiv city) it lies in."""
    message = update.effective_message
    if message is None or message.location is None:
        return
    subscriber = await subscriber_for(update, context)
    lang = subscriber.language
    draft = await _draft(context, subscriber.chat_id)
    if not await is_chat_admin(update, context):
        return
    if draft is None or draft.stage != "places":
        await reply(update, t(lang, "start.location_later"))
        return
    # The nearest hromada's oblast (or Kyiv city itself): outage news names oblasts and
    # cities far more often than hromadas, so the oblast is what is worth watching.
    found = context.services.gazetteer.nearest(
        message.location.latitude, message.location.longitude
    )
    if found is None:
        await reply(update, t(lang, "start.location_outside"))
        return
    if found.oblast not in draft.places:
        draft.places.append(found.oblast)
        await _save(context, subscriber.chat_id, draft)
    near = html.escape(_place_name(context, found.id, lang))
    area = html.escape(_place_name(context, found.oblast, lang))
    await reply(update, t(lang, "start.location_found", near=near, place=area))
    await reply(
        update, _places_text(context, draft, lang), markup=places_keyboard(context, draft, lang)
    )


def handlers() -> list[BaseHandler[Update, BotContext, None]]:
    return [
        CommandHandler("start", start),
        CallbackQueryHandler(setup_button, pattern=r"^setup:"),
        MessageHandler(filters.LOCATION, shared_location),
        MessageHandler(filters.TEXT & ~filters.COMMAND, typed_place),
    ]
