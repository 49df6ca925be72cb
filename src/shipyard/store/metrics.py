"""Incidents, and the SQL that aggregates the event log for metrics.

Incidents are state (open, then resolved) and get a table; everything else metrics need is
read straight from the event log's JSON payloads, aggregated in the database so a year of a
large organisation's deployments never crosses into Python row by row. The two dialects differ
only in JSON extraction and date arithmetic (``Dialect``).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypedDict

from sqlalchemy import Column, Index, String, Table, Text, select, text, update
from sqlalchemy.engine import Connection

from shipyard.store.schema import metadata

incidents = Table(
    "incidents",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("project", String(100), nullable=False),
    Column("service", String(200), nullable=False),
    Column("deployment_id", String(200), nullable=True),  # None: no deployment caused it
    Column("title", Text, nullable=False),
    Column("opened_at", String(32), nullable=False),
    Column("opened_by", String(200), nullable=False),
    Column("resolved_at", String(32), nullable=True),
    Column("resolved_by", String(200), nullable=True),
    Index("ix_incidents_service", "project", "service", "opened_at"),
    Index("ix_incidents_deployment", "project", "deployment_id"),
)

# Statuses of deployment.finished that put a change in front of users; an aborted rollout
# never did, so it is neither a deployment nor a failure.
COUNTED_STATUSES = ("succeeded", "rolled-back", "failed")
FLAG_SERVICE = "(flags)"  # flag.changed names no service; flips are changes of their own

# -- incidents -------------------------------------------------------------------------------


class IncidentRow(TypedDict):
    id: str
    project: str
    service: str
    deployment_id: str | None  # None: no deployment caused it
    title: str
    opened_at: str
    opened_by: str
    resolved_at: str | None  # None: still open
    resolved_by: str | None


def _incident(r: Any) -> IncidentRow:
    return {
        "id": r.id,
        "project": r.project,
        "service": r.service,
        "deployment_id": r.deployment_id,
        "title": r.title,
        "opened_at": r.opened_at,
        "opened_by": r.opened_by,
        "resolved_at": r.resolved_at,
        "resolved_by": r.resolved_by,
    }


def insert_incident(conn: Connection, row: Mapping[str, Any]) -> None:
    conn.execute(incidents.insert(), dict(row))


def get_incident(conn: Connection, incident_id: str) -> IncidentRow | None:
    row = conn.execute(select(incidents).where(incidents.c.id == incident_id)).first()
    return _incident(row) if row is not None else None


def resolve_incident(conn: Connection, incident_id: str, at: str, actor: str) -> None:
    conn.execute(
        update(incidents)
        .where(incidents.c.id == incident_id)
        .values(resolved_at=at, resolved_by=actor)
    )


def list_incidents(conn: Connection, project: str | None = None) -> list[IncidentRow]:
    q = select(incidents).order_by(incidents.c.opened_at)
    if project is not None:
        q = q.where(incidents.c.project == project)
    return [_incident(r) for r in conn.execute(q)]


def find_deployment(conn: Connection, deployment_id: str) -> dict[str, Any] | None:
    """The newest deployment.started/finished event of this deployment id, or None."""
    row = conn.execute(
        text(
            "SELECT project, kind, payload FROM events WHERE subject = :s"
            " AND kind IN ('deployment.started', 'deployment.finished') ORDER BY seq DESC LIMIT 1"
        ),
        {"s": f"deployment:{deployment_id}"},
    ).first()
    if row is None:
        return None
    import json

    return {"project": row.project, "kind": row.kind, "payload": json.loads(row.payload)}


# -- dialect ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Dialect:
    postgres: bool

    def j(self, col: str, key: str) -> str:
        """A top-level payload field as text."""
        if self.postgres:
            return f"({col}::jsonb ->> '{key}')"
        return f"json_extract({col}, '$.{key}')"

    def is_true(self, col: str, key: str) -> str:
        """A boolean payload field is true (SQLite's json_extract gives 1, PostgreSQL 'true')."""
        true = "'true'" if self.postgres else "1"
        return f"({self.j(col, key)} = {true})"

    def epoch(self, expr: str) -> str:
        """An ISO 8601 time as seconds since 1970 (float)."""
        if self.postgres:
            return f"extract(epoch from ({expr})::timestamptz)::float8"
        return f"((julianday({expr}) - 2440587.5) * 86400.0)"

    def monday(self, expr: str) -> str:
        """The Monday (YYYY-MM-DD, UTC) of the ISO week an ISO 8601 UTC time falls in."""
        if self.postgres:
            return f"to_char(date_trunc('week', ({expr})::timestamp), 'YYYY-MM-DD')"
        return f"date({expr}, '-6 days', 'weekday 1')"

    def week_of(self, expr: str) -> str:
        """The day number (days since 1970-01-01) of the Monday of an ISO 8601 UTC time."""
        if self.postgres:
            return f"(date_trunc('week', ({expr})::timestamp)::date - date '1970-01-01')"
        return f"CAST(julianday(date({expr}, '-6 days', 'weekday 1')) - 2440587.5 AS INTEGER)"

    def bucket(self, expr: str, width: float) -> str:
        """``floor(expr / width)`` of a non-negative number, as an integer."""
        if self.postgres:
            return f"CAST(floor(({expr}) / {width!r}) AS BIGINT)"
        return f"CAST(({expr}) / {width!r} AS INTEGER)"

    def commits(self, col: str) -> str:
        """A FROM item yielding one row per commit of a payload, commit time as ``t``."""
        if self.postgres:
            return f"jsonb_array_elements({col}::jsonb -> 'commits') AS c(v)"
        return f"json_each({col}, '$.commits') AS c"

    def commit_time(self) -> str:
        return "(c.v ->> 'time')" if self.postgres else "json_extract(c.value, '$.time')"


def dialect_of(conn: Connection) -> Dialect:
    return Dialect(conn.dialect.name == "postgresql")


# -- percentiles -----------------------------------------------------------------------------

QS = (50, 90, 99)


@dataclass(frozen=True)
class Dist:
    """Count, sum and linear-interpolated percentiles of one group's values."""

    n: int
    total: float
    pct: dict[int, float]


def distributions(
    conn: Connection, source: str, params: Mapping[str, Any], qs: Sequence[int] = QS
) -> dict[Any, Dist]:
    """Per group ``g`` of ``source`` (a SELECT yielding columns g, v): count, sum, percentiles.

    Ranks are picked in the database with a window function, so only the (at most two per
    percentile) rows around each rank come back; the interpolation matches
    ``domain.dora.percentile`` (integer division keeps the rank exact on both dialects).
    """
    sql = (
        "SELECT g, v, i, n, s FROM (SELECT g, v,"
        " ROW_NUMBER() OVER (PARTITION BY g ORDER BY v) - 1 AS i,"
        " COUNT(*) OVER (PARTITION BY g) AS n, SUM(v) OVER (PARTITION BY g) AS s"
        f" FROM ({source}) src) ranked WHERE {ranks('i', 'n', qs)}"
    )
    picked: dict[Any, dict[int, float]] = defaultdict(dict)
    sizes: dict[Any, tuple[int, float]] = {}
    for g, v, i, n, s in conn.execute(text(sql), dict(params)):
        picked[g][int(i)] = float(v)
        sizes[g] = (int(n), float(s))
    return {g: dist(n, s, picked[g], qs) for g, (n, s) in sizes.items()}


def ranks(i: str, n: str, qs: Sequence[int]) -> str:
    """SQL: the rank ``i`` (0-based, of ``n`` values) is one of the two around a percentile."""
    at = (f"({n} - 1) * {q} / 100" for q in qs)
    return " OR ".join(f"{i} = {r} OR {i} = {r} + 1" for r in at)


def dist(n: int, s: float, picked: Mapping[int, float], qs: Sequence[int]) -> Dist:
    """Count, sum and percentiles from the values picked at the ranks around each one."""
    pct: dict[int, float] = {}
    for q in qs:
        pos = (n - 1) * q / 100
        lo = (n - 1) * q // 100
        hi = min(lo + 1, n - 1)
        pct[q] = picked[lo] + (picked[hi] - picked[lo]) * (pos - lo)
    return Dist(n, s, pct)
