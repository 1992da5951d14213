"""The bot's own membership: added to a group (say hello), removed or blocked (stop sending
and keep the rules), back again (resume). Who may change a group's rules: see `common`.
"""

from __future__ import annotations

from telegram import ChatMember, Update
from telegram.ext import BaseHandler, ChatMemberHandler

from bot.handlers.common import BotContext, reply, subscriber_for
from bot.i18n import t
from bot.storage import subscribers as subscribers_store

_PRESENT = (ChatMember.MEMBER, ChatMember.ADMINISTRATOR, ChatMember.OWNER, ChatMember.RESTRICTED)


async def membership(update: Update, context: BotContext) -> None:
    """The bot was added to, removed from, blocked or unblocked in a chat."""
    change = update.my_chat_member
    if change is None:
        return
    was = change.old_chat_member.status in _PRESENT
    now = change.new_chat_member.status in _PRESENT
    chat = change.chat
    services = context.services
    if was and not now:
        async with services.db.sessions() as session, session.begin():
            await subscribers_store.deactivate_subscriber(session, chat_id=chat.id)
        services.rulebook.forget_chat_now(chat.id)
        return
    if now and not was:
        subscriber = await subscriber_for(update, context)
        if chat.type != chat.PRIVATE:
            await reply(update, t(subscriber.language, "start.group_welcome"))


def handlers() -> list[BaseHandler[Update, BotContext, None]]:
    return [ChatMemberHandler(membership, ChatMemberHandler.MY_CHAT_MEMBER)]
