"""Build figures aggregated in SQL over ``step.finished`` and ``run.finished`` events."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import text
from sqlalchemy.engine import Connection

from shipyard.store.metrics import Dist, dialect_of, distributions


@dataclass(frozen=True)
class JobCounts:
    runs: int  # pipeline runs the job was in
    steps: int  # step.finished events, retries included
    cache_hits: int
    cache_lookups: int  # every step but uncached skipped ones
    saved_s: float  # as the pipeline reported it (payload saved_s)


def _where(project: str | None) -> str:
    return " AND e.project = :project" if project is not None else ""


def _params(project: str | None, since: str, until: str) -> dict[str, Any]:
    return {"project": project, "since": since, "until": until}


def job_counts(
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
