"""News events published on the feed server, and the checks the fault tests share: every
(chat, story) alert delivered exactly once, feeds polled at most once per interval."""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from bot.delivery import bundles
from tests.scaleout.database import TestDatabase
from tests.scaleout.fake_api import FakeApi
from tests.scaleout.feed_server import FeedServer, Request

# Cities the gazetteer knows; one event per city keeps events apart (stories are per place).
CITIES = (
    "Kharkiv", "Odesa", "Dnipro", "Lviv", "Zaporizhzhia", "Poltava", "Sumy", "Chernihiv",
    "Vinnytsia", "Mykolaiv", "Kherson", "Zhytomyr", "Rivne", "Lutsk", "Ternopil", "Uzhhorod",
    "Cherkasy", "Kropyvnytskyi", "Khmelnytskyi", "Kyiv",
)  # fmt: skip
RULE = "outage in Ukraine"  # every event below matches it


@dataclass
class Event:
    """One real-world event, reported by one or more outlets (feeds)."""

    city: str
    feeds: tuple[int, ...]
    titles: list[str] = field(default_factory=list)


def publish_event(
    server: FeedServer, *, number: int, feeds: Sequence[int], published: datetime | None = None
) -> Event:
    """Outlets `feeds` each report event `number` in their own words (one story expected)."""
    city = CITIES[number % len(CITIES)]
    homes = 1000 * (number + 2)
    phrasings = (
        f"{city}: {homes} homes without power after strike on substation",
        f"Strike on substation leaves {homes} homes in {city} without power",
    )
    event = Event(city=city, feeds=tuple(feeds))
    when = published or datetime.now(UTC) - timedelta(seconds=30)
    for k, feed in enumerate(feeds):
        title = phrasings[k % 2]
        server.publish(feed, guid=f"event-{number}-feed-{feed}", title=title, published=when)
        event.titles.append(title)
    return event


@dataclass
class Delivery:
    """How the expected alerts ended up at the fake Bot API."""

    expected: int
    stories: dict[str, str]  # event city -> story id
    missing_items: list[str]
    split_events: dict[str, set[str | None]]  # an event stored as several stories
    lost: list[tuple[int, str]]  # (chat, story) never delivered
    duplicated: dict[tuple[int, str], int]  # (chat, story) delivered more than once
    unexpected: list[tuple[int, str]]  # delivered texts no outbox row holds

    @property
    def exactly_once(self) -> bool:
        return not (
            self.missing_items
            or self.split_events
            or self.lost
            or self.duplicated
            or self.unexpected
        )

    def complete(self) -> bool:
        return not (self.missing_items or self.split_events or self.lost)


def delivery(
    db: TestDatabase, api: FakeApi, *, chats: Iterable[int], events: Iterable[Event]
) -> Delivery:
    """Compare the database's view (items -> stories -> outbox) with what Telegram received."""
    chats = list(chats)
    events = list(events)
    stored = db.item_titles()
    missing = [t for e in events for t in e.titles if stored.get(t) is None]
    stories: dict[str, str] = {}
    split: dict[str, set[str | None]] = {}
    for event in events:
        ids = {stored.get(t) for t in event.titles if t in stored}
        if len(ids) > 1:
            split[event.city] = ids
        if ids and None not in ids:
            stories[event.city] = sorted(i for i in ids if i)[0]
    rows = db.outbox()
    # Alert rows of the expected stories: (chat, story) -> text.
    alert_text: dict[tuple[int, str], str] = {
        (r.chat_id, r.story_id): r.text for r in rows if r.kind == "alert" and r.story_id
    }
    known_texts = {(r.chat_id, r.text) for r in rows}
    delivered = unbundled(api.delivered_counts(), known_texts)
    lost: list[tuple[int, str]] = []
    duplicated: dict[tuple[int, str], int] = {}
    for story in stories.values():
        for chat in chats:
            text = alert_text.get((chat, story))
            count = delivered.get((chat, text), 0) if text is not None else 0
            if count == 0:
                lost.append((chat, story))
            elif count > 1:
                duplicated[(chat, story)] = count
    unexpected = [key for key in delivered if key not in known_texts]
    return Delivery(
        expected=len(chats) * len(events),
        stories=stories,
        missing_items=missing,
        split_events=split,
        lost=lost,
        duplicated=duplicated,
        unexpected=unexpected,
    )


def unbundled(
    delivered: Counter[tuple[int, str]], known: set[tuple[int, str]]
) -> Counter[tuple[int, str]]:
    """`delivered` with each message that carried several alerts of a chat at once
    (bot/delivery/bundles.py) counted as a delivery of each of them."""
    counts: Counter[tuple[int, str]] = Counter()
    for (chat, text), n in delivered.items():
        parts = text.split(bundles.SEPARATOR)
        if (chat, text) not in known and len(parts) > 1:
            for part in parts:
                counts[(chat, part)] += n
        else:
            counts[(chat, text)] += n
    return counts


def poll_gaps(requests: Iterable[Request]) -> dict[int, list[float]]:
    """Per feed, the seconds between consecutive requests."""
    times: dict[int, list[float]] = defaultdict(list)
    for request in requests:
        times[request.feed].append(request.at)
    return {
        feed: [b - a for a, b in zip(sorted(ts), sorted(ts)[1:], strict=False)]
        for feed, ts in times.items()
    }


def delivered_texts(api: FakeApi) -> Counter[tuple[int, str]]:
    return api.delivered_counts()
