"""One story per event: `StoryGrouper` joins items about the same event into one `Story`.

An item joins the open story it scores best against, when the score reaches the threshold:

    score = title similarity: the mean, over the story's recent titles, of the weighted term
            overlap with each (see `rules.similarity`; a title sharing fewer than two terms
            scores 0, round-up headlines are never matched on terms); a near copy of any
            of them (syndicated wording) scores its character ratio instead
          + PLACE_BONUS  when both name overlapping specific places (finer than "Ukraine")
                         and the titles share terms: a place alone joins nothing, as a general
                         news feed names a place in nearly every item (on the Ukrainian event
                         reference it merged a city's unrelated news into one story)
          + PLACE_BONUS + FACTS_BONUS
                         when they name overlapping places and share a category (or the item
                         restores what the story reports cut) - enough on its own, so a
                         Ukrainian and an English report of the same outage in the same place
                         join
          - LATE_PENALTY for each hour the story's span would exceed NEWS_CYCLE with the item,
                         unless the facts agree: reports of one event come within hours; a
                         next-day headline on the same theme is usually a new development

Average rather than best link, so a story does not drift from event to event one shared phrase
at a time (measured with `python -m bot eval-stories FILE --sweep --ablation`). The threshold
and the late penalty were chosen on the first half of the Google News reference (to 13 January)
and checked on the second (`--until` / `--since`); the hand-judged Ukrainian event reference
(`tests/data/stories/uk_events_*.jsonl`) checks that general news does not merge.

Never joined: items more than `window` away from the story in time or more than `max_span`
after its first item, items whose specific places
all differ from the story's (Kyiv and Kharkiv on the same day stay two stories), and outage
news published after a story was resolved (a new cut is a new event). Open stories are indexed
by title term and oblast, and expire once the newest item seen is `window` past their last one,
so finding candidates never walks every story.
"""

from __future__ import annotations

import heapq
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Literal

from feeds.models import Category, Item, Signals
from rules.models import Story
from rules.similarity import (
    TermStats,
    fuzzy_term_score,
    is_roundup,
    near_copy_score,
    normalise_title,
    term_similarity,
    title_terms,
)
from rules.story_facts import (
    RESOLVABLE,
    merge_item,
    new_story,
    oblast_of,
    places_conflict,
    places_overlap,
    specific_places,
)

DEFAULT_WINDOW = timedelta(hours=36)
DEFAULT_THRESHOLD = 0.06
PLACE_BONUS = 0.15
FACTS_BONUS = 0.5
NEWS_CYCLE = timedelta(hours=12)
# Per hour beyond NEWS_CYCLE: a story a day old takes a newcomer only on strong titles or
# shared facts (PLACE_BONUS + FACTS_BONUS outweigh 12 hours of it).
LATE_PENALTY = 0.05
# Headlines compared per story: the latest ones say most about where the story is now.
TITLES_COMPARED = 8


@dataclass(frozen=True, slots=True)
class Matching:
    """How titles are compared (the defaults are the measured best; the rest is for ablation).

    `stem` / `domain_stopwords` shape the title terms (see `rules.similarity.title_terms`);
    `link` is how a title scores against a story: "single" takes its best match among the
    story's recent titles, "average" the mean over them; `fuzzy` adds rapidfuzz's
    token-set ratio of the term lists as a second signal; `roundups` keeps live-blog and
    briefing headlines out of term matching (they join only as near copies or on facts);
    `min_shared` is how many terms two titles must share to score at all; `concepts` folds
    synonyms and Ukrainian/Russian forms into one term (`rules.similarity.concept_of`).
    """

    stem: bool = True
    domain_stopwords: bool = False
    concepts: bool = True
    link: Literal["single", "average"] = "average"
    fuzzy: bool = False
    roundups: bool = True
    min_shared: int = 2


class UpdateKind(StrEnum):
    NEW = "new"
    JOINED = "joined"
    ESCALATED = "escalated"
    RESOLVED = "resolved"
    DUPLICATE = "duplicate"


@dataclass(frozen=True, slots=True)
class StoryUpdate:
    """What adding one item did: the story as it now stands, how it changed, and why it joined.

    `changes` lists what this item added ("new source: Ukrinform", "colder: -18 -> -21",
    "affected: 300000 -> 500000", "new place: UA63", "new category: cold", "resolved");
    `score` is the join score (None for a new story or a duplicate).
    """

    story: Story
    kind: UpdateKind
    changes: tuple[str, ...] = ()
    score: float | None = None


@dataclass(slots=True)
class _Open:
    story: Story
    # Order of opening: breaks score ties the same way on every run (ids are random).
    seq: int = 0
    terms: list[frozenset[str]] = field(default_factory=list)
    normalised: list[str] = field(default_factory=list)
    # Parallel to `terms`: whether that title is a round-up (never matched on its terms).
    roundup: list[bool] = field(default_factory=list)
    keys: set[str] = field(default_factory=set)
    item_keys: set[tuple[str, str]] = field(default_factory=set)


class StoryGrouper:
    """Groups items into stories as they arrive (see the module docstring for the rule).

    `threshold` trades precision for recall: higher keeps more stories apart. `max_posting`
    bounds how many stories one common title term may bring in as candidates. `max_span`
    bounds how long after its first item a story takes new ones (None: as long as items keep
    coming within `window`), so a run of daily reports does not chain into one endless story;
    `late_penalty` is what each hour of the story's span beyond `NEWS_CYCLE` costs a join.
    """

    def __init__(
        self,
        *,
        window: timedelta = DEFAULT_WINDOW,
        threshold: float = DEFAULT_THRESHOLD,
        max_posting: int = 64,
        max_span: timedelta | None = DEFAULT_WINDOW,
        matching: Matching = Matching(),
        late_penalty: float = LATE_PENALTY,
    ) -> None:
        if window <= timedelta(0):
            raise ValueError("window must be positive")
        if late_penalty < 0:
            raise ValueError("late_penalty must not be negative")
        self.window = window
        self.threshold = threshold
        self.max_posting = max_posting
        self.max_span = max_span
        self.matching = matching
        self.late_penalty = late_penalty
        self._open: dict[str, _Open] = {}
        self._index: dict[str, set[str]] = {}
        self._expiry: list[tuple[datetime, str]] = []
        self._item_story: dict[tuple[str, str], str] = {}
        self._stats = TermStats()
        self._watermark: datetime | None = None
        self._opened = 0

    # --- public -------------------------------------------------------------------------

    def add(self, item: Item, signals: Signals) -> StoryUpdate:
        """Fold `item` (with its extracted `signals`) into a story and say what happened."""
        item_key = (item.source_url or item.source_name, item.key)
        known = self._item_story.get(item_key)
        if known is not None and known in self._open:
            return StoryUpdate(story=self._open[known].story, kind=UpdateKind.DUPLICATE)

        self._advance(item.published)
        terms = self._terms(item.title, item.source_name or None)
        normalised = normalise_title(item.title, item.source_name or None)
        best, best_score = self._best_candidate(item, signals, terms, normalised)
        self._stats.add(terms)

        if best is None:
            story = new_story(self._new_id(item), item, signals)
            entry = self._open_entry(story)
            self._remember(entry, item_key, terms, normalised, signals)
            return StoryUpdate(story=story, kind=UpdateKind.NEW)

        merge = merge_item(best.story, item, signals)
        best.story = merge.story
        self._remember(best, item_key, terms, normalised, signals)
        if merge.resolved_now:
            kind = UpdateKind.RESOLVED
        elif merge.escalated:
            kind = UpdateKind.ESCALATED
        else:
            kind = UpdateKind.JOINED
        return StoryUpdate(story=merge.story, kind=kind, changes=merge.changes, score=best_score)

    def seed(self, stories: Iterable[Story]) -> None:
        """Reopen stories kept from an earlier run (e.g. read back with `story_from_dict`)."""
        for story in stories:
            entry = self._open_entry(story)
            for title in story.titles or (story.title,):
                terms = self._terms(title)
                self._stats.add(terms)
                self._add_title(entry, terms, normalise_title(title))
            self._index_places(entry, story.place_ids)
            heapq.heappush(self._expiry, (story.last_published, story.id))

    def refresh(self, stories: Iterable[Story]) -> None:
        """Take newer versions of stories grouped elsewhere (another worker process): an open
        story gets the new facts and any titles it lacks; an unknown one is seeded."""
        for story in stories:
            entry = self._open.get(story.id)
            if entry is None:
                self.seed([story])
                continue
            entry.story = story
            for title in story.titles or (story.title,):
                normalised = normalise_title(title)
                if normalised not in entry.normalised:
                    terms = self._terms(title)
                    self._stats.add(terms)
                    self._add_title(entry, terms, normalised)
            self._index_places(entry, story.place_ids)
            heapq.heappush(self._expiry, (story.last_published, story.id))

    def expire(self, now: datetime) -> list[Story]:
        """Close and return the stories whose last item is more than `window` before `now`."""
        closed: list[Story] = []
        limit = now - self.window
        while self._expiry and self._expiry[0][0] < limit:
            last, story_id = heapq.heappop(self._expiry)
            entry = self._open.get(story_id)
            # Entries pushed before the story's latest item are stale: skip them.
            if entry is None or entry.story.last_published != last:
                continue
            self._close(entry)
            closed.append(entry.story)
        return closed

    @property
    def open_stories(self) -> list[Story]:
        """The stories still open to new items, oldest first."""
        return sorted((e.story for e in self._open.values()), key=lambda s: s.first_published)

    def __len__(self) -> int:
        return len(self._open)

    # --- candidates and scoring ---------------------------------------------------------

    def _best_candidate(
        self, item: Item, signals: Signals, terms: frozenset[str], normalised: str
    ) -> tuple[_Open | None, float]:
        best: _Open | None = None
        best_score = 0.0
        for entry in self._candidates(terms, signals):
            score = self._score(entry, item, signals, terms, normalised)
            if score is None:
                continue
            # Ties go to the story told most recently, then to the one opened last.
            newer = best is not None and (entry.story.last_published, entry.seq) > (
                best.story.last_published,
                best.seq,
            )
            if score > best_score or (score == best_score and newer):
                best, best_score = entry, score
        if best is None or best_score < self.threshold:
            return None, 0.0
        return best, best_score

    def _candidates(self, terms: frozenset[str], signals: Signals) -> list[_Open]:
        ids: set[str] = set()
        for term in terms:
            posting = self._index.get("t:" + term)
            # A term shared by very many stories ("ukraine") finds nothing worth scoring.
            if posting and len(posting) <= self.max_posting:
                ids |= posting
        for oblast in {oblast_of(p) for p in specific_places(signals.place_ids)}:
            ids |= self._index.get("p:" + oblast, set())
        return [self._open[i] for i in ids if i in self._open]

    def _score(
        self,
        entry: _Open,
        item: Item,
        signals: Signals,
        terms: frozenset[str],
        normalised: str,
    ) -> float | None:
        story = entry.story
        if item.published < story.first_published - self.window:
            return None
        if item.published > story.last_published + self.window:
            return None
        if self.max_span is not None and item.published > story.first_published + self.max_span:
            return None
        if places_conflict(story.place_ids, signals.place_ids):
            return None
        restores = Category.RESTORATION in signals.categories
        if (
            story.resolved
            and not restores
            and story.resolved_at is not None
            and item.published > story.resolved_at
        ):
            return None

        title_score = self._title_score(entry, terms, normalised)
        if title_score < self.threshold:
            for other in entry.normalised[-TITLES_COMPARED:]:
                title_score = max(title_score, near_copy_score(normalised, other))

        score = title_score
        story_places = specific_places(story.place_ids)
        item_places = specific_places(signals.place_ids)
        if story_places and item_places and places_overlap(story_places, item_places):
            shared = (story.categories & signals.categories) - {Category.RESTORATION}
            if shared or (restores and story.categories & RESOLVABLE):
                # Same place, same kind of event: a later outage update or the restoration
                # that ends it belongs here however late it comes within the span.
                return score + PLACE_BONUS + FACTS_BONUS
            if title_score > 0:
                score += PLACE_BONUS
        return score - self._lateness(story, item.published)

    def _lateness(self, story: Story, published: datetime) -> float:
        """What joining costs for stretching the story beyond one news cycle."""
        span = max(story.last_published, published) - min(story.first_published, published)
        beyond = (span - NEWS_CYCLE) / timedelta(hours=1)
        return self.late_penalty * beyond if beyond > 0 else 0.0

    def _terms(self, title: str, source_name: str | None = None) -> frozenset[str]:
        return title_terms(
            title,
            source_name,
            stem=self.matching.stem,
            domain_stopwords=self.matching.domain_stopwords,
            concepts=self.matching.concepts,
        )

    def _title_score(self, entry: _Open, terms: frozenset[str], normalised: str) -> float:
        """How well the item's terms match the story's recent titles (before near copies)."""
        matching = self.matching
        if matching.roundups and is_roundup(normalised):
            return 0.0
        recent = [
            t
            for t, roundup in zip(
                entry.terms[-TITLES_COMPARED:], entry.roundup[-TITLES_COMPARED:], strict=True
            )
            if not (matching.roundups and roundup)
        ]
        if not recent:
            return 0.0
        # One shared word ("Kyiv", "drone") names a topic, not an event: it scores nothing.
        scores = [
            term_similarity(terms, t, self._stats) if len(terms & t) >= matching.min_shared else 0.0
            for t in recent
        ]
        if matching.fuzzy:
            scores = [
                max(s, fuzzy_term_score(terms, t)) for s, t in zip(scores, recent, strict=True)
            ]
        if matching.link == "average":
            return sum(scores) / len(scores)
        return max(scores)

    # --- bookkeeping --------------------------------------------------------------------

    def _remember(
        self,
        entry: _Open,
        item_key: tuple[str, str],
        terms: frozenset[str],
        normalised: str,
        signals: Signals,
    ) -> None:
        entry.item_keys.add(item_key)
        self._item_story[item_key] = entry.story.id
        self._add_title(entry, terms, normalised)
        self._index_places(entry, signals.place_ids)
        heapq.heappush(self._expiry, (entry.story.last_published, entry.story.id))

    def _add_title(self, entry: _Open, terms: frozenset[str], normalised: str) -> None:
        if normalised in entry.normalised:
            return
        entry.terms.append(terms)
        entry.normalised.append(normalised)
        roundup = is_roundup(normalised)
        entry.roundup.append(roundup)
        if roundup and self.matching.roundups:
            return
        for term in terms:
            self._index_key(entry, "t:" + term)

    def _open_entry(self, story: Story) -> _Open:
        self._opened += 1
        entry = _Open(story=story, seq=self._opened)
        self._open[story.id] = entry
        return entry

    def _index_places(self, entry: _Open, place_ids: Iterable[str]) -> None:
        for oblast in {oblast_of(p) for p in specific_places(place_ids)}:
            self._index_key(entry, "p:" + oblast)

    def _index_key(self, entry: _Open, key: str) -> None:
        entry.keys.add(key)
        self._index.setdefault(key, set()).add(entry.story.id)

    def _close(self, entry: _Open) -> None:
        story_id = entry.story.id
        del self._open[story_id]
        for key in entry.keys:
            posting = self._index.get(key)
            if posting is not None:
                posting.discard(story_id)
                if not posting:
                    del self._index[key]
        for item_key in entry.item_keys:
            if self._item_story.get(item_key) == story_id:
                del self._item_story[item_key]

    def _advance(self, published: datetime) -> None:
        if self._watermark is None or published > self._watermark:
            self._watermark = published
            self.expire(published)

    def _new_id(self, item: Item) -> str:
        # Random, not derived from the item: the same item seen again after its story closed
        # must not reuse a stored story's id.
        return f"{item.published:%Y%m%d}-{uuid.uuid4().hex[:12]}"
