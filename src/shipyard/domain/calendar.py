"""Freeze windows, release-train dates, durations and the iCalendar export.

Pure: every function takes the instant it reasons about (``at``, ``now``, ``after``) from the
caller and never reads the clock. Instants in are timezone-aware datetimes in any zone;
instants out are in UTC (convert with ``.astimezone(zone(name))`` to show them), because
Python compares datetimes sharing one tzinfo by wall clock and gets DST wrong. Cron
expressions are read on the wall clock of their window's or train's time zone, so "18:00 on
Friday" stays 18:00 local across daylight-saving changes.

Freeze semantics follow GitLab's deploy freezes (``freeze_start``, ``freeze_end``,
``cron_timezone``): a recurring window opens at each start-cron time and closes at the first
end-cron time after it. One-off windows (which GitLab lacks, gitlab#247110) cover
``[start, end)``; given as dates, they cover whole days and ``end`` is the last frozen day.

Daylight-saving rules, as cron daemons apply them: a wall-clock time skipped by a spring-forward
change fires at the first minute after the gap (02:30 becomes 03:00); a time that occurs twice
at fall-back fires once, at its first occurrence.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterError, croniter

from shipyard.domain.durations import DurationInvalid, parse_seconds
from shipyard.errors import InputError

# --------------------------------------------------------------------------------------------
# Errors


class CronInvalid(InputError):
    code = "cron-invalid"
    default_hint = (
        "write five fields: minute hour day-of-month month day-of-week, e.g. '0 18 * * FRI'"
    )


class TimezoneUnknown(InputError):
    code = "timezone-unknown"
    default_hint = "use an IANA time zone name such as Europe/Berlin, America/New_York or UTC"


class FreezeInvalid(InputError):
    code = "freeze-invalid"


class TimeNaive(InputError):
    code = "time-naive"
    default_hint = "pass a timezone-aware datetime, e.g. datetime.now(UTC)"


# --------------------------------------------------------------------------------------------
# Durations


def parse_duration(text: str) -> timedelta:
    """``3d``, ``12h``, ``2m`` (minutes), ``90s``, ``1w`` and combinations like ``1h30m``
    (``domain/durations.py``); a unit is required."""
    return timedelta(seconds=parse_seconds(text, bare=False))


def time_or_ago(value: str, now: datetime) -> datetime:
    """An ISO date/time (UTC when it names no zone), or a duration back from ``now`` (7d, 12h),
    as an aware UTC time. Neither: ``ValueError`` or ``InputError``, for the caller to word."""
    if value[:1].isdigit() and not value[-1].isdigit() and "-" not in value:
        return now - parse_duration(value)
    when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return (when if when.tzinfo else when.replace(tzinfo=UTC)).astimezone(UTC)


def format_duration(value: timedelta) -> str:
    """The inverse of ``parse_duration``: ``timedelta(minutes=90)`` -> ``1h30m``."""
    total = int(value.total_seconds())
    if total < 0 or value != timedelta(seconds=total):
        raise DurationInvalid(f"{value!r} is not a whole, non-negative number of seconds")
    if total == 0:
        return "0s"
    out = []
    for unit, size in (("w", 604800), ("d", 86400), ("h", 3600), ("m", 60), ("s", 1)):
        count, total = divmod(total, size)
        if count:
            out.append(f"{count}{unit}")
    return "".join(out)


# --------------------------------------------------------------------------------------------
# Time zones and cron


def zone(name: str) -> ZoneInfo:
    """The IANA zone, or ``timezone-unknown``."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, TypeError) as exc:
        raise TimezoneUnknown(f"unknown time zone {name!r}") from exc


def _aware(at: datetime, what: str = "time") -> datetime:
    """The instant in UTC. Python compares and subtracts datetimes that share a tzinfo on
    their wall clocks, ignoring ``fold``, which is wrong across DST; UTC has no such trap."""
    if at.tzinfo is None or at.utcoffset() is None:
        raise TimeNaive(f"{what} {at.isoformat()} has no time zone")
    return at.astimezone(UTC)


_ALIASES = {
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
    "@monthly": "0 0 1 * *",
    "@weekly": "0 0 * * 0",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@hourly": "0 * * * *",
}
# Characters the five standard fields may use; croniter's extensions (H, W, seconds) are left
# out because GitLab and other cron readers would not agree on them.
_FIELD_RE = re.compile(r"^[0-9A-Za-z*?,/#-]+$")
_NAMES_RE = re.compile(
    r"MON|TUE|WED|THU|FRI|SAT|SUN|JAN|FEB|MAR|APR|MAY|JUN|JUL|AUG|SEP|OCT|NOV|DEC"
)


def normalize_cron(expr: str) -> str:
    """Validate a five-field cron expression; expand ``@daily`` and friends."""
    text = " ".join(expr.split()) if isinstance(expr, str) else ""
    text = _ALIASES.get(text.lower(), text)
    fields = text.split(" ")
    if len(fields) != 5 or not all(_FIELD_RE.match(f) for f in fields):
        raise CronInvalid(f"cron expression {expr!r} needs five fields")
    if any(c in _NAMES_RE.sub("", f.upper()) for f in fields for c in "HW"):
        raise CronInvalid(f"cron expression {expr!r} uses an extension Shipyard does not read")
    try:
        croniter.expand(text)
        # A valid-looking expression can still never fire (30 February).
        croniter(text, datetime(2000, 1, 1)).get_next(datetime)
    except (CroniterError, ValueError, KeyError) as exc:
        raise CronInvalid(f"cron expression {expr!r} is not valid: {exc}") from exc
    return text


def _localize(wall: datetime, tz: ZoneInfo) -> datetime:
    """A wall-clock time in ``tz`` as a UTC instant, with cron's daylight-saving rules."""
    probe = wall
    # A time inside a spring-forward gap does not exist; the first real minute after it does.
    # fold=0 picks the first of two occurrences of a repeated fall-back time.
    for _ in range(24 * 60):
        instant = probe.replace(tzinfo=tz, fold=0).astimezone(UTC)
        if instant.astimezone(tz).replace(tzinfo=None) == probe:
            return instant
        probe = (probe + timedelta(minutes=1)).replace(second=0, microsecond=0)
    return wall.replace(tzinfo=tz, fold=0).astimezone(UTC)


# Wall-clock searches start this far on the other side of the target so that an instant in
# a repeated fall-back hour, whose wall time is ambiguous, is never skipped.
_MARGIN = timedelta(hours=3)


def _fires_after(expr: str, tz: ZoneInfo, t: datetime, *, inclusive: bool) -> Iterator[datetime]:
    wall = t.astimezone(tz).replace(tzinfo=None) - _MARGIN
    it = croniter(expr, wall)
    last: datetime | None = None
    while True:
        try:
            nxt = it.get_next(datetime)
        except CroniterError:
            return
        inst = _localize(nxt, tz)
        if (inst > t or (inclusive and inst == t)) and inst != last:
            last = inst
            yield inst


def _next_fire(expr: str, tz: ZoneInfo, t: datetime, *, inclusive: bool) -> datetime | None:
    return next(_fires_after(expr, tz, t, inclusive=inclusive), None)


def _prev_fire(expr: str, tz: ZoneInfo, t: datetime, *, inclusive: bool) -> datetime | None:
    wall = t.astimezone(tz).replace(tzinfo=None) + _MARGIN
    it = croniter(expr, wall)
    while True:
        try:
            prv = it.get_prev(datetime)
        except CroniterError:
            return None
        inst = _localize(prv, tz)
        if inst < t or (inclusive and inst == t):
            return inst


def cron_times(
    expr: str, timezone: str, after: datetime, n: int, *, inclusive: bool = False
) -> list[datetime]:
    """The next ``n`` times a cron expression fires after ``after``, in its time zone."""
    tz = zone(timezone)
    expr = normalize_cron(expr)
    out: list[datetime] = []
    for inst in _fires_after(expr, tz, _aware(after), inclusive=inclusive):
        if len(out) >= n:
            break
        out.append(inst)
    return out


# --------------------------------------------------------------------------------------------
# Cron in words (gitlab#212458)

_DAY_NAMES = ["Sunday", "Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday"]
_MONTH_NAMES = [
    "",
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
]
_NTH = {1: "first", 2: "second", 3: "third", 4: "fourth", 5: "fifth"}

_Field = list[int | str]


def _ordinal(n: int) -> str:
    suffix = "th" if 11 <= n % 100 <= 13 else {1: "st", 2: "nd", 3: "rd"}.get(n % 10, "th")
    return f"{n}{suffix}"


def _join(items: Sequence[str]) -> str:
    if len(items) <= 1:
        return "".join(items)
    return ", ".join(items[:-1]) + " and " + items[-1]


def _runs(values: Sequence[int]) -> list[tuple[int, int]]:
    out: list[tuple[int, int]] = []
    for v in values:
        if out and v == out[-1][1] + 1:
            out[-1] = (out[-1][0], v)
        else:
            out.append((v, v))
    return out


def _span(values: Sequence[int], name: Callable[[int], str]) -> str:
    """ "Monday to Friday", "Saturday and Sunday", "1st, 15th and 20th to 25th"."""
    parts = []
    for lo, hi in _runs(values):
        if hi - lo >= 2:
            parts.append(f"{name(lo)} to {name(hi)}")
        else:
            parts.extend(name(v) for v in range(lo, hi + 1))
    return _join(parts)


def _ints(field: _Field) -> list[int]:
    return sorted(int(v) for v in field if isinstance(v, int))


def _hhmm(h: int, m: int) -> str:
    return f"{h:02d}:{m:02d}"


def _describe_time(raw_minute: str, raw_hour: str, minutes: _Field, hours: _Field) -> str:
    any_minute, any_hour = minutes == ["*"], hours == ["*"]
    ms, hs = _ints(minutes), _ints(hours)
    mins = _join([str(m) for m in ms])
    minute_step = raw_minute.startswith("*/")
    if not any_minute and not any_hour:
        if len(ms) * len(hs) <= 4:
            return "at " + _join([_hhmm(h, m) for h in hs for m in ms])
        if raw_hour.startswith("*/") and hs[0] == 0 and not minute_step:
            return f"every {raw_hour[2:]} hours" + ("" if ms == [0] else f" at minute {mins}")
        if minute_step:
            base = f"every {raw_minute[2:]} minutes"
        else:
            return f"at minute {mins} past hours {_span(hs, str)}"
    elif any_minute:
        base = "every minute"
    elif minute_step:
        base = f"every {raw_minute[2:]} minutes"
    else:
        base = "every hour" if ms == [0] else f"every hour at minute {mins}"
    if any_hour:
        return base
    if hs[-1] - hs[0] + 1 == len(hs):
        return f"{base} from {_hhmm(hs[0], 0)} to {_hhmm(hs[-1], 59)}"
    return f"{base} during hours {_span(hs, str)}"


def _describe_days(
    dom: _Field, month: _Field, dow: _Field, nth: Mapping[int, set[int | str]]
) -> str:
    any_dom, any_month, any_dow = dom == ["*"], month == ["*"], dow == ["*"]
    months = _span(_ints(month), lambda m: _MONTH_NAMES[m]) if not any_month else ""
    of_month = f"of {months}" if months else "of every month"
    phrases: list[str] = []
    if not any_dom:
        days = [_ordinal(d) for d in _ints(dom)]
        if "l" in dom:
            days.append("last day")
        phrases.append(f"on the {_join(days)} {of_month}")
    if not any_dow:
        plain = [d for d in _ints(dow) if d not in nth]
        special = []
        for d in _ints(dow):
            for which in sorted(nth.get(d, set()), key=str):
                label = "last" if which == "l" else _NTH.get(int(which), str(which))
                special.append(f"the {label} {_DAY_NAMES[d]}")
        if special:
            phrases.append(f"on {_join(special)} {of_month}")
        if plain:
            # Monday-first order so "Monday to Friday" and "Saturday and Sunday" read naturally.
            iso = sorted(7 if d == 0 else d for d in plain)
            text = "every " + _span(iso, lambda d: _DAY_NAMES[d % 7])
            phrases.append(f"{text} in {months}" if months else text)
    if not phrases:
        return f"every day in {months}" if months else "every day"
    # Standard cron fires when either the day of month or the day of week matches.
    return " and ".join(phrases)


def describe_cron(expr: str, timezone: str | None = None) -> str:
    """A cron expression in words: ``every Friday at 18:00 Europe/Berlin``."""
    text = normalize_cron(expr)
    raw = text.split(" ")
    expanded, nth = croniter.expand(text)
    fields: list[_Field] = [list(f) for f in expanded]
    time_part = _describe_time(raw[0], raw[1], fields[0], fields[1])
    day_part = _describe_days(fields[2], fields[3], fields[4], nth)
    if time_part.startswith("at "):
        out = f"{day_part} {time_part}"
    elif day_part == "every day":
        out = time_part
    else:
        out = f"{time_part}, {day_part}"
    return f"{out} {timezone}" if timezone else out


def _describe_until(expr: str) -> str:
    """The end of a window, short where possible: "Monday 08:00" rather than a full sentence."""
    text = normalize_cron(expr)
    expanded, nth = croniter.expand(text)
    minute, hour, dom, month, dow = ([*f] for f in expanded)
    if len(minute) == 1 and len(hour) == 1 and "*" not in minute + hour and not nth:
        at = _hhmm(int(hour[0]), int(minute[0]))
        if dom == ["*"] and month == ["*"] and dow == ["*"]:
            return at
        if dom == ["*"] and month == ["*"] and len(dow) == 1:
            return f"{_DAY_NAMES[int(dow[0])]} {at}"
        if dow == ["*"] and month == ["*"] and len(dom) == 1 and dom != ["l"]:
            return f"the {_ordinal(int(dom[0]))} at {at}"
        if dow == ["*"] and len(month) == 1 and len(dom) == 1 and dom != ["l"]:
            return f"{int(dom[0])} {_MONTH_NAMES[int(month[0])]} {at}"
    return "the next time it is " + describe_cron(text)


# --------------------------------------------------------------------------------------------
# Freeze windows


@dataclass(frozen=True, slots=True)
class FreezeWindow:
    """A one-off (``start``/``end``) or recurring (``start_cron``/``end_cron``) deploy freeze.

    Empty ``environments`` or ``services`` means the window applies to all of them. Build one
    with ``one_off``, ``recurring`` or ``freeze_from_spec``, which normalise dates and check it.
    """

    name: str
    start: datetime | None = None
    end: datetime | None = None
    start_cron: str | None = None
    end_cron: str | None = None
    timezone: str = "UTC"
    environments: tuple[str, ...] = ()
    services: tuple[str, ...] = ()
    all_day: bool = False
    reason: str = ""

    def __post_init__(self) -> None:
        zone(self.timezone)
        one_off = self.start is not None or self.end is not None
        recurring = self.start_cron is not None or self.end_cron is not None
        where = f"freeze window {self.name!r}"
        if one_off == recurring:
            raise FreezeInvalid(
                f"{where} needs either start and end, or start_cron and end_cron",
                "give dates for a one-off freeze or two cron expressions for a recurring one",
            )
        if one_off:
            if self.start is None or self.end is None:
                raise FreezeInvalid(f"{where} needs both start and end")
            # Stored in UTC so comparisons are exact (see _aware).
            object.__setattr__(self, "start", _aware(self.start, f"{where} start"))
            object.__setattr__(self, "end", _aware(self.end, f"{where} end"))
            if self.end <= self.start:
                raise FreezeInvalid(
                    f"{where} ends ({self.end.isoformat()}) before it starts "
                    f"({self.start.isoformat()})",
                    "swap start and end, or fix the date that is wrong",
                )
        else:
            if self.start_cron is None or self.end_cron is None:
                raise FreezeInvalid(f"{where} needs both start_cron and end_cron")
            start, end = normalize_cron(self.start_cron), normalize_cron(self.end_cron)
            if croniter.expand(start) == croniter.expand(end):
                raise FreezeInvalid(
                    f"{where} starts and ends on the same schedule, so it is never frozen",
                    "give start_cron and end_cron different times",
                )

    @property
    def recurring_window(self) -> bool:
        return self.start_cron is not None

    @classmethod
    def one_off(
        cls,
        name: str,
        start: date | datetime | str,
        end: date | datetime | str,
        *,
        timezone: str = "UTC",
        environments: Iterable[str] = (),
        services: Iterable[str] = (),
        reason: str = "",
    ) -> FreezeWindow:
        """Dates mean whole days in ``timezone`` (``end`` is the last frozen day); naive
        datetimes are read in ``timezone``; aware ones are kept.
        """
        tz = zone(timezone)
        s, s_day = _instant(start, tz, f"freeze window {name!r} start", end_of_day=False)
        e, e_day = _instant(end, tz, f"freeze window {name!r} end", end_of_day=True)
        return cls(
            name=name,
            start=s,
            end=e,
            timezone=timezone,
            environments=tuple(environments),
            services=tuple(services),
            all_day=s_day and e_day,
            reason=reason,
        )

    @classmethod
    def recurring(
        cls,
        name: str,
        start_cron: str,
        end_cron: str,
        *,
        timezone: str = "UTC",
        environments: Iterable[str] = (),
        services: Iterable[str] = (),
        reason: str = "",
    ) -> FreezeWindow:
        return cls(
            name=name,
            start_cron=normalize_cron(start_cron),
            end_cron=normalize_cron(end_cron),
            timezone=timezone,
            environments=tuple(environments),
            services=tuple(services),
            reason=reason,
        )

    def applies_to(self, env: str | None = None, service: str | None = None) -> bool:
        """None matches any environment or service; an empty scope matches all."""
        env_ok = env is None or not self.environments or env in self.environments
        svc_ok = service is None or not self.services or service in self.services
        return env_ok and svc_ok

    def describe(self) -> str:
        """``every Friday at 18:00 until Monday 08:00 (Europe/Berlin)`` or the one-off range."""
        if self.start_cron is not None and self.end_cron is not None:
            return (
                f"{describe_cron(self.start_cron)} until {_describe_until(self.end_cron)} "
                f"({self.timezone})"
            )
        assert self.start is not None and self.end is not None
        tz = zone(self.timezone)
        s, e = self.start.astimezone(tz), self.end.astimezone(tz)
        if self.all_day:
            last = (e - timedelta(days=1)).date()
            if last == s.date():
                return f"all day {s.date().isoformat()} ({self.timezone})"
            return f"from {s.date().isoformat()} to {last.isoformat()} ({self.timezone})"
        fmt = "%Y-%m-%d %H:%M"
        return f"from {s.strftime(fmt)} to {e.strftime(fmt)} ({self.timezone})"


def _instant(
    value: date | datetime | str, tz: ZoneInfo, what: str, *, end_of_day: bool
) -> tuple[datetime, bool]:
    """An aware instant, and whether the value was a whole day."""
    if isinstance(value, str):
        try:
            value = (
                date.fromisoformat(value)
                if len(value.strip()) == 10
                else datetime.fromisoformat(value)
            )
        except ValueError as exc:
            raise FreezeInvalid(
                f"{what} {value!r} is not a date or date-time",
                "write 2026-12-20 or 2026-12-20T18:00 (optionally with +01:00)",
            ) from exc
    if isinstance(value, datetime):
        return (value if value.tzinfo is not None else _localize(value, tz)), False
    day = value + timedelta(days=1) if end_of_day else value
    return _localize(datetime.combine(day, time()), tz), True


def freeze_from_spec(spec: Mapping[str, object]) -> FreezeWindow:
    """A window from its ``release.freezes`` entry in shipyard.yaml."""
    name = str(spec.get("name") or "freeze")
    timezone = str(spec.get("timezone") or spec.get("cron_timezone") or "UTC")
    envs = _names(spec, "environments", "environment")
    services = _names(spec, "services", "service")
    reason = str(spec.get("reason") or "")
    if "start_cron" in spec or "end_cron" in spec:
        return FreezeWindow.recurring(
            name,
            str(spec.get("start_cron") or ""),
            str(spec.get("end_cron") or ""),
            timezone=timezone,
            environments=envs,
            services=services,
            reason=reason,
        )
    start, end = spec.get("start"), spec.get("end")
    if not isinstance(start, date | str) or not isinstance(end, date | str):
        raise FreezeInvalid(
            f"freeze window {name!r} needs start and end dates, or start_cron and end_cron"
        )
    return FreezeWindow.one_off(
        name, start, end, timezone=timezone, environments=envs, services=services, reason=reason
    )


def _names(spec: Mapping[str, object], plural: str, singular: str) -> tuple[str, ...]:
    value = spec.get(plural, spec.get(singular))
    if value is None:
        return ()
    if isinstance(value, str):
        return (value,)
    if isinstance(value, Iterable):
        return tuple(str(v) for v in value)
    return (str(value),)


@dataclass(frozen=True, slots=True)
class FreezeOccurrence:
    """One concrete stretch of a window: frozen from ``start`` (inclusive) to ``end``."""

    window: FreezeWindow
    start: datetime
    end: datetime

    def contains(self, at: datetime) -> bool:
        return self.start <= _aware(at) < self.end

    @property
    def local_start(self) -> datetime:
        return self.start.astimezone(zone(self.window.timezone))

    @property
    def local_end(self) -> datetime:
        return self.end.astimezone(zone(self.window.timezone))


@dataclass(frozen=True, slots=True)
class FreezeStatus:
    """Whether ``at`` is frozen, by which window, and until when deploys are possible again.

    ``until`` follows overlapping and back-to-back windows to the first unfrozen instant; it is
    None while frozen when they follow each other without a gap for ``CHAINED_MAX`` stretches
    (a window whose end is also its next start): no such instant is known. ``window`` is the
    active window that lasts longest; ``active`` lists every one in force.
    """

    frozen: bool
    window: FreezeWindow | None = None
    until: datetime | None = None
    active: tuple[FreezeOccurrence, ...] = ()


def occurrence_at(window: FreezeWindow, at: datetime) -> FreezeOccurrence | None:
    """The stretch of ``window`` that covers ``at``, if any."""
    at = _aware(at)
    if window.start is not None and window.end is not None:
        occ = FreezeOccurrence(window, window.start, window.end)
        return occ if occ.contains(at) else None
    assert window.start_cron is not None and window.end_cron is not None
    tz = zone(window.timezone)
    started = _prev_fire(window.start_cron, tz, at, inclusive=True)
    if started is None:
        return None
    ends = _next_fire(window.end_cron, tz, started, inclusive=False)
    if ends is None or at >= ends:
        return None
    # Later start times before the same end do not open a new stretch; the stretch began at
    # the first start after the previous end.
    prev_end = _prev_fire(window.end_cron, tz, started, inclusive=True)
    first = started
    if prev_end is not None:
        first = _next_fire(window.start_cron, tz, prev_end, inclusive=True) or started
    return FreezeOccurrence(window, first, ends)


CHAINED_MAX = 1000  # stretches followed back to back before a freeze counts as without end


def is_frozen(
    windows: Iterable[FreezeWindow],
    at: datetime,
    env: str | None = None,
    service: str | None = None,
) -> FreezeStatus:
    """Is a deploy to ``env``/``service`` frozen at ``at``; which window; until when."""
    at = _aware(at)
    applicable = [w for w in windows if w.applies_to(env, service)]
    active = [o for w in applicable if (o := occurrence_at(w, at)) is not None]
    if not active:
        return FreezeStatus(False)
    longest = max(active, key=lambda o: o.end)
    until: datetime | None = longest.end
    # A window that is in force when another ends keeps the freeze going.
    for _ in range(CHAINED_MAX):
        assert until is not None
        more = [o for w in applicable if (o := occurrence_at(w, until)) is not None]
        if not more:
            break
        until = max(o.end for o in more)
    else:
        until = None  # still frozen at the last end followed: no end is known
    return FreezeStatus(True, longest.window, until, tuple(sorted(active, key=lambda o: o.start)))


def _occurrences(window: FreezeWindow, after: datetime) -> Iterator[FreezeOccurrence]:
    """The window's stretches that end after ``after``, in order."""
    if window.start is not None and window.end is not None:
        if window.end > after:
            yield FreezeOccurrence(window, window.start, window.end)
        return
    assert window.start_cron is not None and window.end_cron is not None
    tz = zone(window.timezone)
    current = occurrence_at(window, after)
    t = after
    if current is not None:
        yield current
        t = current.end
    while True:
        start = _next_fire(window.start_cron, tz, t, inclusive=True)
        if start is None:
            return
        end = _next_fire(window.end_cron, tz, start, inclusive=False)
        if end is None:
            return
        yield FreezeOccurrence(window, start, end)
        t = end


def next_windows(
    windows: Iterable[FreezeWindow],
    after: datetime,
    n: int,
    env: str | None = None,
    service: str | None = None,
) -> list[FreezeOccurrence]:
    """The next ``n`` freeze stretches that end after ``after`` (one in force comes first)."""
    after = _aware(after)
    found: list[FreezeOccurrence] = []
    for w in windows:
        if not w.applies_to(env, service):
            continue
        for i, occ in enumerate(_occurrences(w, after)):
            if i >= n:
                break
            found.append(occ)
    found.sort(key=lambda o: (o.start, o.end, o.window.name))
    return found[:n]


# --------------------------------------------------------------------------------------------
# Release trains

# Weeks are counted from this Monday when a schedule names no anchor, so "every 2 weeks"
# picks the same weeks on every machine.
DEFAULT_ANCHOR = date(1970, 1, 5)

TrainPhase = Literal["scheduled", "stabilizing", "ready"]


@dataclass(frozen=True, slots=True)
class TrainSchedule:
    """``release.train``: cut on ``cut`` every ``every_weeks`` weeks, ship after ``stabilize``.

    ``anchor`` is a date in the first train's week: with ``every_weeks: 2`` it picks which
    weeks have trains, and train numbers count from it (no train cuts before it).
    """

    cut: str
    stabilize: timedelta
    every_weeks: int = 1
    timezone: str = "UTC"
    anchor: date | None = None

    def __post_init__(self) -> None:
        zone(self.timezone)
        normalize_cron(self.cut)
        if self.every_weeks < 1:
            raise InputError(
                f"a train every {self.every_weeks} weeks is not a schedule",
                "set every_weeks to 1 or more",
                code="train-invalid",
            )
        if self.stabilize < timedelta(0):
            raise DurationInvalid("the stabilisation period cannot be negative")

    @classmethod
    def from_spec(cls, spec: Mapping[str, object]) -> TrainSchedule:
        """From ``{cut, every_weeks, stabilize: 3d, timezone, anchor}`` as shipyard.yaml has it."""
        stabilize = spec.get("stabilize", "0s")
        anchor = spec.get("anchor")
        if isinstance(anchor, str):
            try:
                anchor = date.fromisoformat(anchor)
            except ValueError as exc:
                raise InputError(
                    f"train anchor {anchor!r} is not a date",
                    "write it as 2026-01-05",
                    code="train-invalid",
                ) from exc
        every = spec.get("every_weeks", 1)
        return cls(
            cut=normalize_cron(str(spec.get("cut", ""))),
            stabilize=stabilize
            if isinstance(stabilize, timedelta)
            else parse_duration(str(stabilize)),
            every_weeks=every if isinstance(every, int) else int(str(every)),
            timezone=str(spec.get("timezone") or "UTC"),
            anchor=anchor if isinstance(anchor, date) else None,
        )


@dataclass(frozen=True, slots=True)
class Train:
    """One train's dates: ``stabilized`` is cut + stabilize on the local wall clock; ``ship``
    is that, or later if a freeze is in force then. ``number`` counts trains from the
    schedule's anchor (1 is the anchor's train) and is None without an anchor.
    """

    number: int | None
    cut: datetime
    stabilized: datetime
    ship: datetime
    timezone: str = "UTC"

    @property
    def name(self) -> str:
        """Named after the local cut date, which is unique per schedule."""
        return f"train-{self.cut.astimezone(zone(self.timezone)).date().isoformat()}"

    def phase(self, now: datetime) -> TrainPhase:
        now = _aware(now)
        if now < self.cut:
            return "scheduled"
        return "stabilizing" if now < self.ship else "ready"


@dataclass(frozen=True, slots=True)
class TrainPlan:
    """The latest train already cut (if any) and the next ones."""

    current: Train | None
    upcoming: tuple[Train, ...]


def _monday(d: date) -> date:
    return d - timedelta(days=d.weekday())


def _train_week(schedule: TrainSchedule, local_day: date) -> int | None:
    """The train's week index from the anchor, or None if no train cuts that day."""
    anchor = schedule.anchor or DEFAULT_ANCHOR
    if schedule.anchor is not None and local_day < schedule.anchor:
        return None
    weeks = (_monday(local_day) - _monday(anchor)).days // 7
    return weeks if weeks % schedule.every_weeks == 0 else None


def _make_train(
    schedule: TrainSchedule,
    cut: datetime,
    freezes: Sequence[FreezeWindow],
    env: str | None,
    service: str | None,
) -> Train:
    tz = zone(schedule.timezone)
    local = cut.astimezone(tz)
    weeks = _train_week(schedule, local.date())
    assert weeks is not None
    # Counted on the wall clock, so "3d" from Monday 09:00 ends Thursday 09:00 even when a
    # daylight-saving change makes that 71 or 73 hours.
    stabilized = _localize(local.replace(tzinfo=None) + schedule.stabilize, tz)
    ship = stabilized
    if freezes:
        status = is_frozen(freezes, stabilized, env, service)
        if status.frozen and status.until is not None:
            ship = status.until
    number = weeks // schedule.every_weeks + 1 if schedule.anchor is not None else None
    return Train(number, cut, stabilized, ship, schedule.timezone)


def _cuts_after(schedule: TrainSchedule, t: datetime) -> Iterator[datetime]:
    tz = zone(schedule.timezone)
    expr = normalize_cron(schedule.cut)
    inclusive = False
    while True:
        fire = _next_fire(expr, tz, t, inclusive=inclusive)
        if fire is None:
            return
        day = fire.astimezone(tz).date()
        if _train_week(schedule, day) is not None:
            yield fire
            t, inclusive = fire, False
        else:
            # Jump to the next week instead of walking every cron time in an off week.
            nxt = _monday(day) + timedelta(days=7)
            t, inclusive = _localize(datetime.combine(nxt, time()), tz), True


def _cut_before(schedule: TrainSchedule, t: datetime) -> datetime | None:
    tz = zone(schedule.timezone)
    expr = normalize_cron(schedule.cut)
    for _ in range(10000):
        fire = _prev_fire(expr, tz, t, inclusive=True)
        if fire is None:
            return None
        day = fire.astimezone(tz).date()
        if schedule.anchor is not None and day < schedule.anchor:
            return None
        if _train_week(schedule, day) is not None:
            return fire
        # Back to the end of the previous week.
        t = _localize(datetime.combine(_monday(day), time()), tz) - timedelta(microseconds=1)
    return None


def train_plan(
    schedule: TrainSchedule,
    now: datetime,
    count: int = 2,
    *,
    freezes: Sequence[FreezeWindow] = (),
    env: str | None = None,
    service: str | None = None,
) -> TrainPlan:
    """The current train (the latest cut at or before ``now``) and the next ``count`` ones.

    With ``freezes``, a ship date that falls in a freeze for ``env``/``service`` moves to the
    end of that freeze.
    """
    now = _aware(now)
    cut = _cut_before(schedule, now)
    current = _make_train(schedule, cut, freezes, env, service) if cut is not None else None
    upcoming: list[Train] = []
    for nxt in _cuts_after(schedule, now):
        if len(upcoming) >= count:
            break
        upcoming.append(_make_train(schedule, nxt, freezes, env, service))
    return TrainPlan(current, tuple(upcoming))


# --------------------------------------------------------------------------------------------
# iCalendar (RFC 5545)


def _ical_escape(text: str) -> str:
    """TEXT escaping of RFC 5545 section 3.3.11."""
    return (
        text.replace("\\", "\\\\")
        .replace(";", "\\;")
        .replace(",", "\\,")
        .replace("\r\n", "\n")
        .replace("\r", "\n")
        .replace("\n", "\\n")
    )


def _fold(line: str) -> list[str]:
    """Split a content line into 75-octet pieces (section 3.1) without cutting a character."""
    out: list[str] = []
    current, size, limit = "", 0, 75
    for ch in line:
        width = len(ch.encode("utf-8"))
        if size + width > limit:
            out.append(current)
            # Continuation lines start with a space, which counts against their 75 octets.
            current, size, limit = " ", 1, 75
        current += ch
        size += width
    out.append(current)
    return out


def _utc(at: datetime) -> str:
    return _aware(at).astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def _local_text(at: datetime, timezone: str) -> str:
    return at.astimezone(zone(timezone)).strftime("%Y-%m-%d %H:%M %Z")


def _uid(kind: str, key: str, at: datetime, domain: str) -> str:
    # Stable across exports so calendar apps update events instead of duplicating them.
    digest = hashlib.sha256(f"{kind}\0{key}\0{_utc(at)}".encode()).hexdigest()[:32]
    return f"{kind}-{digest}@{domain}"


def to_ical(
    *,
    stamp: datetime,
    freezes: Iterable[FreezeOccurrence] = (),
    trains: Iterable[Train] = (),
    name: str = "Shipyard releases",
    domain: str = "shipyard",
) -> str:
    """An iCalendar file (text with CRLF line ends) of freeze stretches and train milestones.

    ``stamp`` is the DTSTAMP every event needs: pass the time of the export.
    """
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//Shipyard//Release calendar//EN",
        "CALSCALE:GREGORIAN",
        "METHOD:PUBLISH",
        f"X-WR-CALNAME:{_ical_escape(name)}",
    ]
    dtstamp = _utc(stamp)

    def event(uid: str, summary: str, start: list[str], description: str, category: str) -> None:
        lines.extend(
            [
                "BEGIN:VEVENT",
                f"UID:{uid}",
                f"DTSTAMP:{dtstamp}",
                *start,
                f"SUMMARY:{_ical_escape(summary)}",
                f"DESCRIPTION:{_ical_escape(description)}",
                f"CATEGORIES:{category}",
                "END:VEVENT",
            ]
        )

    for occ in freezes:
        w = occ.window
        if w.all_day:
            tz = zone(w.timezone)
            first = occ.start.astimezone(tz).date().strftime("%Y%m%d")
            after = occ.end.astimezone(tz).date().strftime("%Y%m%d")
            when = [f"DTSTART;VALUE=DATE:{first}", f"DTEND;VALUE=DATE:{after}"]
        else:
            when = [f"DTSTART:{_utc(occ.start)}", f"DTEND:{_utc(occ.end)}"]
        scope = []
        if w.environments:
            scope.append("environments: " + ", ".join(w.environments))
        if w.services:
            scope.append("services: " + ", ".join(w.services))
        text = "\n".join([w.describe(), *scope, *([w.reason] if w.reason else [])])
        event(
            _uid("freeze", w.name, occ.start, domain),
            f"Deploy freeze: {w.name}",
            when,
            text,
            "FREEZE",
        )
    for train in trains:
        tz_name = train.timezone
        event(
            _uid("train-cut", train.name, train.cut, domain),
            f"{train.name}: cut",
            [f"DTSTART:{_utc(train.cut)}"],
            f"{train.name} is cut; it stabilises until {_local_text(train.stabilized, tz_name)} "
            f"and ships at {_local_text(train.ship, tz_name)}",
            "TRAIN",
        )
        event(
            _uid("train-ship", train.name, train.cut, domain),
            f"{train.name}: ship",
            [f"DTSTART:{_utc(train.ship)}"],
            f"{train.name} ships (cut {_local_text(train.cut, tz_name)})",
            "TRAIN",
        )
    lines.append("END:VCALENDAR")
    return "".join(piece + "\r\n" for line in lines for piece in _fold(line))


__all__ = [
    "DEFAULT_ANCHOR",
    "CronInvalid",
    "DurationInvalid",
    "FreezeInvalid",
    "FreezeOccurrence",
    "FreezeStatus",
    "FreezeWindow",
    "TimeNaive",
    "TimezoneUnknown",
    "Train",
    "TrainPlan",
    "TrainSchedule",
    "cron_times",
    "describe_cron",
    "format_duration",
    "freeze_from_spec",
    "is_frozen",
    "next_windows",
    "normalize_cron",
    "occurrence_at",
    "parse_duration",
    "to_ical",
    "train_plan",
    "zone",
]
