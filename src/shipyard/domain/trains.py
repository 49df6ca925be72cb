"""Which train a change rides, and what a cherry-pick onto a cut train needs.

Pure: the caller passes the train's dates and the current time. The rule gets stricter as
ship day nears, so late risk needs more eyes and late features wait for the next train.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

Rides = Literal["this", "next"]

# Conventional-commit types that fix something; everything else is a change of behaviour.
FIX_KINDS = frozenset({"fix", "revert", "security", "perf"})
# What still goes in during the last day: fixes for harm users would feel at once.
URGENT_KINDS = frozenset({"security", "revert"})

LATE = timedelta(hours=48)
LAST_DAY = timedelta(hours=24)


@dataclass(frozen=True)
class CherryPick:
    """Whether a change may be picked onto the train, how many approvals it needs, and why."""

    allowed: bool
    approvals: int
    rides: Rides
    reason: str


def cherry_pick_rule(kind: str, cut: datetime, ship: datetime, now: datetime) -> CherryPick:
    """The rule for a change of ``kind`` (a conventional-commit type) at ``now``.

    Before the cut a change simply lands on the main line and rides this train. After the cut
    fixes need one approval, two in the last 48 hours, and only security fixes and reverts go
    in during the last 24 hours. Once the train has shipped everything rides the next one.
    """
    kind = kind.strip().lower()
    if now < cut:
        return CherryPick(True, 0, "this", "the train is not cut yet; merge to the main line")
    if now >= ship:
        return CherryPick(False, 0, "next", "the train has shipped; the change rides the next one")
    left = ship - now
    if kind not in FIX_KINDS:
        return CherryPick(
            False, 0, "next", f"'{kind}' is not a fix; after the cut only fixes are picked"
        )
    if left <= LAST_DAY:
        if kind in URGENT_KINDS:
            return CherryPick(True, 2, "this", "last day before ship: two approvals")
        return CherryPick(
            False, 0, "next", "last day before ship: only security fixes and reverts go in"
        )
    if left <= LATE:
        return CherryPick(True, 2, "this", "less than 48 hours before ship: two approvals")
    return CherryPick(True, 1, "this", "stabilising: one approval")


def rides(merged_at: datetime, cut: datetime | None) -> Rides:
    """A change merged after the current train's cut rides the next train."""
    return "this" if cut is None or merged_at < cut else "next"
