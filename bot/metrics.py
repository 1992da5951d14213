"""Prometheus metrics of one bot process, in a registry of its own (tests open several).

`/metrics` (bot/web.py) exposes `Metrics.registry`; the worker, sender and digests update it.
"""

from __future__ import annotations

from datetime import datetime

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

__all__ = ["CONTENT_TYPE_LATEST", "Metrics"]


class Metrics:
    """Every metric the bot reports, plus the few facts `/healthz` needs."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        r = self.registry
        self.polls = Counter(
            "bot_feed_polls",
            "Feed polls by outcome (ok, not_modified, failed).",
            ["outcome"],
            registry=r,
        )
        self.not_modified_ratio = Gauge(
            "bot_feed_not_modified_ratio",
            "Share of successful polls that answered 304 or an unchanged body.",
            registry=r,
        )
        self.items = Counter("bot_items_new", "New feed items stored.", registry=r)
        self.stories = Counter(
            "bot_story_updates",
            "Story updates by kind (new, joined, escalated...).",
            ["kind"],
            registry=r,
        )
        self.matches = Counter("bot_rule_matches", "(story, rule) matches found.", registry=r)
        # Where a worker's time goes: a second worker helps only the part that is not
        # serialised (matching runs in parallel, grouping takes turns under one lock).
        self.story_matches = Counter(
            "bot_story_matches", "Stories matched against every rule.", registry=r
        )
        self.match_seconds = Counter(
            "bot_match_seconds", "Seconds spent matching stories and queueing.", registry=r
        )
        self.grouping_seconds = Counter(
            "bot_grouping_seconds",
            "Seconds spent grouping items, waiting for the grouping lock included.",
            registry=r,
        )
        self.queue_depth = Gauge(
            "bot_outbox_depth", "Outbox messages still to deliver.", registry=r
        )
        self.sent = Counter(
            "bot_messages_sent",
            "Messages delivered to Telegram by outbox kind.",
            ["kind"],
            registry=r,
        )
        self.retry_after = Counter(
            "bot_telegram_429", "RetryAfter (429) answers from Telegram.", registry=r
        )
        self.failures = Counter(
            "bot_send_failures",
            "Outbox sends that failed, by reason (transient, forbidden, bad_request, migrated).",
            ["reason"],
            registry=r,
        )
        self.alert_lag = Histogram(
            "bot_alert_lag_seconds",
            "From an item's publication to its alert reaching Telegram.",
            buckets=(5, 15, 30, 60, 120, 300, 600, 1800, 3600, 4 * 3600, float("inf")),
            registry=r,
        )
        self.digests = Counter("bot_digests_queued", "Daily digests queued.", registry=r)
        self.last_poll_success: datetime | None = None
        self._ok_polls = 0
        self._unchanged_polls = 0

    def record_poll(self, *, ok: bool, not_modified: bool, at: datetime) -> None:
        if not ok:
            self.polls.labels("failed").inc()
            return
        self.polls.labels("not_modified" if not_modified else "ok").inc()
        self._ok_polls += 1
        self._unchanged_polls += int(not_modified)
        self.not_modified_ratio.set(self._unchanged_polls / self._ok_polls)
        self.last_poll_success = at

    def exposition(self) -> bytes:
        return generate_latest(self.registry)
