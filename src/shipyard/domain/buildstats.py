"""Where build time goes: per-job figures over plain run records, and what slow builds cost.

Per job: duration and queue time percentiles, cache hit rate, the time the cache saved (each
hit step at the duration of its last uncached passing run), the share of pipeline wall time
the job spent on the critical path, the flakiest steps (failed, then passed on a retry of the
same run) and the steps whose uncached duration is trending up.

The cost of slow builds is arithmetic: waiting hours per day = build minutes / 60 x developers
x builds per developer per day; cost = hours x hourly cost; a year is 260 working days.
"""

from __future__ import annotations

import math
import statistics
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from shipyard.domain.dora import percentile
from shipyard.errors import InputError

__all__ = [
    "WORKING_DAYS_PER_YEAR",
    "BuildCost",
    "CostInputInvalid",
    "FlakyStep",
    "JobRun",
    "JobStats",
    "Percentiles",
    "StepRun",
    "StepTrend",
    "cost_from_durations",
    "critical_path",
    "flaky_steps",
    "job_stats",
    "slow_build_cost",
    "slowest_steps",
    "trending_steps",
]

WORKING_DAYS_PER_YEAR = 260


class CostInputInvalid(InputError):
    code = "cost-input-invalid"
    default_hint = "pass non-negative numbers, e.g. --developers 100 --runs-per-day 5"


# -- records ------------------------------------------------------------------------------


@dataclass(frozen=True)
class StepRun:
    step: str
    duration_s: float
    status: str = "passed"  # passed | failed | skipped
    cached: bool = False  # True: restored from the cache instead of running
    attempt: int = 1  # step-level retry number


@dataclass(frozen=True)
class JobRun:
    """One attempt of one job in one pipeline run."""

    run_id: str
    job: str
    queued_at: datetime
    started_at: datetime
    finished_at: datetime
    status: str = "passed"
    attempt: int = 1  # job-level retry number
    needs: tuple[str, ...] = ()
    steps: tuple[StepRun, ...] = ()

    @property
    def duration_s(self) -> float:
        return (self.finished_at - self.started_at).total_seconds()

    @property
    def queue_s(self) -> float:
        return (self.started_at - self.queued_at).total_seconds()


# -- results ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Percentiles:
    p50: float
    p90: float
    p99: float
    count: int

    @classmethod
    def of(cls, values: Sequence[float]) -> Percentiles | None:
        if not values:
            return None
        return cls(
            percentile(values, 50), percentile(values, 90), percentile(values, 99), len(values)
        )


@dataclass(frozen=True)
class JobStats:
    job: str
    runs: int
    duration: Percentiles | None
    queue: Percentiles | None
    cache_hits: int
    cache_lookups: int
    cache_hit_rate: float | None
    time_saved_s: float
    hits_without_baseline: int  # hits with no earlier uncached run to measure against
    critical_path_s: float
    critical_path_runs: int
    critical_path_share: float | None  # of the wall time of the runs the job was in


@dataclass(frozen=True)
class FlakyStep:
    job: str
    step: str
    flaky_runs: int
    runs: int
    run_ids: tuple[str, ...]

    @property
    def rate(self) -> float:
        return self.flaky_runs / self.runs


@dataclass(frozen=True)
class StepTrend:
    job: str
    step: str
    earlier_p50: float
    recent_p50: float
    earlier_count: int
    recent_count: int

    @property
    def increase_s(self) -> float:
        return self.recent_p50 - self.earlier_p50

    @property
    def ratio(self) -> float:
        return self.recent_p50 / self.earlier_p50 if self.earlier_p50 else math.inf


# -- analysis -----------------------------------------------------------------------------


def _chronological(runs: Iterable[JobRun]) -> list[JobRun]:
    return sorted(runs, key=lambda r: (r.started_at, r.attempt))


def _time_saved(runs: Sequence[JobRun]) -> dict[str, tuple[float, int]]:
    """Per job: (seconds saved by cache hits, hits without an uncached baseline)."""
    last_uncached: dict[tuple[str, str], float] = {}
    saved: dict[str, float] = defaultdict(float)
    unmeasured: dict[str, int] = defaultdict(int)
    for run in _chronological(runs):
        for step in sorted(run.steps, key=lambda s: s.attempt):
            key = (run.job, step.step)
            if step.cached:
                if key in last_uncached:
                    saved[run.job] += last_uncached[key]
                else:
                    unmeasured[run.job] += 1
            elif step.status == "passed":
                # Failed runs stop early and would understate what a hit saves.
                last_uncached[key] = step.duration_s
    jobs = {r.job for r in runs}
    return {j: (saved[j], unmeasured[j]) for j in jobs}


def critical_path(runs: Iterable[JobRun]) -> list[str]:
    """The jobs of one pipeline run that determined its end, first to last.

    Walks back from the job that finished last through, at each step, the need that
    finished last: the one the job was actually waiting for. Retried jobs span from their
    first attempt's start to their last attempt's finish.
    """
    spans = _spans(runs)
    if not spans:
        return []
    needs = {r.job: r.needs for r in runs}
    job = max(spans, key=lambda j: spans[j][1])
    path = [job]
    while True:
        preds = [n for n in needs.get(job, ()) if n in spans and n not in path]
        if not preds:
            break
        job = max(preds, key=lambda j: spans[j][1])
        path.append(job)
    return path[::-1]


def _spans(runs: Iterable[JobRun]) -> dict[str, tuple[datetime, datetime]]:
    spans: dict[str, tuple[datetime, datetime]] = {}
    for r in runs:
        if r.job in spans:
            start, end = spans[r.job]
            spans[r.job] = (min(start, r.started_at), max(end, r.finished_at))
        else:
            spans[r.job] = (r.started_at, r.finished_at)
    return spans


def job_stats(runs: Iterable[JobRun]) -> list[JobStats]:
    """Figures per job over every attempt of every pipeline run given, sorted by job name."""
    all_runs = list(runs)
    by_job: dict[str, list[JobRun]] = defaultdict(list)
    by_pipeline: dict[str, list[JobRun]] = defaultdict(list)
    for r in all_runs:
        by_job[r.job].append(r)
        by_pipeline[r.run_id].append(r)

    crit_s: dict[str, float] = defaultdict(float)
    crit_runs: dict[str, int] = defaultdict(int)
    wall_s: dict[str, float] = defaultdict(float)
    for pipeline in by_pipeline.values():
        spans = _spans(pipeline)
        wall = (
            max(r.finished_at for r in pipeline) - min(r.queued_at for r in pipeline)
        ).total_seconds()
        for job in spans:
            wall_s[job] += wall
        for job in critical_path(pipeline):
            start, end = spans[job]
            crit_s[job] += (end - start).total_seconds()
            crit_runs[job] += 1

    saved = _time_saved(all_runs)
    out: list[JobStats] = []
    for job in sorted(by_job):
        jr = by_job[job]
        lookups = [s for r in jr for s in r.steps if s.status != "skipped" or s.cached]
        hits = sum(1 for s in lookups if s.cached)
        out.append(
            JobStats(
                job=job,
                runs=len({r.run_id for r in jr}),
                duration=Percentiles.of([r.duration_s for r in jr]),
                queue=Percentiles.of([r.queue_s for r in jr]),
                cache_hits=hits,
                cache_lookups=len(lookups),
                cache_hit_rate=hits / len(lookups) if lookups else None,
                time_saved_s=saved[job][0],
                hits_without_baseline=saved[job][1],
                critical_path_s=crit_s[job],
                critical_path_runs=crit_runs[job],
                critical_path_share=crit_s[job] / wall_s[job] if wall_s[job] > 0 else None,
            )
        )
    return out


def flaky_steps(runs: Iterable[JobRun], limit: int | None = 10) -> list[FlakyStep]:
    """Steps that failed and then passed on a retry within the same pipeline run."""
    attempts: dict[tuple[str, str, str], list[tuple[int, int, str]]] = defaultdict(list)
    for r in runs:
        for s in r.steps:
            if s.status in ("passed", "failed"):
                attempts[(r.job, s.step, r.run_id)].append((r.attempt, s.attempt, s.status))
    totals: dict[tuple[str, str], int] = defaultdict(int)
    flaky: dict[tuple[str, str], list[str]] = defaultdict(list)
    for (job, step, run_id), seq in attempts.items():
        totals[(job, step)] += 1
        statuses = [status for _, _, status in sorted(seq)]
        if "failed" in statuses and "passed" in statuses[statuses.index("failed") + 1 :]:
            flaky[(job, step)].append(run_id)
    result = [
        FlakyStep(job, step, len(ids), totals[(job, step)], tuple(sorted(ids)))
        for (job, step), ids in flaky.items()
    ]
    result.sort(key=lambda f: (-f.flaky_runs, -f.rate, f.job, f.step))
    return result if limit is None else result[:limit]


def _uncached_durations(runs: Iterable[JobRun]) -> dict[tuple[str, str], list[float]]:
    out: dict[tuple[str, str], list[float]] = defaultdict(list)
    for r in runs:
        for s in r.steps:
            # Cache hits take near zero time and would hide how slow the step really is.
            if not s.cached and s.status == "passed":
                out[(r.job, s.step)].append(s.duration_s)
    return out


def slowest_steps(runs: Iterable[JobRun], limit: int = 10) -> list[tuple[str, str, Percentiles]]:
    """(job, step, percentiles of uncached passing durations), slowest median first."""
    rows = [
        (job, step, p)
        for (job, step), durations in _uncached_durations(runs).items()
        if (p := Percentiles.of(durations)) is not None
    ]
    rows.sort(key=lambda row: (-row[2].p50, row[0], row[1]))
    return rows[:limit]


def trending_steps(
    runs: Iterable[JobRun],
    since: datetime,
    *,
    min_samples: int = 3,
    min_increase: float = 0.10,
    limit: int | None = 10,
) -> list[StepTrend]:
    """Steps whose median uncached duration since ``since`` rose by more than ``min_increase``
    (a fraction) over their median before it; largest increase in seconds first.
    """
    all_runs = list(runs)
    earlier = _uncached_durations(r for r in all_runs if r.started_at < since)
    recent = _uncached_durations(r for r in all_runs if r.started_at >= since)
    trends: list[StepTrend] = []
    for key, now in recent.items():
        before = earlier.get(key, [])
        if len(before) < min_samples or len(now) < min_samples:
            continue
        trend = StepTrend(
            key[0],
            key[1],
            statistics.median(before),
            statistics.median(now),
            len(before),
            len(now),
        )
        if trend.recent_p50 > trend.earlier_p50 * (1 + min_increase):
            trends.append(trend)
    trends.sort(key=lambda t: (-t.increase_s, t.job, t.step))
    return trends if limit is None else trends[:limit]


# -- cost ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class BuildCost:
    build_minutes: float
    developers: int
    builds_per_developer_per_day: float
    hourly_cost: float
    working_days: int
    hours_per_day: float
    cost_per_day: float
    hours_per_year: float
    cost_per_year: float


def _check(name: str, value: float) -> None:
    if isinstance(value, bool) or not math.isfinite(value) or value < 0:
        raise CostInputInvalid(f"{name} must be a non-negative number, not {value!r}")


def slow_build_cost(
    build_minutes: float,
    developers: int,
    builds_per_developer_per_day: float,
    hourly_cost: float,
    working_days: int = WORKING_DAYS_PER_YEAR,
) -> BuildCost:
    """Hours and money lost to waiting for builds, per day and per year."""
    for name, value in (
        ("build minutes", build_minutes),
        ("developers", developers),
        ("builds per developer per day", builds_per_developer_per_day),
        ("hourly cost", hourly_cost),
        ("working days", working_days),
    ):
        _check(name, value)
    hours_per_day = build_minutes / 60 * developers * builds_per_developer_per_day
    cost_per_day = hours_per_day * hourly_cost
    return BuildCost(
        build_minutes=build_minutes,
        developers=developers,
        builds_per_developer_per_day=builds_per_developer_per_day,
        hourly_cost=hourly_cost,
        working_days=working_days,
        hours_per_day=hours_per_day,
        cost_per_day=cost_per_day,
        hours_per_year=hours_per_day * working_days,
        cost_per_year=cost_per_day * working_days,
    )


def cost_from_durations(
    durations_s: Sequence[float],
    developers: int,
    builds_per_developer_per_day: float,
    hourly_cost: float,
    *,
    statistic: Literal["p50", "p90", "mean"] = "p50",
    working_days: int = WORKING_DAYS_PER_YEAR,
) -> BuildCost | None:
    """The cost of slow builds from measured build durations (seconds); None without any."""
    if not durations_s:
        return None
    for d in durations_s:
        _check("a build duration", d)
    if statistic == "mean":
        seconds = statistics.fmean(durations_s)
    else:
        seconds = percentile(durations_s, 50 if statistic == "p50" else 90)
    return slow_build_cost(
        seconds / 60, developers, builds_per_developer_per_day, hourly_cost, working_days
    )
