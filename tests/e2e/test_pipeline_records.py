"""What runs leave in the store, as a user reads it back: a run served from the cache records
no step rows or events of its own yet reads back whole, and old runs' step rows can be pruned."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tests import gitrepo
from tests.e2e.helpers import as_json, shipyard

LEAVES = 20


def _spec(extra: str = "") -> str:
    """Leaves the cache serves, and one job with `cache: false`, which keeps every run on the
    full path (the up-to-date check never vouches for it)."""
    jobs = "".join(
        f"    leaf{i}:\n      run: tr a-z A-Z < src/{i}.txt > out/{i}.txt\n"
        f"      inputs: [src/{i}.txt]\n      outputs: [out/{i}.txt]\n"
        for i in range(LEAVES)
    )
    jobs += "    stamp:\n      run: date > out/when.txt\n      cache: false\n"
    return "project: p\npipeline:\n  jobs:\n" + jobs + extra


def _repo(root: Path) -> Path:
    gitrepo.init(root)
    (root / "src").mkdir()
    for i in range(LEAVES):
        (root / f"src/{i}.txt").write_text(f"leaf {i}\n")
    (root / "shipyard.yaml").write_text(_spec())
    (root / ".gitignore").write_text(".shipyard/\nout/\n")
    gitrepo.git(root, "add", "-A")
    gitrepo.git(root, "commit", "-q", "-m", "start")
    return root


def _json(repo: Path, *args: str) -> Any:
    proc = shipyard(*args, "--json", cwd=repo)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    return as_json(proc)


def test_cached_steps_are_summarised_and_still_read_back(tmp_path: Path) -> None:
    """A run whose steps the cache served appends run.started, the one step that ran and
    run.finished; `runs show`, `why` and `metrics builds` still see every cached step."""
    repo = _repo(tmp_path / "r")
    _json(repo, "run")
    second = _json(repo, "run")
    assert second["counts"]["cached"] == LEAVES and second["counts"]["executed"] == 1
    events = _json(repo, "audit", "log", "--subject", f"run:{second['run_id']}")["events"]
    kinds = [e["kind"] for e in events]
    assert kinds == ["run.started", "step.finished", "run.finished"]
    assert events[1]["payload"]["node"] == "stamp"
    assert len(events[2]["payload"]["cached_steps"]) == LEAVES
    shown = _json(repo, "runs", "show", str(second["run_id"]))["steps"]
    assert sorted(s["node"] for s in shown if s["cached"]) == sorted(
        f"leaf{i}" for i in range(LEAVES)
    )
    assert all(s["key"] for s in shown)
    listed = _json(repo, "runs")["runs"][0]["counts"]
    assert listed == {"cached": LEAVES, "success": 1}
    why = _json(repo, "why", "leaf3")["steps"][0]
    assert why["state"] == "unchanged" and why["run_id"] == second["run_id"]
    jobs = {j["job"]: j for j in _json(repo, "metrics", "builds")["jobs"]}
    assert (jobs["leaf3"]["cache_hits"], jobs["leaf3"]["cache_lookups"]) == (1, 2)
    assert jobs["leaf3"]["runs"] == 2
    logs = shipyard("logs", str(second["run_id"]), "leaf3", cwd=repo)
    assert logs.returncode == 0, logs.stderr


def test_old_runs_step_rows_are_pruned_and_say_so(tmp_path: Path) -> None:
    """`cache gc --keep-runs 1` deletes the step rows of runs the newest no longer needs; the
    runs stay listed, and reading their steps answers run-pruned."""
    repo = _repo(tmp_path / "r")
    _json(repo, "run")  # run 1
    (repo / "shipyard.yaml").write_text(_spec("    more:\n      run: 'true'\n"))
    _json(repo, "run")  # run 2: another graph, so every step has a row
    _json(repo, "run")  # run 3: recorded against run 2
    refused = shipyard("cache", "gc", cwd=repo)
    assert refused.returncode == 2 and "error[usage]" in refused.stderr
    pruned = _json(repo, "cache", "gc", "--keep-runs", "1")
    assert pruned["runs_pruned"] == 1 and pruned["step_rows_deleted"] == LEAVES + 1
    assert [r["id"] for r in _json(repo, "runs")["runs"]] == [3, 2, 1]
    old = _json(repo, "runs", "show", "1")
    assert old["status"] == "success" and old["pruned_at"] and old["steps"] == []
    logs = shipyard("logs", "1", "leaf0", cwd=repo)
    assert logs.returncode != 0 and "error[run-pruned]" in logs.stderr
    rerun = shipyard("run", "--rerun-failed", "1", cwd=repo)
    assert rerun.returncode != 0 and "error[run-pruned]" in rerun.stderr
    kept = _json(repo, "runs", "show", "3")["steps"]
    assert len(kept) == LEAVES + 2 and all(s["cached"] for s in kept if s["node"] != "stamp")
    assert shipyard("logs", "3", "leaf0", cwd=repo).returncode == 0
