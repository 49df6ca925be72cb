"""Running steps' output, read while they run: real subprocesses under the local executor."""

from __future__ import annotations

import time
from pathlib import Path

from shipyard.adapters.executors.local import LocalExecutor, Task


def _collect(
    ex: LocalExecutor, seconds: float, until: set[str]
) -> tuple[dict[str, bytes], set[str]]:
    seen: dict[str, bytes] = {}
    done: set[str] = set()
    end = time.monotonic() + seconds
    while time.monotonic() < end and not until <= done:
        for node, data in ex.output(settle_s=0.0).items():
            seen[node] = seen.get(node, b"") + data
        done |= {r.node for r in ex.wait(0.05)}
    return seen, done


def test_a_running_steps_new_lines_are_handed_out_masked(tmp_path: Path) -> None:
    """While a step runs, ``output`` gives its full lines so far, its secrets masked."""
    ex = LocalExecutor(1)
    try:
        ex.start(
            Task(
                "a",
                "echo one hush-hush-value; sleep 0.4; echo two; sleep 0.4; echo -n part; sleep 9",
                tmp_path,
                {"PATH": "/usr/bin:/bin"},
                secrets=("hush-hush-value",),
            )
        )
        seen, _ = _collect(ex, 1.5, {"a"})
    finally:
        ex.shutdown()
    assert seen["a"] == b"one ***\ntwo\n"


def test_the_next_step_on_a_worker_never_lends_its_lines_to_the_last(tmp_path: Path) -> None:
    """Steps run one after another on one worker share its log file; each step's live output
    holds only its own lines."""
    ex = LocalExecutor(1)
    env = {"PATH": "/usr/bin:/bin"}
    try:
        for i in range(6):
            ex.start(Task(f"s{i}", f"echo from-{i}; sleep 0.1; echo again-{i}", tmp_path, env))
        seen, done = _collect(ex, 20, {f"s{i}" for i in range(6)})
    finally:
        ex.shutdown()
    assert len(done) == 6
    for node, data in seen.items():
        i = node[1:]
        assert set(data.decode().split()) <= {f"from-{i}", f"again-{i}"}, (node, data)
