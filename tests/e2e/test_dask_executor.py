"""`shipyard run --executor dask://...` on a real Dask cluster: a `dask scheduler` and two
`dask worker` processes on this machine, sharing no folder with the workspace."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.helpers import as_json, free_port, shipyard


def _start(args: list[str], env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [sys.executable, "-m", *args],
        env={**os.environ, **(env or {})},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _worker(address: str, name: str, *extra: str) -> subprocess.Popen[bytes]:
    return _start(
        [
            "distributed.cli.dask_worker",
            address,
            "--nthreads",
            "1",
            "--no-nanny",
            "--name",
            name,
            "--no-dashboard",
            *extra,
        ],
        env={"WORKER_ID": name},
    )


def _wait_for_workers(address: str, n: int) -> None:
    from distributed import Client

    with Client(address, timeout="20s", set_as_default=False) as client:
        client.wait_for_workers(n, timeout=60)


class Cluster:
    def __init__(self) -> None:
        port = free_port()
        self.address = f"tcp://127.0.0.1:{port}"
        self.url = f"dask://127.0.0.1:{port}"
        self.scheduler = _start(
            [
                "distributed.cli.dask_scheduler",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--no-dashboard",
            ]
        )
        self.workers = {
            "a": _worker(self.address, "a", "--resources", "gpu=1"),
            "b": _worker(self.address, "b"),
        }
        _wait_for_workers(self.address, 2)

    def replace(self, name: str) -> None:
        """Kill a worker and start another with the same name and resources."""
        old = self.workers[name]
        if old.poll() is None:
            old.kill()
        old.wait()
        extra = ["--resources", "gpu=1"] if name == "a" else []
        self.workers[name] = _worker(self.address, name, *extra)
        _wait_for_workers(self.address, 2)

    def stop(self) -> None:
        for proc in [*self.workers.values(), self.scheduler]:
            if proc.poll() is None:
                proc.terminate()
        for proc in [*self.workers.values(), self.scheduler]:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@pytest.fixture(scope="module")
def cluster() -> Iterator[Cluster]:
    c = Cluster()
    try:
        yield c
    finally:
        c.stop()


def _repo(root: Path, spec: str) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "src").mkdir(exist_ok=True)
    (root / "src" / "a.txt").write_text("made on a worker\n")
    (root / "shipyard.yaml").write_text(spec)
    return root


def _env(repo: Path) -> dict[str, str]:
    return {"SHIPYARD_HOME": str(repo / ".st")}


SPEC = """\
project: shop
pipeline:
  jobs:
    gen:
      run: tr a-z A-Z < src/a.txt > out/gen.txt && echo "where=$PWD" >> $SHIPYARD_OUTPUT
      inputs: [src/a.txt]
      outputs: [out/gen.txt]
    use:
      needs: [gen]
      run: cat out/gen.txt out/gen.txt > out/use.txt
      outputs: [out/use.txt]
    labelled:
      runs-on: [gpu]
      run: echo "worker=$WORKER_ID" >> $SHIPYARD_OUTPUT
"""


def test_steps_run_on_workers_and_their_files_come_back(cluster: Cluster, tmp_path: Path) -> None:
    """Each step runs on a Dask worker in a folder of its own: inputs and a needed step's output
    reach it by digest, its output files come back into the workspace and the cache, and a
    `runs-on` label sends a step only to the worker with that resource."""
    repo = _repo(tmp_path / "repo", SPEC)
    proc = shipyard("run", "--executor", cluster.url, "--json", cwd=repo, env=_env(repo))
    assert proc.returncode == 0, proc.stderr
    summary = json.loads(proc.stdout)
    assert summary["counts"]["executed"] == 3
    assert (repo / "out" / "use.txt").read_text() == "MADE ON A WORKER\n" * 2
    show = as_json(
        shipyard("runs", "show", str(summary["run_id"]), "--json", cwd=repo, env=_env(repo))
    )
    outputs = {s["node"]: s["outputs"] for s in show["steps"]}
    assert not outputs["gen"]["where"].startswith(str(repo))  # not the workspace
    assert outputs["labelled"] == {"worker": "a"}
    again = as_json(
        shipyard("run", "--executor", cluster.url, "--json", "gen", "use", cwd=repo, env=_env(repo))
    )
    assert again["counts"]["executed"] == 0 and again["counts"]["cached"] == 2


def _started(marks: Path, timeout: float = 30) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = sorted(marks.glob("started-*"))
        if found:
            return found[0].name.removeprefix("started-")
        time.sleep(0.05)
    raise AssertionError("the step never started")


def test_cancelling_the_run_stops_the_step_on_its_worker(cluster: Cluster, tmp_path: Path) -> None:
    """Ctrl-C on `shipyard run` reaches a step running on a worker: its process is killed
    there and the run is recorded cancelled."""
    marks = tmp_path / "marks"
    marks.mkdir()
    spec = f"""\
project: shop
pipeline:
  jobs:
    long:
      run: echo $$ > {marks}/started-$WORKER_ID && exec sleep 60
"""
    repo = _repo(tmp_path / "repo", spec)
    proc = subprocess.Popen(
        [sys.executable, "-m", "shipyard", "run", "--executor", cluster.url, "--json"],
        cwd=repo,
        env={**os.environ, **_env(repo)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    worker = _started(marks)
    pid = int((marks / f"started-{worker}").read_text())
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=30)
    assert proc.returncode == 130
    assert json.loads(out)["status"] == "cancelled"
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_a_scheduler_that_does_not_answer_is_refused_before_anything_is_recorded(
    tmp_path: Path,
) -> None:
    """--executor naming a scheduler that is not there fails with executor-unreachable and a
    hint, and records no run."""
    repo = _repo(tmp_path / "repo", SPEC)
    proc = shipyard(
        "run", "--executor", f"dask://127.0.0.1:{free_port()}", cwd=repo, env=_env(repo)
    )
    assert proc.returncode != 0 and "error[executor-unreachable]" in proc.stderr
    assert "hint:" in proc.stderr
    assert as_json(shipyard("runs", "--json", cwd=repo, env=_env(repo)))["runs"] == []


def test_a_worker_killed_mid_step_is_retried_on_another(cluster: Cluster, tmp_path: Path) -> None:
    """A worker killed while it runs a step: Dask runs the step again on the other worker and
    the run succeeds with its output."""
    marks = tmp_path / "marks"
    marks.mkdir()
    spec = f"""\
project: shop
pipeline:
  jobs:
    slow:
      run: touch {marks}/started-$WORKER_ID && sleep 2 && echo "$WORKER_ID" > out/slow.txt
      outputs: [out/slow.txt]
"""
    repo = _repo(tmp_path / "repo", spec)
    proc = subprocess.Popen(
        [sys.executable, "-m", "shipyard", "run", "--executor", cluster.url, "--json"],
        cwd=repo,
        env={**os.environ, **_env(repo)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    first = _started(marks)
    cluster.workers[first].kill()
    out, err = proc.communicate(timeout=120)
    assert proc.returncode == 0, err
    summary = json.loads(out)
    assert summary["status"] == "success"
    survivor = (repo / "out" / "slow.txt").read_text().strip()
    assert survivor != first
    cluster.replace(first)


def test_a_scheduler_dying_mid_run_fails_the_run_cleanly(cluster: Cluster, tmp_path: Path) -> None:
    """When the scheduler dies while a step runs, the run ends `failure` with that reason on
    the step, recorded as finished: nothing is left `running`. (Last: it ends the cluster.)"""
    marks = tmp_path / "marks"
    marks.mkdir()
    spec = f"""\
project: shop
pipeline:
  jobs:
    slow:
      run: touch {marks}/started-$WORKER_ID && sleep 20
"""
    repo = _repo(tmp_path / "repo", spec)
    proc = subprocess.Popen(
        [sys.executable, "-m", "shipyard", "run", "--executor", cluster.url, "--json"],
        cwd=repo,
        env={**os.environ, **_env(repo)},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    _started(marks)
    cluster.scheduler.kill()
    out, _ = proc.communicate(timeout=120)
    assert proc.returncode == 1
    summary = json.loads(out)
    assert summary["status"] == "failure"
    assert "went away" in summary["steps"][0]["reason"]
    runs = as_json(shipyard("runs", "--json", cwd=repo, env=_env(repo)))["runs"]
    assert [r["status"] for r in runs] == ["failure"]
