"""The DORA four keys over plain records.

Definitions (each figure carries its numerator, its denominator and the ids behind it, so a
number can be defended and drilled into):

- **Deployment frequency**: successful production deployments per day or per week of the
  window. A flag flip is not a deployment: it counts in none of the four keys, only in
  **changes** (``changes``), successful production deployments and flag changes together,
  reported apart from the keys and given no level.
- **Lead time for changes**: for every commit a successful production deployment brought,
  deployment finish time minus commit time; median and p90. The mean is numerator /
  denominator (seconds summed / commits).
- **Change failure rate**: production deployments that failed, or that a rollback, a hotfix or
  an incident links to by deployment id, over all production deployments in the window.
  Links are explicit ids, never a guess from timestamps (apache/devlake#6606).
- **Time to restore**: from a failure (a failed production deployment, an incident opened) to
  the next healthy production state (a rollback or restore record, the next successful
  deployment of the service, the incident's resolution); median and p90.

Performance levels use the software delivery performance clusters of the *Accelerate State of
DevOps Report 2023* (DORA, Google Cloud), which published:

============  =================  ==================  =====  ======================
level         deploy frequency   lead time           CFR    failed deploy recovery
============  =================  ==================  =====  ======================
elite         on demand          < 1 day             5%     < 1 hour
high          daily to weekly    1 day to 1 week     10%    < 1 day
medium        weekly to monthly  1 week to 1 month   15%    1 day to 1 week
low           weekly to monthly  1 week to 1 month   64%    1 month to 6 months
============  =================  ==================  =====  ======================

The report gives medium and low the same throughput bands and one typical change failure rate
per cluster, so each key is classified on its own with the cluster values as upper bounds
(``THRESHOLDS_2023``): throughput slower than monthly is low, a change failure rate above 15% is
low, recovery of a week or more is low. The overall level is the lowest of the four, because
the report's point is that speed and stability go together.

An empty history gives figures whose ``value`` is None ("no data"), never a misleading 0.
"""

from __future__ import annotations

import math
import statistics
from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import IntEnum
from typing import Literal

from shipyard.errors import InputError

__all__ = [
    "THRESHOLDS_2023",
    "Classification",
    "Deployment",
    "DoraReport",
    "Figure",
    "History",
    "Hotfix",
    "Incident",
    "Level",
    "Restore",
    "Rollback",
    "TimeRangeInvalid",
    "Window",
    "change_failure_rate",
    "changes",
    "classify",
    "deployment_frequency",
    "four_keys",
    "lead_time",
    "percentile",
    "time_to_restore",
    "weekly",
]


class TimeRangeInvalid(InputError):
    code = "time-range-invalid"
    default_hint = "pass --since before --until"


# -- records ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Deployment:
    """A rollout to an environment (``kind="flag"`` for a flag flip, a change that only the
    ``changes`` figure counts)."""

    id: str
    service: str
    env: str
    finished_at: datetime
    success: bool
    commit_times: tuple[datetime, ...] = ()
    kind: str = "deploy"


@dataclass(frozen=True)
class Rollback:
    id: str
    deployment_id: str  # the deployment rolled back
    at: datetime


@dataclass(frozen=True)
class Hotfix:
    id: str
    deployment_id: str  # the deployment the hotfix repairs
    at: datetime


@dataclass(frozen=True)
class Incident:
    id: str
    service: str
    opened_at: datetime
    deployment_id: str | None = None  # None: not caused by a known deployment
    resolved_at: datetime | None = None


@dataclass(frozen=True)
class Restore:
    """Production became healthy again; ``failure_id`` names the failure when known."""

    id: str
    service: str
    at: datetime
    failure_id: str | None = None


@dataclass(frozen=True)
class History:
    deployments: tuple[Deployment, ...] = ()
    rollbacks: tuple[Rollback, ...] = ()
    hotfixes: tuple[Hotfix, ...] = ()
    incidents: tuple[Incident, ...] = ()
    restores: tuple[Restore, ...] = ()


@dataclass(frozen=True)
class Window:
    """The half-open interval ``[start, end)``."""

    start: datetime
    end: datetime

    def __post_init__(self) -> None:
        if self.end <= self.start:
            raise TimeRangeInvalid(
                f"the time range ends ({self.end.isoformat()}) before it starts "
                f"({self.start.isoformat()})"
            )

    def __contains__(self, t: object) -> bool:
        return isinstance(t, datetime) and self.start <= t < self.end

    @property
    def days(self) -> float:
        return (self.end - self.start).total_seconds() / 86400


# -- figures ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Figure:
    """One key: its value (None: no data), how it was computed and from which records."""

    key: str
    unit: str
    value: float | None
    numerator: float
    denominator: float
    ids: tuple[str, ...] = ()  # the records the figure is computed over
    numerator_ids: tuple[str, ...] = ()  # where the numerator counts records: which
    p90: float | None = None
    # (numerator record, record that proves it): ("d-7", "rollback rb-2"), ("d-8", "failed")
    evidence: tuple[tuple[str, str], ...] = ()
    notes: tuple[str, ...] = ()

    @property
    def no_data(self) -> bool:
        return self.value is None

    def __str__(self) -> str:
        if self.value is None:
            return f"{self.key}: no data"
        return f"{self.key}: {self.value:.4g} {self.unit} ({self.numerator:g}/{self.denominator:g})"


def _median_seconds(
    key: str,
    samples: Sequence[float],
    ids: Sequence[str],
    notes: Sequence[str],
    evidence: Sequence[tuple[str, str]] = (),
) -> Figure:
    """A key whose value is the median of durations in seconds (with their sum over their
    count, and the 90th percentile); no data without any."""
    if not samples:
        return Figure(key, "seconds", None, 0, 0, (), notes=tuple(notes))
    return Figure(
        key,
        "seconds",
        statistics.median(samples),
        sum(samples),
        len(samples),
        tuple(ids),
        p90=percentile(samples, 90),
        evidence=tuple(evidence),
        notes=tuple(notes),
    )


def percentile(values: Sequence[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default, Excel's PERCENTILE.INC)."""
    if not values:
        raise ValueError("percentile of no values")
    if not 0 <= q <= 100:
        raise ValueError(f"percentile {q} is outside 0..100")
    ordered = sorted(values)
    pos = (len(ordered) - 1) * q / 100
    lo = math.floor(pos)
    hi = min(lo + 1, len(ordered) - 1)
    return ordered[lo] + (ordered[hi] - ordered[lo]) * (pos - lo)


def _production(
    history: History, env: str, service: str | None, include_flags: bool
) -> list[Deployment]:
    return _index(history, env, service, include_flags).prod


class _Index:
    """One history's production deployments, sorted and keyed once, so a figure over a window
    (and a weekly trend of many windows) costs the window's records, not the history's."""

    def __init__(self, history: History, prod: list[Deployment]) -> None:
        self.prod = prod  # in history order
        # positions in finish-time order; sorted() is stable, so ties keep history order
        self.order = sorted(range(len(prod)), key=lambda i: prod[i].finished_at)
        self.times = [prod[i].finished_at for i in self.order]
        self.successes: dict[str, tuple[list[datetime], list[Deployment]]] = {}
        for i in self.order:
            d = prod[i]
            if d.success:
                times, ds = self.successes.setdefault(d.service, ([], []))
                times.append(d.finished_at)
                ds.append(d)

    def by_time(self, window: Window) -> list[Deployment]:
        """Deployments finished in the window, in finish-time order (ties in history order)."""
        lo = bisect_left(self.times, window.start)
        hi = bisect_left(self.times, window.end)
        return [self.prod[i] for i in self.order[lo:hi]]

    def in_window(self, window: Window) -> list[Deployment]:
        """Deployments finished in the window, in history order."""
        lo = bisect_left(self.times, window.start)
        hi = bisect_left(self.times, window.end)
        return [self.prod[i] for i in sorted(self.order[lo:hi])]

    def next_success(self, service: str, after: datetime) -> Deployment | None:
        """The first successful deployment of the service finished strictly after ``after``."""
        times, ds = self.successes.get(service, ([], []))
        i = bisect_right(times, after)
        return ds[i] if i < len(ds) else None


class _Links:
    """Rollbacks, restores and deployments of one history keyed by what they point at."""

    def __init__(self, history: History) -> None:
        self.known = {d.id: d for d in history.deployments}
        self.rollbacks: dict[str, list[Rollback]] = {}
        for r in history.rollbacks:
            self.rollbacks.setdefault(r.deployment_id, []).append(r)
        # (position in history.restores, restore), so ties resolve as a scan in order would
        self.restores_of: dict[str, list[tuple[int, Restore]]] = {}
        self.restores_unnamed: dict[str, list[tuple[int, Restore]]] = {}
        for i, restore in enumerate(history.restores):
            if restore.failure_id is None:
                self.restores_unnamed.setdefault(restore.service, []).append((i, restore))
            else:
                self.restores_of.setdefault(restore.failure_id, []).append((i, restore))


def _cache(history: History) -> dict[object, object]:
    # A private cache on the (frozen, immutable) history: built on first use, never stale.
    cache = history.__dict__.get("_dora_cache")
    if cache is None:
        cache = {}
        object.__setattr__(history, "_dora_cache", cache)
    return cache


def _index(history: History, env: str, service: str | None, include_flags: bool) -> _Index:
    cache = _cache(history)
    key = ("index", env, service, include_flags)
    hit = cache.get(key)
    if hit is None:
        prod = [
            d
            for d in history.deployments
            if d.env == env
            and (service is None or d.service == service)
            and (include_flags or d.kind != "flag")
        ]
        hit = cache[key] = _Index(history, prod)
    return hit  # type: ignore[return-value]


def _links(history: History) -> _Links:
    cache = _cache(history)
    hit = cache.get("links")
    if hit is None:
        hit = cache["links"] = _Links(history)
    return hit  # type: ignore[return-value]


def deployment_frequency(
    history: History,
    window: Window,
    *,
    per: Literal["day", "week"] = "day",
    env: str = "production",
    service: str | None = None,
    include_flags: bool = False,
) -> Figure:
    """Successful production deployments per day (or week) of the window."""
    all_prod = _production(history, env, service, include_flags)
    index = _index(history, env, service, include_flags)
    hits = [d for d in index.by_time(window) if d.success]
    span = window.days if per == "day" else window.days / 7
    # With no production deployment recorded at all there is nothing to measure; a window
    # without deployments in a history that has some is a real 0.
    value = len(hits) / span if all_prod else None
    return Figure(
        "deployment_frequency",
        f"deployments/{per}",
        value,
        len(hits),
        span,
        tuple(d.id for d in hits),
    )


def changes(
    history: History,
    window: Window,
    *,
    per: Literal["day", "week"] = "day",
    env: str = "production",
    service: str | None = None,
) -> Figure:
    """Successful production changes per day (or week): deployments and flag changes."""
    f = deployment_frequency(history, window, per=per, env=env, service=service, include_flags=True)
    return Figure("changes", f"changes/{per}", f.value, f.numerator, f.denominator, f.ids)


def lead_time(
    history: History,
    window: Window,
    *,
    env: str = "production",
    service: str | None = None,
    include_flags: bool = False,
) -> Figure:
    """Commit to production, per commit, in seconds: median (value) and p90."""
    samples: list[float] = []
    ids: list[str] = []
    notes: list[str] = []
    for d in _index(history, env, service, include_flags).in_window(window):
        if not d.success:
            continue
        used = False
        for t in d.commit_times:
            seconds = (d.finished_at - t).total_seconds()
            if seconds < 0:
                notes.append(f"deployment {d.id} has a commit dated after it finished; skipped")
                continue
            samples.append(seconds)
            used = True
        if used:
            ids.append(d.id)
    return _median_seconds("lead_time", samples, ids, notes)


def change_failure_rate(
    history: History,
    window: Window,
    *,
    env: str = "production",
    service: str | None = None,
    include_flags: bool = False,
    count_failed_rollouts: bool = True,
) -> Figure:
    """Production deployments that led to a failure, over all production deployments.

    A rollout that failed in production (a canary that was rolled back) is a failed change
    too; ``count_failed_rollouts=False`` counts only successful rollouts, in both numerator
    and denominator.
    """
    deployments = [
        d
        for d in _index(history, env, service, include_flags).in_window(window)
        if d.success or count_failed_rollouts
    ]
    by_id = {d.id: d for d in deployments}
    failed: dict[str, list[str]] = {d.id: ["failed rollout"] for d in deployments if not d.success}
    notes: list[str] = []
    links: list[tuple[str, str, str | None]] = [
        *(("rollback", r.id, r.deployment_id) for r in history.rollbacks),
        *(("hotfix", h.id, h.deployment_id) for h in history.hotfixes),
        *(
            ("incident", i.id, i.deployment_id)
            for i in history.incidents
            if service is None or i.service == service
        ),
    ]
    known = _links(history).known
    for kind, rid, deployment_id in links:
        if deployment_id is None:
            notes.append(f"{kind} {rid} links no deployment; not a change failure")
        elif deployment_id in by_id:
            failed.setdefault(deployment_id, []).append(f"{kind} {rid}")
        elif deployment_id not in known:
            notes.append(f"{kind} {rid} links unknown deployment {deployment_id}; not counted")
        elif service is None or known[deployment_id].service == service:
            notes.append(
                f"{kind} {rid} links deployment {deployment_id}, not counted here "
                "(another window or environment, or a failed rollout left out)"
            )
    numerator_ids = tuple(d.id for d in deployments if d.id in failed)
    value = len(numerator_ids) / len(deployments) if deployments else None
    return Figure(
        "change_failure_rate",
        "ratio",
        value,
        len(numerator_ids),
        len(deployments),
        tuple(d.id for d in deployments),
        numerator_ids,
        evidence=tuple((d, why) for d in numerator_ids for why in failed[d]),
        notes=tuple(notes),
    )


def time_to_restore(
    history: History,
    window: Window,
    *,
    env: str = "production",
    service: str | None = None,
    include_flags: bool = False,
) -> Figure:
    """Failure to next healthy production state, in seconds: median (value) and p90.

    Failures are failed production deployments and incidents that started in the window.
    Failures not yet restored are listed in ``notes`` and left out of the figure.
    """
    index = _index(history, env, service, include_flags)
    links = _links(history)
    durations: list[float] = []
    ids: list[str] = []
    evidence: list[tuple[str, str]] = []
    notes: list[str] = []

    def restored(fid: str, start: datetime, firsts: list[tuple[datetime, int, int, str]]) -> None:
        # The earliest candidate at or after the start; among equal times the one listed
        # first (rollbacks, then restores, then deployments, each in record order).
        if firsts:
            at, _, _, what = min(firsts)
            durations.append((at - start).total_seconds())
            ids.append(fid)
            evidence.append((fid, what))
        else:
            notes.append(f"{fid} (since {start.isoformat()}) is not restored yet")

    def earliest(
        category: int, items: list[tuple[int, datetime, str]], start: datetime
    ) -> list[tuple[datetime, int, int, str]]:
        after = [(at, category, i, what) for i, at, what in items if at >= start]
        return [min(after)] if after else []

    for d in index.by_time(window):
        if d.success:
            continue
        restores = sorted(
            [*links.restores_of.get(d.id, ()), *links.restores_unnamed.get(d.service, ())],
            key=lambda ir: ir[0],
        )
        firsts = [
            *earliest(
                0,
                [
                    (i, r.at, f"rollback {r.id}")
                    for i, r in enumerate(links.rollbacks.get(d.id, ()))
                ],
                d.finished_at,
            ),
            *earliest(1, [(i, r.at, f"restore {r.id}") for i, r in restores], d.finished_at),
        ]
        # A later successful rollout of the service is a healthy state again.
        n = index.next_success(d.service, d.finished_at)
        if n is not None:
            firsts.append((n.finished_at, 2, 0, f"deployment {n.id}"))
        restored(d.id, d.finished_at, firsts)
    for inc in history.incidents:
        if (service is not None and inc.service != service) or inc.opened_at not in window:
            continue
        candidates = [(i, r.at, f"restore {r.id}") for i, r in links.restores_of.get(inc.id, ())]
        if inc.resolved_at is not None:
            candidates.append(
                (len(history.restores), inc.resolved_at, f"incident {inc.id} resolved")
            )
        restored(inc.id, inc.opened_at, earliest(0, candidates, inc.opened_at))
    return _median_seconds("time_to_restore", durations, ids, notes, evidence)


# -- classification -----------------------------------------------------------------------


class Level(IntEnum):
    LOW = 0
    MEDIUM = 1
    HIGH = 2
    ELITE = 3

    @property
    def label(self) -> str:
        return self.name.lower()


DAY = 86400.0
WEEK = 7 * DAY
MONTH = 30 * DAY

# Upper bounds per level from the 2023 clusters (see the module docstring). Deployment
# frequency is a lower bound in deployments per day.
THRESHOLDS_2023 = {
    "deployment_frequency": ((Level.ELITE, 1.0), (Level.HIGH, 1 / 7), (Level.MEDIUM, 1 / 30)),
    "lead_time": ((Level.ELITE, DAY), (Level.HIGH, WEEK), (Level.MEDIUM, MONTH)),
    "change_failure_rate": ((Level.ELITE, 0.05), (Level.HIGH, 0.10), (Level.MEDIUM, 0.15)),
    "time_to_restore": ((Level.ELITE, 3600.0), (Level.HIGH, DAY), (Level.MEDIUM, WEEK)),
}


def _level(key: str, value: float | None) -> Level | None:
    if value is None:
        return None
    for level, bound in THRESHOLDS_2023[key]:
        if key == "deployment_frequency":
            if value >= bound:
                return level
        elif key == "change_failure_rate":
            if value <= bound:
                return level
        elif value < bound:
            return level
    return Level.LOW


@dataclass(frozen=True)
class Classification:
    deployment_frequency: Level | None
    lead_time: Level | None
    change_failure_rate: Level | None
    time_to_restore: Level | None

    @property
    def overall(self) -> Level | None:
        """The lowest level among the keys that have data; None if none has."""
        levels = [
            lv
            for lv in (
                self.deployment_frequency,
                self.lead_time,
                self.change_failure_rate,
                self.time_to_restore,
            )
            if lv is not None
        ]
        return min(levels) if levels else None


def classify(
    deployment_frequency: Figure,
    lead_time: Figure,
    change_failure_rate: Figure,
    time_to_restore: Figure,
) -> Classification:
    """Level per key by the 2023 clusters; lead time and restore time use the median."""
    df = deployment_frequency.value
    if df is not None and deployment_frequency.unit.endswith("/week"):
        df /= 7
    return Classification(
        _level("deployment_frequency", df),
        _level("lead_time", lead_time.value),
        _level("change_failure_rate", change_failure_rate.value),
        _level("time_to_restore", time_to_restore.value),
    )


# -- reports ------------------------------------------------------------------------------


@dataclass(frozen=True)
class DoraReport:
    window: Window
    env: str
    service: str | None
    deployment_frequency: Figure
    lead_time: Figure
    change_failure_rate: Figure
    time_to_restore: Figure
    levels: Classification = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(
            self,
            "levels",
            classify(
                self.deployment_frequency,
                self.lead_time,
                self.change_failure_rate,
                self.time_to_restore,
            ),
        )

    @property
    def figures(self) -> tuple[Figure, Figure, Figure, Figure]:
        return (
            self.deployment_frequency,
            self.lead_time,
            self.change_failure_rate,
            self.time_to_restore,
        )


def four_keys(
    history: History,
    window: Window,
    *,
    env: str = "production",
    service: str | None = None,
    per: Literal["day", "week"] = "day",
    include_flags: bool = False,
) -> DoraReport:
    """All four keys over one window, with their levels."""
    return DoraReport(
        window,
        env,
        service,
        deployment_frequency(
            history, window, per=per, env=env, service=service, include_flags=include_flags
        ),
        lead_time(history, window, env=env, service=service, include_flags=include_flags),
        change_failure_rate(history, window, env=env, service=service, include_flags=include_flags),
        time_to_restore(history, window, env=env, service=service, include_flags=include_flags),
    )


def weekly(
    history: History,
    window: Window,
    *,
    env: str = "production",
    service: str | None = None,
    per: Literal["day", "week"] = "week",
    include_flags: bool = False,
) -> list[DoraReport]:
    """One report per ISO week (Monday 00:00 in the window's time zone), clipped to the window.

    The first and last buckets may be partial weeks; their frequency is still per day or
    week of the time they cover, so a partial week is not understated.
    """
    start = window.start
    monday = (start - timedelta(days=start.weekday())).replace(
        hour=0, minute=0, second=0, microsecond=0
    )
    reports: list[DoraReport] = []
    while monday < window.end:
        bucket = Window(max(monday, window.start), min(monday + timedelta(days=7), window.end))
        reports.append(
            four_keys(
                history,
                bucket,
                env=env,
                service=service,
                per=per,
                include_flags=include_flags,
            )
        )
        monday += timedelta(days=7)
    return reports
