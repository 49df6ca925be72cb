"""Deployment tables: each deployment with its rollout state, what is live per environment,
and user actions waiting for the rollout controller.

History lives in the event log; these tables hold the current state the controller resumes from.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any, TypedDict

from sqlalchemy import Column, Index, Integer, String, Table, Text, insert, select, update
from sqlalchemy.engine import Connection

from shipyard.store.schema import metadata

deployments = Table(
    "deployments",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("project", String(100), nullable=False),
    Column("environment", String(100), nullable=False),
    Column("service", String(100), nullable=False),
    Column("version", String(100), nullable=False),
    Column("artifact", String(300), nullable=True),  # name@version in the registry, if any
    Column("digest", String(100), nullable=True),
    Column("config_revision", String(32), nullable=False),
    Column("strategy", String(20), nullable=False),
    Column("status", String(20), nullable=False),  # running, succeeded, rolled-back, failed...
    Column("phase", String(20), nullable=False),
    Column("state", Text, nullable=True),  # RolloutState.to_dict() as JSON
    Column("plan", Text, nullable=False),  # JSON: pools, previous version, rendered target
    Column("reason", Text, nullable=False),
    Column("actor", String(200), nullable=False),
    Column("controller_pid", Integer, nullable=True),
    Column("created_at", String(32), nullable=False),
    Column("updated_at", String(32), nullable=False),
    Column("finished_at", String(32), nullable=True),
    Index("ix_deployments_env", "project", "environment", "created_at"),
)

# One row per environment: what serves it now and the router in front of it.
deploy_environments = Table(
    "deploy_environments",
    metadata,
    Column("project", String(100), primary_key=True),
    Column("environment", String(100), primary_key=True),
    Column("version", String(100), nullable=True),
    Column("config_revision", String(32), nullable=True),
    Column("deployment_id", String(32), nullable=True),  # the last one that finished
    Column("active_deployment", String(32), nullable=True),  # the one rolling out now
    Column("live_pool", String(20), nullable=True),
    Column("router", Text, nullable=True),  # JSON: pid, port, admin_port
    Column("instances", Text, nullable=False),  # JSON list: pool, index, version, port, pid
    Column("updated_at", String(32), nullable=False),
)

rollout_actions = Table(
    "rollout_actions",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("deployment_id", String(32), nullable=False),
    Column("action", String(20), nullable=False),
    Column("actor", String(200), nullable=False),
    Column("created_at", String(32), nullable=False),
    Column("taken_at", String(32), nullable=True),
    Index("ix_rollout_actions_dep", "deployment_id", "taken_at"),
)

# Every interval's verdict of every metric of a rollout's analyses, with its numbers.
analysis_measurements = Table(
    "analysis_measurements",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("deployment_id", String(32), nullable=False),
    Column("analysis", String(100), nullable=False),
    Column("kind", String(20), nullable=False),  # step, pre-promotion, background, watch...
    Column("metric", String(100), nullable=False),
    Column("seq", Integer, nullable=False),  # the metric's measurement number in its run
    Column("at", String(32), nullable=False),
    Column("phase", String(20), nullable=False),  # this measurement's verdict
    Column("decision", String(20), nullable=False),  # the metric's phase after it
    Column("data", Text, nullable=False),  # JSON: checks (values, thresholds, p-values), windows
    Index("ix_analysis_measurements_dep", "deployment_id", "id"),
)

_JSON_COLUMNS = ("state", "plan")


class DeploymentRow(TypedDict):
    """A row of ``deployments``, its JSON columns parsed."""

    id: str
    project: str
    environment: str
    service: str
    version: str
    artifact: str | None
    digest: str | None
    config_revision: str
    strategy: str
    status: str
    phase: str
    state: dict[str, Any] | None  # ``RolloutState.to_dict()``; None until a controller starts
    plan: dict[str, Any]  # the deployment's plan (``services/deployments/deploy_plan.py``)
    reason: str
    actor: str
    controller_pid: int | None
    created_at: str
    updated_at: str
    finished_at: str | None


def _json(text: str | None) -> Any:
    return json.loads(text) if text else None


def _deployment(row: Any) -> DeploymentRow:
    return {
        "id": row.id,
        "project": row.project,
        "environment": row.environment,
        "service": row.service,
        "version": row.version,
        "artifact": row.artifact,
        "digest": row.digest,
        "config_revision": row.config_revision,
        "strategy": row.strategy,
        "status": row.status,
        "phase": row.phase,
        "state": _json(row.state),
        "plan": _json(row.plan),
        "reason": row.reason,
        "actor": row.actor,
        "controller_pid": row.controller_pid,
        "created_at": row.created_at,
        "updated_at": row.updated_at,
        "finished_at": row.finished_at,
    }


def insert_deployment(conn: Connection, row: dict[str, Any]) -> None:
    values = {
        k: json.dumps(v) if k in _JSON_COLUMNS and v is not None else v for k, v in row.items()
    }
    conn.execute(insert(deployments).values(**values))


def update_deployment(conn: Connection, deployment_id: str, **values: Any) -> None:
    for key in _JSON_COLUMNS:
        if key in values and values[key] is not None:
            values[key] = json.dumps(values[key])
    conn.execute(update(deployments).where(deployments.c.id == deployment_id).values(**values))


def claim(conn: Connection, deployment_id: str, pid: int, previous: int | None) -> bool:
    """Make ``pid`` the deployment's controller, if its controller is still ``previous`` (the
    one seen dead, or none yet) or already ``pid``: of two that try at once, one wins."""
    c = deployments.c
    was = c.controller_pid.is_(None) if previous is None else c.controller_pid == previous
    done = conn.execute(
        update(deployments)
        .where(c.id == deployment_id, was | (c.controller_pid == pid))
        .values(controller_pid=pid)
    )
    return bool(done.rowcount == 1)


def get_deployment(conn: Connection, deployment_id: str) -> DeploymentRow | None:
    row = conn.execute(select(deployments).where(deployments.c.id == deployment_id)).first()
    return None if row is None else _deployment(row)


def list_deployments(
    conn: Connection, project: str, environment: str | None = None, limit: int = 50
) -> list[DeploymentRow]:
    q = select(deployments).where(deployments.c.project == project)
    if environment is not None:
        q = q.where(deployments.c.environment == environment)
    q = q.order_by(deployments.c.created_at.desc(), deployments.c.id.desc()).limit(limit)
    return [_deployment(r) for r in conn.execute(q)]


def _environment(row: Any) -> dict[str, Any]:
    out = dict(row._mapping)
    out["router"] = json.loads(out["router"]) if out["router"] else None
    out["instances"] = json.loads(out["instances"] or "[]")
    return out


def get_environment(
    conn: Connection, project: str, environment: str, *, for_update: bool = False
) -> dict[str, Any] | None:
    q = select(deploy_environments).where(
        deploy_environments.c.project == project,
        deploy_environments.c.environment == environment,
    )
    if for_update and conn.dialect.name == "postgresql":
        q = q.with_for_update()
    row = conn.execute(q).first()
    return None if row is None else _environment(row)


def list_environments(conn: Connection, project: str) -> list[dict[str, Any]]:
    q = select(deploy_environments).where(deploy_environments.c.project == project)
    return [_environment(r) for r in conn.execute(q)]


def save_environment(conn: Connection, project: str, environment: str, **values: Any) -> None:
    """Update the environment's row, creating it first if this is its first deployment."""
    if "router" in values:
        values["router"] = json.dumps(values["router"]) if values["router"] else None
    if "instances" in values:
        values["instances"] = json.dumps(values["instances"])
    c = deploy_environments.c
    where = (c.project == project) & (c.environment == environment)
    done = conn.execute(update(deploy_environments).where(where).values(**values))
    if done.rowcount == 0:
        values.setdefault("instances", "[]")
        conn.execute(
            insert(deploy_environments).values(project=project, environment=environment, **values)
        )


def add_action(conn: Connection, row: dict[str, Any]) -> None:
    conn.execute(insert(rollout_actions).values(**row))


def take_actions(conn: Connection, deployment_id: str, now: str) -> list[dict[str, Any]]:
    """The actions not yet taken, oldest first, marked taken in the caller's transaction."""
    c = rollout_actions.c
    rows = conn.execute(
        select(rollout_actions)
        .where(c.deployment_id == deployment_id, c.taken_at.is_(None))
        .order_by(c.created_at, c.id)
    ).all()
    ids = [r.id for r in rows]
    if ids:
        conn.execute(update(rollout_actions).where(c.id.in_(ids)).values(taken_at=now))
    return [dict(r._mapping) for r in rows]


def add_measurements(
    conn: Connection, deployment_id: str, rows: Sequence[Mapping[str, Any]]
) -> None:
    if rows:
        conn.execute(
            insert(analysis_measurements),
            [{**r, "deployment_id": deployment_id, "data": json.dumps(r["data"])} for r in rows],
        )


def list_measurements(conn: Connection, deployment_id: str) -> list[dict[str, Any]]:
    c = analysis_measurements.c
    rows = conn.execute(
        select(analysis_measurements).where(c.deployment_id == deployment_id).order_by(c.id)
    )
    return [{**dict(r._mapping), "data": json.loads(r.data)} for r in rows]
