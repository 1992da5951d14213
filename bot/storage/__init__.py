"""Durable state of the bot: sources, items, stories, subscribers, rules, alerts and the outbox.

Every function takes the `AsyncSession` first and returns frozen dataclasses, never ORM objects;
callers own the transaction (`async with session.begin(): ...`).
"""
