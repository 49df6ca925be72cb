"""Scheduled flag changes: reading "when" and deciding which schedules are due.

Pure: every function takes ``now`` from its caller. Times are aware and kept in UTC; a stored
time is ``YYYY-MM-DDTHH:MM:SSZ`` (fixed width, so text order is time order).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from typing import Any, TypeVar

from shipyard.domain.durations import DurationInvalid, parse_seconds
from shipyard.errors import InputError

ACTIONS = ("enable", "disable", "rollout")
_CLOCK = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")
_HINT = "give +2h, +30m, +1d2h, 10:30 (UTC, next occurrence) or 2026-12-01T09:00Z"


def fmt(at: datetime) -> str:
    """The stored form of an aware time: UTC, whole seconds."""
    return aware(at).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def aware(at: datetime) -> datetime:
    """``at`` itself, refused when it names no time zone."""
    if at.tzinfo is None or at.utcoffset() is None:
        raise InputError(
            f"time {at.isoformat()} has no time zone",
            "add Z or an offset such as +02:00",
            code="schedule-time-naive",
        )
    return at


def parse_when(text: str, now: datetime) -> datetime:
    """``text`` as an aware UTC time, whole seconds; relative and clock forms count from ``now``."""
    now = aware(now).astimezone(UTC)
    value = (text or "").strip()
    if value.startswith("+"):  # a duration from now (domain/durations.py)
        try:
            delta = timedelta(seconds=parse_seconds(value[1:], bare=False))
        except DurationInvalid as exc:
            raise InputError(exc.message, _HINT, code="schedule-time-invalid") from None
        return (now + delta).replace(microsecond=0)
    clock = _CLOCK.match(value)
    if clock:
        at = now.replace(hour=int(clock[1]), minute=int(clock[2]), second=0, microsecond=0)
        return at if at > now else at + timedelta(days=1)
    try:
        parsed = datetime.fromisoformat(value[:-1] + "+00:00" if value[-1:] in "zZ" else value)
    except ValueError:
        raise InputError(f"'{text}' is not a time", _HINT, code="schedule-time-invalid") from None
    return aware(parsed).astimezone(UTC).replace(microsecond=0)


def parse_steps(text: str, now: datetime) -> list[tuple[int, datetime]]:
    """``10@+1h,50@+2h,100@+4h`` as (percentage, time) pairs, checked by ``check_steps``."""
    steps: list[tuple[int, datetime]] = []
    for item in (text or "").split(","):
        pct, sep, when = item.strip().partition("@")
        if not sep or not pct.strip().isdigit():
            raise InputError(
                f"'{item.strip()}' is not a step",
                "write PERCENT@WHEN, comma separated, e.g. 10@+1h,50@+2h,100@+4h",
                code="schedule-steps-invalid",
            )
        steps.append((int(pct), parse_when(when, now)))
    return check_steps(steps)


def check_percentage(pct: int | None) -> int:
    if pct is None or not 0 <= pct <= 100:
        raise InputError(
            f"rollout percentage {pct} is outside 0..100",
            "give a whole number from 0 to 100",
            code="flag-percentage-invalid",
        )
    return pct


def check_steps(steps: Iterable[tuple[int, datetime]]) -> list[tuple[int, datetime]]:
    """At least one step, each percentage 0..100, times aware and strictly increasing."""
    out = [(check_percentage(pct), aware(at)) for pct, at in steps]
    if not out:
        raise InputError(
            "no steps", "e.g. --steps 10@+1h,50@+2h,100@+4h", code="schedule-steps-invalid"
        )
    for (_, earlier), (_, later) in pairwise(out):
        if later <= earlier:
            raise InputError(
                f"step at {fmt(later)} is not after the step at {fmt(earlier)}",
                "list steps in time order, each later than the one before",
                code="schedule-steps-unordered",
            )
    return out


def check_action(action: str, percentage: int | None) -> tuple[str, int | None]:
    """The action and its percentage: required for rollout, refused for enable and disable."""
    if action not in ACTIONS:
        raise InputError(
            f"unknown schedule action '{action}'",
            "one of " + ", ".join(ACTIONS),
            code="schedule-action-unknown",
        )
    if action == "rollout":
        return action, check_percentage(percentage)
    if percentage is not None:
        raise InputError(
            f"{action} takes no percentage",
            "schedule a rollout for a percentage",
            code="schedule-percentage-unexpected",
        )
    return action, None


def check_future(at: datetime, now: datetime) -> datetime:
    if aware(at) <= aware(now):
        raise InputError(
            f"{fmt(at)} is not after now ({fmt(now)})",
            "schedule a time in the future; change the flag now with enable, disable or rollout",
            code="schedule-in-past",
        )
    return at


def status(row: Mapping[str, Any]) -> str:
    if row.get("error"):
        return "failed"
    if row.get("cancelled_at"):
        return "cancelled"
    if row.get("applied_at"):
        return "applied"
    return "pending"


_Row = TypeVar("_Row", bound=Mapping[str, Any])


def due(rows: Iterable[_Row], now: datetime) -> list[_Row]:
    """Pending schedules whose time has come, in the order to apply them (time, then id)."""
    cutoff = fmt(now)
    ready = [r for r in rows if status(r) == "pending" and str(r["at"]) <= cutoff]
    return sorted(ready, key=lambda r: (str(r["at"]), int(r["id"])))
