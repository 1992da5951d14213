"""`RuleIndex`: the rules a story satisfies, without looking at rules that cannot match it.

Each rule is filed under one selective key, and a story looks up only the keys it could match:
- rules with required keywords under one word of their first keyword (the story's words are a
  set, so a lookup per distinct word of the story finds them);
- otherwise under every (category or "any", place or "anywhere") pair of the rule; a story looks
  up its categories (and "any") times the areas containing its places (and "anywhere");
- otherwise under each outlet they ask for; the rest (thresholds only) are always candidates.
The candidates are then checked with `Rule.matches`, so the result equals the plain loop, except
rules that ask only for categories and places: a (category, place) bucket the story looks up
already proves those two, so such rules join the result without a check ("pure" buckets).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Hashable, Iterator

from feeds.models import Category, place_ancestors
from rules.keywords import fold, keyword_words, text_words
from rules.models import Story
from rules.rule import Rule, story_text

_ANY = None  # "any category" / "anywhere" in the composite keys
_STANDARD_ID_LENGTHS = frozenset({2, 4, 6, 9, 12})  # the cuts `place_ancestors` walks

_Key = tuple[str, Hashable]


class RuleIndex:
    """Rules by id, indexed for `match(story)`; add and remove at any time."""

    def __init__(self) -> None:
        self._rules: dict[int, Rule] = {}
        self._keys: dict[int, list[_Key]] = {}
        self._buckets: dict[_Key, set[int]] = defaultdict(set)
        # Place ids of unusual length in rules (not a cut of `place_ancestors`), by length,
        # so a story also looks up those prefixes of its places and misses nothing.
        self._odd_place_lengths: dict[int, int] = defaultdict(int)

    def __len__(self) -> int:
        return len(self._rules)

    def __contains__(self, rule_id: object) -> bool:
        return rule_id in self._rules

    def __iter__(self) -> Iterator[int]:
        return iter(self._rules)

    def get(self, rule_id: int) -> Rule | None:
        return self._rules.get(rule_id)

    def add(self, rule_id: int, rule: Rule) -> None:
        """Index `rule` under `rule_id`, replacing any rule with that id."""
        self.remove(rule_id)
        keys = _keys(rule)
        for key in keys:
            self._buckets[key].add(rule_id)
        self._rules[rule_id] = rule
        self._keys[rule_id] = keys
        for place in rule.places:
            if len(place) not in _STANDARD_ID_LENGTHS:
                self._odd_place_lengths[len(place)] += 1

    def remove(self, rule_id: int) -> bool:
        """Forget `rule_id`; False when it was not indexed."""
        rule = self._rules.pop(rule_id, None)
        if rule is None:
            return False
        for key in self._keys.pop(rule_id):
            bucket = self._buckets[key]
            bucket.discard(rule_id)
            if not bucket:
                del self._buckets[key]
        for place in rule.places:
            if len(place) not in _STANDARD_ID_LENGTHS:
                self._odd_place_lengths[len(place)] -= 1
                if not self._odd_place_lengths[len(place)]:
                    del self._odd_place_lengths[len(place)]
        return True

    def candidates(self, story: Story) -> set[int]:
        """Ids of the rules that might match `story` (a superset of `match`)."""
        to_check, pure = self._collect(story)
        return to_check | pure

    def match(self, story: Story) -> set[int]:
        """Ids of the rules that `story` satisfies."""
        to_check, matched = self._collect(story)
        rules = self._rules
        matched.update(rule_id for rule_id in to_check if rules[rule_id].matches(story))
        return matched

    def _collect(self, story: Story) -> tuple[set[int], set[int]]:
        """(rules to check with `Rule.matches`, rules that match by their bucket alone)."""
        buckets = self._buckets
        to_check: set[int] = set()
        pure: set[int] = set()
        areas = self._areas(story)
        for category in (*story.categories, _ANY):
            for area in areas:
                key = (category, area)
                bucket = buckets.get(("cp", key))
                if bucket:
                    to_check |= bucket
                bucket = buckets.get(("pure", key))
                if bucket:
                    pure |= bucket
        _, story_words = text_words(story_text(story))
        for word in story_words:
            bucket = buckets.get(("kw", word))
            if bucket:
                to_check |= bucket
        for source in story.sources:
            bucket = buckets.get(("src", fold(source)))
            if bucket:
                to_check |= bucket
        always = buckets.get(("all", None))
        if always:
            to_check |= always
        return to_check, pure

    def _areas(self, story: Story) -> list[str | None]:
        areas: set[str | None] = {_ANY}
        for place_id in story.place_ids:
            areas.update(place_ancestors(place_id))
            areas.add(place_id)
            for length in self._odd_place_lengths:
                if length <= len(place_id):
                    areas.add(place_id[:length])
        return list(areas)


def _keys(rule: Rule) -> list[_Key]:
    """The bucket keys `rule` is filed under (see the module docstring)."""
    if rule.keywords:
        # The longest word of the first keyword: long words are the rarest.
        words = keyword_words(rule.keywords[0])
        if words:
            return [("kw", max(words, key=len))]
    if rule.categories or rule.places:
        categories: tuple[Category | None, ...] = tuple(rule.categories) or (_ANY,)
        places: tuple[str | None, ...] = tuple(rule.places) or (_ANY,)
        # Categories and places are proven by the bucket; anything else needs a check.
        only_where = rule == Rule(
            categories=rule.categories, places=rule.places, delivery=rule.delivery
        )
        kind = "pure" if only_where else "cp"
        return [(kind, (c, p)) for c in categories for p in places]
    if rule.sources:
        return [("src", name) for name in {fold(s) for s in rule.sources}]
    return [("all", None)]
