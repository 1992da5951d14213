"""Severity of an item, derived from its facts in this one place.

The scale (`feeds.models.Severity`), first rule that applies wins:

- CRITICAL: an outage or energy attack with at least 500,000 affected, or an outage
  (power, heating, water) while the stated temperature is -15 °C or colder.
- HIGH: an outage or energy attack with at least 50,000 affected (or a vague lower bound of
  100,000, "hundreds of thousands"), or an outage while it is -5 °C or colder, or an outage
  together with an energy attack.
- MEDIUM: any outage or energy attack, or cold at -10 °C or colder.
- LOW: cold without an outage, or restoration alone.
- NONE: no category.
"""

from __future__ import annotations

from collections.abc import Collection

from feeds.models import Category, Severity

OUTAGES = frozenset({Category.POWER_OUTAGE, Category.HEATING_OUTAGE, Category.WATER_OUTAGE})


def derive_severity(
    categories: Collection[Category],
    *,
    coldest_c: float | None = None,
    affected: int | None = None,
    affected_lower_bound: int | None = None,
) -> Severity:
    """The severity of an item with these facts (rules in the module docstring)."""
    if not categories:
        return Severity.NONE
    outage = any(c in OUTAGES for c in categories)
    attack = Category.ENERGY_ATTACK in categories
    people = affected or 0
    bound = affected_lower_bound or 0
    if (outage or attack) and people >= 500_000:
        return Severity.CRITICAL
    if outage and coldest_c is not None and coldest_c <= -15:
        return Severity.CRITICAL
    if (outage or attack) and (people >= 50_000 or bound >= 100_000):
        return Severity.HIGH
    if outage and (attack or (coldest_c is not None and coldest_c <= -5)):
        return Severity.HIGH
    if outage or attack:
        return Severity.MEDIUM
    if Category.COLD in categories and coldest_c is not None and coldest_c <= -10:
        return Severity.MEDIUM
    return Severity.LOW
