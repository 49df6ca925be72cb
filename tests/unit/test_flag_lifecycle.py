"""Flag lifecycle decisions: rollout levels and which flags are due for removal."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shipyard.domain.flag_lifecycle import FlagFacts, find_stale, rollout_level

NOW = datetime(2026, 6, 1, tzinfo=UTC)


def _flex(pct: int, **extra: Any) -> dict[str, Any]:
    return {"name": "flexibleRollout", "parameters": {"rollout": str(pct)}, **extra}


@pytest.mark.parametrize(
    ("feature", "level"),
    [
        ({"enabled": False, "strategies": [_flex(100)]}, 0),
        ({"enabled": True, "strategies": []}, 100),
        ({"enabled": True, "strategies": [{"name": "default"}]}, 100),
        ({"enabled": True, "strategies": [_flex(100)]}, 100),
        ({"enabled": True, "strategies": [_flex(0)]}, 0),
        ({"enabled": True, "strategies": [_flex(30)]}, None),
        ({"enabled": True, "strategies": [_flex(100, constraints=[{"x": 1}])]}, None),
        ({"enabled": True, "strategies": [{"name": "userWithId"}]}, None),
        ({"enabled": True, "strategies": [_flex(0), _flex(100)]}, 100),
    ],
)
def test_rollout_level(feature: dict[str, Any], level: int | None) -> None:
    """Off or 0% is 0, unconditional on is 100, anything narrower is in between (None)."""
    assert rollout_level(feature) == level


def _facts(
    kind: str,
    age_days: int,
    *,
    pct: int = 100,
    refs: tuple[str, ...] = ("a.py:1",),
    evaluated_days_ago: int | None = 1,
) -> FlagFacts:
    changed = NOW - timedelta(days=age_days)
    return FlagFacts(
        name=f"{kind}-{age_days}",
        type=kind,
        created_at=changed,
        environments={"prod": ({"enabled": True, "strategies": [_flex(pct)]}, changed)},
        last_evaluated=None if evaluated_days_ago is None else NOW - timedelta(evaluated_days_ago),
        references=refs,
    )


@pytest.mark.parametrize(
    ("facts", "expected"),
    [
        (_facts("release", 10, pct=50), []),
        (
            _facts("release", 41, pct=50),
            ["older than its expected lifetime (40 days for release flags)"],
        ),
        (
            _facts("operational", 8, pct=50),
            ["older than its expected lifetime (7 days for operational flags)"],
        ),
        (_facts("experiment", 10), ["at 100% in every environment for more than 7 days"]),
        (_facts("kill-switch", 400), []),
        (_facts("permission", 400, pct=50), []),
        (_facts("kill-switch", 30, evaluated_days_ago=None), ["no evaluations reported in 7 days"]),
        (_facts("release", 10, pct=50, refs=()), ["no code references it"]),
        (_facts("release", 3, pct=50, refs=(), evaluated_days_ago=None), []),
    ],
)
def test_stale_reasons(facts: FlagFacts, expected: list[str]) -> None:
    """Lifetimes by type, settled rollouts, missing metrics and missing references, each alone."""
    found = find_stale([facts], NOW, 7)
    assert [list(s.reasons) for s in found] == ([expected] if expected else [])
