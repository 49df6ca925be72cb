"""Scheduled flag changes, pure: reading times and steps, choosing what is due."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from shipyard.domain.flag_schedules import check_action, due, parse_steps, parse_when, status
from shipyard.errors import InputError

NOW = datetime(2026, 6, 1, 9, 15, 30, 500000, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("+2h", "2026-06-01T11:15:30Z"),
        ("+30m", "2026-06-01T09:45:30Z"),
        ("+1d2h", "2026-06-02T11:15:30Z"),
        ("+90s", "2026-06-01T09:17:00Z"),
        ("10:30", "2026-06-01T10:30:00Z"),
        ("09:00", "2026-06-02T09:00:00Z"),
        ("2026-12-01T09:00Z", "2026-12-01T09:00:00Z"),
        ("2026-12-01T09:00:00+02:00", "2026-12-01T07:00:00Z"),
        (" 2026-12-01 09:00:00z ", "2026-12-01T09:00:00Z"),
    ],
)
def test_parse_when(text: str, expected: str) -> None:
    """Relative, clock and ISO times read as the UTC time they name, counting from now."""
    assert parse_when(text, NOW).strftime("%Y-%m-%dT%H:%M:%SZ") == expected


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("2026-12-01T09:00", "schedule-time-naive"),
        ("tomorrow", "schedule-time-invalid"),
        ("+2x", "schedule-time-invalid"),
        ("+", "schedule-time-invalid"),
        ("+2h1d", "schedule-time-invalid"),
        ("25:00", "schedule-time-invalid"),
        ("", "schedule-time-invalid"),
    ],
)
def test_parse_when_refuses(text: str, code: str) -> None:
    """Naive and unreadable times are refused, each with its code."""
    with pytest.raises(InputError) as err:
        parse_when(text, NOW)
    assert err.value.code == code


def test_parse_when_needs_an_aware_now() -> None:
    """A naive now is refused rather than guessed at."""
    with pytest.raises(InputError):
        parse_when("+1h", datetime(2026, 1, 1))


def test_parse_when_keeps_the_offset_of_now() -> None:
    """A clock time is UTC even when now is given in another zone."""
    now = datetime(2026, 6, 1, 11, 0, tzinfo=timezone(timedelta(hours=2)))
    assert parse_when("10:30", now) == datetime(2026, 6, 1, 10, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("10@+1h,50@+2h,100@+4h", [(10, 10), (50, 11), (100, 13)]),
        ("0@+1h", [(0, 10)]),
    ],
)
def test_parse_steps(text: str, expected: list[tuple[int, int]]) -> None:
    """Steps read as (percentage, time) pairs in the order given."""
    assert [(p, at.hour) for p, at in parse_steps(text, NOW)] == expected


@pytest.mark.parametrize(
    ("text", "code"),
    [
        ("10@+2h,50@+1h", "schedule-steps-unordered"),
        ("10@+1h,50@+1h", "schedule-steps-unordered"),
        ("10+1h", "schedule-steps-invalid"),
        ("x@+1h", "schedule-steps-invalid"),
        ("101@+1h", "flag-percentage-invalid"),
    ],
)
def test_parse_steps_refuses(text: str, code: str) -> None:
    """Unordered, unreadable and out-of-range steps are refused, each with its code."""
    with pytest.raises(InputError) as err:
        parse_steps(text, NOW)
    assert err.value.code == code


@pytest.mark.parametrize(
    ("action", "pct", "expected"),
    [("enable", None, ("enable", None)), ("rollout", 0, ("rollout", 0))],
)
def test_check_action(action: str, pct: int | None, expected: tuple[str, int | None]) -> None:
    """Enable takes no percentage; rollout takes one from 0 to 100."""
    assert check_action(action, pct) == expected


def _row(i: int, at: str, **extra: Any) -> dict[str, Any]:
    return {"id": i, "at": at, "applied_at": None, "cancelled_at": None, "error": None, **extra}


@pytest.mark.parametrize(
    ("rows", "expected"),
    [
        ([_row(1, "2026-06-01T09:15:30Z")], [1]),
        ([_row(1, "2026-06-01T09:15:31Z")], []),
        ([_row(2, "2026-06-01T08:00:00Z"), _row(1, "2026-06-01T08:00:00Z")], [1, 2]),
        ([_row(1, "2026-06-01T09:00:00Z"), _row(2, "2026-06-01T08:00:00Z")], [2, 1]),
        ([_row(1, "2026-06-01T08:00:00Z", applied_at="x")], []),
        ([_row(1, "2026-06-01T08:00:00Z", cancelled_at="x")], []),
    ],
)
def test_due(rows: list[dict[str, Any]], expected: list[int]) -> None:
    """Due means pending and at or before now, ordered by time then id."""
    assert [r["id"] for r in due(rows, NOW)] == expected


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ({}, "pending"),
        ({"applied_at": "t"}, "applied"),
        ({"cancelled_at": "t"}, "cancelled"),
        ({"cancelled_at": "t", "error": "gone"}, "failed"),
    ],
)
def test_status(extra: dict[str, Any], expected: str) -> None:
    """A schedule's status follows from which of its stamps are set."""
    assert status(_row(1, "t", **extra)) == expected
