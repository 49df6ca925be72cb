"""The incremental path: after an edit, only the steps that read the changed files (and those
below them whose inputs changed) are keyed again, with the same keys, outputs and records as
the full path would give."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from tests.e2e.helpers import as_json, shipyard
from tests.procs import alive

SPEC = """project: p
pipeline:
  jobs:
    gen:
      run: grep -qv broken src/a.txt && tr a-z A-Z < src/a.txt > out/a.txt
      inputs: [src/a.txt]
      outputs: [out/a.txt]
    other:
      run: cat src/b.txt > out/b.txt
      inputs: [src/b.txt]
      outputs: [out/b.txt]
    pack:
      needs: [gen, other]
      run: cat out/a.txt out/b.txt > out/pack.txt && echo "lines=2" >> $SHIPYARD_OUTPUT
      outputs: [out/pack.txt]
    final:
      needs: [pack]
      run: wc -c < out/pack.txt > out/final.txt
      outputs: [out/final.txt]
"""


def _repo(root: Path) -> Path:
    (root / "src").mkdir(parents=True)
    (root / "src/a.txt").write_text("alpha\n")
    (root / "src/b.txt").write_text("beta\n")
    (root / "shipyard.yaml").write_text(SPEC)
    return root


def _run(repo: Path, ok: bool = True, env: dict[str, str] | None = None) -> dict[str, Any]:
    proc = shipyard("run", "--json", "-j", "2", cwd=repo, env=env)
    assert (proc.returncode == 0) is ok, proc.stderr
    return dict(as_json(proc))


def _age(repo: Path) -> None:
    """Back-date every file so its stat is trusted, as it is for anything not written now."""
    for p in [*repo.glob("src/*"), *repo.glob("out/*")]:
        st = p.stat()
        os.utime(p, ns=(st.st_atime_ns, st.st_mtime_ns - 5 * 10**9))


def _settled(tmp_path: Path, env: dict[str, str] | None = None) -> Path:
    repo = _repo(tmp_path / "repo")
    _run(repo, env=env)
    _age(repo)
    assert _run(repo, env=env)["counts"]["executed"] == 0  # the stamp now trusts every stat
    return repo


def _ran(summary: dict[str, Any]) -> list[str]:
    return [s["node"] for s in summary["steps"] if s["status"] == "success" and not s["cached"]]


def _keys(summary: dict[str, Any]) -> dict[str, str]:
    return {s["node"]: s["key"] for s in summary["steps"]}


def _full_path_keys(repo: Path, env: dict[str, str] | None = None) -> dict[str, Any]:
    """The same workspace run the full way (no stamp): what every key should be."""
    (repo / ".shipyard/uptodate.stamp").unlink()
    return _run(repo, env=env)


def test_an_edit_rekeys_only_the_affected_steps_as_the_full_path_would(
    tmp_path: Path, database_url: str
) -> None:
    """Changing one input runs the step reading it and those below it, leaves the other step
    up to date, and gives every step the key the full path gives it (which then runs
    nothing); on SQLite and PostgreSQL."""
    env = {"SHIPYARD_DATABASE_URL": database_url}
    repo = _settled(tmp_path, env)
    (repo / "src/a.txt").write_text("alpha two\n")
    summary = _run(repo, env=env)
    assert _ran(summary) == ["gen", "pack", "final"]
    assert {s["node"]: s["reason"] for s in summary["steps"]}["other"] == "up to date"
    assert (repo / "out/pack.txt").read_text() == "ALPHA TWO\nbeta\n"
    assert (repo / "out/final.txt").read_text().strip() == "15"
    shown = as_json(shipyard("runs", "show", str(summary["run_id"]), "--json", cwd=repo, env=env))
    assert {s["node"]: s["status"] for s in shown["steps"]} == dict.fromkeys(
        ["gen", "other", "pack", "final"], "success"
    )
    assert {s["node"]: s["outputs"] for s in shown["steps"]}["pack"] == {"lines": "2"}
    full = _full_path_keys(repo, env)
    assert full["counts"]["executed"] == 0 and _keys(full) == _keys(summary)


def test_the_same_bytes_downstream_stop_the_walk(tmp_path: Path) -> None:
    """An edit that leaves a step's output the same (early cutoff) runs only that step."""
    repo = _settled(tmp_path)
    (repo / "src/a.txt").write_text("ALPHA\n")  # upper-cased: the same out/a.txt
    summary = _run(repo)
    assert _ran(summary) == ["gen"]
    assert _keys(_full_path_keys(repo)) == _keys(summary)


def test_an_edit_undone_is_served_from_the_cache(tmp_path: Path) -> None:
    """Going back to content built before restores every step from the cache: none runs."""
    repo = _settled(tmp_path)
    (repo / "src/a.txt").write_text("alpha two\n")
    _run(repo)
    _age(repo)
    (repo / "src/a.txt").write_text("alpha\n")
    summary = _run(repo)
    assert _ran(summary) == [] and summary["counts"]["cached"] == 4
    assert (repo / "out/pack.txt").read_text() == "ALPHA\nbeta\n"
    assert _keys(_full_path_keys(repo)) == _keys(summary)


def test_a_step_failing_on_the_incremental_path_is_recorded_as_the_full_path_would(
    tmp_path: Path,
) -> None:
    """A step that fails after an edit fails the run, skips what needs it with the reason,
    leaves no stamp, and the next run after the fix runs what it must."""
    repo = _settled(tmp_path)
    (repo / "src/a.txt").write_text("broken\n")
    summary = _run(repo, ok=False)
    steps = {s["node"]: s for s in summary["steps"]}
    assert summary["status"] == "failure" and steps["gen"]["status"] == "failure"
    assert steps["pack"]["status"] == "skipped"
    assert steps["pack"]["reason"] == "needed job 'gen' failed"
    assert steps["final"]["status"] == "skipped" and steps["other"]["status"] == "success"
    assert not (repo / ".shipyard/uptodate.stamp").exists()
    shown = as_json(shipyard("runs", "show", str(summary["run_id"]), "--json", cwd=repo))
    assert shown["status"] == "failure"
    assert {s["node"]: s["status"] for s in shown["steps"]}["final"] == "skipped"
    (repo / "src/a.txt").write_text("alpha three\n")
    fixed = _run(repo)
    assert _ran(fixed) == ["gen", "pack", "final"]


def test_a_step_ends_with_its_process_not_with_what_it_left_running(tmp_path: Path) -> None:
    """A step that leaves a process in the background holding its output open ends when its
    own process does, on the incremental path as on the full one, and the straggler is killed."""
    repo = tmp_path / "repo"
    (repo / "src").mkdir(parents=True)
    (repo / "src/a.txt").write_text("alpha\n")
    (repo / "shipyard.yaml").write_text(
        "project: p\npipeline:\n  jobs:\n    gen:\n"
        "      run: (sleep 120 & echo $! > sleeper.pid) && tr a-z A-Z < src/a.txt > out/a.txt\n"
        "      timeout: 60s\n      inputs: [src/a.txt]\n      outputs: [out/a.txt]\n"
    )
    _run(repo)
    _age(repo)
    assert _run(repo)["counts"]["executed"] == 0
    (repo / "src/a.txt").write_text("alpha two\n")
    summary = _run(repo)
    assert _ran(summary) == ["gen"] and summary["duration_s"] < 30
    assert (repo / "out/a.txt").read_text() == "ALPHA TWO\n"
    sleeper = int((repo / "sleeper.pid").read_text())
    assert not alive(sleeper)
