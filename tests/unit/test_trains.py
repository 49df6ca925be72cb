"""Cherry-pick rules and which train a change rides."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from shipyard.domain.trains import cherry_pick_rule, rides

CUT = datetime(2026, 11, 30, 8, 0, tzinfo=UTC)
SHIP = CUT + timedelta(days=3)


@pytest.mark.parametrize(
    ("kind", "now", "allowed", "approvals", "train"),
    [
        ("feat", CUT - timedelta(hours=1), True, 0, "this"),
        ("fix", CUT + timedelta(hours=1), True, 1, "this"),
        ("feat", CUT + timedelta(hours=1), False, 0, "next"),
        ("fix", SHIP - timedelta(hours=47), True, 2, "this"),
        ("FIX", SHIP - timedelta(hours=30), True, 2, "this"),
        ("fix", SHIP - timedelta(hours=23), False, 0, "next"),
        ("security", SHIP - timedelta(hours=1), True, 2, "this"),
        ("revert", SHIP - timedelta(hours=1), True, 2, "this"),
        ("security", SHIP, False, 0, "next"),
        ("fix", SHIP + timedelta(days=1), False, 0, "next"),
    ],
)
def test_cherry_pick_gets_stricter_towards_ship(
    kind: str, now: datetime, allowed: bool, approvals: int, train: str
) -> None:
    """Fixes need more approvals as ship nears; features and late fixes ride the next train."""
    rule = cherry_pick_rule(kind, CUT, SHIP, now)
    assert (rule.allowed, rule.approvals, rule.rides) == (allowed, approvals, train)
    assert rule.reason


@pytest.mark.parametrize(
    ("merged", "cut", "train"),
    [
        (CUT - timedelta(seconds=1), CUT, "this"),
        (CUT, CUT, "next"),
        (CUT + timedelta(days=1), CUT, "next"),
        (CUT, None, "this"),
    ],
)
def test_changes_after_the_cut_ride_the_next_train(
    merged: datetime, cut: datetime | None, train: str
) -> None:
    """A change merged at or after the cut rides the next train."""
    assert rides(merged, cut) == train
