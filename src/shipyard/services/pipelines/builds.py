"""Where build time goes, and what slow builds cost, from step.finished and run.finished events.

Per-job counts and percentiles are aggregated in SQL; the figures that need the order of
attempts (flaky steps, steps trending slower, time saved against the last uncached run) come
from ``domain/buildstats.py`` over the window's records.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, TypedDict

from sqlalchemy import text
from sqlalchemy.engine import Connection

from shipyard.domain import buildstats
from shipyard.services.metrics.metrics import TS, window
from shipyard.store import build_sql
from shipyard.store.metrics import Dist
from shipyard.store.uow import Store

if TYPE_CHECKING:
    from shipyard.services.pipelines.remote_cache import CacheReport

STATUS = {"success": "passed", "failure": "failed"}  # skipped and cancelled stay as they are


def _t(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def load_runs(
    conn: Connection, project: str | None, since: str, until: str
) -> list[buildstats.JobRun]:
    """One JobRun per step.finished event (a job node of a pipeline run), as buildstats takes,
    and one per cache hit a run's run.finished lists (starting and ending as the run starts)."""
    where = " AND project = :project" if project is not None else ""
    rows = conn.execute(
        text(
            "SELECT ts, subject, payload FROM events WHERE kind = 'step.finished'"
            f" AND ts >= :since AND ts < :until{where} ORDER BY seq"
        ),
        {"project": project, "since": since, "until": until},
    ).all()
    out = []
    for ts, subject, body in rows:
        p = json.loads(body)
        end = _t(ts)
        duration = float(p.get("duration_s") or 0)
        start = end - timedelta(seconds=duration)
        status = STATUS.get(p.get("status"), p.get("status") or "passed")
        attempt = int(p.get("attempt") or 1)
        out.append(
            buildstats.JobRun(
                subject.removeprefix("run:"),
                p.get("job") or p.get("node") or "?",
                start - timedelta(seconds=float(p.get("queued_s") or 0)),
                start,
                end,
                status,
                attempt,
                steps=(
                    buildstats.StepRun(
                        p.get("node") or p.get("job") or "?",
                        duration,
                        status,
                        bool(p.get("cached")),
                        attempt,
                    ),
                ),
            )
        )
    for run in build_sql.cached_steps(conn, project, since, until):
        start = _t(run.ts) - timedelta(seconds=run.duration_s)
        for node in run.saved:
            out.append(
                buildstats.JobRun(
                    run.subject.removeprefix("run:"),
                    build_sql.job_of(node),
                    start,
                    start,
                    start,
                    "passed",
                    1,
                    steps=(buildstats.StepRun(node, 0.0, "passed", True, 1),),
                )
            )
    return out


class Percentiles(TypedDict):
    p50: float
    p90: float
    p99: float
    count: int


def _pct(d: Dist | None) -> Percentiles | None:
    if d is None:
        return None
    return {"p50": d.pct[50], "p90": d.pct[90], "p99": d.pct[99], "count": d.n}


class Window(TypedDict):
    since: str
    until: str


class JobFigures(TypedDict):
    job: str
    runs: int
    steps: int
    duration_s: Percentiles | None
    queue_s: Percentiles | None
    cache_hits: int
    cache_lookups: int
    cache_hit_rate: float | None
    saved_s_reported: float
    saved_s_measured: float
    critical_path_share: float | None


class Flaky(TypedDict):
    job: str
    step: str
    flaky_runs: int
    runs: int
    rate: float
    run_ids: list[str]


class Trending(TypedDict):
    job: str
    step: str
    earlier_p50: float
    recent_p50: float
    increase_s: float


class BuildsReport(TypedDict):
    """`shipyard metrics builds`: where build time goes over a window."""

    window: Window
    runs: Percentiles | None  # of the runs' durations
    jobs: list[JobFigures]
    flaky: list[Flaky]
    trending_up: list[Trending]
    remote_cache: CacheReport | None  # for a report over every project only
    notes: list[str]


def builds_report(
    store: Store,
    *,
    since: str | None = None,
    until: str | None = None,
    project: str | None = None,
    now: datetime | None = None,
) -> BuildsReport:
    w = window(since, until, now)
    lo, hi = w.start.strftime(TS), w.end.strftime(TS)
    with store.read() as uow:
        counts = build_sql.job_counts(uow.conn, project, lo, hi)
        durations = build_sql.step_distributions(uow.conn, project, lo, hi, "duration_s")
        queues = build_sql.step_distributions(uow.conn, project, lo, hi, "queued_s")
        runs_dist = build_sql.run_durations(uow.conn, project, lo, hi)
        runs = load_runs(uow.conn, project, lo, hi)
    # The server's remote cache is shared by every project: its figures are for global readers.
    remote = None
    if project is None:
        from shipyard.services.pipelines.remote_cache import report

        remote = report(store, w.start, w.end)
    midpoint = w.start + (w.end - w.start) / 2
    stats = {s.job: s for s in buildstats.job_stats(runs)}
    jobs: list[JobFigures] = []
    for job, c in sorted(counts.items()):
        s = stats.get(job)
        jobs.append(
            {
                "job": job,
                "runs": c.runs,
                "steps": c.steps,
                "duration_s": _pct(durations.get(job)),
                "queue_s": _pct(queues.get(job)),
                "cache_hits": c.cache_hits,
                "cache_lookups": c.cache_lookups,
                "cache_hit_rate": c.cache_hits / c.cache_lookups if c.cache_lookups else None,
                "saved_s_reported": c.saved_s,
                "saved_s_measured": s.time_saved_s if s else 0.0,
                "critical_path_share": s.critical_path_share if s else None,
            }
        )
    return {
        "window": {"since": w.start.isoformat(), "until": w.end.isoformat()},
        "runs": _pct(runs_dist),
        "jobs": jobs,
        "flaky": [
            {
                "job": f.job,
                "step": f.step,
                "flaky_runs": f.flaky_runs,
                "runs": f.runs,
                "rate": f.rate,
                "run_ids": list(f.run_ids),
            }
            for f in buildstats.flaky_steps(runs)
        ],
        "trending_up": [
            {
                "job": t.job,
                "step": t.step,
                "earlier_p50": t.earlier_p50,
                "recent_p50": t.recent_p50,
                "increase_s": t.increase_s,
            }
            for t in buildstats.trending_steps(runs, midpoint)
        ],
        "remote_cache": remote,
        "notes": [] if counts else ["no step.finished events in the window: no data"],
    }


class CostBase(TypedDict):
    window: Window
    developers: int
    runs_per_day: float
    hourly_cost: float
    statistic: str  # p50, p90
    cache_saved_hours: float


class CostFigures(TypedDict):
    hours_per_day: float
    cost_per_day: float
    hours_per_year: float
    cost_per_year: float
    working_days: int


class CostNoData(CostBase):
    """`shipyard metrics cost` with no run in the window."""

    cost: None
    runs: int  # 0
    notes: list[str]


class CostMeasured(CostBase):
    """`shipyard metrics cost`: what waiting for builds costs."""

    runs: int
    build_minutes: float
    cost: CostFigures
    notes: list[str]


def cost_report(
    store: Store,
    developers: int,
    runs_per_day: float,
    hourly_cost: float,
    *,
    since: str | None = None,
    until: str | None = None,
    project: str | None = None,
    statistic: str = "p50",
    now: datetime | None = None,
) -> CostNoData | CostMeasured:
    """Hours and money lost to waiting for builds, from measured pipeline run durations."""
    if statistic not in ("p50", "p90"):
        raise buildstats.CostInputInvalid(
            f"--statistic '{statistic}' is not p50 or p90", "use --statistic p50 or p90"
        )
    # Validate the inputs first, so bad ones fail even when there is nothing measured yet.
    buildstats.slow_build_cost(0, developers, runs_per_day, hourly_cost)
    w = window(since, until, now)
    lo, hi = w.start.strftime(TS), w.end.strftime(TS)
    with store.read() as uow:
        dist = build_sql.run_durations(uow.conn, project, lo, hi)
        saved = sum(c.saved_s for c in build_sql.job_counts(uow.conn, project, lo, hi).values())
    base: CostBase = {
        "window": {"since": w.start.isoformat(), "until": w.end.isoformat()},
        "developers": developers,
        "runs_per_day": runs_per_day,
        "hourly_cost": hourly_cost,
        "statistic": statistic,
        "cache_saved_hours": saved / 3600,
    }
    if dist is None:
        return {
            **base,
            "cost": None,
            "runs": 0,
            "notes": ["no run.finished events in the window: no data"],
        }
    seconds = dist.pct[50 if statistic == "p50" else 90]
    c = buildstats.slow_build_cost(seconds / 60, developers, runs_per_day, hourly_cost)
    return {
        **base,
        "runs": dist.n,
        "build_minutes": c.build_minutes,
        "cost": {
            "hours_per_day": c.hours_per_day,
            "cost_per_day": c.cost_per_day,
            "hours_per_year": c.hours_per_year,
            "cost_per_year": c.cost_per_year,
            "working_days": c.working_days,
        },
        "notes": [],
    }


class BuildDay(TypedDict):
    day: str  # YYYY-MM-DD
    runs: int
    run_p50_s: float | None
    cache_hits: int
    cache_lookups: int
    cache_hit_rate: float | None


def daily_report(
    store: Store, *, days: int = 14, project: str | None = None, now: datetime | None = None
) -> list[BuildDay]:
    """Per day of the last ``days`` (UTC, oldest first): the figures of ``builds_report`` for
    that day, cut down to what the dashboard's build chart draws: runs, their median
    duration, and the cache hit rate over every job's lookups."""
    from datetime import UTC

    now = now or datetime.now(UTC)
    today = now.replace(hour=0, minute=0, second=0, microsecond=0)
    out: list[BuildDay] = []
    for back in range(days - 1, -1, -1):
        start = today - timedelta(days=back)
        end = min(start + timedelta(days=1), now)
        report = builds_report(
            store, since=start.isoformat(), until=end.isoformat(), project=project, now=now
        )
        hits = sum(j["cache_hits"] for j in report["jobs"])
        lookups = sum(j["cache_lookups"] for j in report["jobs"])
        runs = report["runs"]
        out.append(
            {
                "day": start.date().isoformat(),
                "runs": runs["count"] if runs else 0,
                "run_p50_s": runs["p50"] if runs else None,
                "cache_hits": hits,
                "cache_lookups": lookups,
                "cache_hit_rate": hits / lookups if lookups else None,
            }
        )
    return out
