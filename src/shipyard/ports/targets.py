"""Targets: where a service's instances run, by named pool (``stable``, ``canary``, or
``blue``/``green``), and the errors they raise.

``Target`` is what one deployment target offers (``adapters/targets/``: local processes,
shell hooks). ``Targets`` and ``Fleet`` are what the rollout controller drives: every instance
of one environment, as recorded (``Member``: pool, version, port, pid), adopted by a later
controller, scaled to a count per pool, probed for readiness and watched for exits. The real
one is ``adapters/targets/local.py``'s ``ProcessTargets``, spawning through the process
target; ``tests/fakes.py`` has one in memory. Calls name the count to reach, never a delta, so
repeating one after a crash is harmless. ``Supervised`` is the fleet an environment's supervisor
keeps: the dead instances stay recorded (to be restarted), each is probed on its own and
replaced one at a time.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from shipyard.errors import InputError, ShipyardError


class TargetError(ShipyardError):
    code = "target-failed"


class TargetNotReady(TargetError):
    code = "target-not-ready"
    default_hint = (
        "check the instance logs; raise the readiness timeout if the service starts slowly"
    )


class TargetExited(TargetError):
    code = "target-exited"
    default_hint = "the command stopped on its own; its log names the reason"


class TargetConfigInvalid(InputError):
    code = "target-config-invalid"


@dataclass(frozen=True)
class Instance:
    """One running copy of the service; ``port`` is None where the target does not know it."""

    pool: str
    index: int
    version: str
    port: int | None = None
    pid: int | None = None
    log: str | None = None

    @property
    def address(self) -> str | None:
        """``127.0.0.1:port``, the form routers take as a backend."""
        return None if self.port is None else f"127.0.0.1:{self.port}"


@runtime_checkable
class Target(Protocol):
    """Runs N instances of a version per pool."""

    def deploy(
        self, pool: str, version: str, instances: int, env: Mapping[str, str] | None = None
    ) -> Sequence[Instance]:
        """Run ``instances`` instances of ``version`` in ``pool`` (replacing another version)."""
        ...

    def ready(self, pool: str) -> int:
        """How many instances of ``pool`` answer their readiness check now."""
        ...

    def wait_ready(self, pool: str, timeout: float | None = None) -> Sequence[Instance]:
        """Block until every instance of ``pool`` is ready; raise ``TargetNotReady`` if not."""
        ...

    def stop(self, pool: str, keep: int = 0) -> None:
        """Stop instances of ``pool`` until ``keep`` remain."""
        ...

    def instances(self, pool: str | None = None) -> Sequence[Instance]:
        """The instances running now, of one pool or all."""
        ...


@dataclass(frozen=True)
class Member:
    """One recorded instance, with its identity: what it runs (version and the revision
    digest of version, build, configuration and command), and which process it is (pid and
    the time that process started, so a recycled pid is not taken for it)."""

    pool: str
    index: int
    version: str
    port: int
    pid: int
    log: str
    revision: str = ""  # "" for an instance recorded before revisions were: matches any
    started_at: float | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def runs(self, want: Launch | None) -> bool:
        """Whether this instance runs what ``want`` starts (None: anything will do); one
        recorded without a revision is judged by its version."""
        if want is None:
            return True
        if self.revision and want.revision:
            return self.revision == want.revision
        return self.version == want.version


@dataclass(frozen=True)
class Launch:
    """How to start instances of one version: the target settings and the rendered env."""

    command: str
    version: str
    workdir: str
    env: Mapping[str, str]
    readiness_path: str = "/healthz"
    grace: float = 5.0
    secrets: tuple[str, ...] = ()  # values in ``env`` masked out of quoted log lines
    revision: str = ""  # digest of what the instances run (``adapters/targets/local.revision_of``)


@dataclass(frozen=True)
class Exited:
    """An instance whose processes are all gone, and why, in words (secrets masked)."""

    member: Member
    reason: str


@runtime_checkable
class Fleet(Protocol):
    """Every instance of one environment, by pool, as the rollout controller sees it."""

    def of(self, pool: str) -> list[Member]:
        """The instances recorded in ``pool``, alive or not, oldest first."""
        ...

    def alive(self, pool: str) -> list[Member]:
        """The instances of ``pool`` whose processes still run, ready or not."""
        ...

    def exited(self, pool: str) -> list[Exited]:
        """The instances of ``pool`` whose processes are all gone, each with why."""
        ...

    def forget(self, doomed: Sequence[Member]) -> None:
        """Drop instances known to be gone (stopping whatever they left behind)."""
        ...

    def scale(self, pool: str, n: int, launch: Launch | None) -> None:
        """Run ``n`` instances of ``launch`` in ``pool``: instances of another revision and
        dead ones are replaced, the newest go first when shrinking."""
        ...

    def ready(self, pool: str, path: str = "/healthz", want: Launch | None = None) -> list[Member]:
        """The instances of ``pool`` (running what ``want`` starts, if given) that are alive
        and answer their readiness check now."""
        ...

    def to_list(self) -> list[dict[str, Any]]:
        """Every instance as recorded in the environment's row."""
        ...


@runtime_checkable
class Supervised(Fleet, Protocol):
    """An environment's fleet as its supervisor sees it: every recorded instance, the dead
    ones too, until replaced."""

    members: list[Member]  # every instance, in the order recorded or started

    def is_alive(self, m: Member) -> bool:
        """Whether ``m``'s process still runs (the one recorded, not a pid reused since)."""
        ...

    def exit_of(self, m: Member) -> str:
        """How ``m`` ended, in words (secrets masked)."""
        ...

    def answers(self, m: Member, path: str, timeout: float) -> bool:
        """Whether ``m`` answers its readiness check on ``path`` within ``timeout`` seconds."""
        ...

    def replace(self, m: Member, launch: Launch) -> Member:
        """Start a new instance of ``launch`` in the place of ``m`` (stopped first if it still
        runs); the new one, with the next index of the pool."""
        ...

    def stop(self, doomed: Sequence[Member], grace: float) -> None:
        """Stop instances (SIGTERM, then SIGKILL after ``grace``) and drop their records."""
        ...


@runtime_checkable
class Targets(Protocol):
    """Where an environment's instances run."""

    def adopt(self, log_dir: Path, recorded: Sequence[Mapping[str, Any]]) -> Fleet:
        """The environment's fleet, taking over the recorded instances that still run;
        instances it starts log under ``log_dir``."""
        ...

    def supervise(self, log_dir: Path, recorded: Sequence[Mapping[str, Any]]) -> Supervised:
        """The environment's fleet for its supervisor: every recorded instance, those that
        exited kept (to be restarted); instances it starts log under ``log_dir``."""
        ...
