"""One pipeline run at a time in a workspace: ``flock(2)`` on ``run.lock`` in the state folder.

Two runs at once in one workspace write the same output files: one run's step could store the
bytes another run's step was writing (often an empty file) under its own key, and the cache
would then restore them forever. So a run holds this lock from before it computes its first key
until its last record is written, and a second run waits for it, saying whom it waits for, as
Bazel waits on its output base's lock. ``shipyard cache gc`` takes it too.

The kernel drops the lock when its holder ends, however it ends (SIGKILL included), so it is
never left behind. The file names its holder: the pid and, once the run is recorded, the run's
id. The next holder reads that back: a run it names that is still ``running`` in the store was
recorded by a process that died before finishing it: it is marked ``abandoned``
(``store/runlog.Tx.abandon``).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sys
from collections.abc import Callable
from pathlib import Path

NAME = "run.lock"


def _say(text: str) -> None:
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


class RunLock:
    """The workspace's run lock; ``acquire`` then ``release`` (or use it as a context)."""

    def __init__(self, home: Path) -> None:
        self.path = home / NAME
        self.fd: int | None = None
        self.previous: int | None = None  # the run the last holder recorded, if it said

    def acquire(
        self, wait: bool = True, on_wait: Callable[[str], None] = _say, claim: bool = True
    ) -> bool:
        """Take the lock; without ``wait``, False when another process holds it.

        ``claim`` writes this process's pid into the file (a run does); a short look that
        records no run of its own leaves the file naming the last run, for the next holder.
        """
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                if not wait:
                    os.close(fd)
                    return False
                on_wait(
                    f"shipyard: {self._holder(fd)} is using this workspace; waiting for it to "
                    "finish (Ctrl-C to stop waiting)"
                )
                fcntl.flock(fd, fcntl.LOCK_EX)
        except BaseException:
            os.close(fd)
            raise
        self.fd = fd
        self.previous = _run_of(_read(fd))
        if claim:
            self.claim()
        return True

    def claim(self) -> None:
        """Name this process as the holder (the run it records is not known yet)."""
        self._write(f"{os.getpid()}\n")

    def holding(self, run_id: int) -> None:
        """Name the run this holder records, for whoever holds the lock next."""
        self._write(f"{os.getpid()} {run_id}\n")

    def release(self) -> None:
        if self.fd is not None:
            os.close(self.fd)  # closing the last descriptor drops the lock
            self.fd = None

    def __enter__(self) -> RunLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def _write(self, text: str) -> None:
        assert self.fd is not None
        os.ftruncate(self.fd, 0)
        os.pwrite(self.fd, text.encode(), 0)

    def _holder(self, fd: int) -> str:
        text = _read(fd)
        words = text.split()
        pid = f"pid {words[0]}" if words and words[0].isdigit() else "pid unknown"
        run = _run_of(text)
        return f"run {run} ({pid})" if run is not None else f"another shipyard command ({pid})"


def _read(fd: int) -> str:
    with contextlib.suppress(OSError):
        return os.pread(fd, 200, 0).decode(errors="replace")
    return ""


def _run_of(text: str) -> int | None:
    words = text.split()
    return int(words[1]) if len(words) > 1 and words[1].isdigit() else None
