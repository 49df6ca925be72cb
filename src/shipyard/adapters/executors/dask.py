"""Run pipeline steps on a Dask cluster (``distributed``): ``dask://HOST:PORT`` names a running
scheduler, ``dask-local:N`` starts N workers in this process (threads, each running its step as
a subprocess).

No shared file system: each step's files (its inputs and what the steps it needs produced) are
read here by digest and sent to the cluster once each (``Client.scatter`` keyed by digest, so a
file many steps read travels once); the worker runs the step in a scratch folder
(``dask_step.py``) and sends back the files it created or changed, which are written into the
workspace here, where the run stores them in the cache as for a local step.

- ``runs-on`` labels are Dask worker resources: a step with ``runs-on: [gpu]`` is submitted with
  ``resources={"gpu": 1}`` and runs only on workers started with ``--resources gpu=1``.
- A worker that dies mid-step: Dask runs the step again on another worker (up to the
  scheduler's ``allowed-failures``); the run goes on.
- Cancelling sets a Dask ``Event`` that the running steps' workers check twice a second; they
  kill the step's process group and report it cancelled.
- A scheduler that cannot be reached at the start is ``executor-unreachable`` before anything
  is recorded; one that goes away during the run fails the steps it held (and every later one)
  with that reason, and the run ends failed.
"""

from __future__ import annotations

import contextlib
import os
import queue
import random
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from shipyard.adapters.executors import retries
from shipyard.adapters.executors.local import Result, Task
from shipyard.adapters.executors.outputs import OutputsError, parse_outputs
from shipyard.adapters.masking import mask
from shipyard.domain.pipeline import retry_delay
from shipyard.domain.remote_cache import safe_relpath
from shipyard.errors import InputError, ShipyardError

CONNECT_TIMEOUT = "5s"
LOST_AFTER_S = 5.0  # a scheduler unreachable this long is gone


class ExecutorUnreachable(ShipyardError):
    code = "executor-unreachable"
    exit_status = 1
    http_status = 503


@dataclass
class _Live:
    task: Task
    attempt: int = 0
    log: bytearray = field(default_factory=bytearray)
    started: float | None = None
    retry_at: float | None = None
    future: Any = None


def _address(target: str) -> str:
    return "tcp://" + target.split("://", 1)[1] if target.startswith("dask://") else target


class DaskExecutor:
    remote = True

    def __init__(self, target: str, *, workers: int | None = None) -> None:
        # distributed's functions are unannotated, hence the no-untyped-call ignores below.
        try:
            import distributed
        except ImportError as exc:
            raise InputError(
                "the Dask executor needs the `distributed` package",
                "pip install distributed",
                code="executor-unavailable",
            ) from exc
        self._d = distributed
        self._cluster: Any = None
        self.target = target
        if target.startswith("dask-local:"):
            count = target.removeprefix("dask-local:")
            if not count.isdigit() or int(count) < 1:
                raise InputError(
                    f"--executor {target!r}: the number of workers is not a whole number >= 1",
                    "write dask-local:4",
                    code="executor-invalid",
                )
            self._cluster = distributed.LocalCluster(  # type: ignore[no-untyped-call]
                n_workers=int(count),
                threads_per_worker=1,
                processes=False,
                dashboard_address=None,
            )
            where: Any = self._cluster
        else:
            where = _address(target)
        try:
            self.client = distributed.Client(  # type: ignore[no-untyped-call]
                where, timeout=CONNECT_TIMEOUT, set_as_default=False
            )
        except (OSError, TimeoutError) as exc:
            self._close_cluster()
            raise ExecutorUnreachable(
                f"the Dask scheduler at {target} did not answer: {exc}",
                "start it (`dask scheduler`) or check --executor; nothing was run or recorded",
            ) from exc
        threads = sum(self.client.nthreads().values()) or 1  # type: ignore[no-untyped-call]
        self.capacity = 2 * (workers or threads)
        self._event = f"shipyard-cancel-{uuid.uuid4().hex}"
        self._live: dict[str, _Live] = {}
        self._futures: dict[Any, str] = {}
        self._ended: queue.Queue[Any] = queue.Queue()
        self._scattered: dict[str, Any] = {}
        self._done: list[Result] = []
        self._cancelled = False
        self._lost: str | None = None
        self._unhealthy_since: float | None = None

    # --- the port ----------------------------------------------------------------------------

    def start(self, task: Task) -> None:
        live = _Live(task)
        self._live[task.node] = live
        self._submit(live)

    def wait(self, timeout: float) -> list[Result]:
        end = time.monotonic() + timeout
        while not self._done:
            now = time.monotonic()
            for live in retries.due(self._live.values(), now):
                self._submit(live)
            self._check_scheduler(now)
            if self._done or now >= end:
                break
            pending = list(self._futures)
            wake = retries.wake(end, self._live.values())
            if not pending:
                time.sleep(max(0.0, min(wake - now, 0.2)))
                continue
            # Futures report their end through a callback (Dask calls it on its own thread),
            # so this wakes the moment a step ends; at least twice a second to see the rest.
            try:
                self._ended.get(timeout=max(0.0, min(wake - now, 0.5)))
                while True:  # every end reported so far: the loop below looks at them all
                    self._ended.get_nowait()
            except queue.Empty:
                pass
            for future in pending:
                if future.done():
                    self._finished(future)
        done, self._done = self._done, []
        return done

    def cancel(self) -> None:
        self._cancelled = True
        with contextlib.suppress(Exception):  # no scheduler: nothing runs there either
            self._d.Event(self._event, client=self.client).set()  # type: ignore[no-untyped-call]
        for live in list(self._live.values()):
            if live.future is None:
                self._end(live, "cancelled", None, "run cancelled")

    def shutdown(self) -> None:
        if self._live and self._lost is None:
            self.cancel()
            deadline = time.monotonic() + 15
            while self._live and time.monotonic() < deadline and self._lost is None:
                self.wait(0.2)
        self._done = []
        with contextlib.suppress(Exception):
            self.client.close(timeout=5)  # type: ignore[no-untyped-call]
        self._close_cluster()

    def _close_cluster(self) -> None:
        if self._cluster is not None:
            with contextlib.suppress(Exception):
                self._cluster.close(timeout=5)
            self._cluster = None

    # --- one step ----------------------------------------------------------------------------

    def _submit(self, live: _Live) -> None:
        from shipyard.adapters.executors.dask_step import run_step

        task = live.task
        live.attempt += 1
        live.retry_at = None
        if self._cancelled:
            self._end(live, "cancelled", None, "run cancelled")
            return
        if self._lost is not None:
            live.log += f"shipyard: {self._lost}\n".encode()
            self._end(live, "failure", None, self._lost)
            return
        try:
            files = self._blobs(task)
            spec = {
                "command": task.command,
                "env": self._env(task),
                "workdir": task.workdir,
                "timeout": task.timeout_s,
                "folders": sorted(
                    {os.path.dirname(p) for p in task.outputs if "*" not in os.path.dirname(p)}
                    - {""}
                ),
            }
            resources = {label: 1 for label in task.runs_on} or None
            live.future = self.client.submit(
                run_step,
                spec,
                files,
                self._event,
                key=f"step-{task.node}-{uuid.uuid4().hex[:12]}",
                pure=False,
                resources=resources,
            )
        except ShipyardError as exc:
            live.log += f"shipyard: {exc.message}\n".encode()
            self._end(live, "failure", None, exc.message)
            return
        except Exception as exc:  # the scheduler went away
            self._gone(f"the Dask scheduler at {self.target} went away: {exc}")
            live.log += f"shipyard: {self._lost}\n".encode()
            self._end(live, "failure", None, self._lost or "")
            return
        if live.started is None:
            live.started = time.monotonic()
        self._futures[live.future] = task.node
        live.future.add_done_callback(self._ended.put)

    def _env(self, task: Task) -> dict[str, str]:
        """What the run sets on top of this machine's environment; the worker has its own."""
        here = os.environ
        return {k: v for k, v in task.env.items() if here.get(k) != v or k.startswith("SHIPYARD")}

    def _blobs(self, task: Task) -> dict[str, Any]:
        """Each file of the step as a future on the cluster, sent once per digest."""
        out: dict[str, Any] = {}
        root = task.root or task.cwd
        missing = {}
        for rel, digest in task.files.items():
            if digest not in self._scattered and digest not in missing:
                try:
                    missing[digest] = (root / rel).read_bytes()
                except OSError as exc:
                    raise InputError(
                        f"cannot read {rel} to send it to the worker: {exc.strerror}",
                        "declare it in `inputs`, or make the step that writes it a need",
                        code="executor-input-missing",
                    ) from exc
        if missing:
            self._scattered.update(self.client.scatter(missing, hash=False))  # type: ignore[no-untyped-call]
        for rel, digest in task.files.items():
            out[rel] = self._scattered[digest]
        return out

    def _finished(self, future: Any) -> None:
        node = self._futures.pop(future)
        live = self._live.get(node)
        if live is None:
            return
        live.future = None
        status = future.status
        if status == "finished":
            try:
                self._settle(live, future.result())
            except Exception as exc:
                self._gone(f"the Dask scheduler at {self.target} went away: {exc}")
                self._end(live, "failure", None, self._lost or "")
            return
        if status == "error":
            error = future.exception()
            name = type(error).__name__
            if name == "KilledWorker":
                reason = "the workers running the step died too many times (Dask KilledWorker)"
            else:
                reason = f"the worker failed the step: {name}: {error}"
            live.log += f"shipyard: {reason}\n".encode()
            self._end(live, "failure", None, reason)
            return
        if self._cancelled:
            self._end(live, "cancelled", None, "run cancelled")
            return
        self._gone(f"the Dask scheduler at {self.target} went away")
        live.log += f"shipyard: {self._lost}\n".encode()
        self._end(live, "failure", None, self._lost or "")

    def _settle(self, live: _Live, r: Mapping[str, Any]) -> None:
        task = live.task
        root = task.root or task.cwd
        for rel, data in r["files"].items():
            if not safe_relpath(rel):
                continue
            self._write(root / rel, data)
        live.log += r["log"]
        code, note = r["code"], r["note"]
        outcome: tuple[str, int | None, str]
        if note.startswith("cannot start"):
            live.log += f"shipyard: {note}\n".encode()
            outcome = ("failure", None, note)
        elif note == "timeout":
            reason = f"timed out after {task.timeout_s:g}s; its process group was killed"
            live.log += f"shipyard: {reason}\n".encode()
            outcome = ("failure", code, reason)
        elif note == "cancelled" or self._cancelled:
            outcome = ("cancelled", code, "run cancelled")
        elif code != 0:
            what = (
                f"killed by signal {-code}"
                if code is not None and code < 0
                else f"exited with status {code}"
            )
            outcome = ("failure", code, what)
        else:
            outcome = ("success", 0, "")
        outputs: dict[str, str] = {}
        if outcome[0] == "success":
            try:
                outputs = parse_outputs(mask(r["outputs"].encode(), task.secrets).decode())
            except OutputsError as exc:
                live.log += f"shipyard: {exc}\n".encode()
                outcome = ("failure", code, str(exc))
        if outcome[0] == "failure" and live.attempt <= task.retries and not self._cancelled:
            delay = retry_delay(
                live.attempt, base=task.backoff_s, cap=task.max_backoff_s, jitter=random.random()
            )
            live.log += (
                f"--- retry {live.attempt} of {task.retries} after {delay:.1f}s ---\n".encode()
            )
            live.retry_at = time.monotonic() + delay
            return
        self._end(live, *outcome, outputs=outputs)

    @staticmethod
    def _write(path: Path, data: bytes) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.shipyard-tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)

    def _end(
        self,
        live: _Live,
        status: str,
        code: int | None,
        reason: str,
        outputs: dict[str, str] | None = None,
    ) -> None:
        self._live.pop(live.task.node, None)
        now = time.monotonic()
        self._done.append(
            Result(
                node=live.task.node,
                status=status,
                exit_code=code,
                attempt=live.attempt,
                duration_s=max(0.0, now - (live.started or now)),
                log=mask(bytes(live.log), live.task.secrets),
                outputs=outputs or {},
                reason=reason,
            )
        )

    # --- the scheduler going away ------------------------------------------------------------

    def _check_scheduler(self, now: float) -> None:
        if self._lost is not None or not self._futures:
            return
        if self.client.status == "running":
            self._unhealthy_since = None
            return
        if self._unhealthy_since is None:
            self._unhealthy_since = now
        elif now - self._unhealthy_since > LOST_AFTER_S:
            self._gone(f"the Dask scheduler at {self.target} went away")

    def _gone(self, reason: str) -> None:
        """Every step the cluster held fails with ``reason``; later ones fail at once."""
        if self._lost is None:
            self._lost = reason
        for future, node in list(self._futures.items()):
            del self._futures[future]
            live = self._live.get(node)
            if live is not None:
                live.future = None
                live.log += f"shipyard: {self._lost}\n".encode()
                self._end(live, "failure", None, self._lost)
