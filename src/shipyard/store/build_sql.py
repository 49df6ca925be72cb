"""Build figures aggregated in SQL over ``step.finished`` and ``run.finished`` events.

Steps served from the cache have no step.finished of their own: a run lists them, with the
time each saved, in its run.finished ``cached_steps``, and the counts here add them in.
Duration and queue percentiles are over the steps that have events: the steps that ran (and,
in runs recorded before cache hits were summarised, the hits).
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection

from shipyard.store.metrics import Dist, dialect_of, distributions


@dataclass(frozen=True)
class JobCounts:
    runs: int  # pipeline runs the job was in
    steps: int  # step.finished events (retries included) and cache hits
    cache_hits: int
    cache_lookups: int  # every step but uncached skipped ones
    saved_s: float  # as the pipeline reported it (payload saved_s)


def _where(project: str | None) -> str:
    return " AND e.project = :project" if project is not None else ""


def _params(project: str | None, since: str, until: str) -> dict[str, Any]:
    return {"project": project, "since": since, "until": until}


@dataclass(frozen=True)
class CachedSteps:
    """The steps one run served from the cache, from its run.finished ``cached_steps``."""

    ts: str  # when the run finished
    subject: str
    duration_s: float  # of the run
    saved: dict[str, float]  # node -> seconds the hit saved


def job_of(node: str) -> str:
    """The job of a step id: ``test[python=3.11]`` -> ``test`` (job names hold no ``[``)."""
    return node.split("[", 1)[0]


def cached_steps(
    conn: Connection, project: str | None, since: str, until: str
) -> list[CachedSteps]:
    """Each run's cache hits in the window: since they were recorded as a run's summary
    rather than a step.finished each, every build figure adds them from here."""
    d = dialect_of(conn)
    sql = (
        f"SELECT e.ts, e.subject, {d.j('e.payload', 'duration_s')},"
        f" {d.j('e.payload', 'cached_steps')} FROM events e WHERE e.kind = 'run.finished'"
        f" AND e.ts >= :since AND e.ts < :until{_where(project)}"
        f" AND {d.j('e.payload', 'cached_steps')} IS NOT NULL"
    )
    out = []
    for ts, subject, duration, steps in conn.execute(text(sql), _params(project, since, until)):
        saved = json.loads(steps) if isinstance(steps, str) else steps
        if saved:
            out.append(CachedSteps(ts, subject, float(duration or 0), dict(saved)))
    return out


def job_counts(
    conn: Connection, project: str | None, since: str, until: str
) -> dict[str, JobCounts]:
    counts = _step_event_counts(conn, project, since, until)
    summaries = cached_steps(conn, project, since, until)
    if not summaries:
        return counts
    # A run counts once per job: the runs a job had step.finished events in, with the runs
    # that served it from the cache.
    d = dialect_of(conn)
    ran: dict[str, set[str]] = defaultdict(set)
    for job, subject in conn.execute(
        text(
            f"SELECT DISTINCT {d.j('e.payload', 'job')}, e.subject FROM events e"
            " WHERE e.kind = 'step.finished' AND e.ts >= :since AND e.ts < :until"
            f"{_where(project)}"
        ),
        _params(project, since, until),
    ):
        ran[job].add(subject)
    hits: dict[str, int] = defaultdict(int)
    saved: dict[str, float] = defaultdict(float)
    for run in summaries:
        for node, seconds in run.saved.items():
            job = job_of(node)
            ran[job].add(run.subject)
            hits[job] += 1
            saved[job] += float(seconds)
    out = dict(counts)
    for job, n in hits.items():
        c = counts.get(job, JobCounts(0, 0, 0, 0, 0.0))
        out[job] = JobCounts(
            len(ran[job]),
            c.steps + n,
            c.cache_hits + n,
            c.cache_lookups + n,
            c.saved_s + saved[job],
        )
    return out


def _step_event_counts(
    conn: Connection, project: str | None, since: str, until: str
) -> dict[str, JobCounts]:
    d = dialect_of(conn)
    job, status = d.j("e.payload", "job"), d.j("e.payload", "status")
    cached = d.is_true("e.payload", "cached")
    sql = (
        f"SELECT {job}, COUNT(DISTINCT e.subject), COUNT(*),"
        f" SUM(CASE WHEN {cached} THEN 1 ELSE 0 END),"
        f" SUM(CASE WHEN {status} <> 'skipped' OR {cached} THEN 1 ELSE 0 END),"
        f" SUM(COALESCE(CAST({d.j('e.payload', 'saved_s')} AS FLOAT), 0))"
        " FROM events e WHERE e.kind = 'step.finished' AND e.ts >= :since AND e.ts < :until"
        f"{_where(project)} GROUP BY 1"
    )
    return {
        r[0]: JobCounts(int(r[1]), int(r[2]), int(r[3] or 0), int(r[4] or 0), float(r[5] or 0))
        for r in conn.execute(text(sql), _params(project, since, until))
    }


def step_distributions(
    conn: Connection, project: str | None, since: str, until: str, field: str
) -> dict[str, Dist]:
    """Per job: percentiles of a numeric step.finished field (duration_s, queued_s)."""
    d = dialect_of(conn)
    source = (
        f"SELECT {d.j('e.payload', 'job')} AS g, CAST({d.j('e.payload', field)} AS FLOAT) AS v"
        " FROM events e WHERE e.kind = 'step.finished' AND e.ts >= :since AND e.ts < :until"
        f"{_where(project)} AND {d.j('e.payload', field)} IS NOT NULL"
    )
    return distributions(conn, source, _params(project, since, until))


def run_durations(conn: Connection, project: str | None, since: str, until: str) -> Dist | None:
    """Percentiles of whole pipeline runs (run.finished duration_s): what a developer waits."""
    d = dialect_of(conn)
    source = (
        f"SELECT '' AS g, CAST({d.j('e.payload', 'duration_s')} AS FLOAT) AS v"
        " FROM events e WHERE e.kind = 'run.finished' AND e.ts >= :since AND e.ts < :until"
        f"{_where(project)} AND {d.j('e.payload', 'duration_s')} IS NOT NULL"
    )
    return distributions(conn, source, _params(project, since, until)).get("")
