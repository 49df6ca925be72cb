"""Pipeline runs, their steps and the action cache, with the repository functions over them."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any, NotRequired, TypedDict

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


class RunRow(TypedDict):
    """A pipeline run as the history shows it."""

    id: int
    project: str
    commit: str
    trigger: str
    status: str
    jobs: list[str]
    started_at: str
    finished_at: str | None
    duration_s: float | None
    base_run: int | None
    pruned_at: str | None


class ListedRun(RunRow):
    """A run in a list of runs, with its steps counted by status."""

    counts: dict[str, int]


class StepRow(TypedDict):
    """A step of a run as the history shows it."""

    run_id: int
    node: str
    job: str
    matrix: dict[str, Any]
    status: str
    cached: bool
    key: str | None
    # What the key was computed over (a JSON object). Large: a reader that does not need it
    # drops it (`shipyard runs show`).
    manifest: NotRequired[dict[str, Any] | None]
    duration_s: float
    queued_s: float
    attempt: int
    log_digest: str | None
    outputs: dict[str, str]
    reason: str
    finished_at: str


def _run_dict(r: Any) -> RunRow:
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
        "base_run": r.base_run,
        "pruned_at": r.pruned_at,
    }


def _step_dict(r: Any) -> StepRow:
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


# How a run's steps are stored. A run has a row for each step that did something (ran,
# failed, was skipped or cancelled) and for each cached step whose key differs from its base
# run's; when ``base_run`` is set, each other step is the base run's successful step, served
# from the cache under the same key. A base run has a row for every step. A run the
# up-to-date check answered has no rows: its trigger names the run whose steps it repeats.


def steps_source(run: RunRow) -> int:
    """The run whose step rows (with its base's) are ``run``'s steps."""
    trigger = str(run["trigger"])
    return int(trigger.removeprefix(UP_TO_DATE)) if trigger.startswith(UP_TO_DATE) else run["id"]


def _as_cached(step: StepRow, run_id: int, reason: str) -> StepRow:
    step["run_id"] = run_id
    if step["status"] == "success":
        step.update(
            {"cached": True, "duration_s": 0.0, "queued_s": 0.0, "attempt": 0, "reason": reason}
        )
    return step


def _own_rows(conn: Connection, run_id: int) -> list[StepRow]:
    rows = conn.execute(select(pipeline_steps).where(pipeline_steps.c.run_id == run_id))
    return [_step_dict(r) for r in rows]


def run_steps(conn: Connection, run_id: int) -> list[StepRow]:
    """A run's steps as they happened, whichever way they are stored (see above)."""
    run = get_run(conn, run_id)
    source = run_id if run is None else steps_source(run)
    holder = run if source == run_id else get_run(conn, source)
    steps = _own_rows(conn, source)
    base = holder["base_run"] if holder else None
    if base is not None:
        have = {s["node"] for s in steps}
        steps += [
            _as_cached(s, source, "")
            for s in _own_rows(conn, base)
            if s["node"] not in have and s["status"] == "success"
        ]
    steps.sort(key=lambda s: (s["finished_at"], s["node"]))
    if source != run_id:
        for step in steps:
            _as_cached(step, run_id, f"up to date: nothing changed since run {source}")
    return steps


def _tallies(conn: Connection, run_ids: set[int]) -> dict[int, dict[str, int]]:
    """Rows per run by status, cached successes apart."""
    s = pipeline_steps.c
    counts = conn.execute(
        select(s.run_id, s.status, s.cached, func.count())
        .where(s.run_id.in_(run_ids))
        .group_by(s.run_id, s.status, s.cached)
    )
    tally: dict[int, dict[str, int]] = {}
    for run_id, status, cached, n in counts:
        name = "cached" if cached and status == "success" else status
        tally.setdefault(run_id, {})[name] = tally.get(run_id, {}).get(name, 0) + int(n)
    return tally


def step_counts(conn: Connection, runs: list[RunRow]) -> dict[int, dict[str, int]]:
    """Each run's steps counted by status (``cached`` for a success served from the cache),
    from the counts of rows: a run with a base has the base's steps it has no row of."""
    sources = {r["id"]: steps_source(r) for r in runs}
    holders = {r["id"]: r for r in runs}
    for source in set(sources.values()) - set(holders):
        found = get_run(conn, source)
        if found is not None:
            holders[source] = found
    bases = {h["id"]: h["base_run"] for h in holders.values() if h["base_run"] is not None}
    tally = _tallies(conn, set(sources.values()) | set(bases.values()))
    out: dict[int, dict[str, int]] = {}
    for r in runs:
        source = sources[r["id"]]
        own = dict(tally.get(source, {}))
        if source in bases:  # the base's steps it has no row of, all from the cache
            inherited = sum(tally.get(bases[source], {}).values()) - sum(own.values())
            own["cached"] = own.get("cached", 0) + max(inherited, 0)
        if source != r["id"]:  # repeated: what succeeded came from the cache
            own = {"cached": own.get("success", 0) + own.get("cached", 0)} | {
                k: v for k, v in own.items() if k not in ("success", "cached")
            }
        out[r["id"]] = own
    return out


def list_runs(conn: Connection, project: str | None, limit: int) -> list[ListedRun]:
    q = select(pipeline_runs).order_by(pipeline_runs.c.id.desc()).limit(limit)
    if project is not None:
        q = q.where(pipeline_runs.c.project == project)
    runs = [_run_dict(r) for r in conn.execute(q)]
    counts = step_counts(conn, runs) if runs else {}
    return [{**r, "counts": counts[r["id"]]} for r in runs]


def get_run(conn: Connection, run_id: int) -> RunRow | None:
    row = conn.execute(select(pipeline_runs).where(pipeline_runs.c.id == run_id)).first()
    return None if row is None else _run_dict(row)


def node_history(
    conn: Connection, project: str, node: str, limit: int
) -> tuple[list[StepRow], int | None]:
    """The newest recorded steps of a node that computed a key, newest first; and the newest
    run since the newest of them that had the node's step from its base (the same key)."""
    s, r = pipeline_steps.c, pipeline_runs.c
    rows = [
        _step_dict(row)
        for row in conn.execute(
            select(pipeline_steps)
            .join(pipeline_runs, r.id == s.run_id)
            .where(r.project == project, s.node == node, s.manifest.is_not(None))
            .order_by(s.run_id.desc())
            .limit(limit)
        )
    ]
    later = None
    if rows:
        later = conn.execute(
            select(func.max(r.id)).where(r.project == project, r.base_run == rows[0]["run_id"])
        ).scalar()
    return rows, later


class Pruned(TypedDict):
    runs_pruned: int
    step_rows_deleted: int


def prune_steps(conn: Connection, keep: int, now: str) -> Pruned:
    """Delete the step rows of each project's runs older than its newest ``keep``, except the
    runs those still need (their base, the run an up-to-date run repeats); the runs stay."""
    r, s = pipeline_runs.c, pipeline_steps.c
    runs_pruned = rows_deleted = 0
    for project in conn.execute(select(r.project).distinct()).scalars():
        kept = [
            _run_dict(row)
            for row in conn.execute(
                select(pipeline_runs).where(r.project == project).order_by(r.id.desc()).limit(keep)
            )
        ]
        if len(kept) < keep:
            continue
        needed = {k["id"] for k in kept} | {steps_source(k) for k in kept}
        needed |= {k["base_run"] for k in kept if k["base_run"] is not None}
        for source in {steps_source(k) for k in kept} - {k["id"] for k in kept}:
            held = get_run(conn, source)
            if held is not None and held["base_run"] is not None:
                needed.add(held["base_run"])
        doomed = [
            run_id
            for run_id in conn.execute(
                select(r.id).where(
                    r.project == project,
                    r.id < kept[-1]["id"],
                    r.pruned_at.is_(None),
                    r.status != "running",
                )
            ).scalars()
            if run_id not in needed
        ]
        for i in range(0, len(doomed), 500):  # stay under the bound-parameter limits
            chunk = doomed[i : i + 500]
            rows_deleted += conn.execute(
                pipeline_steps.delete().where(s.run_id.in_(chunk))
            ).rowcount
            conn.execute(pipeline_runs.update().where(r.id.in_(chunk)).values(pruned_at=now))
        runs_pruned += len(doomed)
    return {"runs_pruned": runs_pruned, "step_rows_deleted": rows_deleted}


# --- action cache ----------------------------------------------------------------------------


class CacheEntry(TypedDict):
    """An action-cache entry, all but its project and when it was made."""

    key: str
    node: str
    files: dict[str, str]  # relative path -> digest
    outputs: dict[str, str]
    log_digest: str | None
    duration: float
    size: int
    last_used: str


def cache_get(conn: Connection, keys: Iterable[str]) -> dict[str, CacheEntry]:
    c = action_cache.c
    found: dict[str, CacheEntry] = {}
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


class CacheListing(TypedDict):
    """An action-cache entry as eviction reads it."""

    key: str
    files: dict[str, str]
    log_digest: str | None
    size: int
    last_used: str


def cache_entries(conn: Connection) -> list[CacheListing]:
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


class CacheHits(TypedDict):
    runs: int
    steps: int  # successful ones
    cached: int  # of those, served from the cache


def cache_hits(conn: Connection, project: str | None, runs: int) -> CacheHits:
    """Successful steps over the newest ``runs`` runs, and how many the cache served."""
    q = select(pipeline_runs).order_by(pipeline_runs.c.id.desc()).limit(runs)
    if project is not None:
        q = q.where(pipeline_runs.c.project == project)
    recent = [_run_dict(r) for r in conn.execute(q)]
    counts = step_counts(conn, recent).values() if recent else []
    cached = sum(c.get("cached", 0) for c in counts)
    return {
        "runs": len(recent),
        "steps": cached + sum(c.get("success", 0) for c in counts),
        "cached": cached,
    }
