"""Pipeline runs, their steps and the action cache, with the repository functions over them."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from sqlalchemy import (
    Boolean,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Table,
    Text,
    func,
    select,
)
from sqlalchemy.engine import Connection

from shipyard.store.runlog import UP_TO_DATE
from shipyard.store.schema import metadata

pipeline_runs = Table(
    "pipeline_runs",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("project", String(100), nullable=False),
    Column("commit", String(64), nullable=False),
    Column("trigger", String(100), nullable=False),
    Column("status", String(20), nullable=False),  # running, success, failure, cancelled,
    # abandoned (its process died before it finished)
    Column("jobs", Text, nullable=False),  # JSON list of the jobs asked for ([] = all)
    Column("started_at", String(32), nullable=False),
    Column("finished_at", String(32), nullable=True),
    Column("duration", Float, nullable=True),
    # The steps this run has no row of are base_run's successful ones, served from the cache.
    Column("base_run", Integer, nullable=True),
    Column("pruned_at", String(32), nullable=True),  # when its step rows were deleted
    Index("ix_pipeline_runs_project", "project", "id"),
)

pipeline_steps = Table(
    "pipeline_steps",
    metadata,
    Column("run_id", Integer, ForeignKey("pipeline_runs.id"), primary_key=True),
    Column("node", String(300), primary_key=True),
    Column("job", String(100), nullable=False),
    Column("matrix", Text, nullable=False),  # JSON object
    Column("status", String(20), nullable=False),  # success, failure, skipped, cancelled
    Column("cached", Boolean, nullable=False),
    Column("key", String(64), nullable=True),
    Column("manifest", Text, nullable=True),  # JSON; what the key was computed over
    Column("duration", Float, nullable=False),
    Column("queued", Float, nullable=False),
    Column("attempt", Integer, nullable=False),
    Column("log_digest", String(80), nullable=True),
    Column("outputs", Text, nullable=False),  # JSON object of key=value outputs
    Column("reason", Text, nullable=False),  # why it failed, was skipped or missed the cache
    Column("finished_at", String(32), nullable=False),
    Index("ix_pipeline_steps_node", "node", "run_id"),
)

action_cache = Table(
    "action_cache",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("project", String(100), nullable=False),
    Column("node", String(300), nullable=False),
    Column("files", Text, nullable=False),  # JSON {relative path: digest}
    Column("outputs", Text, nullable=False),  # JSON {name: value}
    Column("log_digest", String(80), nullable=True),
    Column("duration", Float, nullable=False),
    Column("size", Integer, nullable=False),  # bytes of the blobs it holds
    Column("created_at", String(32), nullable=False),
    Column("last_used", String(32), nullable=False),
    Index("ix_action_cache_last_used", "last_used"),
)


def _loads(text: str | None, default: Any) -> Any:
    return default if text is None else json.loads(text)


def _run_dict(r: Any) -> dict[str, Any]:
    return {
        "id": r.id,
        "project": r.project,
        "commit": r.commit,
        "trigger": r.trigger,
        "status": r.status,
        "jobs": json.loads(r.jobs),
        "started_at": r.started_at,
        "finished_at": r.finished_at,
        "duration_s": r.duration,
    }


def _step_dict(r: Any) -> dict[str, Any]:
    return {
        "run_id": r.run_id,
        "node": r.node,
        "job": r.job,
        "matrix": json.loads(r.matrix),
        "status": r.status,
        "cached": bool(r.cached),
        "key": r.key,
        "manifest": _loads(r.manifest, None),
        "duration_s": r.duration,
        "queued_s": r.queued,
        "attempt": r.attempt,
        "log_digest": r.log_digest,
        "outputs": json.loads(r.outputs),
        "reason": r.reason,
        "finished_at": r.finished_at,
    }


def steps_source(run: dict[str, Any]) -> int:
    """The run whose step rows are ``run``'s steps."""
    trigger = str(run["trigger"])
    return int(trigger.removeprefix(UP_TO_DATE)) if trigger.startswith(UP_TO_DATE) else run["id"]


def list_runs(conn: Connection, project: str | None, limit: int) -> list[dict[str, Any]]:
    q = select(pipeline_runs).order_by(pipeline_runs.c.id.desc()).limit(limit)
    if project is not None:
        q = q.where(pipeline_runs.c.project == project)
    runs = [_run_dict(r) for r in conn.execute(q)]
    if runs:
        s = pipeline_steps.c
        counts = conn.execute(
            select(s.run_id, s.status, s.cached, func.count())
            .where(s.run_id.in_({steps_source(r) for r in runs}))
            .group_by(s.run_id, s.status, s.cached)
        )
        tally: dict[int, dict[str, int]] = {}
        for run_id, status, cached, n in counts:
            name = "cached" if cached and status == "success" else status
            tally.setdefault(run_id, {})[name] = tally.get(run_id, {}).get(name, 0) + int(n)
        for r in runs:
            own = tally.get(steps_source(r), {})
            if steps_source(r) != r["id"]:  # repeated: what succeeded came from the cache
                own = {"cached": own.get("success", 0) + own.get("cached", 0)} | {
                    k: v for k, v in own.items() if k not in ("success", "cached")
                }
            r["counts"] = own
    return runs


def get_run(conn: Connection, run_id: int) -> dict[str, Any] | None:
    row = conn.execute(select(pipeline_runs).where(pipeline_runs.c.id == run_id)).first()
    return None if row is None else _run_dict(row)


def run_steps(conn: Connection, run_id: int) -> list[dict[str, Any]]:
    run = get_run(conn, run_id)
    source = run_id if run is None else steps_source(run)
    rows = conn.execute(
        select(pipeline_steps)
        .where(pipeline_steps.c.run_id == source)
        .order_by(pipeline_steps.c.finished_at, pipeline_steps.c.node)
    )
    steps = [_step_dict(r) for r in rows]
    if source != run_id:
        for step in steps:
            step["run_id"] = run_id
            if step["status"] == "success":
                step.update(cached=True, duration_s=0.0, queued_s=0.0, attempt=0)
                step["reason"] = f"up to date: nothing changed since run {source}"
    return steps


def node_history(conn: Connection, nodes: Iterable[str], limit: int) -> list[dict[str, Any]]:
    """The newest steps of these nodes that computed a key, newest first."""
    s = pipeline_steps.c
    rows = conn.execute(
        select(pipeline_steps)
        .where(s.node.in_(list(nodes)), s.manifest.is_not(None))
        .order_by(s.run_id.desc())
        .limit(limit)
    )
    return [_step_dict(r) for r in rows]


# --- action cache ----------------------------------------------------------------------------


def cache_get(conn: Connection, keys: Iterable[str]) -> dict[str, dict[str, Any]]:
    c = action_cache.c
    found: dict[str, dict[str, Any]] = {}
    wanted = list(keys)
    for i in range(0, len(wanted), 500):  # stay under the bound-parameter limits
        for r in conn.execute(select(action_cache).where(c.key.in_(wanted[i : i + 500]))):
            found[r.key] = {
                "key": r.key,
                "node": r.node,
                "files": json.loads(r.files),
                "outputs": json.loads(r.outputs),
                "log_digest": r.log_digest,
                "duration": r.duration,
                "size": r.size,
                "last_used": r.last_used,
            }
    return found


def cache_delete(conn: Connection, keys: list[str]) -> None:
    from shipyard.store.runlog import Tx

    cur = conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
    Tx(cur, conn.dialect.name == "postgresql").cache_delete(keys)


def cache_entries(conn: Connection) -> list[dict[str, Any]]:
    """Every entry, least recently used first."""
    c = action_cache.c
    rows = conn.execute(
        select(c.key, c.files, c.log_digest, c.size, c.last_used).order_by(c.last_used, c.key)
    )
    return [
        {
            "key": r.key,
            "files": json.loads(r.files),
            "log_digest": r.log_digest,
            "size": r.size,
            "last_used": r.last_used,
        }
        for r in rows
    ]


def cache_hits(conn: Connection, project: str | None, runs: int) -> dict[str, Any]:
    """Steps served from the cache over the newest ``runs`` runs, and the time they saved."""
    r, s = pipeline_runs.c, pipeline_steps.c
    q = select(r.id).order_by(r.id.desc()).limit(runs)
    if project is not None:
        q = q.where(r.project == project)
    ids = list(conn.execute(q).scalars())
    if not ids:
        return {"runs": 0, "steps": 0, "cached": 0}
    rows = conn.execute(
        select(s.cached, func.count())
        .where(s.run_id.in_(ids), s.status == "success")
        .group_by(s.cached)
    )
    tally = {bool(cached): int(n) for cached, n in rows}
    return {
        "runs": len(ids),
        "steps": sum(tally.values()),
        "cached": tally.get(True, 0),
    }
