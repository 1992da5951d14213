"""`/add RULE`, `/rules` (list with pause / resume / delete / test buttons), `/test RULE`, and
the "pause this rule" button under alerts (`rule:pause:<id>`).
"""

from __future__ import annotations

import html
from datetime import timedelta

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Message, Update
from telegram.ext import BaseHandler, CallbackQueryHandler, CommandHandler

from bot.handlers.common import (
    BotContext,
    command_args,
    edit_or_reply,
    reply,
    require_admin,
    row_id,
    subscriber_for,
)
from bot.i18n import t
from bot.storage import rules as rules_store
from bot.storage import stories as stories_store
from bot.storage.db import utc_now
from bot.storage.errors import RuleLimitReached
from bot.storage.rules import StoredRule
from bot.storage.subscribers import Subscriber
from rules.language import RuleSyntaxError
from rules.models import Story
from rules.rule import Rule, RuleDataError

PAGE_SIZE = 8
TEST_DAYS = 7
TEST_SHOWN = 10
MAX_RULE_CHARS = 500


def syntax_error_text(error: RuleSyntaxError, lang: str) -> str:
    """A malformed rule, explained: what is wrong, where, and what would work."""
    lines = [t(lang, "rules.syntax_error", message=html.escape(error.message))]
    lines.append(f"<code>{html.escape(error.pointer())}</code>")
    if error.suggestion:
        lines.append(t(lang, "rules.suggestion", suggestion=html.escape(error.suggestion)))
    lines.append(t(lang, "rules.examples"))
    return "\n".join(lines)


async def add(update: Update, context: BotContext) -> None:
    """`/add RULE`: store a rule written in the rule language."""
    subscriber = await subscriber_for(update, context)
    lang = subscriber.language
    if not await require_admin(update, context, lang):
        return
    text = command_args(update)
    if not text:
        await reply(update, t(lang, "rules.add_usage"))
        return
    if len(text) > MAX_RULE_CHARS:
        await reply(update, t(lang, "rules.too_long", limit=MAX_RULE_CHARS))
        return
    try:
        stored = await context.services.rulebook.add(
            chat_id=subscriber.chat_id, text=text, lang=lang
        )
    except RuleSyntaxError as exc:
        await reply(update, syntax_error_text(exc, lang))
        return
    except RuleLimitReached as exc:
        await reply(update, t(lang, "rules.limit", limit=exc.limit))
        return
    await reply(update, t(lang, "rules.added", rule=html.escape(stored.text)))


def _rules_page(
    stored: list[StoredRule], page: int, lang: str
) -> tuple[str, InlineKeyboardMarkup | None]:
    """The text and buttons of one page of the chat's rules."""
    if not stored:
        return t(lang, "rules.none"), None
    pages = (len(stored) + PAGE_SIZE - 1) // PAGE_SIZE
    page = min(max(page, 0), pages - 1)
    start = page * PAGE_SIZE
    lines = [t(lang, "rules.list_title", count=len(stored))]
    rows: list[list[InlineKeyboardButton]] = []
    for number, rule in enumerate(stored[start : start + PAGE_SIZE], start=start + 1):
        paused = f" {t(lang, 'rules.paused_mark')}" if rule.paused else ""
        lines.append(f"{number}. <code>{html.escape(_shorten(rule.text, 300))}</code>{paused}")
        toggle = "resume" if rule.paused else "pause"
        rows.append(
            [
                InlineKeyboardButton(
                    t(lang, f"rules.button_{toggle}", n=number),
                    callback_data=f"rules:{toggle}:{rule.id}:{page}",
                ),
                InlineKeyboardButton(
                    t(lang, "rules.button_test", n=number), callback_data=f"rules:test:{rule.id}"
                ),
                InlineKeyboardButton(
                    t(lang, "rules.button_delete", n=number),
                    callback_data=f"rules:delete:{rule.id}:{page}",
                ),
            ]
        )
    if pages > 1:
        nav = []
        if page > 0:
            nav.append(InlineKeyboardButton("◀️", callback_data=f"rules:page:0:{page - 1}"))
        nav.append(
            InlineKeyboardButton(f"{page + 1}/{pages}", callback_data=f"rules:page:0:{page}")
        )
        if page < pages - 1:
            nav.append(InlineKeyboardButton("▶️", callback_data=f"rules:page:0:{page + 1}"))
        rows.append(nav)
    return "\n".join(lines), InlineKeyboardMarkup(rows)


async def _stored_rules(context: BotContext, chat_id: int) -> list[StoredRule]:
    async with context.services.db.sessions() as session:
        return await rules_store.list_rules(session, chat_id=chat_id)


async def list_rules(update: Update, context: BotContext) -> None:
    """`/rules`: the chat's rules with buttons to pause, resume, delete and test each."""
    subscriber = await subscriber_for(update, context)
    text, markup = _rules_page(
        await _stored_rules(context, subscriber.chat_id), 0, subscriber.language
    )
    await reply(update, text, markup=markup)


async def rules_button(update: Update, context: BotContext) -> None:
    """A button under the /rules list: pause, resume, delete, test or turn the page."""
    query = update.callback_query
    assert query is not None and query.data is not None
    subscriber = await subscriber_for(update, context)
    lang = subscriber.language
    try:
        _, action, rule_text, *rest = query.data.split(":")
        rule_id, page = row_id(rule_text), int(rest[0]) if rest else 0
    except ValueError:
        await query.answer()
        return
    if action == "page":
        await query.answer()
    elif action == "test":
        await query.answer()
        await _test_stored(update, context, subscriber, rule_id)
        return
    else:
        if not await require_admin(update, context, lang):
            return
        changed = await _apply(context, action, subscriber.chat_id, rule_id)
        await query.answer(t(lang, f"rules.done_{action}") if changed else t(lang, "rules.gone"))
    text, markup = _rules_page(await _stored_rules(context, subscriber.chat_id), page, lang)
    await edit_or_reply(update, text, markup=markup)


async def _apply(context: BotContext, action: str, chat_id: int, rule_id: int) -> bool:
    rulebook = context.services.rulebook
    if action == "pause":
        return await rulebook.pause(chat_id=chat_id, rule_id=rule_id)
    if action == "resume":
        return await rulebook.resume(chat_id=chat_id, rule_id=rule_id)
    if action == "delete":
        return await rulebook.remove(chat_id=chat_id, rule_id=rule_id)
    return False


def _alert_button(lang: str, action: str, rule_id: int) -> InlineKeyboardMarkup:
    key = "alert.pause_rule" if action == "pause" else "rules.resume_rule"
    return InlineKeyboardMarkup(
        [[InlineKeyboardButton(t(lang, key), callback_data=f"rule:{action}:{rule_id}")]]
    )


async def alert_button(update: Update, context: BotContext) -> None:
    """The button under an alert: pause (or resume again) the rule that matched."""
    query = update.callback_query
    assert query is not None and query.data is not None
    subscriber = await subscriber_for(update, context)
    lang = subscriber.language
    try:
        _, action, rule_text = query.data.split(":")
        rule_id = row_id(rule_text)
    except ValueError:
        await query.answer()
        return
    if action not in ("pause", "resume"):
        await query.answer()
        return
    if not await require_admin(update, context, lang):
        return
    if not await _apply(context, action, subscriber.chat_id, rule_id):
        await query.answer(t(lang, "rules.gone"), show_alert=True)
        return
    await query.answer(t(lang, f"rules.done_{action}_alert"), show_alert=True)
    if isinstance(query.message, Message):
        # Offer the opposite action in place of the one just used.
        other = "resume" if action == "pause" else "pause"
        await query.message.edit_reply_markup(_alert_button(lang, other, rule_id))


def _shorten(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


def _story_lines(stories: list[Story], subscriber: Subscriber) -> list[str]:
    """One line per story, newest first, kept well under Telegram's 4096 characters."""
    lines: list[str] = []
    used = 0
    for story in stories[:TEST_SHOWN]:
        when = story.last_published.astimezone(subscriber.zone).strftime("%d.%m %H:%M")
        title = html.escape(_shorten(story.title, 150))
        if story.link and len(story.link) <= 300:
            title = f'<a href="{html.escape(story.link, quote=True)}">{title}</a>'
        line = f"• {when} — {title}"
        used += len(line) + 1
        if used > 3500:
            break
        lines.append(line)
    return lines


async def _test_rule(
    update: Update, context: BotContext, subscriber: Subscriber, rule: Rule
) -> None:
    lang = subscriber.language
    since = utc_now() - timedelta(days=TEST_DAYS)
    async with context.services.db.sessions() as session:
        stories = await stories_store.stories_since(session, since=since)
    matched = [s for s in stories if rule.matches(s)]
    matched.sort(key=lambda s: s.last_published, reverse=True)
    if not matched:
        await reply(update, t(lang, "rules.test_none", days=TEST_DAYS, total=len(stories)))
        return
    lines = [t(lang, "rules.test_found", count=len(matched), days=TEST_DAYS)]
    lines += _story_lines(matched, subscriber)
    if len(matched) > TEST_SHOWN:
        lines.append(t(lang, "rules.test_more", count=len(matched) - TEST_SHOWN))
    await reply(update, "\n".join(lines))


async def _test_stored(
    update: Update, context: BotContext, subscriber: Subscriber, rule_id: int
) -> None:
    async with context.services.db.sessions() as session:
        stored = await rules_store.get_rule(session, chat_id=subscriber.chat_id, rule_id=rule_id)
    if stored is None:
        await reply(update, t(subscriber.language, "rules.gone"))
        return
    try:
        rule = Rule.from_json(stored.rule_json)
    except RuleDataError:
        await reply(update, t(subscriber.language, "rules.gone"))
        return
    await _test_rule(update, context, subscriber, rule)


async def test(update: Update, context: BotContext) -> None:
    """`/test RULE`: what this rule would have sent over the last 7 days of stored stories."""
    subscriber = await subscriber_for(update, context)
    lang = subscriber.language
    text = command_args(update)
    if not text:
        await reply(update, t(lang, "rules.test_usage"))
        return
    if len(text) > MAX_RULE_CHARS:
        await reply(update, t(lang, "rules.too_long", limit=MAX_RULE_CHARS))
        return
    try:
        rule, _ = context.services.rulebook.parse(text, lang=lang)
    except RuleSyntaxError as exc:
        await reply(update, syntax_error_text(exc, lang))
        return
    await _test_rule(update, context, subscriber, rule)


def handlers() -> list[BaseHandler[Update, BotContext, None]]:
    return [
        CommandHandler("add", add),
        CommandHandler("rules", list_rules),
        CommandHandler("test", test),
        CallbackQueryHandler(rules_button, pattern=r"^rules:"),
        CallbackQueryHandler(alert_button, pattern=r"^rule:"),
    ]
