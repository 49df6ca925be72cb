"""A rollout's state: everything it needs to continue after a restart (pool sizes asked for
and seen ready, the step it is at, what it waits for, the latest analysis, why it failed),
stored as JSON; and ``Decision``, the next state with the commands that get there.

Data only; the machine in ``machine`` and ``engine`` moves it from one decision to the next.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, NamedTuple

from shipyard.domain.analysis import Phase as AnalysisPhase
from shipyard.domain.rollout.canary_steps import HeaderMatch
from shipyard.domain.rollout.commands import Command
from shipyard.domain.rollout.strategies import Strategy, strategy_from_dict
from shipyard.domain.rollout.vocabulary import PauseCause, Phase, Pool, WaitKind


@dataclass(frozen=True)
class Pools:
    """An instance count per pool."""

    stable: int = 0
    canary: int = 0

    def of(self, pool: Pool) -> int:
        return self.stable if pool is Pool.STABLE else self.canary

    def with_(self, pool: Pool, n: int) -> Pools:
        return replace(self, stable=n) if pool is Pool.STABLE else replace(self, canary=n)

    def to_dict(self) -> dict[str, int]:
        return {"stable": self.stable, "canary": self.canary}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Pools:
        return cls(int(data["stable"]), int(data["canary"]))


@dataclass(frozen=True)
class Wait:
    """What the current step waits for before the rollout moves on."""

    kind: WaitKind
    pool: Pool | None = None  # READY
    instances: int | None = None  # READY
    until: datetime | None = None  # PAUSE (None: until promoted), DELAY
    analysis: str | None = None  # ANALYSIS
    cause: PauseCause | None = None  # PAUSE

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind.value,
            "pool": self.pool.value if self.pool else None,
            "instances": self.instances,
            "until": _iso(self.until),
            "analysis": self.analysis,
            "cause": self.cause.value if self.cause else None,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Wait:
        return cls(
            WaitKind(data["kind"]),
            Pool(data["pool"]) if data.get("pool") else None,
            None if data.get("instances") is None else int(data["instances"]),
            _parse_iso(data.get("until")),
            data.get("analysis"),
            PauseCause(data["cause"]) if data.get("cause") else None,
        )


@dataclass(frozen=True)
class AnalysisRecord:
    """The latest analysis of this rollout: running, or finished with its numbers."""

    name: str
    when: str  # "step", "pre-promotion" or "post-promotion"
    phase: AnalysisPhase
    started_at: datetime
    finished_at: datetime | None = None
    message: str = ""
    details: Mapping[str, Any] = field(default_factory=dict)

    @property
    def running(self) -> bool:
        """Started, and neither finished with a verdict nor stopped."""
        return not self.phase.completed and self.finished_at is None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "when": self.when,
            "phase": self.phase.value,
            "started_at": _iso(self.started_at),
            "finished_at": _iso(self.finished_at),
            "message": self.message,
            "details": dict(self.details),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AnalysisRecord:
        started = _parse_iso(data["started_at"])
        assert started is not None
        return cls(
            str(data["name"]),
            str(data.get("when", "step")),
            AnalysisPhase(data["phase"]),
            started,
            _parse_iso(data.get("finished_at")),
            str(data.get("message", "")),
            dict(data.get("details", {})),
        )


@dataclass(frozen=True, kw_only=True)
class RolloutState:
    """Everything a rollout needs to continue after a restart; stored as JSON."""

    strategy: Strategy
    phase: Phase
    stable_instances: int  # the stable pool's size at the start, restored by a rollback
    targets: Pools  # instance counts last asked for
    ready: Pools  # instance counts last observed ready
    started_at: datetime
    updated_at: datetime
    direct: bool = False  # skip every step: a first deployment, or a rollback to a version
    step: int = 0  # index into the plan (or the rollback plan while rolling back)
    rolling_back: bool = False
    wait: Wait | None = None
    user_paused: bool = False
    canary_weight: int = 0
    header_route: HeaderMatch | None = None
    preview: bool = False  # the router's preview of the new pool is open
    analysis: AnalysisRecord | None = None
    deadline_at: datetime | None = None
    failure: str = ""  # why a rollback or hold happened
    reason: str = ""  # the latest decision, in words
    decisions: int = 0  # bumped by every decision; the shell records an event when it moves

    def to_dict(self) -> dict[str, Any]:
        return {
            "strategy": self.strategy.to_dict(),
            "phase": self.phase.value,
            "stable_instances": self.stable_instances,
            "targets": self.targets.to_dict(),
            "ready": self.ready.to_dict(),
            "started_at": _iso(self.started_at),
            "updated_at": _iso(self.updated_at),
            "direct": self.direct,
            "step": self.step,
            "rolling_back": self.rolling_back,
            "wait": self.wait.to_dict() if self.wait else None,
            "user_paused": self.user_paused,
            "canary_weight": self.canary_weight,
            "header_route": self.header_route.to_dict() if self.header_route else None,
            "preview": self.preview,
            "analysis": self.analysis.to_dict() if self.analysis else None,
            "deadline_at": _iso(self.deadline_at),
            "failure": self.failure,
            "reason": self.reason,
            "decisions": self.decisions,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> RolloutState:
        started, updated = _parse_iso(data["started_at"]), _parse_iso(data["updated_at"])
        assert started is not None and updated is not None
        return cls(
            strategy=strategy_from_dict(data["strategy"]),
            phase=Phase(data["phase"]),
            stable_instances=int(data["stable_instances"]),
            targets=Pools.from_dict(data["targets"]),
            ready=Pools.from_dict(data["ready"]),
            started_at=started,
            updated_at=updated,
            direct=bool(data.get("direct", False)),
            step=int(data.get("step", 0)),
            rolling_back=bool(data.get("rolling_back", False)),
            wait=Wait.from_dict(data["wait"]) if data.get("wait") else None,
            user_paused=bool(data.get("user_paused", False)),
            canary_weight=int(data.get("canary_weight", 0)),
            header_route=(
                HeaderMatch.from_dict(data["header_route"]) if data.get("header_route") else None
            ),
            preview=bool(data.get("preview", False)),
            analysis=AnalysisRecord.from_dict(data["analysis"]) if data.get("analysis") else None,
            deadline_at=_parse_iso(data.get("deadline_at")),
            failure=str(data.get("failure", "")),
            reason=str(data.get("reason", "")),
            decisions=int(data.get("decisions", 0)),
        )

    @property
    def finished(self) -> bool:
        return self.phase in (Phase.HEALTHY, Phase.ABORTED)

    @property
    def held(self) -> bool:
        """Stopped by a failure under ``on_failure: hold``, waiting for a person to decide."""
        return self.phase is Phase.DEGRADED and not self.rolling_back


def _iso(t: datetime | None) -> str | None:
    return None if t is None else t.isoformat()


def _parse_iso(text: str | None) -> datetime | None:
    return None if text is None else datetime.fromisoformat(text)


class Decision(NamedTuple):
    """The next state and the commands that get the world there."""

    state: RolloutState
    commands: tuple[Command, ...]
