"""The run loop's decisions with the Executor port faked (tests/fakes.py): what starts, in
which order, what is skipped, cached or failed, on a real store and no processes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from shipyard.services.pipelines import pipeline
from shipyard.spec.load import parse_spec
from shipyard.store.uow import Store
from tests.fakes import FakeExecutor, Outcome

DIAMOND = """
project: p
pipeline:
  jobs:
    a:
      run: make a
      inputs: [src.txt]
      outputs: [out/a.txt]
    b:
      needs: [a]
      run: make b
      outputs: [out/b.txt]
    c:
      needs: [a]
      run: make c
    d:
      needs: [b, c]
      run: make d
"""

WRITES = {
    "a": Outcome(files={"out/a.txt": b"A"}),
    "b": Outcome(files={"out/b.txt": b"B"}, outputs={"size": "1"}),
}


def _run(store: Store, root: Path, fake: FakeExecutor) -> dict[str, Any]:
    spec = parse_spec(DIAMOND)
    return pipeline.run(store, spec, root, actor="dev@example.com", executor=fake)


def _steps(summary: dict[str, Any]) -> dict[str, tuple[str, bool, str]]:
    return {s["node"]: (s["status"], s["cached"], s["reason"]) for s in summary["steps"]}


def test_steps_start_after_what_they_need_and_only_what_changed_starts_again(
    store: Store, tmp_path: Path
) -> None:
    """A second run starts nothing; a changed input starts its step, and the steps below it
    only when its output's bytes changed (early cutoff)."""
    (tmp_path / "src.txt").write_text("source\n")
    fake = FakeExecutor(WRITES)
    summary = _run(store, tmp_path, fake)
    order = [t.node for t in fake.started]
    assert summary["status"] == "success" and sorted(order) == ["a", "b", "c", "d"]
    assert order[0] == "a" and order[-1] == "d"
    assert fake.shut_down and not fake.cancelled
    again = FakeExecutor(WRITES)
    cached = _run(store, tmp_path, again)
    assert again.started == [] and cached["counts"]["cached"] == 4
    (tmp_path / "src.txt").write_text("changed\n")
    same_bytes = FakeExecutor(WRITES)
    _run(store, tmp_path, same_bytes)
    assert [t.node for t in same_bytes.started] == ["a"]
    (tmp_path / "src.txt").write_text("changed again\n")
    other_bytes = FakeExecutor({**WRITES, "a": Outcome(files={"out/a.txt": b"A2"})})
    _run(store, tmp_path, other_bytes)
    # b and c read a's new bytes; what they hand on is the same, so d is not started
    assert sorted(t.node for t in other_bytes.started) == ["a", "b", "c"]


def test_a_failed_step_skips_what_needs_it_and_the_rest_runs(store: Store, tmp_path: Path) -> None:
    """A step that fails is recorded with its reason, a step needing it is skipped and never
    started, and a step beside it still runs."""
    (tmp_path / "src.txt").write_text("source\n")
    fake = FakeExecutor({**WRITES, "b": Outcome("failure", 2, reason="exited with status 2")})
    summary = _run(store, tmp_path, fake)
    steps = _steps(summary)
    assert summary["status"] == "failure"
    assert steps["b"] == ("failure", False, "exited with status 2")
    assert steps["c"][0] == "success"
    assert steps["d"] == ("skipped", False, "needed job 'b' failed")
    assert "d" not in {t.node for t in fake.started}


def test_a_step_that_does_not_write_its_declared_output_fails(store: Store, tmp_path: Path) -> None:
    """Success without the declared file is a failure, and what needs the step is skipped."""
    (tmp_path / "src.txt").write_text("source\n")
    fake = FakeExecutor({**WRITES, "b": Outcome()})  # succeeds, writes nothing
    steps = _steps(_run(store, tmp_path, fake))
    assert steps["b"][0] == "failure"
    assert steps["b"][2].startswith("declared output not produced")
    assert steps["d"][0] == "skipped"
