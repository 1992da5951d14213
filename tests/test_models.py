"""Place ids are hierarchical: containment is a prefix test."""

from __future__ import annotations

import pytest

from feeds.models import place_ancestors, place_within


@pytest.mark.parametrize(
    ("place", "area", "inside"),
    [
        pytest.param("UA6312027001", "UA63", True, id="settlement-in-oblast"),
        pytest.param("UA6312027001", "UA", True, id="settlement-in-country"),
        pytest.param("UA80", "UA32", False, id="kyiv-city-not-in-kyiv-oblast"),
        pytest.param("UA63", "UA6312", False, id="oblast-not-in-its-raion"),
    ],
)
def test_place_within(place: str, area: str, inside: bool) -> None:
    assert place_within(place, area) is inside


def test_place_ancestors() -> None:
    assert place_ancestors("UA6312027001") == ["UA6312027001", "UA6312027", "UA6312", "UA63", "UA"]
    assert place_ancestors("UA80") == ["UA80", "UA"]
