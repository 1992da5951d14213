"""compose_digest: matched stories of a period, grouped by oblast and category."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from feeds.models import Category
from rules.digest import compose_digest
from rules.models import Story
from rules.rule import Rule

DAY = datetime(2026, 1, 15, tzinfo=UTC)
NEXT = DAY + timedelta(days=1)


def story(
    story_id: str,
    *,
    hours: float = 8,
    categories: frozenset[Category] = frozenset({Category.POWER_OUTAGE}),
    places: frozenset[str] = frozenset({"UA80"}),
    temps: tuple[float, ...] = (),
    affected: int | None = None,
    sources: tuple[str, ...] = ("Reuters",),
    resolved: bool = False,
) -> Story:
    at = DAY + timedelta(hours=hours)
    return Story(
        id=story_id,
        title=f"story {story_id}",
        first_published=at,
        last_published=at,
        categories=categories,
        place_ids=places,
        temperatures_c=temps,
        affected=affected,
        sources=sources,
        resolved=resolved,
    )


EVERYTHING = Rule()


def test_no_stories_is_an_empty_digest() -> None:
    digest = compose_digest([], [EVERYTHING], DAY, NEXT)
    assert digest.is_empty
    assert digest.sections == ()
    assert digest.story_count == 0


def test_no_rules_match_nothing() -> None:
    digest = compose_digest([story("a")], [], DAY, NEXT)
    assert digest.is_empty


def test_only_stories_of_the_period_that_match_a_rule() -> None:
    stories = [
        story("kyiv"),
        story("lviv", places=frozenset({"UA4612"})),
        story("yesterday", hours=-30),
        story("tomorrow", hours=25),
        story("kyiv-spanning", hours=-2),  # started before the day, still counted if it spans it
    ]
    spanning = stories[-1]
    stories[-1] = Story(
        id=spanning.id,
        title=spanning.title,
        first_published=DAY - timedelta(hours=2),
        last_published=DAY + timedelta(hours=3),
        categories=spanning.categories,
        place_ids=spanning.place_ids,
    )
    digest = compose_digest(stories, [Rule(places=frozenset({"UA80"}))], DAY, NEXT)
    assert {s.id for s in digest.stories} == {"kyiv", "kyiv-spanning"}


def test_sections_by_oblast_and_category_with_counts_and_extremes() -> None:
    stories = [
        story("a", temps=(-12,), affected=1000, sources=("Reuters", "BBC", "DW")),
        story("b", temps=(-19,), affected=500),
        story("c", places=frozenset({"UA6312027001"}), categories=frozenset({Category.COLD})),
        story("d", places=frozenset({"UA"}), categories=frozenset({Category.ENERGY_ATTACK})),
    ]
    digest = compose_digest(stories, [EVERYTHING], DAY, NEXT)
    by_key = {(s.place_id, s.category): s for s in digest.sections}
    kyiv = by_key[("UA80", Category.POWER_OUTAGE)]
    assert kyiv.count == 2
    assert kyiv.coldest_c == -19
    assert kyiv.max_affected == 1000
    assert [s.id for s in kyiv.stories] == ["a", "b"]  # most sources first
    assert by_key[("UA63", Category.COLD)].count == 1  # a city counted under its oblast
    assert by_key[("UA", Category.ENERGY_ATTACK)].count == 1
    assert digest.sections[0] is kyiv  # biggest section first
    assert digest.coldest_c == -19
    assert digest.max_affected == 1000
    assert digest.stories[0].id == "a"


def test_story_in_two_oblasts_and_categories_appears_in_each_section_once_in_stories() -> None:
    both = story(
        "both",
        places=frozenset({"UA80", "UA63"}),
        categories=frozenset({Category.POWER_OUTAGE, Category.HEATING_OUTAGE}),
    )
    digest = compose_digest([both, both], [EVERYTHING, EVERYTHING], DAY, NEXT)
    assert len(digest.sections) == 4
    assert [s.id for s in digest.stories] == ["both"]


def test_resolved_stories_are_listed_apart() -> None:
    stories = [story("open"), story("fixed", resolved=True, categories=frozenset(Category))]
    digest = compose_digest(stories, [EVERYTHING], DAY, NEXT)
    assert [s.id for s in digest.resolved] == ["fixed"]
    assert [s.id for s in digest.stories] == ["open"]
    assert all(s.id != "fixed" for sec in digest.sections for s in sec.stories)
    assert not digest.is_empty


def test_rule_thresholds_select_stories() -> None:
    stories = [story("mild", temps=(-5,)), story("bitter", temps=(-21,))]
    digest = compose_digest(stories, [Rule(max_temp_c=-15)], DAY, NEXT)
    assert [s.id for s in digest.stories] == ["bitter"]


def test_story_without_place_or_category_goes_to_country_and_none() -> None:
    bare = story("bare", places=frozenset(), categories=frozenset())
    digest = compose_digest([bare], [EVERYTHING], DAY, NEXT)
    assert [(s.place_id, s.category) for s in digest.sections] == [("UA", None)]
