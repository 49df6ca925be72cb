"""The process target with real processes: readiness, timeouts, SIGTERM then SIGKILL, no orphans."""

from __future__ import annotations

import os
import sys
import time
from pathlib import Path

import httpx
import pytest

from shipyard.adapters.targets.base import (
    Target,
    TargetConfigInvalid,
    TargetError,
    TargetExited,
    TargetNotReady,
)
from shipyard.adapters.targets.process import ProcessTarget, group_members
from tests.integration.routing import SAMPLE_APP

APP = f"{sys.executable} {SAMPLE_APP} --port {{port}}"


def gone(pid: int) -> bool:
    """True once ``pid`` no longer exists or is a zombie nobody of ours will reap."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    stat = Path(f"/proc/{pid}/stat").read_text()
    return stat.rsplit(")", 1)[1].split()[0] in ("Z", "X")


def script(tmp_path: Path, name: str, body: str) -> str:
    path = tmp_path / name
    path.write_text(body)
    return f"{sys.executable} {path} {{port}}"


def test_deploys_n_ready_instances_on_their_own_ports(tmp_path: Path) -> None:
    """Two instances start on distinct free ports, answer readiness, log to files, and stop."""
    target = ProcessTarget(APP, tmp_path / "logs")
    assert isinstance(target, Target)
    try:
        started = target.deploy("stable", "v1", 2)
        ready = target.wait_ready("stable")
        assert ready == started and len({i.port for i in ready}) == 2
        assert target.ready("stable") == 2
        for inst in ready:
            assert httpx.get(f"http://{inst.address}/").text == "checkout v1"
            assert inst.log is not None and Path(inst.log).exists()
    finally:
        target.close()
    assert all(i.pid is not None and gone(i.pid) for i in started)
    assert target.instances() == []


def test_redeploy_replaces_version_and_scales_by_count(tmp_path: Path) -> None:
    """A new version replaces the pool whole; the same version scales to the count given."""
    target = ProcessTarget(APP, tmp_path)
    try:
        old = target.deploy("canary", "v1", 1)
        target.wait_ready("canary")
        new = target.deploy("canary", "v2", 3)
        target.wait_ready("canary")
        assert {i.version for i in new} == {"v2"} and old[0].pid is not None and gone(old[0].pid)
        kept = target.deploy("canary", "v2", 1)
        assert kept == new[:1]
        assert all(i.pid is not None and gone(i.pid) for i in new[1:])
        target.stop("canary")
        assert target.instances("canary") == [] and gone(new[0].pid or 0)
    finally:
        target.close()


def test_instance_env_reaches_the_process(tmp_path: Path) -> None:
    """Environment given to deploy reaches the instance (FAIL_RATE=1 makes it answer 500)."""
    target = ProcessTarget(APP, tmp_path)
    try:
        (inst,) = target.deploy("bad", "v3", 1, {"FAIL_RATE": "1"})
        target.wait_ready("bad")
        assert httpx.get(f"http://{inst.address}/").status_code == 500
    finally:
        target.close()


def test_never_ready_times_out_and_leaves_nothing(tmp_path: Path) -> None:
    """An instance that never listens raises target-not-ready; stop leaves no process."""
    cmd = script(tmp_path, "mute.py", "import time\ntime.sleep(600)\n")
    target = ProcessTarget(cmd, tmp_path, ready_timeout=0.5, grace=1)
    (inst,) = target.deploy("stable", "v1", 1)
    with pytest.raises(TargetNotReady) as info:
        target.wait_ready("stable")
    assert info.value.code == "target-not-ready" and info.value.hint
    assert target.ready("stable") == 0
    target.stop("stable")
    assert inst.pid is not None and gone(inst.pid)


def test_instance_that_exits_reports_status_and_log(tmp_path: Path) -> None:
    """An instance that exits before it is ready raises target-exited with its log's end,
    secrets masked; ready() counts it as not ready and a redeploy replaces it."""
    body = "import os, sys\nprint('no database for', os.environ['DB_PASSWORD'], flush=True)\n"
    cmd = script(tmp_path, "crash.py", body + "sys.exit(3)\n")
    target = ProcessTarget(cmd, tmp_path, secrets=["hunter2"])
    (first,) = target.deploy("stable", "v1", 1, {"DB_PASSWORD": "hunter2"})
    with pytest.raises(TargetExited) as info:
        target.wait_ready("stable")
    message = info.value.message
    assert "status 3" in message and "no database for ***" in message and "hunter2" not in message
    assert target.ready("stable") == 0
    (second,) = target.deploy("stable", "v1", 1, {"DB_PASSWORD": "hunter2"})
    assert second.pid != first.pid
    target.close()


def test_instance_killed_by_a_signal_is_reported_by_the_signal_name(tmp_path: Path) -> None:
    """An instance killed by a signal before it is ready is reported by the signal's name,
    with a long log cut to its end."""
    body = "import os, signal\nprint('x' * 5000, flush=True)\nprint('the end', flush=True)\n"
    cmd = script(tmp_path, "killed.py", body + "os.kill(os.getpid(), signal.SIGKILL)\n")
    target = ProcessTarget(cmd, tmp_path)
    target.deploy("stable", "v1", 1)
    with pytest.raises(TargetExited) as info:
        target.wait_ready("stable")
    message = info.value.message
    assert "was killed by SIGKILL" in message and message.endswith("the end")
    assert len(message) < 1000
    target.close()


def test_sigterm_ignored_gets_sigkill_and_children_die_too(tmp_path: Path) -> None:
    """A process ignoring SIGTERM is killed after the grace period, with the child it spawned."""
    body = (
        "import signal, subprocess, sys, time\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "child = subprocess.Popen([sys.executable, '-c', 'import signal, time;"
        " signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(600)'])\n"
        f"open({str(tmp_path / 'child.pid')!r}, 'w').write(str(child.pid))\n"
        "time.sleep(600)\n"
    )
    target = ProcessTarget(script(tmp_path, "stubborn.py", body), tmp_path, grace=0.5)
    (inst,) = target.deploy("stable", "v1", 1)
    pid_file = tmp_path / "child.pid"
    while not pid_file.exists() or not pid_file.read_text():
        time.sleep(0.02)
    child = int(pid_file.read_text())
    assert inst.pid is not None and set(group_members(inst.pid)) == {inst.pid, child}
    target.stop("stable")
    assert gone(inst.pid) and gone(child)
    assert group_members(inst.pid) == []


def test_graceful_process_stops_on_sigterm(tmp_path: Path) -> None:
    """A process that handles SIGTERM stops within the grace period and runs its cleanup."""
    marker = tmp_path / "cleaned"
    body = (
        "import signal, sys, time\n"
        f"def bye(*a):\n    open({str(marker)!r}, 'w').close()\n    sys.exit(0)\n"
        "signal.signal(signal.SIGTERM, bye)\n"
        f"open({str(tmp_path / 'armed')!r}, 'w').close()\n"
        "time.sleep(600)\n"
    )
    target = ProcessTarget(script(tmp_path, "polite.py", body), tmp_path, grace=30)
    (inst,) = target.deploy("stable", "v1", 1)
    while not (tmp_path / "armed").exists():  # the handler is installed before the signal
        time.sleep(0.02)
    target.stop("stable")
    assert marker.exists() and inst.pid is not None and gone(inst.pid)


@pytest.mark.parametrize(
    ("command", "words"),
    [
        ("python -m app", "does not take a port"),
        ("python -m app --port {port} --x {nope}", "bad placeholder"),
        ("python -m app --port {port} {port", "bad placeholder"),
    ],
)
def test_bad_command_is_a_config_error(tmp_path: Path, command: str, words: str) -> None:
    """A command without {port} or with an unknown placeholder is refused up front."""
    with pytest.raises(TargetConfigInvalid) as info:
        ProcessTarget(command, tmp_path)
    assert words in info.value.message and info.value.hint


def test_bad_counts_and_missing_programs_are_errors(tmp_path: Path) -> None:
    """A negative count is a config error; a program that does not exist a target error."""
    target = ProcessTarget("/nonexistent/server --port {port}", tmp_path)
    with pytest.raises(TargetConfigInvalid):
        target.deploy("stable", "v1", -1)
    with pytest.raises(TargetError) as info:
        target.deploy("stable", "v1", 1)
    assert info.value.code == "target-failed" and "/nonexistent/server" in info.value.message
    with pytest.raises(TargetConfigInvalid):
        ProcessTarget(APP, tmp_path, readiness_path="healthz")
