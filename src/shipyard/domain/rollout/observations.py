"""Observations: what the shell saw. Pool readiness, an analysis verdict, a user action, a
target that failed, and the passage of time.

The machine's input, stored with each decision and read back by ``observation_from_dict``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, TypeAlias

from shipyard.domain.analysis import Phase as AnalysisPhase
from shipyard.domain.rollout.errors import _invalid
from shipyard.domain.rollout.vocabulary import Action


@dataclass(frozen=True)
class Readiness:
    """How many instances of each pool are ready now."""

    stable: int
    canary: int
    kind: ClassVar[str] = "readiness"

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "stable": self.stable, "canary": self.canary}


@dataclass(frozen=True)
class AnalysisResult:
    """The verdict of analysis ``name``; ``details`` holds the numbers behind it."""

    name: str
    phase: AnalysisPhase
    message: str = ""
    details: Mapping[str, Any] = field(default_factory=dict)
    kind: ClassVar[str] = "analysis-result"

    def to_dict(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "name": self.name,
            "phase": self.phase.value,
            "message": self.message,
            "details": dict(self.details),
        }


@dataclass(frozen=True)
class UserAction:
    """Someone asked for ``action`` (``by`` names them for the record)."""

    action: Action
    by: str = ""
    kind: ClassVar[str] = "user-action"

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "action": self.action.value, "by": self.by}


@dataclass(frozen=True)
class TargetFailed:
    """The target could not do what was asked (a command hook exited non-zero): handled as a
    failed analysis is, by rolling back or, under ``on_failure: hold``, by holding."""

    reason: str
    kind: ClassVar[str] = "target-failed"

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind, "reason": self.reason}


@dataclass(frozen=True)
class Tick:
    """Nothing but time passed."""

    kind: ClassVar[str] = "tick"

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind}


Observation: TypeAlias = Readiness | AnalysisResult | UserAction | TargetFailed | Tick


def observation_from_dict(data: Mapping[str, Any]) -> Observation:
    """The observation stored by its ``to_dict``."""
    kind = data.get("kind")
    if kind == Readiness.kind:
        return Readiness(int(data["stable"]), int(data["canary"]))
    if kind == AnalysisResult.kind:
        return AnalysisResult(
            str(data["name"]),
            AnalysisPhase(data["phase"]),
            str(data.get("message", "")),
            dict(data.get("details", {})),
        )
    if kind == UserAction.kind:
        return UserAction(Action(data["action"]), str(data.get("by", "")))
    if kind == TargetFailed.kind:
        return TargetFailed(str(data["reason"]))
    if kind == Tick.kind:
        return Tick()
    raise _invalid(f"unknown rollout observation {kind!r}")
