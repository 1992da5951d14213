"""The storage layer's exceptions; database driver errors are translated into these at the edge.

StorageError
├── UnknownChat          a row refers to a chat that is not a subscriber
├── RuleLimitReached     the chat already holds the most rules allowed
└── MigrationError       the schema could not be brought up to date
"""

from __future__ import annotations


class StorageError(Exception):
    """Base of every storage error."""


class UnknownChat(StorageError):
    """The chat is not (or no longer) a subscriber."""

    def __init__(self, chat_id: int) -> None:
        super().__init__(f"chat {chat_id} is not a subscriber")
        self.chat_id = chat_id


class RuleLimitReached(StorageError):
    """The chat already has `limit` rules."""

    def __init__(self, chat_id: int, limit: int) -> None:
        super().__init__(f"chat {chat_id} already has {limit} rules")
        self.chat_id = chat_id
        self.limit = limit


class MigrationError(StorageError):
    """Applying the migrations failed."""
