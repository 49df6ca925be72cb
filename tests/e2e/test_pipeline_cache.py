"""The step cache as a user meets it: it is never wrong. A step is re-run when the files the
steps it needs wrote change, concurrent runs in one workspace cannot cache the wrong bytes, the
sandbox is part of the key, and a killed run does not stay `running`."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from tests import gitrepo
from tests.e2e.helpers import as_json, shipyard

GEN_USE = """project: p
pipeline:
  jobs:
    gen:
      run: tr a-z A-Z < in.txt > out/a.txt
      inputs: [in.txt]
      outputs: [out/a.txt]
    use:
      needs: [gen]
      run: wc -c < out/a.txt > out/b.txt
      outputs: [out/b.txt]
"""


def _repo(root: Path, spec: str = GEN_USE, files: dict[str, str] | None = None) -> Path:
    gitrepo.init(root)
    (root / "shipyard.yaml").write_text(spec)
    for name, text in (files or {"in.txt": "hello\n"}).items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    (root / ".gitignore").write_text(".shipyard/\nout/\n")
    gitrepo.git(root, "add", "-A")
    gitrepo.git(root, "commit", "-q", "-m", "start")
    return root


def _run(repo: Path, *args: str, env: dict[str, str] | None = None) -> dict[str, Any]:
    proc = shipyard("run", "--json", *args, cwd=repo, env=env)
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
    return dict(as_json(proc))


def _executed(summary: dict[str, Any]) -> list[str]:
    return sorted(s["node"] for s in summary["steps"] if not s["cached"])


def test_a_step_reruns_when_a_needed_step_writes_other_bytes(tmp_path: Path) -> None:
    """Changing what `gen` writes re-runs `use`, which reads it, and `why` names the file."""
    repo = _repo(tmp_path / "r")
    _run(repo)
    assert (repo / "out/b.txt").read_text().strip() == "6"
    (repo / "in.txt").write_text("hello world\n")
    assert _executed(_run(repo)) == ["gen", "use"]
    assert (repo / "out/b.txt").read_text().strip() == "12"
    why = shipyard("why", "use", "--json", cwd=repo)
    assert why.returncode == 0, why.stderr
    reasons = as_json(why)["steps"][0]["reasons"]
    assert reasons == ["needed job gen output file out/a.txt changed"]
    (repo / "in.txt").write_text("hello\n")  # back: both served from the cache
    assert _executed(_run(repo)) == []
    assert (repo / "out/b.txt").read_text().strip() == "6"


def test_the_same_bytes_from_a_needed_step_keep_the_cache(tmp_path: Path) -> None:
    """When `gen` runs again but writes the same bytes, `use` stays cached (early cutoff)."""
    repo = _repo(tmp_path / "r")
    _run(repo)
    (repo / "in.txt").write_text("HELLO\n")  # upper-cased anyway: out/a.txt is unchanged
    assert _executed(_run(repo)) == ["gen"]
    assert (repo / "out/b.txt").read_text().strip() == "6"


def test_a_hand_edited_output_is_put_back_before_its_dependants_are_keyed(tmp_path: Path) -> None:
    """An output of a needed step edited by hand is not vouched for by the up-to-date check:
    the cache puts it back and the dependant stays correct."""
    repo = _repo(tmp_path / "r")
    _run(repo)
    (repo / "out/a.txt").write_text("something else entirely\n")
    summary = _run(repo)
    assert all(s["reason"] != "up to date" for s in summary["steps"])
    assert _executed(summary) == []
    assert (repo / "out/a.txt").read_text() == "HELLO\n"
    assert (repo / "out/b.txt").read_text().strip() == "6"


def test_turning_the_sandbox_on_reruns_with_the_needed_outputs_copied_in(tmp_path: Path) -> None:
    """`sandbox: true` changes the key, and the sandbox holds the needed step's output files."""
    spec = GEN_USE.replace(
        "wc -c < out/a.txt > out/b.txt\n      outputs: [out/b.txt]",
        "wc -c < out/a.txt > out/b.txt && ls > out/ls.txt\n      outputs: [out/b.txt, out/ls.txt]",
    )
    repo = _repo(tmp_path / "r", spec)
    _run(repo)
    assert "shipyard.yaml" in (repo / "out/ls.txt").read_text()
    sandboxed = spec.replace("    use:\n", "    use:\n      sandbox: true\n")
    (repo / "shipyard.yaml").write_text(sandboxed)
    assert _executed(_run(repo)) == ["use"]
    assert (repo / "out/ls.txt").read_text() == "out\n"  # only what it may read
    assert (repo / "out/b.txt").read_text().strip() == "6"


def _leaves_spec(n: int) -> tuple[str, dict[str, str]]:
    """n leaf jobs that upper-case a file each, and one that joins them after a second."""
    jobs = [
        f"    leaf{i}:\n      run: tr a-z A-Z < src/{i}.txt > out/{i}.txt\n"
        f"      inputs: [src/{i}.txt]\n      outputs: [out/{i}.txt]\n"
        for i in range(n)
    ]
    needs = ", ".join(f"leaf{i}" for i in range(n))
    files = " ".join(f"out/{i}.txt" for i in range(n))
    jobs.append(
        f"    join:\n      needs: [{needs}]\n      run: sleep 1 && cat {files} > out/all.txt\n"
        "      outputs: [out/all.txt]\n"
    )
    sources = {f"src/{i}.txt": f"leaf number {i}\n" * 50 for i in range(n)}
    return "project: p\npipeline:\n  jobs:\n" + "".join(jobs), sources


def test_two_runs_at_once_wait_for_each_other_and_cache_only_right_bytes(tmp_path: Path) -> None:
    """A second `shipyard run` in the same workspace waits for the first and says so; after
    both, every file the cache restores is the bytes its step writes."""

    n = 30
    spec, sources = _leaves_spec(n)
    repo = _repo(tmp_path / "r", spec, sources)
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "shipyard", "run", "--plain", "-j", "2"],
            cwd=repo,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    results = [p.communicate(timeout=120) for p in procs]
    assert [p.returncode for p in procs] == [0, 0], results
    waited = [err for _, err in results if "is using this workspace; waiting" in err]
    assert len(waited) == 1, results
    expected = {f"{i}.txt": sources[f"src/{i}.txt"].upper() for i in range(n)}
    expected["all.txt"] = "".join(expected[f"{i}.txt"] for i in range(n))

    shutil.rmtree(repo / "out")
    summary = _run(repo)
    assert _executed(summary) == []
    restored = {p.name: p.read_text() for p in (repo / "out").iterdir()}
    assert restored == expected


SLOW = """project: p
pipeline:
  jobs:
    slow:
      run: echo up > started.txt && sleep 60 && echo done > out/s.txt
      outputs: [out/s.txt]
"""


def _killed_run(repo: Path, env: dict[str, str]) -> None:
    """Start `shipyard run`, wait for its step to start, and SIGKILL the run's process."""

    marker = repo / "started.txt"
    marker.unlink(missing_ok=True)
    proc = subprocess.Popen(
        [sys.executable, "-m", "shipyard", "run", "--plain"],
        cwd=repo,
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while not marker.is_file():
        assert proc.poll() is None and time.monotonic() < deadline, "the step never started"
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(10)


def _status(repo: Path, run_id: int, env: dict[str, str]) -> str:
    proc = shipyard("runs", "show", str(run_id), "--json", cwd=repo, env=env)
    assert proc.returncode == 0, proc.stderr
    return str(as_json(proc)["status"])


def test_a_killed_run_is_marked_abandoned(tmp_path: Path, database_url: str) -> None:
    """A run whose process was SIGKILLed is `abandoned`, not `running` forever: `runs` finds
    it, and so does the next run; on SQLite and PostgreSQL."""
    db = {"SHIPYARD_DATABASE_URL": database_url}
    repo = _repo(tmp_path / "r", SLOW, {"in.txt": "x\n"})
    _killed_run(repo, db)
    listed = shipyard("runs", "--json", cwd=repo, env=db)
    assert [r["status"] for r in as_json(listed)["runs"]] == ["abandoned"]
    _killed_run(repo, db)  # run 2
    (repo / "shipyard.yaml").write_text(SLOW.replace("sleep 60", "true"))
    assert _run(repo, env=db)["run_id"] == 3  # not kept waiting: the lock died with its holder
    # Run 3 holds the lock's record now, so only run 3 itself can have marked run 2.
    assert _status(repo, 2, db) == "abandoned"
    assert _status(repo, 3, db) == "success"
    events = shipyard("audit", "log", "--subject", "run:2", "--json", cwd=repo, env=db)
    finished = [e for e in as_json(events)["events"] if e["kind"] == "run.finished"]
    assert [e["payload"]["status"] for e in finished] == ["abandoned"]


def test_a_file_two_independent_steps_produce_is_cached_for_neither(tmp_path: Path) -> None:
    """Two steps that do not need each other and both claim a file fail with output-conflict
    and leave it out of the cache, since either could have written it."""
    spec = """project: p
pipeline:
  jobs:
    one:
      run: echo one > out/one.txt
      outputs: ["out/*.txt"]
    two:
      run: echo two > out/two.txt
      outputs: [out/two.txt]
    after:
      needs: [two]
      run: cat out/two.txt > out/after.txt
      outputs: ["out/*.txt"]
"""
    repo = _repo(tmp_path / "r", spec)
    (repo / "out").mkdir()
    (repo / "out/two.txt").write_text("left by an earlier build\n")
    proc = shipyard("run", "--json", "-j", "1", cwd=repo)
    assert proc.returncode == 1
    steps = {s["node"]: s for s in as_json(proc)["steps"]}
    failed = [n for n, s in steps.items() if s["status"] == "failure"]
    assert len(failed) == 1 and failed[0] in ("one", "two")
    assert "out/two.txt is also an output of" in steps[failed[0]]["reason"]
    assert steps["after"]["status"] in ("success", "skipped")  # its glob meets two's output
    log = shipyard("logs", str(as_json(proc)["run_id"]), failed[0], cwd=repo)
    assert "error[output-conflict]" in log.stdout
    again = as_json(shipyard("run", "--json", "-j", "1", cwd=repo))
    executed = {s["node"] for s in again["steps"] if s["status"] != "skipped" and not s["cached"]}
    assert {"one", "two"} <= executed  # neither was served from the cache
