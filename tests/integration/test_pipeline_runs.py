"""Pipeline runs against a real store (SQLite and PostgreSQL) and real subprocesses."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from shipyard.services.pipelines import pipeline, pipeline_history
from shipyard.spec.load import parse_spec
from shipyard.store import pipelines as repo
from shipyard.store.uow import Store

CHAIN = """
project: p
pipeline:
  jobs:
    norm:
      run: mkdir -p out && tr -d ' ' < a.txt > out/a.txt
      inputs: [a.txt]
      outputs: [out/a.txt]
    use:
      needs: [norm]
      run: cat out/a.txt > out/b.txt && echo "size=$(wc -c < out/a.txt)" >> $SHIPYARD_OUTPUT
      inputs: [out/a.txt]
      outputs: [out/b.txt]
    other:
      run: cat c.txt
      inputs: [c.txt]
"""


def _project(root: Path, spec: str, files: dict[str, str]) -> Any:
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    (root / "shipyard.yaml").write_text(spec)
    return parse_spec(spec)


def _go(store: Store, root: Path, spec: Any, **kw: Any) -> dict[str, Any]:
    return pipeline.run(store, spec, root, jobs_n=2, **({"actor": "dev@example.com"} | kw))


def _by_node(summary: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {s["node"]: s for s in summary["steps"]}


@pytest.fixture
def work(tmp_path: Path) -> Path:
    root = tmp_path / "work"
    root.mkdir()
    return root


def test_run_records_steps_and_events(store: Store, work: Path) -> None:
    """A run writes its row, a row per step, and run.started, step.finished, run.finished."""
    spec = _project(work, CHAIN, {"a.txt": "x y\n", "c.txt": "c\n"})
    summary = _go(store, work, spec)
    assert summary["status"] == "success" and summary["counts"]["executed"] == 3
    rid = summary["run_id"]
    with store.read() as uow:
        run = repo.get_run(uow.conn, rid)
        steps = repo.run_steps(uow.conn, rid)
        events = uow.events.query(subject=f"run:{rid}")
    assert run is not None and run["status"] == "success"
    assert {s["node"] for s in steps} == {"norm", "use", "other"}
    kinds = [e.kind for e in events]
    assert kinds[0] == "run.started" and kinds[-1] == "run.finished"
    finished = [e.payload for e in events if e.kind == "step.finished"]
    assert len(finished) == 3
    assert set(finished[0]) >= {"node", "job", "matrix", "status", "cached", "duration_s"}
    assert _by_node(summary)["use"]["key"] and steps[0]["log_digest"]
    assert next(s for s in steps if s["node"] == "use")["outputs"] == {"size": "3"}


def test_second_run_is_fully_cached(store: Store, work: Path) -> None:
    """With nothing changed, a second run executes no step and reports what it saved, in
    run.finished and with no step row or step.finished of its own; its steps read as cached."""
    spec = _project(work, CHAIN, {"a.txt": "x y\n", "c.txt": "c\n"})
    _go(store, work, spec)
    again = _go(store, work, spec)
    assert again["counts"] == {
        "total": 3,
        "executed": 0,
        "cached": 3,
        "skipped": 0,
        "failed": 0,
        "cancelled": 0,
    }
    rid = again["run_id"]
    with store.read() as uow:
        events = uow.events.query(subject=f"run:{rid}")
        run = repo.get_run(uow.conn, rid)
        steps = repo.run_steps(uow.conn, rid)
        own = uow.conn.execute(
            select(func.count()).where(repo.pipeline_steps.c.run_id == rid)
        ).scalar()
    assert [e.kind for e in events] == ["run.started", "run.finished"]
    assert set(events[-1].payload["cached_steps"]) == {"norm", "use", "other"}
    assert run is not None and run["base_run"] == rid - 1 and own == 0
    assert {s["node"]: s["cached"] for s in steps} == {"norm": True, "use": True, "other": True}


def test_changed_input_reruns_only_steps_whose_content_changed(store: Store, work: Path) -> None:
    """Early cutoff: a step re-runs, but its dependant stays cached when its output is equal."""
    spec = _project(work, CHAIN, {"a.txt": "x y\n", "c.txt": "c\n"})
    _go(store, work, spec)
    (work / "a.txt").write_text("xy \n")  # other bytes, same normalised output
    third = _by_node(_go(store, work, spec))
    assert third["norm"]["cached"] is False
    assert third["use"]["cached"] is True and third["other"]["cached"] is True
    (work / "a.txt").write_text("xyz\n")  # now the output changes too
    fourth = _by_node(_go(store, work, spec))
    assert fourth["norm"]["cached"] is False and fourth["use"]["cached"] is False
    assert fourth["other"]["cached"] is True
    why = pipeline_history.why(store, "p", "use", ["use"])["steps"][0]
    assert why["state"] == "changed"
    assert any("input out/a.txt changed" in r for r in why["reasons"])


def test_failing_step_is_not_cached(store: Store, work: Path) -> None:
    """A step that exits non-zero is recorded as failed, not cached, and runs again next time."""
    spec = _project(
        work, "project: p\npipeline:\n  jobs:\n    bad: {run: 'echo oops; exit 3'}\n", {}
    )
    first = _go(store, work, spec)
    assert first["status"] == "failure"
    step = first["steps"][0]
    assert step["status"] == "failure" and "status 3" in step["reason"]
    with store.read() as uow:
        assert repo.cache_get(uow.conn, [step["key"]]) == {}
    again = _go(store, work, spec)
    assert again["counts"]["executed"] == 1 and again["counts"]["cached"] == 0
    log = pipeline_history.step_logs(store, first["run_id"], "bad")["logs"][0]["log"]
    assert "oops" in log


def test_step_missing_its_declared_output_fails_and_is_not_cached(store: Store, work: Path) -> None:
    """A step that exits 0 without producing a declared output fails and is not cached."""
    text = "project: p\npipeline:\n  jobs:\n    b: {run: 'true', outputs: [dist/*.zip]}\n"
    spec = _project(work, text, {})
    first = _go(store, work, spec)
    assert first["status"] == "failure" and "not produced" in first["steps"][0]["reason"]
    assert _go(store, work, spec)["counts"]["executed"] == 1


def test_outputs_are_restored_with_their_digest(store: Store, work: Path) -> None:
    """On a hit, a deleted output file comes back from the CAS with the same bytes."""
    spec = _project(work, CHAIN, {"a.txt": "x y\n", "c.txt": "c\n"})
    _go(store, work, spec)
    (work / "out" / "b.txt").unlink()
    (work / "out" / "a.txt").write_text("tampered\n")
    again = _go(store, work, spec)
    assert again["counts"]["executed"] == 0
    assert (work / "out" / "b.txt").read_text() == "xy\n"
    assert (work / "out" / "a.txt").read_text() == "xy\n"


def test_corrupted_blob_is_detected_and_the_step_runs_again(store: Store, work: Path) -> None:
    """A CAS blob whose bytes no longer match its digest is not restored; the step re-runs."""
    spec = _project(work, CHAIN, {"a.txt": "x y\n", "c.txt": "c\n"})
    _go(store, work, spec)
    with store.read() as uow:
        entry = next(e for e in repo.cache_entries(uow.conn) if "out/b.txt" in e["files"])
    found = pipeline.cas_of(store).locate(entry["files"]["out/b.txt"])
    assert found is not None
    blob, offset, size = found
    blob.chmod(0o644)
    with open(blob, "r+b") as fh:  # the same size, other bytes
        fh.seek(offset)
        fh.write(b"Z" * size)
    (work / "out" / "b.txt").unlink()
    again = _by_node(_go(store, work, spec))
    assert again["use"]["cached"] is False and "corrupted" in again["use"]["reason"]
    assert (work / "out" / "b.txt").read_text() == "xy\n"


MATRIX = """
project: p
pipeline:
  jobs:
    t:
      matrix: {v: [a, b]}
      run: echo "name=${{ matrix.v }}" >> $SHIPYARD_OUTPUT
    after:
      needs: [t]
      if: needs.t.outputs.name['v=b'] == 'b'
      run: echo ran
    never:
      needs: [t]
      if: needs.t.outputs.name['v=a'] == 'zzz'
      run: echo ran
"""


def test_matrix_outputs_are_kept_per_combination(store: Store, work: Path) -> None:
    """Each matrix combination keeps its own outputs, and conditions can read each one."""
    spec = _project(work, MATRIX, {})
    steps = _by_node(_go(store, work, spec))
    assert steps["after"]["status"] == "success"
    assert steps["never"]["status"] == "skipped"
    with store.read() as uow:
        rows = {s["node"]: s for s in repo.run_steps(uow.conn, 1)}
    assert rows["t[v=a]"]["outputs"] == {"name": "a"}
    assert rows["t[v=b]"]["outputs"] == {"name": "b"}


def test_secret_is_masked_in_the_stored_log(
    store: Store, work: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A declared secret reaches the step but its value, multi-line too, is masked in the log."""
    monkeypatch.setenv("API_KEY", "s3cr3t-value\nsecond-line")
    text = (
        "project: p\npipeline:\n  jobs:\n"
        "    s: {run: 'echo \"$API_KEY\"; echo x', secrets: [API_KEY]}\n"
    )
    spec = _project(work, text, {})
    summary = _go(store, work, spec)
    log = pipeline_history.step_logs(store, summary["run_id"], "s")["logs"][0]["log"]
    assert "s3cr3t" not in log and "second-line" not in log and "***" in log
    with store.read() as uow:
        payloads = [e.payload for e in uow.events.query()]
    assert "s3cr3t" not in json.dumps(payloads)


def test_sandbox_hides_undeclared_inputs(store: Store, work: Path) -> None:
    """In a sandbox only declared inputs exist, so reading an undeclared file fails the step."""
    text = (
        "project: p\npipeline:\n  jobs:\n"
        "    ok: {run: 'cat a.txt > copy.txt', inputs: [a.txt], outputs: [copy.txt],\n"
        "         sandbox: true}\n"
        "    bad: {run: 'cat b.txt', inputs: [a.txt], sandbox: true}\n"
    )
    spec = _project(work, text, {"a.txt": "A\n", "b.txt": "B\n"})
    steps = _by_node(_go(store, work, spec))
    assert steps["ok"]["status"] == "success" and (work / "copy.txt").read_text() == "A\n"
    assert steps["bad"]["status"] == "failure"


def test_retry_then_success_counts_the_attempt(store: Store, work: Path) -> None:
    """A step that fails once and then passes succeeds on attempt 2 and is cached."""
    text = (
        "project: p\npipeline:\n  jobs:\n    flaky:\n"
        "      run: 'if [ -f seen ]; then echo ok; else touch seen; exit 1; fi'\n"
        "      retries: {max: 2, backoff: 0}\n"
    )
    spec = _project(work, text, {})
    step = _go(store, work, spec)["steps"][0]
    assert step["status"] == "success" and step["attempt"] == 2


def test_rerun_failed_keeps_successes(store: Store, work: Path) -> None:
    """--rerun-failed carries over the earlier run's successes and runs only the rest."""
    text = (
        "project: p\npipeline:\n  jobs:\n    good: {run: 'echo g', cache: false}\n"
        "    bad: {run: 'test -f fixed', cache: false}\n"
    )
    spec = _project(work, text, {})
    first = _go(store, work, spec)
    assert first["status"] == "failure"
    (work / "fixed").write_text("")
    second = _by_node(_go(store, work, spec, rerun_failed=first["run_id"]))
    assert second["good"]["cached"] is True and second["bad"]["status"] == "success"
    assert second["bad"]["cached"] is False


def test_cache_gc_evicts_least_recently_used(store: Store, work: Path) -> None:
    """gc with a small limit deletes entries and their blobs; a later run executes again."""
    spec = _project(work, CHAIN, {"a.txt": "x y\n", "c.txt": "c\n"})
    _go(store, work, spec)
    before = pipeline_history.cache_stats(store)
    result = pipeline_history.cache_gc(store, 0)
    assert result["entries_evicted"] == before["entries"] and result["bytes_after"] == 0
    assert pipeline_history.cache_stats(store)["entries"] == 0
    assert _go(store, work, spec)["counts"]["executed"] == 3


def test_run_failure_keeps_the_results_of_other_steps(store: Store, work: Path) -> None:
    """A step whose input glob matches nothing fails; the others still run and are recorded."""
    text = (
        "project: p\npipeline:\n  jobs:\n    a: {run: 'echo a', inputs: ['nothing/*.c']}\n"
        "    b: {run: 'echo b'}\n    c: {needs: [a], run: 'echo c'}\n"
    )
    spec = _project(work, text, {})
    steps = _by_node(_go(store, work, spec))
    assert steps["a"]["status"] == "failure" and "matches no file" in steps["a"]["reason"]
    assert steps["b"]["status"] == "success" and steps["c"]["status"] == "skipped"
    with store.engine.connect() as conn:
        n = len(conn.execute(select(repo.pipeline_steps.c.node)).all())
    assert n == 3


def test_dependants_of_the_last_failure_are_recorded_as_skipped(store: Store, work: Path) -> None:
    """When the final step fails, the steps that needed it are still recorded, as skipped."""
    text = (
        "project: p\npipeline:\n  jobs:\n    a: {run: 'exit 1'}\n    b: {needs: [a], run: 'true'}\n"
    )
    spec = _project(work, text, {})
    summary = _go(store, work, spec)
    assert _by_node(summary)["b"]["status"] == "skipped"
    with store.read() as uow:
        kinds = [e.payload["node"] for e in uow.events.query(kind="step.finished")]
    assert kinds == ["a", "b"]


def test_continue_on_error_does_not_fail_the_run(store: Store, work: Path) -> None:
    """A failure under continue-on-error is recorded but the run and its dependants go on."""
    text = (
        "project: p\npipeline:\n  jobs:\n"
        "    a: {run: 'exit 1', continue-on-error: true}\n    b: {needs: [a], run: 'true'}\n"
    )
    summary = _go(store, work, _project(work, text, {}))
    steps = _by_node(summary)
    assert summary["status"] == "success"
    assert steps["a"]["status"] == "failure" and steps["b"]["status"] == "success"


def test_working_directory(store: Store, work: Path) -> None:
    """A step runs in its working-directory; one that does not exist fails with a hint."""
    text = (
        "project: p\npipeline:\n  jobs:\n"
        "    a: {run: 'pwd > here.txt', working-directory: sub}\n"
        "    b: {run: 'true', working-directory: missing}\n"
    )
    spec = _project(work, text, {"sub/keep": ""})
    steps = _by_node(_go(store, work, spec))
    assert steps["a"]["status"] == "success"
    assert (work / "sub" / "here.txt").read_text().strip() == str(work / "sub")
    assert steps["b"]["status"] == "failure" and "does not exist" in steps["b"]["reason"]
