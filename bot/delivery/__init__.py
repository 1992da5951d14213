"""Delivery: the outbox sender and Telegram's rate limits."""
