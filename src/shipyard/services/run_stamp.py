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
FORMAT = 5  # 5: written with marshal (a few times faster to read than JSON), not JSON


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


def noop_summary(
    summary: dict[str, Any], saved_s: float
) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """What a run with nothing to do reports, and its steps: all that succeeded, now cached."""
    steps = [
        {**s, "cached": True, "duration_s": 0.0, "attempt": 0, "reason": "up to date"}
        if s["status"] == "success"
        else s
        for s in summary["steps"]
    ]
    cached = sum(s["status"] == "success" for s in steps)
    head = {k: v for k, v in summary.items() if k != "steps"}
    head.update(
        counts={**summary["counts"], "executed": 0, "cached": cached},
        cache_hit_rate=1.0 if cached else 0.0,
        saved_s=round(saved_s, 3),
        critical_path=[],
        critical_path_s=0.0,
    )
    return head, steps
