"""What every deployment target offers, and the errors they raise.

A target runs instances of one version of a service in a named pool (``stable``, ``canary``,
or ``blue``/``green``). The deploy service drives it from the rollout's commands: ``ScaleUp``
and ``ScaleDown`` become ``deploy``/``stop``, and ``Readiness`` observations come from
``ready``. Calls name the count to reach, never a delta, so repeating one after a crash is
harmless.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

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


MASK = "***"


def mask(text: str, secrets: Sequence[str]) -> str:
    """``text`` with every secret value replaced by ``***`` (longest first, so none leaks)."""
    for secret in sorted((s for s in secrets if s), key=len, reverse=True):
        text = text.replace(secret, MASK)
    return text


def check_count(instances: int) -> None:
    if isinstance(instances, bool) or not isinstance(instances, int) or instances < 0:
        raise TargetConfigInvalid(
            f"instance count {instances!r} must be a whole number of at least 0",
            "set `instances:` on the environment's target to 1 or more",
        )
