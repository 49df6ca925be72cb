"""The up-to-date stamp's file: what a good run leaves in the state folder, for the up-to-date
check (uptodate.py) and the incremental path (incremental.py) to read and write alike."""

from __future__ import annotations

import marshal
import os
import sys
from pathlib import Path
from typing import Any

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


def noop_step(step: dict[str, Any]) -> dict[str, Any]:
    """A step as a run with nothing to do reports it: one that succeeded is now cached."""
    if step["status"] != "success":
        return step
    return {**step, "cached": True, "duration_s": 0.0, "attempt": 0, "reason": "up to date"}


def noop_head(head: dict[str, Any], cached: int, saved_s: float) -> dict[str, Any]:
    """What a run with nothing to do reports besides its steps (``cached`` of them succeeded)."""
    return {
        **head,
        "counts": {**head["counts"], "executed": 0, "cached": cached},
        "cache_hit_rate": 1.0 if cached else 0.0,
        "saved_s": round(saved_s, 3),
        "critical_path": [],
        "critical_path_s": 0.0,
    }


def steps_json(entries: list[str]) -> str:
    """The JSON list of steps whose entries are JSON texts (as ``json.dumps`` writes a list)."""
    return "[" + ", ".join(entries) + "]"
