"""Calendar: durations, cron in words, freeze windows across DST, trains, iCalendar export."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from shipyard.domain.calendar import (
    CronInvalid,
    DurationInvalid,
    FreezeInvalid,
    FreezeWindow,
    TimeNaive,
    TimezoneUnknown,
    TrainSchedule,
    cron_times,
    describe_cron,
    format_duration,
    freeze_from_spec,
    is_frozen,
    next_windows,
    normalize_cron,
    occurrence_at,
    parse_duration,
    to_ical,
    train_plan,
    zone,
)
from shipyard.errors import InputError

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")


def berlin(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=BERLIN)


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


WEEKENDS = FreezeWindow.recurring(
    "weekends", "0 18 * * FRI", "0 8 * * MON", timezone="Europe/Berlin"
)
YEAR_END = FreezeWindow.one_off(
    "year-end", date(2026, 12, 20), date(2027, 1, 4), timezone="Europe/Berlin"
)


# --- durations ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("3d", timedelta(days=3)),
        ("12h", timedelta(hours=12)),
        ("2m", timedelta(minutes=2)),
        ("90s", timedelta(seconds=90)),
        ("1w", timedelta(weeks=1)),
        ("1h30m", timedelta(hours=1, minutes=30)),
        ("1d12h", timedelta(days=1, hours=12)),
        ("1w2d3h4m5s", timedelta(weeks=1, days=2, hours=3, minutes=4, seconds=5)),
        (" 1h 30m ", timedelta(hours=1, minutes=30)),
        ("0s", timedelta(0)),
        ("1.5h", timedelta(minutes=90)),
    ],
)
def test_parse_duration(text: str, expected: timedelta) -> None:
    """Durations are numbers with w/d/h/m/s units, combined largest first."""
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["", "3", "3x", "1m1h", "-1h", "1h1h", "h", "3D", "1h30", "d3"])
def test_parse_duration_invalid(text: str) -> None:
    """Anything else raises duration-invalid with a hint listing the units."""
    with pytest.raises(DurationInvalid) as info:
        parse_duration(text)
    assert info.value.code == "duration-invalid" and isinstance(info.value, InputError)
    assert "1h30m" in info.value.hint


@pytest.mark.parametrize(
    ("value", "text"),
    [
        (timedelta(minutes=90), "1h30m"),
        (timedelta(days=3), "3d"),
        (timedelta(days=8, seconds=1), "1w1d1s"),
        (timedelta(0), "0s"),
    ],
)
def test_format_duration_round_trips(value: timedelta, text: str) -> None:
    """format_duration writes the shortest text that parses back to the same value."""
    assert format_duration(value) == text
    assert parse_duration(text) == value


def test_format_duration_refuses_fractions() -> None:
    """Sub-second or negative durations have no text form."""
    with pytest.raises(DurationInvalid):
        format_duration(timedelta(milliseconds=5))
    with pytest.raises(DurationInvalid):
        format_duration(timedelta(seconds=-1))


# --- cron and time zones --------------------------------------------------------------------


@pytest.mark.parametrize(
    "expr",
    [
        "",
        "0 18 * *",
        "0 0 0 0 0 0",
        "61 * * * *",
        "0 24 * * *",
        "0 18 * * FRX",
        "0 0 30 2 *",
        "H 9 * * *",
        "0 9 15W * *",
        "@reboot",
        "0 9 * * $",
    ],
)
def test_cron_invalid(expr: str) -> None:
    """Expressions that do not parse, or never fire, raise cron-invalid with a hint."""
    with pytest.raises(CronInvalid) as info:
        normalize_cron(expr)
    assert info.value.code == "cron-invalid" and info.value.hint


@pytest.mark.parametrize(
    ("expr", "normal"),
    [("@daily", "0 0 * * *"), ("@weekly", "0 0 * * 0"), ("  0  18 * *   FRI ", "0 18 * * FRI")],
)
def test_cron_normalized(expr: str, normal: str) -> None:
    """Aliases expand to five fields and extra spaces collapse."""
    assert normalize_cron(expr) == normal


@pytest.mark.parametrize("name", ["Mars/Olympus", "", "Europe/", "../etc/passwd"])
def test_timezone_unknown(name: str) -> None:
    """Names that are not IANA zones raise timezone-unknown with a hint."""
    with pytest.raises(TimezoneUnknown) as info:
        zone(name)
    assert info.value.code == "timezone-unknown" and "Europe/Berlin" in info.value.hint


def test_window_with_unknown_timezone() -> None:
    """A freeze window in an unknown zone is refused when it is built."""
    with pytest.raises(TimezoneUnknown):
        FreezeWindow.recurring("w", "0 18 * * FRI", "0 8 * * MON", timezone="Berlin")


@pytest.mark.parametrize(
    ("expr", "words"),
    [
        ("0 18 * * FRI", "every Friday at 18:00"),
        ("0 8 * * MON", "every Monday at 08:00"),
        ("0 9 * * 1-5", "every Monday to Friday at 09:00"),
        ("30 2 * * SAT,SUN", "every Saturday and Sunday at 02:30"),
        ("0 9 * * 0,7", "every Sunday at 09:00"),
        ("0 9,17 * * *", "every day at 09:00 and 17:00"),
        ("0 9 1 * *", "on the 1st of every month at 09:00"),
        ("0 0 25 12 *", "on the 25th of December at 00:00"),
        ("0 0 * 12 *", "every day in December at 00:00"),
        ("0 9 * * 5#3", "on the third Friday of every month at 09:00"),
        ("0 9 * * L5", "on the last Friday of every month at 09:00"),
        ("0 9 L * *", "on the last day of every month at 09:00"),
        ("0 9 1,15 * MON", "on the 1st and 15th of every month and every Monday at 09:00"),
        ("*/15 * * * *", "every 15 minutes"),
        ("*/15 8-18 * * 1-5", "every 15 minutes from 08:00 to 18:59, every Monday to Friday"),
        ("5 * * * *", "every hour at minute 5"),
        ("0 * * * *", "every hour"),
        ("0 */2 * * *", "every 2 hours"),
        ("* 18 * * *", "every minute from 18:00 to 18:59"),
        ("@weekly", "every Sunday at 00:00"),
    ],
)
def test_describe_cron(expr: str, words: str) -> None:
    """Cron expressions read as English (gitlab#212458)."""
    assert describe_cron(expr) == words


def test_describe_cron_with_zone() -> None:
    """The time zone follows the words."""
    assert describe_cron("0 18 * * FRI", "Europe/Berlin") == "every Friday at 18:00 Europe/Berlin"


@pytest.mark.parametrize(
    ("window", "words"),
    [
        (WEEKENDS, "every Friday at 18:00 until Monday 08:00 (Europe/Berlin)"),
        (
            FreezeWindow.recurring("nights", "0 18 * * *", "0 8 * * *"),
            "every day at 18:00 until 08:00 (UTC)",
        ),
        (
            FreezeWindow.recurring("month-end", "0 12 L * *", "0 9 1 * *"),
            "on the last day of every month at 12:00 until the 1st at 09:00 (UTC)",
        ),
        (
            FreezeWindow.recurring("xmas", "0 0 24 12 *", "0 0 27 12 *"),
            "on the 24th of December at 00:00 until 27 December 00:00 (UTC)",
        ),
        (
            FreezeWindow.recurring("odd", "0 18 * * FRI", "0 8,9 * * MON"),
            "every Friday at 18:00 until the next time it is every Monday at 08:00 and 09:00 (UTC)",
        ),
        (YEAR_END, "from 2026-12-20 to 2027-01-04 (Europe/Berlin)"),
        (
            FreezeWindow.one_off("launch", date(2026, 5, 1), date(2026, 5, 1)),
            "all day 2026-05-01 (UTC)",
        ),
        (
            FreezeWindow.one_off(
                "migration", "2026-05-01T18:00", "2026-05-02T06:00", timezone="America/New_York"
            ),
            "from 2026-05-01 18:00 to 2026-05-02 06:00 (America/New_York)",
        ),
    ],
)
def test_describe_window(window: FreezeWindow, words: str) -> None:
    """Windows read as a sentence with their end and time zone."""
    assert window.describe() == words


@pytest.mark.parametrize(
    ("expr", "after", "expected"),
    [
        # Spring forward in Berlin (2026-03-29 02:00 -> 03:00): 02:30 fires at 03:00.
        (
            "30 2 * * *",
            utc(2026, 3, 28, 12),
            [berlin(2026, 3, 29, 3, 0), berlin(2026, 3, 30, 2, 30)],
        ),
        # Fall back (2026-10-25 03:00 -> 02:00): 02:30 happens twice and fires once.
        ("30 2 * * *", utc(2026, 10, 24, 12), [utc(2026, 10, 25, 0, 30), utc(2026, 10, 26, 1, 30)]),
        # Every 30 minutes through the repeated hour: no wall time fires twice.
        (
            "*/30 2 * * *",
            utc(2026, 10, 24, 12),
            [utc(2026, 10, 25, 0, 0), utc(2026, 10, 25, 0, 30), utc(2026, 10, 26, 1, 0)],
        ),
        ("0 18 * * FRI", berlin(2026, 3, 27, 18), [berlin(2026, 4, 3, 18)]),
    ],
)
def test_cron_times_across_dst(expr: str, after: datetime, expected: list[datetime]) -> None:
    """Cron fires on the local wall clock, skipped times at the gap's end, repeated ones once."""
    assert cron_times(expr, "Europe/Berlin", after, len(expected)) == expected


def test_cron_times_inclusive() -> None:
    """inclusive=True counts a firing exactly at ``after``."""
    at = berlin(2026, 3, 27, 18)
    assert cron_times("0 18 * * FRI", "Europe/Berlin", at, 1, inclusive=True) == [at]


# --- freeze windows -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("at", "frozen", "until"),
    [
        (berlin(2026, 3, 27, 17, 59), False, None),
        (berlin(2026, 3, 27, 18, 0), True, berlin(2026, 3, 30, 8, 0)),
        # During the spring-forward night itself.
        (utc(2026, 3, 29, 0, 59), True, berlin(2026, 3, 30, 8, 0)),
        (utc(2026, 3, 29, 1, 0), True, berlin(2026, 3, 30, 8, 0)),
        (berlin(2026, 3, 30, 7, 59), True, berlin(2026, 3, 30, 8, 0)),
        (berlin(2026, 3, 30, 8, 0), False, None),
        # Both passes through the repeated 02:30 of the fall-back night.
        (utc(2026, 10, 25, 0, 30), True, berlin(2026, 10, 26, 8, 0)),
        (utc(2026, 10, 25, 1, 30), True, berlin(2026, 10, 26, 8, 0)),
        (berlin(2026, 10, 26, 7, 59), True, berlin(2026, 10, 26, 8, 0)),
        (utc(2026, 10, 26, 7, 0), False, None),
        (berlin(2026, 4, 1, 12, 0), False, None),
    ],
)
def test_weekend_freeze_across_dst(at: datetime, frozen: bool, until: datetime | None) -> None:
    """The Berlin weekend freeze opens Friday 18:00 and lifts Monday 08:00 local, DST or not."""
    status = is_frozen([WEEKENDS], at)
    assert status.frozen is frozen
    assert status.until == until
    assert status.window == (WEEKENDS if frozen else None)


@pytest.mark.parametrize(
    ("at", "hours", "offset"),
    [
        (berlin(2026, 3, 28, 12), 61, 2),  # spring forward: an hour shorter
        (berlin(2026, 10, 24, 12), 63, 1),  # fall back: an hour longer
        (berlin(2026, 6, 13, 12), 62, 2),
    ],
)
def test_weekend_length_follows_the_wall_clock(at: datetime, hours: int, offset: int) -> None:
    """A weekend freeze lasts 61, 62 or 63 real hours and always ends at 08:00 local."""
    occ = occurrence_at(WEEKENDS, at)
    assert occ is not None
    assert occ.end - occ.start == timedelta(hours=hours)
    assert occ.local_end.utcoffset() == timedelta(hours=offset)
    assert (occ.local_end.hour, occ.local_end.minute) == (8, 0)
    assert occ.local_start.strftime("%a %H:%M") == "Fri 18:00"


NIGHTS_NY = FreezeWindow.recurring("nights", "0 17 * * *", "0 9 * * *", timezone="America/New_York")


@pytest.mark.parametrize(
    ("at", "frozen", "until"),
    [
        # New York springs forward on 2026-03-08 at 02:00.
        (utc(2026, 3, 8, 12, 30), True, utc(2026, 3, 8, 13, 0)),
        (utc(2026, 3, 8, 13, 0), False, None),
        (utc(2026, 3, 7, 21, 59), False, None),
        (utc(2026, 3, 7, 22, 0), True, utc(2026, 3, 8, 13, 0)),
        # And falls back on 2026-11-01.
        (utc(2026, 11, 1, 13, 30), True, utc(2026, 11, 1, 14, 0)),
        (utc(2026, 11, 1, 14, 0), False, None),
    ],
)
def test_new_york_nightly_freeze(at: datetime, frozen: bool, until: datetime | None) -> None:
    """A nightly freeze in New York lifts at 09:00 local on both DST change days."""
    status = is_frozen([NIGHTS_NY], at)
    assert (status.frozen, status.until) == (frozen, until)


def test_second_pass_of_a_repeated_hour() -> None:
    """02:30 on the second pass of a fall-back night is after a window that closed at 02:45
    on the first pass, even though its wall clock reads earlier."""
    w = FreezeWindow.recurring("short", "0 2 * * SUN", "45 2 * * SUN", timezone="Europe/Berlin")
    first_pass = datetime(2026, 10, 25, 2, 30, fold=0, tzinfo=BERLIN)
    second_pass = datetime(2026, 10, 25, 2, 30, fold=1, tzinfo=BERLIN)
    assert is_frozen([w], first_pass).until == utc(2026, 10, 25, 0, 45)
    assert not is_frozen([w], second_pass).frozen


def test_window_in_a_spring_forward_gap() -> None:
    """A window starting at a skipped 02:30 starts at 03:00, the first minute that exists."""
    w = FreezeWindow.recurring("maint", "30 2 * * SUN", "0 4 * * SUN", timezone="Europe/Berlin")
    assert not is_frozen([w], utc(2026, 3, 29, 0, 59)).frozen
    assert is_frozen([w], utc(2026, 3, 29, 1, 0)).until == berlin(2026, 3, 29, 4, 0)


@pytest.mark.parametrize(
    ("at", "frozen"),
    [
        (berlin(2026, 12, 19, 23, 59), False),
        (berlin(2026, 12, 20, 0, 0), True),
        (berlin(2027, 1, 4, 23, 59), True),
        (berlin(2027, 1, 5, 0, 0), False),
        (utc(2026, 12, 19, 23, 0), True),  # already midnight in Berlin
    ],
)
def test_one_off_dates_cover_whole_days(at: datetime, frozen: bool) -> None:
    """A date range freezes from the first day's start to the end of the last day, locally."""
    assert is_frozen([YEAR_END], at).frozen is frozen


def test_overlapping_windows_chain_until() -> None:
    """When windows overlap, ``until`` is the first instant no window is in force."""
    status = is_frozen([WEEKENDS, YEAR_END], berlin(2027, 1, 2, 12))
    assert status.window == YEAR_END
    assert status.until == berlin(2027, 1, 5, 0, 0)
    assert [o.window.name for o in status.active] == ["year-end", "weekends"]
    monday = FreezeWindow.one_off(
        "release-monday", "2026-03-30T08:00", "2026-03-30T12:00", timezone="Europe/Berlin"
    )
    chained = is_frozen([WEEKENDS, monday], berlin(2026, 3, 28, 12))
    assert chained.window == WEEKENDS and chained.until == berlin(2026, 3, 30, 12, 0)


def test_a_freeze_whose_stretches_leave_no_gap_has_no_until() -> None:
    """A window whose end is also its next start never lifts: frozen, with no ``until``
    (rather than a time far ahead that is still frozen)."""
    endless = FreezeWindow.recurring("endless", "0 2 * * *", "0 2 * * MON", timezone="UTC")
    status = is_frozen([endless], utc(2026, 12, 8, 12))
    assert status.frozen and status.window == endless and status.until is None


def test_merged_recurring_stretch_starts_at_first_start() -> None:
    """Several start times before one end make one stretch from the first of them."""
    w = FreezeWindow.recurring("week", "0 18 * * *", "0 8 * * MON")
    occ = occurrence_at(w, utc(2026, 3, 25))
    assert occ is not None
    assert (occ.start, occ.end) == (utc(2026, 3, 23, 18), utc(2026, 3, 30, 8))


@pytest.mark.parametrize(
    ("env", "service", "frozen"),
    [
        ("production", None, True),
        ("staging", None, False),
        (None, None, True),
        ("production", "api", True),
        ("production", "web", False),
        (None, "web", False),
    ],
)
def test_scope(env: str | None, service: str | None, frozen: bool) -> None:
    """A window scoped to environments or services freezes only those; None asks about any."""
    w = FreezeWindow.recurring(
        "prod-api", "0 18 * * FRI", "0 8 * * MON", environments=["production"], services=["api"]
    )
    assert is_frozen([w], utc(2026, 3, 28), env, service).frozen is frozen


def test_next_windows() -> None:
    """The next stretches come in start order, merged across windows, the current one first."""
    got = next_windows([WEEKENDS, YEAR_END], berlin(2026, 12, 19, 12), 4)
    assert [(o.window.name, o.start, o.end) for o in got] == [
        ("weekends", berlin(2026, 12, 18, 18), berlin(2026, 12, 21, 8)),
        ("year-end", berlin(2026, 12, 20), berlin(2027, 1, 5)),
        ("weekends", berlin(2026, 12, 25, 18), berlin(2026, 12, 28, 8)),
        ("weekends", berlin(2027, 1, 1, 18), berlin(2027, 1, 4, 8)),
    ]
    assert next_windows([WEEKENDS], berlin(2026, 12, 19, 12), 0) == []
    assert next_windows([YEAR_END], berlin(2027, 2, 1), 3) == []
    assert next_windows([WEEKENDS], berlin(2026, 12, 19), 2, env="x")[0].window == WEEKENDS


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (
            lambda: FreezeWindow.one_off("w", date(2026, 5, 2), date(2026, 5, 1)),
            "before it starts",
        ),
        (
            lambda: FreezeWindow.one_off("w", "2026-05-01T10:00", "2026-05-01T10:00"),
            "before it starts",
        ),
        (lambda: FreezeWindow("w"), "needs either"),
        (
            lambda: FreezeWindow(
                "w", start=utc(2026, 1, 1), end=utc(2026, 1, 2), start_cron="0 0 * * *"
            ),
            "needs either",
        ),
        (lambda: FreezeWindow("w", start_cron="0 18 * * FRI"), "needs both"),
        (lambda: FreezeWindow("w", start=utc(2026, 1, 1)), "needs both"),
        (lambda: FreezeWindow.recurring("w", "0 18 * * FRI", "0 18 * * 5"), "never frozen"),
        (lambda: FreezeWindow.one_off("w", "20/12/2026", "2027-01-04"), "not a date"),
    ],
)
def test_freeze_invalid(build: Callable[[], FreezeWindow], message: str) -> None:
    """Broken windows raise freeze-invalid saying what is wrong."""
    with pytest.raises(FreezeInvalid) as info:
        build()
    assert info.value.code == "freeze-invalid" and message in info.value.message


def test_recurring_window_with_bad_cron() -> None:
    """A recurring window with an unreadable cron raises cron-invalid."""
    with pytest.raises(CronInvalid):
        FreezeWindow.recurring("w", "0 18 * * FRI", "every monday")


def test_naive_times_refused() -> None:
    """Asking about a naive datetime is an error: the caller must say which zone."""
    with pytest.raises(TimeNaive):
        is_frozen([WEEKENDS], datetime(2026, 3, 28))


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        (
            {"name": "year-end", "start": date(2026, 12, 20), "end": date(2027, 1, 4)},
            FreezeWindow.one_off("year-end", date(2026, 12, 20), date(2027, 1, 4)),
        ),
        (
            {
                "name": "weekends",
                "start_cron": "0 18 * * FRI",
                "end_cron": "0 8 * * MON",
                "timezone": "Europe/Berlin",
            },
            WEEKENDS,
        ),
        (
            {
                "name": "gitlab",
                "start_cron": "0 23 * * 5",
                "end_cron": "0 7 * * 1",
                "cron_timezone": "UTC",
                "environment": "production",
            },
            FreezeWindow.recurring(
                "gitlab", "0 23 * * 5", "0 7 * * 1", environments=["production"]
            ),
        ),
        (
            {"name": "s", "start": "2026-12-20", "end": "2026-12-21", "services": ["api", "web"]},
            FreezeWindow.one_off(
                "s", date(2026, 12, 20), date(2026, 12, 21), services=["api", "web"]
            ),
        ),
    ],
)
def test_freeze_from_spec(spec: dict[str, object], expected: FreezeWindow) -> None:
    """shipyard.yaml entries (and GitLab's field names) build the same windows."""
    assert freeze_from_spec(spec) == expected


def test_freeze_from_spec_missing_dates() -> None:
    """An entry with neither dates nor crons is freeze-invalid."""
    with pytest.raises(FreezeInvalid):
        freeze_from_spec({"name": "oops", "start": 5})


# --- trains ---------------------------------------------------------------------------------

BIWEEKLY = TrainSchedule.from_spec(
    {
        "cut": "0 9 * * MON",
        "every_weeks": 2,
        "stabilize": "3d",
        "timezone": "Europe/Berlin",
        "anchor": "2026-03-02",
    }
)


def test_train_plan_biweekly() -> None:
    """Trains cut every other Monday from the anchor and ship three days later."""
    plan = train_plan(BIWEEKLY, utc(2026, 3, 25, 12), count=2)
    assert plan.current is not None
    assert (plan.current.number, plan.current.cut, plan.current.ship) == (
        2,
        berlin(2026, 3, 16, 9),
        berlin(2026, 3, 19, 9),
    )
    assert plan.current.name == "train-2026-03-16"
    assert [(t.number, t.cut, t.stabilized) for t in plan.upcoming] == [
        (3, berlin(2026, 3, 30, 9), berlin(2026, 4, 2, 9)),
        (4, berlin(2026, 4, 13, 9), berlin(2026, 4, 16, 9)),
    ]
    # The first train after the spring-forward change is cut at 09:00 summer time.
    assert plan.upcoming[0].cut == utc(2026, 3, 30, 7)
    assert all(t.cut.tzinfo is UTC for t in plan.upcoming)


@pytest.mark.parametrize(
    ("now", "phase"),
    [
        (berlin(2026, 3, 16, 8, 59), "scheduled"),
        (berlin(2026, 3, 16, 9, 0), "stabilizing"),
        (berlin(2026, 3, 19, 8, 59), "stabilizing"),
        (berlin(2026, 3, 19, 9, 0), "ready"),
    ],
)
def test_train_phase(now: datetime, phase: str) -> None:
    """A train is scheduled before its cut, stabilizing until its ship date, then ready."""
    plan = train_plan(BIWEEKLY, berlin(2026, 3, 17), count=0)
    assert plan.current is not None and plan.current.phase(now) == phase


def test_train_cut_time_is_current() -> None:
    """At the exact cut time that train is the current one."""
    plan = train_plan(BIWEEKLY, berlin(2026, 3, 16, 9), count=1)
    assert plan.current is not None and plan.current.cut == berlin(2026, 3, 16, 9)
    assert plan.upcoming[0].cut == berlin(2026, 3, 30, 9)


def test_before_the_anchor_there_is_no_current_train() -> None:
    """Before the anchor no train has been cut; the first one is the anchor's."""
    plan = train_plan(BIWEEKLY, utc(2026, 2, 20), count=1)
    assert plan.current is None
    assert plan.upcoming[0].cut == berlin(2026, 3, 2, 9) and plan.upcoming[0].number == 1


def test_stabilization_counts_on_the_wall_clock_across_dst() -> None:
    """Three days from Friday 09:00 end Monday 09:00 local, though only 71 hours pass."""
    schedule = TrainSchedule(
        cut="0 9 * * FRI", stabilize=parse_duration("3d"), timezone="Europe/Berlin"
    )
    train = train_plan(schedule, berlin(2026, 3, 26), count=1).upcoming[0]
    assert train.cut == berlin(2026, 3, 27, 9)
    assert train.stabilized == berlin(2026, 3, 30, 9)
    assert train.stabilized - train.cut == timedelta(hours=71)
    assert train.number is None


def test_ship_date_waits_for_a_freeze() -> None:
    """A ship date inside a freeze moves to the end of it (and of any window chained to it)."""
    schedule = TrainSchedule(
        cut="0 9 * * WED", stabilize=timedelta(days=3), timezone="Europe/Berlin"
    )
    train = train_plan(schedule, berlin(2026, 6, 1), count=1, freezes=[WEEKENDS]).upcoming[0]
    assert train.stabilized == berlin(2026, 6, 6, 9)
    assert train.ship == berlin(2026, 6, 8, 8)
    unscoped = train_plan(
        schedule, berlin(2026, 6, 1), count=1, freezes=[WEEKENDS], env="production"
    ).upcoming[0]
    assert unscoped.ship == berlin(2026, 6, 8, 8)


def test_every_week_without_anchor_is_stable() -> None:
    """Without an anchor, two-week trains still land 14 days apart, the same on every call."""
    schedule = TrainSchedule(cut="0 9 * * MON,THU", stabilize=timedelta(0), every_weeks=2)
    a = train_plan(schedule, utc(2026, 5, 1), count=4)
    b = train_plan(schedule, utc(2026, 5, 1), count=4)
    assert a == b
    cuts = [t.cut for t in a.upcoming]
    assert cuts[2] - cuts[0] == timedelta(days=14)
    assert cuts[1] - cuts[0] == timedelta(days=3)


@pytest.mark.parametrize(
    ("spec", "error", "code"),
    [
        ({"cut": "0 9 * * MON", "stabilize": "3 days"}, DurationInvalid, "duration-invalid"),
        ({"cut": "nine on monday", "stabilize": "3d"}, CronInvalid, "cron-invalid"),
        ({"cut": "0 9 * * MON", "timezone": "CET+1"}, TimezoneUnknown, "timezone-unknown"),
        ({"cut": "0 9 * * MON", "every_weeks": 0}, InputError, "train-invalid"),
        ({"cut": "0 9 * * MON", "anchor": "next monday"}, InputError, "train-invalid"),
    ],
)
def test_train_spec_invalid(spec: dict[str, object], error: type[InputError], code: str) -> None:
    """Bad train settings raise input errors with their codes."""
    with pytest.raises(error) as info:
        TrainSchedule.from_spec(spec)
    assert info.value.code == code


# --- iCalendar ------------------------------------------------------------------------------


def _unfold(text: str) -> list[str]:
    return text.replace("\r\n ", "").split("\r\n")


def _export(stamp: datetime, reason: str = "") -> str:
    weekends = FreezeWindow.recurring(
        "weekends",
        "0 18 * * FRI",
        "0 8 * * MON",
        timezone="Europe/Berlin",
        environments=["production"],
        reason=reason,
    )
    freezes = next_windows([weekends, YEAR_END], berlin(2026, 12, 15), 2)
    trains = train_plan(BIWEEKLY, berlin(2026, 3, 25), count=1).upcoming
    return to_ical(stamp=stamp, freezes=freezes, trains=trains)


def test_ical_structure() -> None:
    """The export is one VCALENDAR with a VEVENT per freeze stretch and train milestone."""
    text = _export(utc(2026, 3, 1))
    lines = _unfold(text)
    assert lines[0] == "BEGIN:VCALENDAR" and lines[-2:] == ["END:VCALENDAR", ""]
    assert "VERSION:2.0" in lines and any(line.startswith("PRODID:") for line in lines)
    assert lines.count("BEGIN:VEVENT") == lines.count("END:VEVENT") == 4
    assert sum(line.startswith("UID:") for line in lines) == 4
    assert lines.count("DTSTAMP:20260301T000000Z") == 4
    assert "DTSTART:20261218T170000Z" in lines and "DTEND:20261221T070000Z" in lines
    assert "DTSTART;VALUE=DATE:20261220" in lines and "DTEND;VALUE=DATE:20270105" in lines
    assert "SUMMARY:train-2026-03-30: cut" in lines and "DTSTART:20260330T070000Z" in lines
    assert "SUMMARY:train-2026-03-30: ship" in lines and "DTSTART:20260402T070000Z" in lines


def test_ical_line_endings_and_folding() -> None:
    """Every line ends in CRLF and is at most 75 octets; unfolding restores the text."""
    reason = "Black Friday: ünïcödé " * 8
    text = _export(utc(2026, 3, 1), reason=reason)
    assert text.endswith("\r\n") and "\n" not in text.replace("\r\n", "")
    physical = text.split("\r\n")[:-1]
    assert all(len(line.encode("utf-8")) <= 75 for line in physical)
    assert any(line.startswith(" ") for line in physical)
    description = next(line for line in _unfold(text) if "Black Friday" in line)
    assert description.endswith("Black Friday: ünïcödé" + " Black Friday: ünïcödé" * 7 + " ")


def test_ical_escaping() -> None:
    """Commas, semicolons, backslashes and newlines in TEXT are escaped."""
    text = _export(utc(2026, 3, 1), reason="a, b; c\\d")
    description = next(line for line in _unfold(text) if "a\\, b" in line)
    assert description.startswith(
        "DESCRIPTION:every Friday at 18:00 until Monday 08:00 (Europe/Berlin)\\n"
        "environments: production\\n"
    )
    assert description.endswith("a\\, b\\; c\\\\d")


def test_ical_uids_are_stable_and_distinct() -> None:
    """UIDs stay the same between exports and differ between events."""
    first = [line for line in _unfold(_export(utc(2026, 3, 1))) if line.startswith("UID:")]
    again = [line for line in _unfold(_export(utc(2026, 4, 1))) if line.startswith("UID:")]
    assert first == again and len(set(first)) == len(first) == 4


def test_ical_needs_an_aware_stamp() -> None:
    """The DTSTAMP comes from the caller and must carry a zone."""
    with pytest.raises(TimeNaive):
        to_ical(stamp=datetime(2026, 3, 1))
