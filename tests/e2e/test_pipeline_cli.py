"""`shipyard run` and friends as a user runs them: exit codes, errors, logs, no orphans."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.e2e.helpers import as_json, shipyard
from tests.procs import alive


def _repo(root: Path, jobs: str, files: dict[str, str] | None = None) -> Path:
    (root / "shipyard.yaml").write_text(f"project: p\npipeline:\n  jobs:\n{jobs}")
    for name, text in (files or {}).items():
        (root / name).write_text(text)
    return root


def _wait_for(path: Path, timeout: float = 30) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if path.is_file() and path.read_text().strip():
            return path.read_text().strip()
        time.sleep(0.05)
    raise AssertionError(f"{path} never appeared")


@pytest.mark.parametrize(
    ("jobs", "code", "text"),
    [
        (
            "    a: {run: x, needs: [b]}\n    b: {run: x, needs: [a]}\n",
            "pipeline-cycle",
            "a -> b -> a",
        ),
        ("    a: {run: x, needs: [bb]}\n    b: {run: x}\n", "spec-unknown-reference", "'bb'"),
        (
            "    m: {run: x, matrix: {a: [1,2,3,4,5,6,7,8,9], b: [1,2,3,4,5,6,7,8,9], "
            "c: [1,2,3,4]}}\n",
            "matrix-too-large",
            "324 combinations",
        ),
        ('    a: {run: x, if: "success() &&"}\n', "expression-invalid", "job 'a'"),
    ],
)
def test_bad_pipeline_is_refused_before_anything_runs(
    tmp_path: Path, jobs: str, code: str, text: str
) -> None:
    """A cycle, an unknown need, a matrix over 256 or a bad `if` exit 2 with code and hint."""
    repo = _repo(tmp_path, jobs)
    proc = shipyard("run", "--json", cwd=repo)
    assert proc.returncode == 2, proc.stderr
    err = as_json(proc)["error"]
    assert err["code"] == code and text in err["message"] and err["hint"]
    runs = as_json(shipyard("runs", "--json", cwd=repo))
    assert runs["runs"] == []


def test_bad_if_names_the_column(tmp_path: Path) -> None:
    """An `if` that does not parse reports the column of the problem."""
    repo = _repo(tmp_path, '    a: {run: x, if: "success() && =="}\n')
    err = as_json(shipyard("run", "--json", cwd=repo))["error"]
    assert err["details"]["column"] == 14 and err["details"]["expression"] == "success() && =="


def test_json_summary_counts_and_keys(tmp_path: Path) -> None:
    """--json prints counts of executed/cached/skipped/failed and each step's key and duration."""
    repo = _repo(
        tmp_path,
        "    a: {run: 'echo a', inputs: [a.txt]}\n    b: {needs: [a], run: 'echo b'}\n"
        "    c: {needs: [a], if: failure(), run: 'echo c'}\n",
        {"a.txt": "1"},
    )
    first = as_json(shipyard("run", "--json", "-j", "2", cwd=repo))
    assert first["counts"]["executed"] == 2 and first["counts"]["skipped"] == 1
    assert all(len(s["key"]) == 64 for s in first["steps"] if s["status"] == "success")
    assert all("duration_s" in s for s in first["steps"])
    second = as_json(shipyard("run", "--json", cwd=repo))
    assert second["counts"]["cached"] == 2 and second["counts"]["executed"] == 0
    assert second["cache_hit_rate"] == 1.0


def test_failing_step_exits_nonzero_with_its_log(tmp_path: Path) -> None:
    """A step that exits non-zero fails the run (exit 1); `shipyard logs` shows its output."""
    repo = _repo(tmp_path, "    bad: {run: 'echo to-stderr >&2; exit 4'}\n    ok: {run: 'true'}\n")
    proc = shipyard("run", "--plain", cwd=repo)
    assert proc.returncode == 1
    assert "error[run-failed]" in proc.stderr and "shipyard logs 1" in proc.stderr
    assert "bad: FAILED" in proc.stdout and "ok: ok" in proc.stdout
    logs = shipyard("logs", "1", "bad", cwd=repo)
    assert logs.returncode == 0 and "to-stderr" in logs.stdout
    shown = as_json(shipyard("runs", "show", "1", "--json", cwd=repo))
    assert {s["node"]: s["status"] for s in shown["steps"]} == {"bad": "failure", "ok": "success"}


def test_glob_matching_nothing_fails_the_step_with_a_clear_message(tmp_path: Path) -> None:
    """An input glob that matches nothing fails that step and says which pattern."""
    repo = _repo(tmp_path, "    a: {run: 'true', inputs: ['src/**/*.rs']}\n")
    proc = shipyard("run", "--plain", cwd=repo)
    assert proc.returncode == 1 and "'src/**/*.rs' matches no file" in proc.stdout
    assert "glob-matches-nothing" in shipyard("logs", "1", "a", cwd=repo).stdout


def test_missing_tool_fails_the_step(tmp_path: Path) -> None:
    """A tool in `tools` that is not installed fails the step with a hint."""
    repo = _repo(tmp_path, "    a: {run: 'true', tools: [no-such-tool-xyz, bash]}\n")
    proc = shipyard("run", "--json", cwd=repo)
    assert proc.returncode == 1
    step = as_json(proc)["steps"][0]
    assert "'no-such-tool-xyz' is not installed" in step["reason"]


def test_tool_version_enters_the_key(tmp_path: Path) -> None:
    """`why` names the tool when a job starts to depend on one."""
    repo = _repo(tmp_path, "    a: {run: 'true'}\n")
    shipyard("run", cwd=repo)
    _repo(tmp_path, "    a: {run: 'true', tools: [bash]}\n")
    shipyard("run", cwd=repo)
    why = as_json(shipyard("why", "a", "--json", cwd=repo))
    assert any(r.startswith("new tool bash") for r in why["steps"][0]["reasons"])


def test_timeout_kills_the_whole_process_group(tmp_path: Path) -> None:
    """A step over its timeout fails, and the background process it started is gone too."""
    repo = _repo(
        tmp_path, "    slow: {run: 'sleep 300 & echo $! > bg.pid; sleep 300', timeout: 1s}\n"
    )
    proc = shipyard("run", "--json", cwd=repo, timeout=60)
    assert proc.returncode == 1
    step = as_json(proc)["steps"][0]
    assert step["status"] == "failure" and "timed out after 1s" in step["reason"]
    assert not alive(int((repo / "bg.pid").read_text()))


def test_background_process_does_not_outlive_its_step(tmp_path: Path) -> None:
    """A step that exits leaving a child behind has that child killed: no orphan."""
    repo = _repo(tmp_path, "    a: {run: 'sleep 300 & echo $! > bg.pid'}\n")
    assert shipyard("run", cwd=repo).returncode == 0
    assert not alive(int((repo / "bg.pid").read_text()))


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_interrupt_cancels_the_run_and_kills_steps(tmp_path: Path, sig: signal.Signals) -> None:
    """Ctrl-C (or SIGTERM) stops running steps' process groups, records the run, exits 130."""
    repo = _repo(
        tmp_path,
        "    slow: {run: 'sleep 300 & echo $! > bg.pid; sleep 300'}\n"
        "    after: {needs: [slow], run: 'true'}\n",
    )
    proc = subprocess.Popen(
        [sys.executable, "-m", "shipyard.cli.main", "run", "--plain"],
        cwd=repo,
        env={**os.environ},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    bg = int(_wait_for(repo / "bg.pid"))
    proc.send_signal(sig)
    _out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "interrupted" in err
    assert not alive(bg)
    shown = as_json(shipyard("runs", "show", "1", "--json", cwd=repo))
    assert shown["status"] == "cancelled"
    assert {s["node"]: s["status"] for s in shown["steps"]} == {
        "slow": "cancelled",
        "after": "cancelled",
    }


def test_short_secret_is_refused_before_the_run(tmp_path: Path) -> None:
    """A declared secret shorter than 4 characters stops the run with a hint; nothing runs."""
    repo = _repo(tmp_path, "    a: {run: 'true', secrets: [PIN]}\n")
    proc = shipyard("run", cwd=repo, env={"PIN": "123"})
    assert proc.returncode == 2 and "error[secret-too-short]" in proc.stderr
    assert "hint:" in proc.stderr


def test_unknown_job_and_run_are_not_found(tmp_path: Path) -> None:
    """Asking for a job or a run that does not exist says so with a suggestion."""
    repo = _repo(tmp_path, "    lint: {run: 'true'}\n")
    proc = shipyard("run", "lnt", cwd=repo)
    assert proc.returncode == 2 and "did you mean 'lint'" in proc.stderr
    proc = shipyard("runs", "show", "9", cwd=repo)
    assert proc.returncode == 6 and "error[run-not-found]" in proc.stderr
    assert shipyard("cache", "gc", "--max-size", "lots", cwd=repo).returncode == 2


def test_cache_commands(tmp_path: Path) -> None:
    """`cache stats` counts entries and `cache gc --max-size 0` empties the cache."""
    repo = _repo(tmp_path, "    a: {run: 'echo hi'}\n")
    shipyard("run", cwd=repo)
    assert as_json(shipyard("cache", "stats", "--json", cwd=repo))["entries"] == 1
    gc = as_json(shipyard("cache", "gc", "--max-size", "0", "--json", cwd=repo))
    assert gc["entries_evicted"] == 1
    assert as_json(shipyard("cache", "stats", "--json", cwd=repo))["entries"] == 0
    listed = as_json(shipyard("runs", "--json", cwd=repo))["runs"]
    assert json.dumps(listed) and listed[0]["status"] == "success"


def test_max_combinations_admits_a_larger_matrix(tmp_path: Path) -> None:
    """`max-combinations` raises the 256 limit, so a 324-combination matrix runs every one."""
    jobs = (
        "    m:\n      run: 'true'\n      max-combinations: 400\n"
        "      matrix: {a: [1,2,3,4,5,6,7,8,9], b: [1,2,3,4,5,6,7,8,9], c: [1,2,3,4]}\n"
    )
    repo = _repo(tmp_path, jobs)
    proc = shipyard("run", "--json", "-j", "2", cwd=repo, timeout=600)
    assert proc.returncode == 0, proc.stderr
    summary = as_json(proc)
    assert summary["counts"]["executed"] == 324


def test_output_folders_exist_before_the_step_runs(tmp_path: Path) -> None:
    """A step may write its declared outputs straight into folders that do not exist yet."""
    repo = _repo(
        tmp_path,
        "    a: {run: 'echo hi > build/deep/a.txt', outputs: [build/deep/a.txt]}\n"
        "    b: {run: 'echo x > gen/one.o', outputs: ['gen/*.o']}\n",
    )
    proc = shipyard("run", "--json", cwd=repo)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert (repo / "build/deep/a.txt").read_text() == "hi\n"
    assert (repo / "gen/one.o").read_text() == "x\n"


def test_shipyard_shell_bash_keeps_a_plain_command_on_bash(tmp_path: Path) -> None:
    """A plain list of programs runs under /bin/sh; with SHIPYARD_SHELL=bash (here in a job's
    env) the same list runs under bash."""
    jobs = (
        "    plain: {run: './parent.sh plain ; /bin/true', outputs: [plain.txt]}\n"
        "    forced:\n"
        "      run: './parent.sh forced ; /bin/true'\n"
        "      env: {SHIPYARD_SHELL: bash}\n"
        "      outputs: [forced.txt]\n"
    )
    repo = _repo(tmp_path, jobs, {"parent.sh": '#!/bin/sh\ncat /proc/$PPID/comm > "$1.txt"\n'})
    (repo / "parent.sh").chmod(0o755)
    proc = shipyard("run", cwd=repo)
    assert proc.returncode == 0, proc.stderr
    assert (repo / "plain.txt").read_text().strip() in ("sh", "dash")
    assert (repo / "forced.txt").read_text().strip() == "bash"
