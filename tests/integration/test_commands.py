"""Commands run to their end on this host (``adapters/commands.py``): what they write, their
timeouts, and that a command has ended when its own process has, whatever it left running."""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

import pytest

from shipyard.adapters.commands import ShellCommands, run_once
from tests.procs import alive

ENV = {"PATH": os.environ["PATH"]}
# A background process that keeps the command's output open for two minutes.
STRAGGLER = "sleep 120 & echo $! > pid; "


def _gone(pid: int) -> None:
    os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while alive(pid):
        assert time.monotonic() < deadline
        time.sleep(0.02)


def test_a_shell_command_keeps_its_streams_apart_or_merged(tmp_path: Path) -> None:
    line = "echo out; echo err >&2; echo out2; exit 3"
    ran = ShellCommands().run(line, cwd=tmp_path, env=ENV, timeout=10)
    assert (ran.status, ran.stdout, ran.stderr, ran.timed_out) == (
        3,
        b"out\nout2\n",
        b"err\n",
        False,
    )
    merged = ShellCommands().run(line, cwd=tmp_path, env=ENV, timeout=10, merge=True)
    assert (merged.stdout, merged.stderr) == (b"out\nerr\nout2\n", b"")


def test_a_shell_command_past_its_timeout_is_killed_with_what_it_started(tmp_path: Path) -> None:
    ran = ShellCommands().run(
        "sleep 120 & echo $! > pid; echo waiting; wait", cwd=tmp_path, env=ENV, timeout=0.5
    )
    assert ran.timed_out and ran.status == -signal.SIGKILL and ran.stdout == b"waiting\n"
    pid = int((tmp_path / "pid").read_text())
    deadline = time.monotonic() + 10
    while alive(pid):
        assert time.monotonic() < deadline, "the command's background process outlived it"
        time.sleep(0.02)


@pytest.mark.parametrize("merge", [False, True])
def test_a_shell_command_ends_with_its_process(tmp_path: Path, merge: bool) -> None:
    """A hook or gate command that starts something in the background and exits has ended:
    it is not held up until its timeout by the background process holding its output."""
    started = time.monotonic()
    ran = ShellCommands().run(
        STRAGGLER + "echo done", cwd=tmp_path, env=ENV, timeout=60, merge=merge
    )
    assert (ran.status, ran.stdout, ran.timed_out) == (0, b"done\n", False)
    assert time.monotonic() - started < 30
    _gone(int((tmp_path / "pid").read_text()))


def test_run_once_keeps_both_streams_in_order_and_ends_with_its_process(tmp_path: Path) -> None:
    started = time.monotonic()
    ran = run_once(
        ["/bin/sh", "-c", STRAGGLER + "echo one; echo two >&2; exit 4"],
        cwd=tmp_path,
        env=ENV,
        timeout=60,
    )
    assert (ran.status, ran.stdout, ran.stderr) == (4, b"one\ntwo\n", b"")
    assert time.monotonic() - started < 30
    _gone(int((tmp_path / "pid").read_text()))


def test_run_once_streams_to_an_output_and_times_out(tmp_path: Path) -> None:
    with open(tmp_path / "log", "w+b") as log:
        ran = run_once(
            ["/bin/sh", "-c", "echo hi; echo there >&2"],
            cwd=tmp_path,
            env=ENV,
            timeout=10,
            output=log,
        )
    assert ran.status == 0 and ran.stdout == b""
    assert (tmp_path / "log").read_bytes() == b"hi\nthere\n"
    with pytest.raises(TimeoutError):
        run_once(
            [sys.executable, "-c", "import time; time.sleep(60)"],
            cwd=tmp_path,
            env=ENV,
            timeout=0.3,
        )
