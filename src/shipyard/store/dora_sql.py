"""The DORA four keys aggregated in SQL over the event log, with the definitions of
``domain/dora.py`` (a test on both databases holds the two to the same answers).

Records, as the pure path builds them too:

- a production deployment is a ``deployment.finished`` event of the environment whose status is
  succeeded, rolled-back or failed (succeeded is a success); a ``flag.changed`` event of the
  environment is a successful change of service ``(flags)`` unless its payload names one;
- its commits are the ``commits`` of the ``deployment.started`` event of the same subject;
- a rolled-back deployment was restored by its own rollback when it finished (0 seconds);
  a failed one by the next successful deployment of its service;
- incidents come from the ``incidents`` table and link deployments by id.

Groups: ``None`` (the whole window), ``"week"`` (the Monday of the event, UTC) or
``"service"``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from sqlalchemy import text
from sqlalchemy.engine import Connection

from shipyard.store.metrics import (
    COUNTED_STATUSES,
    FLAG_SERVICE,
    Dialect,
    Dist,
    dialect_of,
    distributions,
)

Group = Literal["week", "service"] | None


@dataclass(frozen=True)
class Scope:
    env: str
    since: str  # the log's timestamp format, so text comparison orders them
    until: str
    project: str | None = None
    service: str | None = None

    def params(self) -> dict[str, Any]:
        return {
            "env": self.env,
            "since": self.since,
            "until": self.until,
            "project": self.project,
            "service": self.service,
        }


@dataclass(frozen=True)
class Counts:
    deployments: int  # production deployments in the window, failed ones included
    succeeded: int
    failed: int  # change failures: failed rollouts and deployments an incident links


def _prod(d: Dialect, scope: Scope) -> str:
    """Every production deployment (of the service) at any time, flag flips included."""
    status = d.j("e.payload", "status")
    service = d.j("e.payload", "service")
    flag_service = f"COALESCE({service}, '{FLAG_SERVICE}')"
    project = " AND e.project = :project" if scope.project is not None else ""
    counted = ", ".join(f"'{s}'" for s in COUNTED_STATUSES)
    deploys = (
        f"SELECT e.seq, e.project, substr(e.subject, 12) AS id, {service} AS service, e.ts,"
        f" CASE WHEN {status} = 'succeeded' THEN 1 ELSE 0 END AS ok, {status} AS status"
        f" FROM events e WHERE e.kind = 'deployment.finished'{project}"
        f" AND {d.j('e.payload', 'environment')} = :env AND {status} IN ({counted})"
    )
    flags = (
        "SELECT e.seq, e.project, 'flag:' || substr(e.subject, 6) || '@' || CAST(e.seq AS TEXT),"
        f" {flag_service}, e.ts, 1, 'succeeded'"
        f" FROM events e WHERE e.kind = 'flag.changed'{project}"
        f" AND {d.j('e.payload', 'environment')} = :env"
    )
    if scope.service is not None:
        deploys += f" AND {service} = :service"
        flags += f" AND {flag_service} = :service"
    return f"{deploys} UNION ALL {flags}"


def _group(d: Dialect, group: Group, ts: str, service: str) -> str:
    if group == "week":
        return d.monday(ts)
    if group == "service":
        return service
    return "''"


def _linked(scope: Scope, same_service: bool = False) -> str:
    # Per service, an incident counts against the service it names, as dora.py filters it.
    service = " AND i.service = :service" if scope.service is not None else ""
    if same_service:
        service = " AND i.service = p.service"
    return (
        "EXISTS (SELECT 1 FROM incidents i WHERE i.deployment_id = p.id"
        f" AND i.project = p.project{service})"
    )


def has_deployments(conn: Connection, scope: Scope) -> bool:
    """Whether the environment (and service) has any production deployment at any time."""
    sql = f"SELECT 1 FROM ({_prod(dialect_of(conn), scope)}) p LIMIT 1"
    return conn.execute(text(sql), scope.params()).first() is not None


def counts(conn: Connection, scope: Scope, group: Group = None) -> dict[str, Counts]:
    """Deployments, successes and change failures in the window, per group."""
    d = dialect_of(conn)
    g = _group(d, group, "p.ts", "p.service")
    sql = (
        f"SELECT {g} AS g, COUNT(*), SUM(p.ok),"
        f" SUM(CASE WHEN p.ok = 0 OR {_linked(scope, group == 'service')} THEN 1 ELSE 0 END)"
        f" FROM ({_prod(d, scope)}) p WHERE p.ts >= :since AND p.ts < :until GROUP BY 1"
    )
    return {
        row[0]: Counts(int(row[1]), int(row[2] or 0), int(row[3] or 0))
        for row in conn.execute(text(sql), scope.params())
    }


def lead_times(conn: Connection, scope: Scope, group: Group = None) -> dict[str, Dist]:
    """Seconds from each commit to the successful production deployment that shipped it."""
    d = dialect_of(conn)
    service = d.j("f.payload", "service")
    g = _group(d, group, "f.ts", service)
    project = " AND f.project = :project" if scope.project is not None else ""
    only = f" AND {service} = :service" if scope.service is not None else ""
    # Straight from deployment.finished (flag flips carry no commits), joined to its
    # deployment.started by subject through the (project, subject) index.
    source = (
        f"SELECT g, v FROM (SELECT {g} AS g,"
        f" {d.epoch('f.ts')} - {d.epoch(d.commit_time())} AS v"
        " FROM events f"
        " JOIN events s ON s.project = f.project AND s.subject = f.subject"
        f" AND s.kind = 'deployment.started', {d.commits('s.payload')}"
        f" WHERE f.kind = 'deployment.finished'{project}"
        " AND f.ts >= :since AND f.ts < :until"
        f" AND {d.j('f.payload', 'environment')} = :env"
        f" AND {d.j('f.payload', 'status')} = 'succeeded'{only}) lt"
        " WHERE v >= 0"  # a commit dated after its deployment is a clock problem, not a sample
    )
    return distributions(conn, source, scope.params())


def restore_times(conn: Connection, scope: Scope, group: Group = None) -> dict[str, Dist]:
    """Seconds from each failure that started in the window to the next healthy state."""
    d = dialect_of(conn)
    g = _group(d, group, "w.ts", "w.service")
    gi = _group(d, group, "i.opened_at", "i.service")
    project = " AND i.project = :project" if scope.project is not None else ""
    service = " AND i.service = :service" if scope.service is not None else ""
    source = (
        f"SELECT {g} AS g, CASE WHEN w.status = 'rolled-back' THEN 0.0"
        f" ELSE {d.epoch('w.next_ok')} - {d.epoch('w.ts')} END AS v FROM ("
        "SELECT x.*, MIN(CASE WHEN x.ok = 1 THEN x.ts END) OVER (PARTITION BY x.service"
        " ORDER BY x.ts, x.seq ROWS BETWEEN 1 FOLLOWING AND UNBOUNDED FOLLOWING) AS next_ok"
        f" FROM ({_prod(d, scope)}) x WHERE x.ts >= :since) w"
        " WHERE w.ok = 0 AND w.ts < :until"
        " AND (w.status = 'rolled-back' OR w.next_ok IS NOT NULL)"
        f" UNION ALL SELECT {gi} AS g, {d.epoch('i.resolved_at')} - {d.epoch('i.opened_at')} AS v"
        " FROM incidents i WHERE i.opened_at >= :since AND i.opened_at < :until"
        f" AND i.resolved_at IS NOT NULL AND i.resolved_at >= i.opened_at{project}{service}"
    )
    return distributions(conn, source, scope.params())


def failure_ids(conn: Connection, scope: Scope, limit: int) -> list[tuple[str, str]]:
    """(deployment id, why) of the change failures in the window, oldest first, at most limit."""
    d = dialect_of(conn)
    sql = (
        f"SELECT p.id, p.status FROM ({_prod(d, scope)}) p"
        f" WHERE p.ts >= :since AND p.ts < :until AND (p.ok = 0 OR {_linked(scope)})"
        " ORDER BY p.ts LIMIT :limit"
    )
    return [
        (row[0], row[1] if row[1] != "succeeded" else "incident")
        for row in conn.execute(text(sql), {**scope.params(), "limit": limit})
    ]


def deployment_ids(conn: Connection, scope: Scope, limit: int) -> list[str]:
    """Ids of the successful production deployments in the window, at most limit."""
    sql = (
        f"SELECT p.id FROM ({_prod(dialect_of(conn), scope)}) p"
        " WHERE p.ok = 1 AND p.ts >= :since AND p.ts < :until ORDER BY p.ts LIMIT :limit"
    )
    return [r[0] for r in conn.execute(text(sql), {**scope.params(), "limit": limit})]
