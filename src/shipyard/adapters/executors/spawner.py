"""The step spawner: a small process that starts steps, watches them and reports their ends.

``posix_spawn`` returns only once the new program has been exec'd, and on a busy machine that
takes most of a millisecond per step. In this process that wait does not hold up the run's loop,
which meanwhile stores outputs, records steps and computes the next keys. It is started by
``LocalExecutor`` as ``python -I -S spawner.py SLOTS GRACE LOGS`` and uses the standard library
only, so it is up in a few milliseconds.

Requests arrive on stdin and reports leave on stdout, as frames: a 4-byte little-endian length,
then a ``marshal``-ed tuple.

* ``("run", id, program, argv, env, cwd, redirects, timeout, fallback)``: start the step when one
  of SLOTS is free, in order of arrival. ``redirects`` are ``(fd, path, flags)`` to open for it;
  ``fallback`` is the argv to start instead if the program cannot be (the shell, which then
  reports the problem in its own words).
* ``("cancel",)``: drop what waits, SIGTERM the groups of what runs, SIGKILL after GRACE.
* end of input (the run is over, or its process died): SIGKILL every group, then exit.

Each end is reported as ``("done", id, code, started, duration, log, note)``: ``code`` is the
exit code (negative for a signal) or None when the step never ran; ``started`` is
``time.monotonic()`` at its start; ``log`` its stdout and stderr; ``note`` is "" or "timeout",
"cancelled", or "cannot start the step: ...".

A step leads its own session, so one signal reaches everything it started. Its exit is found
with ``waitid(WNOWAIT)``: it stays a zombie while its group is killed, so its pid, which is the
group id, cannot be reused meanwhile. A background ``sleep &`` never outlives its step.
"""

from __future__ import annotations

import marshal
import os
import select
import signal
import sys
import time

TYPE_CHECKING = False  # typing itself would be a tenth of this process's start-up
if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator
    from typing import Any

_RESET = (signal.SIGPIPE, signal.SIGXFSZ, signal.SIGCHLD)  # what a program gets as default


def frames(fd: int) -> Iterator[list[Any] | None]:
    """The complete frames that each read of ``fd`` brings; None at its end."""
    buf = bytearray()
    while chunk := os.read(fd, 1 << 16):  # a larger buffer is an mmap and munmap per read
        buf += chunk
        items, at = [], 0
        while len(buf) - at >= 4:
            n = int.from_bytes(buf[at : at + 4], "little")
            if len(buf) - at - 4 < n:
                break
            items.append(marshal.loads(buf[at + 4 : at + 4 + n]))
            at += 4 + n
        del buf[:at]
        yield items
    yield None


def send(fd: int, item: tuple[Any, ...]) -> None:
    data = marshal.dumps(item)
    view = memoryview(len(data).to_bytes(4, "little") + data)
    while view:
        view = view[os.write(fd, view) :]


def read_log(fd: int) -> bytes:
    data = bytearray()
    while chunk := os.pread(fd, 1 << 16, len(data)):
        data += chunk
    return bytes(data)


def killpg(pgid: int, sig: int) -> None:
    try:  # noqa: SIM105 - contextlib would add a fifth to this process's start-up
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


class Spawner:
    def __init__(self, slots: int, grace: float, logs: str) -> None:
        self.grace = grace
        self.free = [
            os.open(f"{logs}/{i}.log", os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o600)
            for i in range(slots)
        ]  # log files of free slots, each kept open
        self.queue: list[tuple[Any, ...]] = []
        self.running: dict[int, list[Any]] = {}
        self.cwd = os.getcwd()
        self.null = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)

    def start(self) -> None:
        while self.queue and self.free:
            _, sid, program, argv, env, cwd, redirects, timeout, fallback = self.queue.pop(0)
            log = self.free.pop()
            os.ftruncate(log, 0)
            started = time.monotonic()
            try:
                pid = self.spawn(program, argv, env, cwd, redirects, log)
            except OSError as exc:
                if fallback is None:
                    self.free.append(log)
                    send(1, ("done", sid, None, started, 0.0, b"", f"cannot start the step: {exc}"))
                    continue
                try:
                    pid = self.spawn(fallback[0], fallback, env, cwd, (), log)
                except OSError as exc2:
                    self.free.append(log)
                    send(
                        1, ("done", sid, None, started, 0.0, b"", f"cannot start the step: {exc2}")
                    )
                    continue
            deadline = None if timeout is None else started + timeout
            # [id, log, started, deadline, kill_at, note]
            self.running[pid] = [sid, log, started, deadline, None, ""]

    def spawn(
        self,
        program: str,
        argv: list[str],
        env: dict[str, str],
        cwd: str,
        redirects: Iterable[tuple[int, str, int]],
        log: int,
    ) -> int:
        if cwd != self.cwd:
            os.chdir(cwd)  # posix_spawn starts programs in this process's folder
            self.cwd = cwd
        actions: list[tuple[int, int, int] | tuple[int, int, str, int, int]] = [
            (os.POSIX_SPAWN_DUP2, self.null, 0),
            (os.POSIX_SPAWN_DUP2, log, 1),
            (os.POSIX_SPAWN_DUP2, log, 2),
        ]
        for fd, path, flags in redirects:
            actions.append((os.POSIX_SPAWN_OPEN, fd, path, flags, 0o666))
        return os.posix_spawn(
            program, argv, env, file_actions=actions, setsid=True, setsigdef=_RESET
        )

    def reap(self) -> None:
        while True:
            try:
                info = os.waitid(os.P_ALL, 0, os.WEXITED | os.WNOHANG | os.WNOWAIT)
            except ChildProcessError:
                return
            if info is None:
                return
            pid = info.si_pid
            killpg(pid, signal.SIGKILL)  # the rest of its group, while its pid is still held
            code = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
            sid, log, started, _, _, note = self.running.pop(pid)
            now = time.monotonic()
            written = read_log(log)
            # Emptied before the end is reported: once the parent has read the report, the
            # slot's file holds nothing of this step for a live reader to lend the next one.
            os.ftruncate(log, 0)
            send(1, ("done", sid, code, started, now - started, written, note))
            self.free.append(log)

    def timers(self, now: float) -> float | None:
        """Signal steps past their timeout or grace; seconds until the next timer, if any."""
        wake = None
        for pid, entry in self.running.items():
            deadline, kill_at = entry[3], entry[4]
            if kill_at is not None and now >= kill_at:
                killpg(pid, signal.SIGKILL)
                entry[4] = kill_at = None
            elif deadline is not None and now >= deadline and not entry[5]:
                entry[5] = "timeout"
                killpg(pid, signal.SIGTERM)
                entry[4] = kill_at = now + self.grace
            for t in (kill_at, None if entry[5] else deadline):
                if t is not None:
                    wake = t - now if wake is None else min(wake, t - now)
        return wake

    def cancel(self) -> None:
        for item in self.queue:
            send(1, ("done", item[1], None, time.monotonic(), 0.0, b"", "cancelled"))
        self.queue = []
        now = time.monotonic()
        for pid, entry in self.running.items():
            if entry[4] is None:
                entry[5] = entry[5] or "cancelled"
                killpg(pid, signal.SIGTERM)
                entry[4] = now + self.grace

    def serve(self) -> None:
        wake_r, wake_w = os.pipe()
        os.set_blocking(wake_w, False)
        signal.set_wakeup_fd(wake_w)
        signal.signal(signal.SIGCHLD, lambda *_: None)  # a handler, so the wakeup fd is written
        poll = select.poll()
        poll.register(0, select.POLLIN)
        poll.register(wake_r, select.POLLIN)
        requests = frames(0)
        while True:
            wake = self.timers(time.monotonic())
            for fd, _ in poll.poll(None if wake is None else max(0.0, wake) * 1000 + 1):
                if fd == wake_r:
                    os.read(wake_r, 4096)
                    continue
                items = next(requests)
                if items is None:
                    for pid in self.running:
                        killpg(pid, signal.SIGKILL)
                    for pid in list(self.running):
                        os.waitpid(pid, 0)
                    return
                for item in items:
                    if item[0] == "run":
                        self.queue.append(item)
                    elif item[0] == "cancel":
                        self.cancel()
            self.reap()
            self.start()


if __name__ == "__main__":
    Spawner(int(sys.argv[1]), float(sys.argv[2]), sys.argv[3]).serve()
