"""Calendar rules on random input around real daylight-saving changes: durations survive a
round trip through text, and cron schedules and freeze windows agree, minute by minute, with a
brute-force reading of the wall clock in Europe/Berlin, America/New_York and Australia/Sydney.

The brute force walks UTC minute by minute and watches the zone's wall clock. A cron time
fires at the first minute the clock reaches or passes it: a time skipped by a spring-forward
change fires at the first minute after the gap, and a time shown twice at fall-back fires on
its first pass only. A recurring freeze is in force from a start time until the first end time
after it; a one-off freeze given as dates covers those whole local days.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from functools import cache
from zoneinfo import ZoneInfo

import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from shipyard.domain.calendar import (
    DurationInvalid,
    FreezeInvalid,
    FreezeWindow,
    cron_times,
    format_duration,
    is_frozen,
    parse_duration,
)
from shipyard.domain.durations import MAX_SECONDS

MINUTE = timedelta(minutes=1)
ZONES = ["Europe/Berlin", "America/New_York", "Australia/Sydney"]
# The brute force looks this far either side of a change: enough for a weekly window to have
# started, for the end before that start, and for a chain of windows to lift.
LOOKBACK, LOOKAHEAD = timedelta(days=15), timedelta(days=16)
AROUND = timedelta(hours=1)  # the minutes checked one by one, either side of a change


def _offset_changes(name: str, first_year: int, last_year: int) -> list[datetime]:
    """The instants (UTC, on the minute) at which the zone's offset from UTC changes."""
    tz = ZoneInfo(name)
    out = []
    t = datetime(first_year, 1, 1, tzinfo=UTC)
    while t.year <= last_year:
        nxt = t + timedelta(days=1)
        if t.astimezone(tz).utcoffset() != nxt.astimezone(tz).utcoffset():
            lo, hi = 0, 24 * 60  # minutes after t: lo in the old offset, hi in the new
            while hi - lo > 1:
                mid = (lo + hi) // 2
                same = (t + mid * MINUTE).astimezone(tz).utcoffset() == t.astimezone(tz).utcoffset()
                lo, hi = (mid, hi) if same else (lo, mid)
            out.append(t + hi * MINUTE)
        t = nxt
    return out


CHANGES = [(name, at) for name in ZONES for at in _offset_changes(name, 2026, 2027)]


@dataclass(frozen=True)
class Clock:
    """The wall clock of one zone over the minutes around one change: what it shows at each
    UTC minute from ``lo``, and for each wall time the first minute it reaches or passes it."""

    lo: datetime
    walls: tuple[datetime, ...]
    reached: dict[datetime, int]

    def at(self, i: int) -> datetime:
        return self.lo + i * MINUTE


@cache
def _clock(name: str, change: datetime) -> Clock:
    tz = ZoneInfo(name)
    lo = change - LOOKBACK
    walls: list[datetime] = []
    reached: dict[datetime, int] = {}
    latest = (lo - MINUTE).astimezone(tz).replace(tzinfo=None)
    for i in range(int((LOOKBACK + LOOKAHEAD) / MINUTE)):
        wall = (lo + i * MINUTE).astimezone(tz).replace(tzinfo=None)
        walls.append(wall)
        while latest < wall:  # the minutes of a gap are reached with the one after it
            latest += MINUTE
            reached[latest] = i
    return Clock(lo, tuple(walls), reached)


@dataclass(frozen=True)
class Cron:
    """``minute hours * * days``: one minute, some hours (None for ``*``), some days of the
    week (0 is Sunday; None for ``*``)."""

    minute: int
    hours: tuple[int, ...] | None
    days: tuple[int, ...] | None

    def text(self) -> str:
        hours = ",".join(map(str, self.hours)) if self.hours else "*"
        days = ",".join(map(str, self.days)) if self.days else "*"
        return f"{self.minute} {hours} * * {days}"

    def fires(self, clock: Clock) -> list[int]:
        """The minutes at which the brute force fires this schedule: those at which the clock
        first reaches a matching wall time."""
        out = set()
        day, last = clock.walls[0].date(), clock.walls[-1].date()
        while day <= last:
            if self.days is None or (day.weekday() + 1) % 7 in self.days:
                for hour in self.hours or range(24):
                    i = clock.reached.get(datetime.combine(day, time(hour, self.minute)))
                    if i is not None:
                        out.add(i)
            day += timedelta(days=1)
        return sorted(out)


# Hours around the changes (01:00-03:00 local in these zones) and a few others.
_crons = st.builds(
    Cron,
    minute=st.sampled_from([0, 15, 30, 45, 59]),
    hours=st.none()
    | st.lists(st.sampled_from([0, 1, 2, 3, 4, 18]), min_size=1, max_size=2, unique=True).map(
        lambda h: tuple(sorted(h))
    ),
    days=st.none()
    | st.lists(st.integers(0, 6), min_size=1, max_size=3, unique=True).map(
        lambda d: tuple(sorted(d))
    ),
)
_changes = st.sampled_from(CHANGES)


# --- durations ------------------------------------------------------------------------------


@settings(max_examples=300)
@given(seconds=st.integers(0, int(MAX_SECONDS)))
def test_durations_round_trip_through_text(seconds: int) -> None:
    """Any whole number of seconds up to the ten-year limit is written as text that parses
    back to the same duration, each unit at most once and largest first."""
    value = timedelta(seconds=seconds)
    text = format_duration(value)
    assert parse_duration(text) == value
    units = [c for c in text if c.isalpha()]
    assert units == sorted(set(units), key="wdhms".index)


@settings(max_examples=300)
@given(
    parts=st.tuples(
        st.integers(0, 522),
        st.integers(0, 6),
        st.integers(0, 23),
        st.integers(0, 59),
        st.integers(0, 59),
    )
)
def test_shortest_text_is_written_back_as_read(parts: tuple[int, int, int, int, int]) -> None:
    """Text already in its shortest form (no unit overflowing into the next larger one)
    comes back unchanged from a parse and a format, up to the ten-year limit; beyond it, the
    text is refused."""
    text = "".join(f"{n}{u}" for n, u in zip(parts, "wdhms", strict=True) if n) or "0s"
    seconds = sum(n * size for n, size in zip(parts, (604800, 86400, 3600, 60, 1), strict=True))
    if seconds > MAX_SECONDS:
        with pytest.raises(DurationInvalid):
            parse_duration(text)
        return
    assert parse_duration(text) == timedelta(seconds=seconds)
    assert format_duration(parse_duration(text)) == text


@settings(max_examples=200)
@given(seconds=st.integers(-(10**8), 10**8), microseconds=st.integers(0, 999_999))
def test_fractions_and_negatives_have_no_text(seconds: int, microseconds: int) -> None:
    """A duration with a fraction of a second, or below zero, is refused, not rounded."""
    value = timedelta(seconds=seconds, microseconds=microseconds)
    assume(microseconds or value < timedelta(0))
    with pytest.raises(DurationInvalid):
        format_duration(value)


# --- cron schedules across DST --------------------------------------------------------------


@settings(max_examples=30, deadline=None)
@given(cron=_crons, where=_changes)
def test_cron_fires_as_the_wall_clock_reaches_its_times(
    cron: Cron, where: tuple[str, datetime]
) -> None:
    """Over the day either side of a daylight-saving change, a schedule fires exactly when
    the brute force says: skipped times at the gap's end, repeated times once."""
    name, change = where
    clock = _clock(name, change)
    start, end = change - timedelta(days=1), change + timedelta(days=1)
    expected = [t for t in map(clock.at, cron.fires(clock)) if start < t < end]
    got = cron_times(cron.text(), name, start, len(expected) + 1)
    assert [t for t in got if t < end] == expected
    assert all(t.tzinfo is UTC for t in got)


# --- freeze windows across DST --------------------------------------------------------------


@settings(max_examples=20, deadline=None)
@given(opens=_crons, closes=_crons, where=_changes, local=st.booleans())
def test_recurring_freeze_agrees_with_the_wall_clock_minute_by_minute(
    opens: Cron, closes: Cron, where: tuple[str, datetime], local: bool
) -> None:
    """At every minute within an hour of a daylight-saving change, asked in UTC or in the
    window's own zone, a recurring window is in force exactly when the brute force says, over
    the stretch it says (from the first start after the previous end to the first end after
    the latest start), and deploys are possible again at the first minute it says is not
    frozen; the instants it answers with are in UTC."""
    name, change = where
    try:
        window = FreezeWindow.recurring("w", opens.text(), closes.text(), timezone=name)
    except FreezeInvalid:  # the same schedule twice is refused, and is not what this tests
        assume(False)
        return
    clock = _clock(name, change)
    starts, ends = opens.fires(clock), closes.fires(clock)

    def stretch(i: int) -> tuple[int | None, int | None] | None:
        """The stretch in force at minute ``i`` as (first start, end), None for either beyond
        the minutes looked at; or None when no stretch is in force."""
        k = bisect.bisect_right(starts, i) - 1
        if k < 0:
            return None
        e = bisect.bisect_right(ends, starts[k])
        end = ends[e] if e < len(ends) else None
        if end is not None and end <= i:
            return None
        first = starts[bisect.bisect_left(starts, ends[e - 1])] if e > 0 else None
        return first, end

    def lifted(i: int) -> int | None:
        """The first minute from ``i`` with no stretch in force, if within the look-ahead."""
        while (s := stretch(i)) is not None:
            if s[1] is None:
                return None
            i = s[1]
        return i

    middle = int(LOOKBACK / MINUTE)
    checked = range(middle - int(AROUND / MINUTE), middle + int(AROUND / MINUTE) + 1)
    # A window whose starts fall on its ends never lifts; that is not what this checks.
    assume(all(stretch(i) is None or lifted(i) is not None for i in checked))
    for i in checked:
        at = clock.at(i).astimezone(ZoneInfo(name)) if local else clock.at(i)
        status = is_frozen([window], at)
        s = stretch(i)
        assert status.frozen is (s is not None), clock.at(i)
        if s is None:
            continue
        first, end, until = s[0], s[1], lifted(i)
        assert first is not None and end is not None and until is not None
        (occ,) = status.active
        assert (occ.start, occ.end) == (clock.at(first), clock.at(end)), clock.at(i)
        assert status.until == clock.at(until), clock.at(i)
        assert occ.start.tzinfo is occ.end.tzinfo is status.until.tzinfo is UTC


@settings(max_examples=40, deadline=None)
@given(where=_changes, first=st.integers(-2, 1), days=st.integers(0, 3))
def test_one_off_dates_cover_whole_local_days(
    where: tuple[str, datetime], first: int, days: int
) -> None:
    """A window from one date to another (the last frozen day) is in force exactly while the
    local date is between them, at every minute around the change and around midnight at
    both ends, whether the days are 23, 24 or 25 hours long."""
    name, change = where
    clock = _clock(name, change)
    first_day = change.astimezone(ZoneInfo(name)).date() + timedelta(days=first)
    last_day = first_day + timedelta(days=days)
    window = FreezeWindow.one_off("dates", first_day, last_day, timezone=name)
    midnights = [datetime.combine(d, time()) for d in (first_day, last_day + timedelta(days=1))]
    span = int(AROUND / MINUTE)
    around = [int(LOOKBACK / MINUTE), *(clock.reached[m] for m in midnights)]
    for i in sorted({j for c in around for j in range(c - span, c + span + 1)}):
        expected = first_day <= clock.walls[i].date() <= last_day
        assert is_frozen([window], clock.at(i)).frozen is expected, clock.at(i)


_local_times = st.builds(time, st.integers(0, 4), st.sampled_from([0, 15, 30, 45, 59]))


@settings(max_examples=60, deadline=None)
@given(where=_changes, opens=_local_times, closes=_local_times)
def test_one_off_local_times_follow_the_cron_daylight_rules(
    where: tuple[str, datetime], opens: time, closes: time
) -> None:
    """A window between two local times (no offset given) on the day of a change begins and
    ends at the first minute the wall clock reaches each time, so a time in a spring-forward
    gap means the gap's end; a window whose end is not after its start is refused."""
    name, change = where
    clock = _clock(name, change)
    day = change.astimezone(ZoneInfo(name)).date()
    start, end = datetime.combine(day, opens), datetime.combine(day, closes)
    a, b = clock.reached[start], clock.reached[end]
    if b <= a:
        try:
            FreezeWindow.one_off("times", start, end, timezone=name)
        except FreezeInvalid:
            return
        raise AssertionError("a window that ends before it starts was accepted")
    window = FreezeWindow.one_off("times", start, end, timezone=name)
    for i in range(a - 30, b + 31):
        assert is_frozen([window], clock.at(i)).frozen is (a <= i < b), clock.at(i)
