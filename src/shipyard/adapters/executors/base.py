"""The ``Executor`` port: what `shipyard run` needs of whatever runs its steps.

``local`` runs them as subprocesses here (``local.py``); ``dask`` on a Dask cluster
(``dask.py``). The run's loop starts up to ``capacity`` tasks, waits for results, and cancels
or shuts the executor down; an executor whose workers share no file system with this machine
says so with ``remote`` and is handed each task's files by digest.
"""

from __future__ import annotations

from typing import Protocol

from shipyard.adapters.executors.local import Result, Task

__all__ = ["Executor", "Result", "Task"]


class Executor(Protocol):
    capacity: int
    remote: bool

    def start(self, task: Task) -> None:
        """Run ``task`` (and its retries); its ``Result`` comes out of ``wait``."""
        ...

    def wait(self, timeout: float) -> list[Result]:
        """The steps that finished; waits up to ``timeout`` seconds for the first."""
        ...

    def cancel(self) -> None:
        """Stop every running step; each still reports a ``cancelled`` result."""
        ...

    def shutdown(self) -> None:
        """Stop what runs and release the executor's resources."""
        ...


def open_executor(target: str | None, workers: int | None) -> Executor:
    """``local`` (or None), ``dask://HOST:PORT`` or ``dask-local:N``."""
    from shipyard.errors import InputError

    if target is None or target == "local":
        from shipyard.adapters.executors.local import LocalExecutor

        return LocalExecutor(workers)
    if target.startswith(("dask://", "tcp://", "dask-local:")):
        from shipyard.adapters.executors.dask import DaskExecutor

        return DaskExecutor(target, workers=workers)
    raise InputError(
        f"--executor {target!r} names no executor",
        "use local, dask://HOST:PORT (a Dask scheduler) or dask-local:N (N local workers)",
        code="executor-invalid",
    )
