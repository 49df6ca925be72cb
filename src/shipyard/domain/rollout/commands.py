"""Commands: what the shell executes, in order. Each names a target value (a pool's instance
count, traffic weights, a header route, a preview, an analysis to start or stop), never a
delta, so executing one again after a crash is harmless.

The machine's output, stored with each decision and read back by ``command_from_dict``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, TypeAlias

from shipyard.domain.rollout.errors import _invalid
from shipyard.domain.rollout.vocabulary import Phase, Pool


@dataclass(frozen=True)
class ScaleUp:
    """Run ``instances`` instances in ``pool``: the count to reach, not to add."""

    pool: Pool
    instances: int
    kind: ClassVar[str] = "scale-up"

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "pool": self.pool.value, "instances": self.instances}


@dataclass(frozen=True)
class ScaleDown:
    """Stop instances of ``pool`` until ``instances`` remain (0: the whole pool).

    Like ``ScaleUp`` it names the count to reach, so the shell may treat both as "scale to".
    """

    pool: Pool
    instances: int = 0
    kind: ClassVar[str] = "scale-down"

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "pool": self.pool.value, "instances": self.instances}


@dataclass(frozen=True)
class SetWeights:
    """Split unmatched traffic between the pools, in percent (always adding up to 100)."""

    stable: int
    canary: int
    kind: ClassVar[str] = "set-weights"

    def __post_init__(self) -> None:
        if self.stable < 0 or self.canary < 0 or self.stable + self.canary != 100:
            raise _invalid(
                f"weights stable {self.stable} and canary {self.canary} do not add up to 100"
            )

    @property
    def weights(self) -> dict[str, int]:
        return {Pool.STABLE.value: self.stable, Pool.CANARY.value: self.canary}

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "weights": self.weights}


@dataclass(frozen=True)
class SetHeaderRoute:
    """Send requests carrying ``header: value`` to ``pool`` before weights apply."""

    header: str
    value: str
    pool: Pool = Pool.CANARY
    kind: ClassVar[str] = "set-header-route"

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "header": self.header,
            "value": self.value,
            "pool": self.pool.value,
        }


@dataclass(frozen=True)
class ClearHeaderRoute:
    """Remove the header route; weights alone decide again."""

    kind: ClassVar[str] = "clear-header-route"

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind}


@dataclass(frozen=True)
class OpenPreview:
    """Let the new pool be reached before it gets traffic: the router serves it alone on a
    port of its own (``port``; 0 picks one, None: no port) and copies ``mirror`` percent of
    live requests to it, discarding its answers."""

    port: int | None
    mirror: int
    pool: Pool = Pool.CANARY
    kind: ClassVar[str] = "open-preview"

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "port": self.port, "mirror": self.mirror, "pool": self.pool}


@dataclass(frozen=True)
class ClosePreview:
    """Close the preview port and stop mirroring."""

    kind: ClassVar[str] = "close-preview"

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind}


@dataclass(frozen=True)
class StartAnalysis:
    """Measure with analysis template ``name`` for ``duration`` seconds, then report back."""

    name: str
    duration: float
    kind: ClassVar[str] = "start-analysis"

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "name": self.name, "duration": self.duration}


@dataclass(frozen=True)
class StopAnalysis:
    """Stop a running analysis whose verdict is no longer wanted."""

    name: str
    kind: ClassVar[str] = "stop-analysis"

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "name": self.name}


@dataclass(frozen=True)
class Promote:
    """The canary pool is now the stable pool: relabel it and record its version as live."""

    kind: ClassVar[str] = "promote"

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind}


@dataclass(frozen=True)
class Rollback:
    """The rollout was rolled back (traffic and pools were restored by the commands before)."""

    reason: str
    kind: ClassVar[str] = "rollback"

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "reason": self.reason}


@dataclass(frozen=True)
class Done:
    """The rollout has finished in ``phase`` (Healthy or Aborted)."""

    phase: Phase
    kind: ClassVar[str] = "done"

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "phase": self.phase.value}


Command: TypeAlias = (
    ScaleUp
    | ScaleDown
    | SetWeights
    | SetHeaderRoute
    | ClearHeaderRoute
    | OpenPreview
    | ClosePreview
    | StartAnalysis
    | StopAnalysis
    | Promote
    | Rollback
    | Done
)


def command_from_dict(data: Mapping[str, Any]) -> Command:
    """The command stored by its ``to_dict``."""
    kind = data.get("kind")
    if kind == ScaleUp.kind:
        return ScaleUp(Pool(data["pool"]), int(data["instances"]))
    if kind == ScaleDown.kind:
        return ScaleDown(Pool(data["pool"]), int(data.get("instances", 0)))
    if kind == SetWeights.kind:
        w = data["weights"]
        return SetWeights(int(w[Pool.STABLE.value]), int(w[Pool.CANARY.value]))
    if kind == SetHeaderRoute.kind:
        return SetHeaderRoute(
            str(data["header"]), str(data["value"]), Pool(data.get("pool", Pool.CANARY.value))
        )
    if kind == ClearHeaderRoute.kind:
        return ClearHeaderRoute()
    if kind == OpenPreview.kind:
        port = data.get("port")
        return OpenPreview(
            None if port is None else int(port),
            int(data.get("mirror", 0)),
            Pool(data.get("pool", Pool.CANARY.value)),
        )
    if kind == ClosePreview.kind:
        return ClosePreview()
    if kind == StartAnalysis.kind:
        return StartAnalysis(str(data["name"]), float(data["duration"]))
    if kind == StopAnalysis.kind:
        return StopAnalysis(str(data["name"]))
    if kind == Promote.kind:
        return Promote()
    if kind == Rollback.kind:
        return Rollback(str(data["reason"]))
    if kind == Done.kind:
        return Done(Phase(data["phase"]))
    raise _invalid(f"unknown rollout command {kind!r}")
