"""`RuleIndex`: the rules a story satisfies, without looking at rules that cannot match it.

Each rule is filed under selective keys, and a story looks up only the keys it could match:
- rules with required keywords under one word of their first keyword (the story's words are a
  set, so one lookup per distinct word of the story finds them), checked with `Rule.matches`;
- otherwise under every (category or "any", place or "anywhere") pair of the rule: a story looks
  up its categories (and "any") times the areas containing its places (and "anywhere"). Such a
  bucket proves category and place, so only the rest of the rule ("facts": thresholds, outlets,
  excluded words) is checked, once per distinct facts: rules of a bucket are grouped by them;
- otherwise under each outlet they ask for; the rest (thresholds only) are always candidates.
So the result equals the plain loop over `Rule.matches` (a differential test checks it).
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Hashable, Iterator

from feeds.models import Category, place_ancestors
from rules.keywords import fold, keyword_words, text_words
from rules.models import Story
from rules.rule import Delivery, Rule, story_text

_ANY = None  # "any category" / "anywhere" in the (category, place) keys
_STANDARD_ID_LENGTHS = frozenset({2, 4, 6, 9, 12})  # the cuts `place_ancestors` walks
_NO_FACTS = Rule()

_WhereKey = tuple[Category | None, str | None]
_OtherKey = tuple[str, Hashable]


class RuleIndex:
    """Rules by id, indexed for `match(story)`; add and remove at any time."""

    def __init__(self) -> None:
        self._rules: dict[int, Rule] = {}
        # (category, place) -> facts id -> rule ids; facts are interned to small ids because
        # hashing a Rule per lookup costs more than the check it saves
        self._where: dict[_WhereKey, dict[int, set[int]]] = {}
        self._facts_ids: dict[Rule, int] = {_NO_FACTS: 0}
        self._facts: list[Rule] = [_NO_FACTS]
        # ("kw", word) / ("src", outlet) / ("all", None) -> rule ids, checked in full
        self._other: dict[_OtherKey, set[int]] = {}
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
        self._rules[rule_id] = rule
        where_keys, other_keys = _keys(rule)
        facts = self._facts_id(rule)
        for where_key in where_keys:
            self._where.setdefault(where_key, {}).setdefault(facts, set()).add(rule_id)
        for other_key in other_keys:
            self._other.setdefault(other_key, set()).add(rule_id)
        for place in rule.places:
            if len(place) not in _STANDARD_ID_LENGTHS:
                self._odd_place_lengths[len(place)] += 1

    def remove(self, rule_id: int) -> bool:
        """Forget `rule_id`; False when it was not indexed."""
        rule = self._rules.pop(rule_id, None)
        if rule is None:
            return False
        where_keys, other_keys = _keys(rule)
        facts = self._facts_id(rule)
        for where_key in where_keys:
            groups = self._where[where_key]
            groups[facts].discard(rule_id)
            if not groups[facts]:
                del groups[facts]
                if not groups:
                    del self._where[where_key]
        for other_key in other_keys:
            bucket = self._other[other_key]
            bucket.discard(rule_id)
            if not bucket:
                del self._other[other_key]
        for place in rule.places:
            if len(place) not in _STANDARD_ID_LENGTHS:
                self._odd_place_lengths[len(place)] -= 1
                if not self._odd_place_lengths[len(place)]:
                    del self._odd_place_lengths[len(place)]
        return True

    def candidates(self, story: Story) -> set[int]:
        """Ids of the rules the index looks at for `story` (a superset of `match`)."""
        found = self._full_check_candidates(story)
        for groups in self._where_groups(story):
            for ids in groups.values():
                found |= ids
        return found

    def match(self, story: Story) -> set[int]:
        """Ids of the rules that `story` satisfies."""
        matched: set[int] = set()
        verdicts: dict[int, bool] = {0: True}  # facts id -> held, decided once per story
        all_facts = self._facts
        for groups in self._where_groups(story):
            for facts, ids in groups.items():
                held = verdicts.get(facts)
                if held is None:
                    held = verdicts[facts] = all_facts[facts].matches_facts(story)
                if held:
                    matched |= ids
        rules = self._rules
        matched.update(i for i in self._full_check_candidates(story) if rules[i].matches(story))
        return matched

    def _facts_id(self, rule: Rule) -> int:
        # Interned for good: distinct facts are few (thresholds people pick repeat a lot).
        facts = _facts(rule)
        found = self._facts_ids.get(facts)
        if found is None:
            found = self._facts_ids[facts] = len(self._facts)
            self._facts.append(facts)
        return found

    def _where_groups(self, story: Story) -> Iterator[dict[int, set[int]]]:
        where = self._where
        areas = self._areas(story)
        for category in (*story.categories, _ANY):
            for area in areas:
                groups = where.get((category, area))
                if groups:
                    yield groups

    def _full_check_candidates(self, story: Story) -> set[int]:
        other = self._other
        found: set[int] = set()
        _, story_words = text_words(story_text(story))
        for word in story_words:
            bucket = other.get(("kw", word))
            if bucket:
                found |= bucket
        for source in story.sources:
            bucket = other.get(("src", fold(source)))
            if bucket:
                found |= bucket
        bucket = other.get(("all", None))
        if bucket:
            found |= bucket
        return found

    def _areas(self, story: Story) -> set[str | None]:
        areas: set[str | None] = {_ANY}
        for place_id in story.place_ids:
            areas.update(place_ancestors(place_id))
            areas.add(place_id)
            for length in self._odd_place_lengths:
                if length <= len(place_id):
                    areas.add(place_id[:length])
        return areas


def _facts(rule: Rule) -> Rule:
    """`rule` without its category, place and delivery: what a (category, place) bucket
    leaves to check."""
    return dataclasses.replace(
        rule, categories=frozenset(), places=frozenset(), delivery=Delivery.INSTANT
    )


def _keys(rule: Rule) -> tuple[list[_WhereKey], list[_OtherKey]]:
    """The keys `rule` is filed under (see the module docstring)."""
    if rule.keywords and not rule.places:
        # The longest word of the first keyword: long words are the rarest. (With places, the
        # place is as selective and the keyword is checked once per facts group.)
        words = keyword_words(rule.keywords[0])
        if words:
            return [], [("kw", max(words, key=len))]
    if rule.categories or rule.places:
        categories: tuple[Category | None, ...] = tuple(rule.categories) or (_ANY,)
        places: tuple[str | None, ...] = tuple(rule.places) or (_ANY,)
        return [(c, p) for c in categories for p in places], []
    if rule.sources:
        return [], [("src", name) for name in {fold(s) for s in rule.sources}]
    return [], [("all", None)]
