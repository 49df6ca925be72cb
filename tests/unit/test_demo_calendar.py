"""The demo's freeze windows lie clear of the day it runs, whatever that day is."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import yaml

from shipyard.demo.context import Calendar
from shipyard.domain.calendar import freeze_from_spec, is_frozen

DAYS = [
    datetime(2026, 12, 5, 12, 0, tzinfo=UTC),  # a Saturday
    datetime(2026, 12, 6, 23, 59, tzinfo=UTC),  # a Sunday, just before midnight
    datetime(2026, 12, 10, 17, 30, tzinfo=UTC),  # a Thursday, just before a night's start
    datetime(2026, 12, 19, 0, 0, tzinfo=UTC),  # the day before the year-end freeze
    datetime(2026, 12, 24, 12, 0, tzinfo=UTC),  # inside that year's year-end freeze
    datetime(2027, 1, 3, 8, 0, tzinfo=UTC),  # its last day
    datetime(2027, 2, 28, 20, 0, tzinfo=UTC),  # a night, as a weekly window would be
]


@pytest.mark.parametrize("now", DAYS, ids=lambda d: d.strftime("%a-%Y-%m-%d-%H%M"))
def test_no_window_is_open_while_the_demo_runs(now: datetime) -> None:
    """Neither sample freeze is open from the demo's start to an hour later, and each instant
    the demo asks about falls in the window it is meant to show."""
    calendar = Calendar.around(now)
    windows = [freeze_from_spec(w) for w in yaml.safe_load(calendar.freezes_yaml())]
    for minutes in range(0, 61, 5):
        at = now + timedelta(minutes=minutes)
        assert not is_frozen(windows, at, "production").frozen, at
    assert is_frozen(windows, calendar.inside, "production").window.name == "year-end"
    weekly = is_frozen(windows, calendar.weekly, "production").window
    assert weekly is not None and weekly.name == "weekly-maintenance"
    assert not is_frozen(windows, calendar.outside, "production").frozen
