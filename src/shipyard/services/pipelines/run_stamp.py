"""The up-to-date stamp's file: what a good run leaves in the state folder, for the up-to-date
check (uptodate.py) and the incremental path (incremental.py) to read and write alike."""

from __future__ import annotations

import marshal
import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any, NotRequired, TypedDict

if TYPE_CHECKING:
    from shipyard.services.pipelines.remote_tier import RemoteFigures

STAMP = "uptodate.stamp"
NODES = "uptodate-nodes.stamp"  # what the incremental path needs of each step (incremental.py)
FORMAT = 6  # 6: each step's JSON text apart, so a run re-renders only the steps it changed


def forget(home: Path) -> None:
    """Drop the stamp: called as a run starts, so only a finished good run leaves one."""
    (home / STAMP).unlink(missing_ok=True)
    (home / NODES).unlink(missing_ok=True)


def save(home: Path, stamp: dict[str, Any]) -> None:
    tmp = home / (STAMP + ".tmp")
    # marshal: this machine's own cache, read back by the same Shipyard on the same Python
    # (``holds`` checks both) before anything else in a run with nothing to do.
    tmp.write_bytes(marshal.dumps({**stamp, "python": sys.version}))
    os.replace(tmp, home / STAMP)


if TYPE_CHECKING:  # types only: `shipyard run` imports this module before anything else

    class StepSummary(TypedDict):
        """A step as a run's summary shows it (`shipyard run --json`)."""

        node: str
        job: str
        status: str
        cached: bool
        key: str | None
        duration_s: float
        attempt: int
        reason: str

    class RunCounts(TypedDict):
        total: int
        executed: int
        cached: int
        skipped: int
        failed: int
        cancelled: int

    class RunHead(TypedDict):
        """A run's summary without its steps (the up-to-date and incremental paths print
        their steps from JSON texts kept apart)."""

        run_id: int
        project: str
        status: str
        duration_s: float
        counts: RunCounts
        cache_hit_rate: float
        saved_s: float
        critical_path: list[str]
        critical_path_s: float
        remote_cache: NotRequired[RemoteFigures]  # with --remote-cache only


def noop_step(step: StepSummary) -> StepSummary:
    """A step as a run with nothing to do reports it: one that succeeded is now cached."""
    if step["status"] != "success":
        return step
    return {**step, "cached": True, "duration_s": 0.0, "attempt": 0, "reason": "up to date"}


def noop_head(head: RunHead, cached: int, saved_s: float) -> RunHead:
    """What a run with nothing to do reports besides its steps (``cached`` of them succeeded);
    ``head`` may be a whole summary: its steps are left out."""
    out: RunHead = {
        "run_id": head["run_id"],
        "project": head["project"],
        "status": head["status"],
        "duration_s": head["duration_s"],
        "counts": {**head["counts"], "executed": 0, "cached": cached},
        "cache_hit_rate": 1.0 if cached else 0.0,
        "saved_s": round(saved_s, 3),
        "critical_path": [],
        "critical_path_s": 0.0,
    }
    if "remote_cache" in head:
        out["remote_cache"] = head["remote_cache"]
    return out


def steps_json(entries: list[str]) -> str:
    """The JSON list of steps whose entries are JSON texts (as ``json.dumps`` writes a list)."""
    return "[" + ", ".join(entries) + "]"
