"""`RuleBook`: the rules table mirrored in memory as a `RuleIndex`, so matching a story never
queries the database. Every change goes through here: the table first, the index after commit.

The index holds the rules that can fire: rule not paused, its chat active and not paused.
After changing a chat's state (/stop, /forget, blocked, /start again) call `refresh_chat`.
With several processes on PostgreSQL, `catch_up` applies what the others changed (the
`rule_changes` log, see bot/storage/sync.py); each role calls it every few seconds.
"""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession

from bot.storage import rules as rules_store
from bot.storage import stories as stories_store
from bot.storage import subscribers as subscribers_store
from bot.storage import sync as sync_store
from bot.storage.db import Database, utc_now
from bot.storage.errors import RuleLimitReached, UnknownChat
from bot.storage.rules import StoredRule
from rules.index import RuleIndex
from rules.language import RuleSyntaxError, format_rule, parse_rule
from rules.models import Story
from rules.places import PlaceDirectory
from rules.rule import Delivery, Rule, RuleDataError

# Changes are logged for a day (bot/worker.py purges older ones); a process that has not
# caught up for half of that reloads every rule instead.
RULE_CHANGE_RETENTION = timedelta(days=1)
# More changed chats than this at once: one full reload is cheaper than many small reads.
FULL_RELOAD_CHATS = 2000

__all__ = [
    "MatchedRule",
    "RuleBook",
    "RuleLimitReached",
    "RuleSyntaxError",
    "UnknownChat",
]


@dataclass(frozen=True, slots=True)
class MatchedRule:
    """A rule a story satisfied: whose it is, how it is delivered, and its canonical text."""

    rule_id: int
    chat_id: int
    delivery: Delivery
    text: str


@dataclass(frozen=True, slots=True)
class _Entry:
    chat_id: int
    rule: Rule
    text: str


class RuleBook:
    """The in-memory index of every rule that can fire, kept in step with the rules table."""

    def __init__(
        self,
        *,
        db: Database,
        places: PlaceDirectory,
        max_rules_per_chat: int,
        indexed: bool = True,
        alert_window: timedelta | None = None,
    ) -> None:
        self.db = db
        # A new instant rule hears of the stories with news inside this window (their alerts
        # are queued by the next match); None: only of stories updated after it is added.
        self.alert_window = alert_window
        # Two tasks of one process (a worker's poll loop and its matcher) may catch up at once.
        self._catching_up = asyncio.Lock()
        self.places = places
        self.max_rules_per_chat = max_rules_per_chat
        # A process that never matches (the sender, the webhook) only writes rules: it keeps
        # no index, and the other processes learn of its changes from the change log.
        self.indexed = indexed
        self._index = RuleIndex()
        self._entries: dict[int, _Entry] = {}
        self._by_chat: dict[int, set[int]] = {}
        # Thousands of chats pick the same rules: each distinct rule is parsed and held once.
        self._parsed: dict[str, Rule | None] = {}
        self._distinct: dict[Rule, Rule] = {}
        # Where the next `catch_up` reads the change log from, and when it last did.
        self._floor: int | None = None
        self._caught_up_at: datetime | None = None

    def __len__(self) -> int:
        return len(self._entries)

    # -- loading ---------------------------------------------------------------------------

    async def load(self) -> int:
        """(Re)build the index from the table; returns how many rules can fire."""
        if not self.indexed:
            return 0
        previous = (self._index, self._entries, self._by_chat, self._parsed, self._distinct)
        self._index, self._entries, self._by_chat = RuleIndex(), {}, {}
        self._parsed, self._distinct = {}, {}
        try:
            async with self.db.sessions() as session:
                # The watermark before the read: a change committed meanwhile is read again.
                floor = await sync_store.rule_change_floor(session)
                async for batch in rules_store.active_rule_batches(session):
                    for row in batch:
                        self._index_rule(row.id, row.chat_id, row.text, row.rule_json)
        except BaseException:
            # `match` keeps answering from the index it had.
            self._index, self._entries, self._by_chat, self._parsed, self._distinct = previous
            raise
        self._floor, self._caught_up_at = floor, utc_now()
        return len(self._entries)

    async def catch_up(self) -> int:
        """Apply the rule changes other processes committed since the last look (PostgreSQL;
        a no-op on SQLite, where one process makes every change); returns chats refreshed."""
        if self.db.dialect != "postgresql" or not self.indexed:
            return 0
        async with self._catching_up:
            return await self._catch_up()

    async def _catch_up(self) -> int:
        now = utc_now()
        if (
            self._floor is None
            or self._caught_up_at is None
            or now - self._caught_up_at > RULE_CHANGE_RETENTION / 2
        ):
            await self.load()
            return len(self._by_chat)
        async with self.db.sessions() as session:
            changes = await sync_store.rule_changes_since(session, floor=self._floor)
            if len(changes.chat_ids) > FULL_RELOAD_CHATS:
                fresh = None
            else:
                fresh = [(c, *(await self._chat_rules(session, c))) for c in changes.chat_ids]
        if fresh is None:
            await self.load()
            return len(changes.chat_ids)
        for chat_id, stored, chat in fresh:
            self._replace_chat(chat_id, stored, chat)
        self._floor, self._caught_up_at = changes.next_floor, now
        return len(fresh)

    async def refresh_chat(self, chat_id: int, *, session: AsyncSession | None = None) -> None:
        """Re-read one chat's rules (after its active/paused state changed, or it was forgotten).

        With `session`, the index changes once that session's transaction commits.
        """
        if not self.indexed:
            return
        if session is not None:
            stored, chat = await self._chat_rules(session, chat_id)
            _after_commit(session, lambda: self._replace_chat(chat_id, stored, chat))
            return
        async with self.db.sessions() as own:
            stored, chat = await self._chat_rules(own, chat_id)
        self._replace_chat(chat_id, stored, chat)

    async def _chat_rules(
        self, session: AsyncSession, chat_id: int
    ) -> tuple[list[StoredRule], subscribers_store.Subscriber | None]:
        chat = await subscribers_store.get_subscriber(session, chat_id=chat_id)
        stored = await rules_store.list_rules(session, chat_id=chat_id) if chat else []
        return stored, chat

    def _replace_chat(
        self,
        chat_id: int,
        stored: list[StoredRule],
        chat: subscribers_store.Subscriber | None,
    ) -> None:
        for rule_id in list(self._by_chat.get(chat_id, ())):
            self._drop(rule_id)
        if chat is None or not chat.active or chat.paused:
            return
        for rule in stored:
            if not rule.paused:
                self._index_stored(rule)

    def forget_chat_now(self, chat_id: int) -> None:
        """Drop a chat's rules from the index at once (it blocked the bot; the table keeps them)."""
        for rule_id in list(self._by_chat.get(chat_id, ())):
            self._drop(rule_id)

    def move_chat(self, old_chat_id: int, new_chat_id: int) -> None:
        """A group became a supergroup: its indexed rules now belong to the new id."""
        for rule_id in list(self._by_chat.pop(old_chat_id, ())):
            entry = self._entries[rule_id]
            self._entries[rule_id] = _Entry(new_chat_id, entry.rule, entry.text)
            self._by_chat.setdefault(new_chat_id, set()).add(rule_id)

    # -- changes ---------------------------------------------------------------------------

    def parse(self, text: str, *, lang: str = "en") -> tuple[Rule, str]:
        """The rule `text` describes and its canonical text in `lang`; raises `RuleSyntaxError`."""
        rule = parse_rule(text, places=self.places, lang=lang)
        return rule, format_rule(rule, places=self.places, lang=lang)

    async def add(
        self,
        session: AsyncSession | None = None,
        *,
        chat_id: int,
        text: str,
        lang: str = "en",
    ) -> StoredRule:
        """Parse `text` and store it for the chat (its canonical form); index it once committed.

        Raises `RuleSyntaxError` (a message in `lang`), `RuleLimitReached` or `UnknownChat`.
        With `session` the caller owns the transaction; otherwise it is committed here.
        """
        rule, canonical = self.parse(text, lang=lang)
        if session is not None:
            stored = await self._insert(session, chat_id, rule, canonical)
            _after_commit(session, lambda: self._index_stored(stored))
            return stored
        async with self.db.sessions() as own, own.begin():
            stored = await self._insert(own, chat_id, rule, canonical)
        self._index_stored(stored)
        return stored

    async def _insert(
        self, session: AsyncSession, chat_id: int, rule: Rule, canonical: str
    ) -> StoredRule:
        rule_id = await rules_store.add_rule(
            session,
            chat_id=chat_id,
            text=canonical,
            rule_json=rule.to_json(),
            delivery=rule.delivery.value,
            max_rules=self.max_rules_per_chat,
        )
        stored = await rules_store.get_rule(session, chat_id=chat_id, rule_id=rule_id)
        assert stored is not None
        if self.alert_window is not None and rule.delivery in (Delivery.INSTANT, Delivery.BOTH):
            await stories_store.mark_recent_for_matching(
                session, since=utc_now() - self.alert_window
            )
        return stored

    async def remove(
        self, session: AsyncSession | None = None, *, chat_id: int, rule_id: int
    ) -> bool:
        """Delete a rule of this chat; False when it has no such rule."""
        return await self._change(
            session,
            lambda s: rules_store.delete_rule(s, chat_id=chat_id, rule_id=rule_id),
            lambda: self._drop(rule_id),
        )

    async def pause(
        self, session: AsyncSession | None = None, *, chat_id: int, rule_id: int
    ) -> bool:
        """Stop a rule firing (kept in the table); False when the chat has no such rule."""
        return await self._change(
            session,
            lambda s: rules_store.set_rule_paused(s, chat_id=chat_id, rule_id=rule_id, paused=True),
            lambda: self._drop(rule_id),
        )

    async def resume(
        self, session: AsyncSession | None = None, *, chat_id: int, rule_id: int
    ) -> bool:
        """Let a paused rule fire again; False when the chat has no such rule."""
        found = await self._change(
            session,
            lambda s: rules_store.set_rule_paused(
                s, chat_id=chat_id, rule_id=rule_id, paused=False
            ),
            lambda: None,
        )
        if found:
            if session is not None:
                await self.refresh_chat(chat_id, session=session)
            else:
                await self.refresh_chat(chat_id)
        return found

    async def _change(
        self,
        session: AsyncSession | None,
        apply: Callable[[AsyncSession], object],
        then: Callable[[], None],
    ) -> bool:
        if session is not None:
            found = bool(await apply(session))  # type: ignore[misc]
            if found:
                _after_commit(session, then)
            return found
        async with self.db.sessions() as own, own.begin():
            found = bool(await apply(own))  # type: ignore[misc]
        if found:
            then()
        return found

    # -- reading ---------------------------------------------------------------------------

    def match(self, story: Story) -> list[MatchedRule]:
        """Every indexed rule `story` satisfies, by chat then rule id."""
        self._require_index()
        found = []
        for rule_id in self._index.match(story):
            entry = self._entries[rule_id]
            found.append(MatchedRule(rule_id, entry.chat_id, entry.rule.delivery, entry.text))
        found.sort(key=lambda m: (m.chat_id, m.rule_id))
        return found

    def rules_of(self, chat_id: int) -> list[tuple[int, Rule, str]]:
        """(rule id, rule, canonical text) of the chat's rules that can fire, by id."""
        self._require_index()
        ids = sorted(self._by_chat.get(chat_id, ()))
        return [(i, self._entries[i].rule, self._entries[i].text) for i in ids]

    def text_of(self, rule_id: int) -> str | None:
        entry = self._entries.get(rule_id)
        return entry.text if entry else None

    def _require_index(self) -> None:
        # An empty answer would silently cost alerts or digests: refuse instead.
        if not self.indexed:
            raise RuntimeError("this RuleBook keeps no index (indexed=False)")

    # -- index bookkeeping -----------------------------------------------------------------

    def _index_stored(self, stored: StoredRule) -> None:
        if stored.paused or not self.indexed:
            return
        try:
            rule = Rule.from_json(stored.rule_json)
        except RuleDataError:
            # A rule stored by a newer version: skip it rather than stop every alert.
            return
        self._put(stored.id, stored.chat_id, self._shared(rule), sys.intern(stored.text))

    def _index_rule(self, rule_id: int, chat_id: int, text: str, rule_json: str) -> None:
        if rule_json in self._parsed:
            rule = self._parsed[rule_json]
        else:
            try:
                rule = self._shared(Rule.from_json(json.loads(rule_json)))
            except (RuleDataError, ValueError):
                rule = None  # stored by a newer version: skipped, as in `_index_stored`
            self._parsed[rule_json] = rule
        if rule is not None:
            self._put(rule_id, chat_id, rule, sys.intern(text))

    def _shared(self, rule: Rule) -> Rule:
        # Equal rules (a frozen dataclass compares by value) become one object.
        return self._distinct.setdefault(rule, rule)

    def _put(self, rule_id: int, chat_id: int, rule: Rule, text: str) -> None:
        self._drop(rule_id)
        self._index.add(rule_id, rule)
        self._entries[rule_id] = _Entry(chat_id, rule, text)
        self._by_chat.setdefault(chat_id, set()).add(rule_id)

    def _drop(self, rule_id: int) -> None:
        entry = self._entries.pop(rule_id, None)
        if entry is None:
            return
        self._index.remove(rule_id)
        ids = self._by_chat.get(entry.chat_id)
        if ids is not None:
            ids.discard(rule_id)
            if not ids:
                del self._by_chat[entry.chat_id]


_PENDING = "rulebook.after_commit"


def _after_commit(session: AsyncSession, callback: Callable[[], None]) -> None:
    """Run `callback` once the session's current transaction commits; drop it on rollback."""
    sync = session.sync_session
    pending: list[Callable[[], None]] | None = sync.info.get(_PENDING)
    if pending is None:
        pending = sync.info[_PENDING] = []
        # Hooks stay for the session's life (sessions are short); listeners cannot be removed
        # while SQLAlchemy dispatches them.
        event.listen(sync, "after_commit", _run_pending)
        event.listen(sync, "after_rollback", _drop_pending)
    pending.append(callback)


def _run_pending(sync: Any) -> None:
    pending = sync.info.get(_PENDING) or []
    callbacks, pending[:] = list(pending), []
    for callback in callbacks:
        callback()


def _drop_pending(sync: Any) -> None:
    pending = sync.info.get(_PENDING)
    if pending:
        pending.clear()
