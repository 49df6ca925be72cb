"""What pipelines left behind: runs, steps, logs, why a step missed, and the cache's upkeep."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any, NotRequired, TypedDict

from shipyard.domain import cachekey
from shipyard.errors import InputError, NotFound
from shipyard.services.pipelines.pipeline import cas_of, refuse_pruned
from shipyard.store import pipelines as repo
from shipyard.store.append import utcnow
from shipyard.store.uow import Store

if TYPE_CHECKING:
    from shipyard.adapters.runlock import RunLock
    from shipyard.spec.models import Spec

_SIZE = re.compile(r"(\d+(?:\.\d+)?)\s*([kmgt]?i?b?)?", re.IGNORECASE)


def parse_size(text: str) -> int:
    """Bytes from ``500MB``, ``2GiB``, ``10k`` or a plain number."""
    m = _SIZE.fullmatch(text.strip())
    if m is None:
        raise InputError(
            f"--max-size {text!r} is not a size",
            "write a size such as 500MB, 2GiB or 1000000",
            code="size-invalid",
        )
    unit = (m.group(2) or "").lower()
    base = 1024 if "i" in unit else 1000
    power = "kmgt".index(unit[0]) + 1 if unit and unit[0] in "kmgt" else 0
    return int(float(m.group(1)) * base**power)


def reap(store: Store) -> bool:
    """Mark the run the workspace's lock last named ``abandoned`` if it is still ``running``
    and no process holds the lock (it died before finishing the run); True if it did."""
    from shipyard.adapters.runlock import RunLock

    lock = RunLock(store.home)
    if not store.home.is_dir() or not lock.acquire(wait=False, claim=False):
        return False
    try:
        return _abandon_previous(store, lock)
    finally:
        lock.release()


def _abandon_previous(store: Store, lock: RunLock) -> bool:
    """With the lock held: the run its last holder recorded, if still running, is abandoned."""
    from shipyard.identity import actor
    from shipyard.store.runlog import Tx

    if lock.previous is None:
        return False
    with store.begin() as uow:
        cur = uow.conn.connection.driver_connection.cursor()  # type: ignore[union-attr]
        who = actor()
        postgres = uow.conn.dialect.name == "postgresql"
        return Tx(cur, postgres, home=store.home).abandon(lock.previous, who)


class RunList(TypedDict):
    runs: list[repo.ListedRun]


def list_runs(store: Store, project: str | None = None, limit: int = 20) -> RunList:
    with store.read() as uow:
        return {"runs": repo.list_runs(uow.conn, project, limit)}


def _run(uow: Any, run_id: int) -> repo.RunRow:
    run = repo.get_run(uow.conn, run_id)
    if run is None:
        raise NotFound(
            f"run {run_id} does not exist", "list runs with `shipyard runs`", code="run-not-found"
        )
    return run


class RunShown(repo.RunRow):
    """A run with its steps (``manifest`` left out of each: large; `shipyard why` reads it)."""

    steps: list[repo.StepRow]


def show_run(store: Store, run_id: int) -> RunShown:
    with store.read() as uow:
        run = _run(uow, run_id)
        steps = repo.run_steps(uow.conn, run_id)
    for step in steps:
        step.pop("manifest", None)  # large; `shipyard why` reads it
    return {**run, "steps": steps}


class StepLog(TypedDict):
    node: str
    status: str
    cached: bool
    log_digest: str | None
    log: str


class StepLogs(TypedDict):
    run_id: int
    job: str
    logs: list[StepLog]


def step_logs(store: Store, run_id: int, job: str) -> StepLogs:
    """The logs of a job's steps in a run (every matrix combination), or of one node id."""
    with store.read() as uow:
        refuse_pruned(_run(uow, run_id))
        steps = repo.run_steps(uow.conn, run_id)
    chosen = [s for s in steps if s["node"] == job] or [s for s in steps if s["job"] == job]
    if not chosen:
        raise NotFound(
            f"run {run_id} has no step {job!r}",
            f"steps in run {run_id}: {', '.join(s['node'] for s in steps) or 'none'}",
            code="step-not-found",
        )
    cas = cas_of(store)
    logs: list[StepLog] = []
    for step in chosen:
        if step["log_digest"] is None:
            text = f"(no log: the step did not run: {step['reason'] or step['status']})\n"
        else:
            text = cas.get_bytes(step["log_digest"]).decode("utf-8", errors="replace")
        logs.append(
            {
                "node": step["node"],
                "status": step["status"],
                "cached": step["cached"],
                "log_digest": step["log_digest"],
                "log": text,
            }
        )
    return {"run_id": run_id, "job": job, "logs": logs}


class NeverRun(TypedDict):
    """A node of the job no recorded run computed a key for."""

    node: str
    state: str  # never-run
    reasons: list[str]


class NodeWhy(TypedDict):
    node: str
    state: str  # unchanged, changed
    run_id: int  # the newest run that had the step
    previous_run_id: int | None  # the run its key is compared with
    cached: bool
    key: str | None
    reasons: list[str]


class Why(TypedDict):
    project: str
    job: str
    steps: list[NeverRun | NodeWhy]


def why_job(store: Store, spec: Spec, job: str) -> Why:
    """``why`` for every node of ``job`` as ``spec`` declares it (job-unknown if it does not)."""
    from shipyard.domain.pipeline import build_graph
    from shipyard.services.pipelines.pipeline import select_jobs

    graph = build_graph(select_jobs(spec, [job]))
    return why(store, spec.project, job, list(graph.job_nodes[job]))


def why(store: Store, project: str, job: str, nodes: list[str]) -> Why:
    """For each node of the job, what changed in its key since the run before its newest one."""
    answers: list[NeverRun | NodeWhy] = []
    with store.read() as uow:
        for node in nodes:
            history, later = repo.node_history(uow.conn, project, node, 2)
            if not history:
                answers.append({"node": node, "state": "never-run", "reasons": ["no recorded run"]})
                continue
            newest = history[0]
            older = history[1] if len(history) > 1 else None
            run_id, cached = newest["run_id"], newest["cached"]
            if later is not None:  # a later run had the step from this one, with its key
                older, run_id, cached = newest, later, True
                state, reasons = "unchanged", [f"key unchanged since run {newest['run_id']}"]
            elif older is not None and older["key"] == newest["key"]:
                state, reasons = "unchanged", [f"key unchanged since run {older['run_id']}"]
            else:
                state = "changed"
                # node_history reads only steps that computed a key: each has its manifest
                assert newest["manifest"] is not None
                reasons = cachekey.explain_miss(older and older["manifest"], newest["manifest"])
            answers.append(
                {
                    "node": node,
                    "state": state,
                    "run_id": run_id,
                    "previous_run_id": older and older["run_id"],
                    "cached": cached,
                    "key": newest["key"],
                    "reasons": reasons,
                }
            )
    return {"project": project, "job": job, "steps": answers}


class CacheStats(TypedDict):
    entries: int
    blobs: int
    bytes: int
    recent_runs: int
    recent_steps: int
    recent_cached: int
    hit_rate: float


def cache_stats(store: Store, project: str | None = None, runs: int = 20) -> CacheStats:
    cas = cas_of(store)
    blobs = list(cas.blobs())
    with store.read() as uow:
        entries = repo.cache_entries(uow.conn)
        hits = repo.cache_hits(uow.conn, project, runs)
    rate = hits["cached"] / hits["steps"] if hits["steps"] else 0.0
    return {
        "entries": len(entries),
        "blobs": len(blobs),
        "bytes": sum(b.size for b in blobs),
        "recent_runs": hits["runs"],
        "recent_steps": hits["steps"],
        "recent_cached": hits["cached"],
        "hit_rate": round(rate, 4),
    }


class CacheGc(TypedDict):
    """What `cache gc` did: ``keep_runs`` and what pruning did with --keep-runs, the rest
    with --max-size (``at`` is then when eviction ended)."""

    at: str
    keep_runs: NotRequired[int]
    runs_pruned: NotRequired[int]
    step_rows_deleted: NotRequired[int]
    max_bytes: NotRequired[int]
    bytes_before: NotRequired[int]
    bytes_after: NotRequired[int]
    entries_evicted: NotRequired[int]
    entries_kept: NotRequired[int]
    blobs_deleted: NotRequired[int]


def cache_gc(store: Store, max_size: int | None = None, keep_runs: int | None = None) -> CacheGc:
    """Evict least recently used action-cache entries until the CAS fits in ``max_size``, and
    delete the step rows of runs older than each project's newest ``keep_runs``.

    A blob is deleted when no remaining entry refers to it; blobs no entry ever referred to
    (logs of failed steps) go first. The entries are deleted in one transaction before their
    blobs, so a crash in between leaves only unreferenced blobs, never an entry without them.
    Pruned runs keep their own row (status, commit, times) and their events.
    """
    from shipyard.adapters.runlock import RunLock

    if max_size is None and keep_runs is None:
        raise InputError(
            "cache gc needs --max-size, --keep-runs or both",
            "e.g. shipyard cache gc --max-size 2GiB --keep-runs 200",
            code="usage",
        )
    if keep_runs is not None and keep_runs < 1:
        raise InputError(
            f"--keep-runs {keep_runs} would keep no run",
            "keep at least one run: --keep-runs 1 or more",
            code="usage",
        )
    out: CacheGc = {"at": utcnow()}
    with RunLock(store.home) as lock:  # never while a run writes entries and packs
        _abandon_previous(store, lock)
        if keep_runs is not None:
            with store.begin() as uow:
                pruned = repo.prune_steps(uow.conn, keep_runs, out["at"])
            out |= {
                "keep_runs": keep_runs,
                "runs_pruned": pruned["runs_pruned"],
                "step_rows_deleted": pruned["step_rows_deleted"],
            }
        if max_size is not None:
            _cache_gc(store, max_size, out)
    return out


def _cache_gc(store: Store, max_size: int, out: CacheGc) -> None:
    """Evict, and put what it did in ``out``."""
    cas = cas_of(store)
    sizes = {b.digest: b.size for b in cas.blobs()}
    before = sum(sizes.values())
    with store.read() as uow:
        entries = repo.cache_entries(uow.conn)
    refs: dict[str, int] = {}
    for e in entries:
        for d in _blobs_of(e):
            refs[d] = refs.get(d, 0) + 1
    doomed = [d for d in sizes if d not in refs]
    total = before - sum(sizes[d] for d in doomed)
    evicted: list[str] = []
    for e in entries:  # least recently used first
        if total <= max_size:
            break
        evicted.append(e["key"])
        for d in _blobs_of(e):
            refs[d] -= 1
            if refs[d] == 0 and d in sizes:
                doomed.append(d)
                total -= sizes[d]
    if evicted:
        with store.begin() as uow:
            repo.cache_delete(uow.conn, evicted)
    for d in doomed:
        cas.delete(d)
    cas.compact()  # packed blobs take their space with them only when their pack is rewritten
    out |= {
        "max_bytes": max_size,
        "bytes_before": before,
        "bytes_after": total,
        "entries_evicted": len(evicted),
        "entries_kept": len(entries) - len(evicted),
        "blobs_deleted": len(doomed),
        "at": utcnow(),
    }


def _blobs_of(entry: repo.CacheListing) -> set[str]:
    found = set(entry["files"].values())
    if entry["log_digest"]:
        found.add(entry["log_digest"])
    return found
