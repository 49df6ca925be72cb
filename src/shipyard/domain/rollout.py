"""Deployment strategies as pure state machines.

``start(strategy, now, stable_instances=...)`` opens a rollout and ``step(state, observation,
now)`` advances it; both return ``Decision(state, commands)``. The shell executes the commands
in order, stores ``state.to_dict()`` and feeds back what it observes: pool readiness, analysis
results, user actions and the passage of time (``Tick``). Commands name a target value, never
a delta, so executing them again after a crash is harmless.

Two pools exist throughout a rollout: ``stable``, the version live when it started, and
``canary``, the version going out (the blue-green preview pool too). ``Promote`` at the end
tells the shell that the canary pool is now the stable one.

Every strategy compiles to a linear plan of primitive steps: scale a pool and wait for it,
set traffic weights, set a header route, pause, analyse, wait, finish. The plan ends in the
same tail for every strategy (canary at full size, all traffic, old pool gone), which is also
where ``promote-full`` jumps. A failure (failed analysis, progress deadline) or an abort
switches to the rollback plan: restore the stable pool, send it all traffic, drop the canary.
With ``on_failure: hold`` a failure stops the rollout as it is instead (``Degraded``), for when
a migration already ran that the old version cannot read (flagger#1186): traffic stays where
it was until a person resumes (the step again), promotes (the new version, straight to full)
or aborts (the rollback plan).

Phases follow Argo Rollouts: Progressing, Paused, Healthy, Degraded, plus RollingBack while the
rollback plan runs and Aborted once it is done. Every decision records a human reason.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from enum import StrEnum
from functools import lru_cache
from typing import Any, ClassVar, NamedTuple, TypeAlias

from shipyard.domain.analysis import Phase as AnalysisPhase
from shipyard.errors import Conflict, InputError

__all__ = [
    "Action",
    "AnalysisRecord",
    "AnalysisResult",
    "AnalysisStep",
    "BlueGreen",
    "Canary",
    "CanaryStep",
    "ClearHeaderRoute",
    "ClosePreview",
    "Command",
    "Decision",
    "Done",
    "HeaderMatch",
    "HeaderStep",
    "Observation",
    "OnFailure",
    "OpenPreview",
    "PauseCause",
    "PauseStep",
    "Phase",
    "Pool",
    "Pools",
    "Promote",
    "Readiness",
    "Recreate",
    "Rings",
    "Rollback",
    "Rolling",
    "RolloutActionRefused",
    "RolloutSpecInvalid",
    "RolloutState",
    "ScaleDown",
    "ScaleUp",
    "SetHeaderRoute",
    "SetWeights",
    "StartAnalysis",
    "StopAnalysis",
    "Strategy",
    "Tick",
    "UserAction",
    "Wait",
    "WaitKind",
    "Wave",
    "WeightStep",
    "command_from_dict",
    "describe_plan",
    "describe_step",
    "observation_from_dict",
    "reconcile",
    "start",
    "step",
    "strategy_from_dict",
]


class RolloutSpecInvalid(InputError):
    code = "rollout-spec-invalid"
    default_hint = "see the strategies in docs/shipyard-yaml.md#environments"


class RolloutActionRefused(Conflict):
    code = "rollout-action-refused"
    default_hint = "see `shipyard rollout status` for what the rollout is waiting for"


# -- vocabulary -------------------------------------------------------------------------------


class Pool(StrEnum):
    STABLE = "stable"
    CANARY = "canary"


class Phase(StrEnum):
    PROGRESSING = "Progressing"
    PAUSED = "Paused"
    ROLLING_BACK = "RollingBack"
    HEALTHY = "Healthy"  # done: the new version is stable
    DEGRADED = "Degraded"  # stopped by a failure under on_failure: hold, or a stalled rollback
    ABORTED = "Aborted"  # done: rolled back, the old version serves everything


class OnFailure(StrEnum):
    ROLLBACK = "rollback"
    HOLD = "hold"


class Action(StrEnum):
    PROMOTE = "promote"  # skip the current pause, analysis or promotion gate; accept a hold
    PROMOTE_FULL = "promote-full"  # skip every remaining step and analysis
    PAUSE = "pause"
    RESUME = "resume"  # undo a pause, or retry the current step of a Degraded rollout
    ABORT = "abort"
    RETRY = "retry"  # start an Aborted or Degraded rollout again from its first step


class WaitKind(StrEnum):
    READY = "ready"  # a pool reaching its instance count
    PAUSE = "pause"  # a pause step, the blue-green promotion gate, an inconclusive analysis
    DELAY = "delay"  # the scale-down delay before the old pool goes
    ANALYSIS = "analysis"
    ROLLING = "rolling"  # a rolling update in progress


class PauseCause(StrEnum):
    STEP = "step"
    PROMOTION_GATE = "promotion-gate"
    INCONCLUSIVE = "inconclusive-analysis"


def _invalid(message: str, hint: str | None = None) -> RolloutSpecInvalid:
    return RolloutSpecInvalid(message, hint)


def _duration(seconds: float) -> str:
    """30 -> 30s, 120 -> 2m, 5400 -> 90m, 7200 -> 2h: the way a user wrote it, mostly."""
    if seconds >= 3600 and seconds % 3600 == 0:
        return f"{seconds / 3600:g}h"
    if seconds >= 60 and seconds % 60 == 0:
        return f"{seconds / 60:g}m"
    return f"{seconds:g}s"


# -- strategy specs ---------------------------------------------------------------------------


_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")


@dataclass(frozen=True)
class HeaderMatch:
    """Requests carrying ``header: value`` go to the canary pool (header names are lowercase)."""

    header: str
    value: str

    def __post_init__(self) -> None:
        if not _HEADER_NAME.match(self.header):
            raise _invalid(f"'{self.header}' is not a valid HTTP header name")
        if self.header != self.header.lower():
            object.__setattr__(self, "header", self.header.lower())
        if not self.value:
            raise _invalid(f"header '{self.header}' needs a value to match")

    @classmethod
    def parse(cls, text: str) -> HeaderMatch:
        """``"x-ring: internal"`` -> ``HeaderMatch("x-ring", "internal")``."""
        name, sep, value = text.partition(":")
        if not sep:
            raise _invalid(f"header match '{text}' has no ':'", "write it as 'header-name: value'")
        return cls(name.strip(), value.strip())

    def __str__(self) -> str:
        return f"{self.header}: {self.value}"

    def to_dict(self) -> dict[str, str]:
        return {"header": self.header, "value": self.value}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> HeaderMatch:
        return cls(str(data["header"]), str(data["value"]))


@dataclass(frozen=True)
class WeightStep:
    """Send ``weight`` percent of traffic to the canary (scaling it up first)."""

    weight: int

    def __post_init__(self) -> None:
        if isinstance(self.weight, bool) or not 0 <= self.weight <= 100:
            raise _invalid(f"weight {self.weight} is outside 0..100")


@dataclass(frozen=True)
class PauseStep:
    """Wait ``duration`` seconds, or until promoted when ``duration`` is None."""

    duration: float | None = None

    def __post_init__(self) -> None:
        if self.duration is not None and self.duration <= 0:
            raise _invalid(
                f"pause duration {self.duration:g} must be positive, or omitted",
                "pause for a duration such as 10m, or until-promoted to wait for a person",
            )


@dataclass(frozen=True)
class AnalysisStep:
    """Run analysis template ``template`` for ``duration`` seconds and wait for its verdict."""

    template: str
    duration: float

    def __post_init__(self) -> None:
        if not self.template:
            raise _invalid("an analysis step needs a template name")
        if self.duration <= 0:
            raise _invalid(
                f"analysis duration {self.duration:g} must be positive",
                "measure for a duration such as 2m, or leave it out for one interval",
            )


@dataclass(frozen=True)
class HeaderStep:
    """Route requests matching ``match`` to the canary, whatever the weights say."""

    match: HeaderMatch


CanaryStep: TypeAlias = WeightStep | PauseStep | AnalysisStep | HeaderStep


def _step_to_dict(s: CanaryStep) -> dict[str, Any]:
    if isinstance(s, WeightStep):
        return {"weight": s.weight}
    if isinstance(s, PauseStep):
        return {"pause": s.duration}
    if isinstance(s, AnalysisStep):
        return {"analysis": s.template, "duration": s.duration}
    return {"header": s.match.to_dict()}


def _step_from_dict(data: Mapping[str, Any]) -> CanaryStep:
    if "weight" in data:
        return WeightStep(int(data["weight"]))
    if "pause" in data:
        return PauseStep(None if data["pause"] is None else float(data["pause"]))
    if "analysis" in data:
        return AnalysisStep(str(data["analysis"]), float(data["duration"]))
    if "header" in data:
        return HeaderStep(HeaderMatch.from_dict(data["header"]))
    raise _invalid(f"unknown canary step {dict(data)!r}", "one of weight, pause, analysis, header")


def _steps_tuple(steps: Sequence[CanaryStep], where: str) -> tuple[CanaryStep, ...]:
    out = tuple(steps)
    for s in out:
        if not isinstance(s, WeightStep | PauseStep | AnalysisStep | HeaderStep):
            raise _invalid(f"{where}: {s!r} is not a canary step")
    return out


def _never_lower(weights: Iterable[tuple[int, int]], where: str) -> None:
    """Refuse weights that go down: a step back is a rollback, which abort does for all.

    ``weights`` are (position, weight) pairs; the error's ``details[where]`` is the position.
    """
    highest = 0
    for position, weight in weights:
        if weight < highest:
            error = _invalid(
                f"the canary weight goes down from {highest}% to {weight}%",
                "give each weight step at least the weight of the one before; "
                "to go back, abort the rollout",
            )
            error.details[where] = position
            raise error
        highest = weight


@dataclass(frozen=True, kw_only=True)
class _StrategyBase:
    """Settings every strategy shares."""

    type: ClassVar[str]
    instances: int
    progress_deadline: float = 600.0
    on_failure: OnFailure = OnFailure.ROLLBACK

    def __post_init__(self) -> None:
        if isinstance(self.instances, bool) or self.instances < 1:
            raise _invalid(f"instances must be at least 1, not {self.instances}")
        if self.progress_deadline <= 0:
            raise _invalid("progress_deadline must be positive")
        object.__setattr__(self, "on_failure", OnFailure(self.on_failure))
        self._validate()

    def _validate(self) -> None:
        """Checks of one strategy's own settings."""

    def _extra(self) -> dict[str, Any]:
        return {}

    def to_dict(self) -> dict[str, Any]:
        return {
            "type": self.type,
            "instances": self.instances,
            "progress_deadline": self.progress_deadline,
            "on_failure": self.on_failure.value,
            **self._extra(),
        }


@dataclass(frozen=True, kw_only=True)
class Recreate(_StrategyBase):
    """Stop the old version, then start the new one (downtime in between)."""

    type: ClassVar[str] = "recreate"


@dataclass(frozen=True, kw_only=True)
class Rolling(_StrategyBase):
    """Replace instances in batches bounded by ``max_surge`` and ``max_unavailable``.

    Each is a count or a percentage of ``instances`` ("25%"); surge rounds up and
    unavailable rounds down, as Kubernetes Deployments do.
    """

    type: ClassVar[str] = "rolling"
    max_surge: int | str = "25%"
    max_unavailable: int | str = 0

    def _validate(self) -> None:
        if self.limits() == (0, 0):
            raise _invalid(
                "max_surge and max_unavailable are both 0, so no instance could ever be replaced",
                "allow a surge (max_surge: 1) or some unavailability (max_unavailable: 1)",
            )

    def limits(self) -> tuple[int, int]:
        """``(max_surge, max_unavailable)`` as instance counts."""
        return (
            _resolve(self.max_surge, self.instances, up=True),
            _resolve(self.max_unavailable, self.instances, up=False),
        )

    def _extra(self) -> dict[str, Any]:
        return {"max_surge": self.max_surge, "max_unavailable": self.max_unavailable}


def _resolve(value: int | str, total: int, *, up: bool) -> int:
    if isinstance(value, bool):
        raise _invalid(f"{value!r} is not a count or a percentage")
    if isinstance(value, int):
        if value < 0:
            raise _invalid(f"{value} cannot be negative")
        return value
    m = re.fullmatch(r"\s*(\d+)\s*(%?)\s*", value)
    if m is None or (m.group(2) and int(m.group(1)) > 100):
        raise _invalid(f"'{value}' is not a count or a percentage from 0% to 100%")
    if not m.group(2):
        return int(m.group(1))
    exact = total * int(m.group(1)) / 100
    return math.ceil(exact) if up else math.floor(exact)


@dataclass(frozen=True, kw_only=True)
class BlueGreen(_StrategyBase):
    """Bring up the new version beside the old one, then switch all traffic at once.

    The preview pool is reachable through ``preview_header`` before the switch. With
    ``auto_promote`` the switch follows readiness (and pre-promotion analysis) after
    ``promotion_delay`` seconds; without it the rollout pauses until promoted. After the
    switch, post-promotion analysis can still switch straight back, since the old pool stays
    up until ``scale_down_delay`` has passed.
    """

    type: ClassVar[str] = "blue-green"
    preview_header: HeaderMatch | None = None
    preview_port: int | None = None  # the router serves the preview alone here (0: any port)
    mirror: int = 0  # percent of live requests copied to the preview, answers discarded
    auto_promote: bool = True
    promotion_delay: float = 0.0
    pre_promotion_analysis: AnalysisStep | None = None
    post_promotion_analysis: AnalysisStep | None = None
    scale_down_delay: float = 30.0

    def _validate(self) -> None:
        if self.promotion_delay < 0 or self.scale_down_delay < 0:
            raise _invalid("promotion_delay and scale_down_delay cannot be negative")
        if isinstance(self.mirror, bool) or not 0 <= self.mirror <= 100:
            raise _invalid(f"mirror {self.mirror} is outside 0..100 (percent of requests)")
        if self.preview_port is not None and not 0 <= self.preview_port < 65536:
            raise _invalid(f"preview_port {self.preview_port} is not a port")
        if not self.auto_promote and self.promotion_delay > 0:
            raise _invalid(
                "promotion_delay is set but auto_promote is false, so it would never apply",
                "drop promotion_delay to promote by hand, or set auto_promote: true",
            )

    @property
    def preview(self) -> bool:
        """Whether the router opens a preview for the new pool (its own port or mirroring)."""
        return self.preview_port is not None or self.mirror > 0

    def _extra(self) -> dict[str, Any]:
        return {
            "preview_header": self.preview_header.to_dict() if self.preview_header else None,
            "preview_port": self.preview_port,
            "mirror": self.mirror,
            "auto_promote": self.auto_promote,
            "promotion_delay": self.promotion_delay,
            "pre_promotion_analysis": _analysis_ref(self.pre_promotion_analysis),
            "post_promotion_analysis": _analysis_ref(self.post_promotion_analysis),
            "scale_down_delay": self.scale_down_delay,
        }


def _analysis_ref(a: AnalysisStep | None) -> dict[str, Any] | None:
    return None if a is None else {"template": a.template, "duration": a.duration}


def _analysis_from(data: Mapping[str, Any] | None) -> AnalysisStep | None:
    return None if data is None else AnalysisStep(str(data["template"]), float(data["duration"]))


@dataclass(frozen=True, kw_only=True)
class Canary(_StrategyBase):
    """Shift traffic step by step: weights, pauses, analyses, header routes.

    The canary pool is scaled to its share of ``instances`` (rounded up) before each weight
    takes effect; the stable pool keeps full size until the end, so an abort is instant.
    """

    type: ClassVar[str] = "canary"
    steps: tuple[CanaryStep, ...] = ()
    scale_down_delay: float = 0.0

    def _validate(self) -> None:
        object.__setattr__(self, "steps", _steps_tuple(self.steps, "canary"))
        if self.scale_down_delay < 0:
            raise _invalid("scale_down_delay cannot be negative")
        _never_lower(
            ((i, s.weight) for i, s in enumerate(self.steps) if isinstance(s, WeightStep)), "step"
        )

    def _extra(self) -> dict[str, Any]:
        return {
            "steps": [_step_to_dict(s) for s in self.steps],
            "scale_down_delay": self.scale_down_delay,
        }


@dataclass(frozen=True)
class Wave:
    """One ring: who gets the canary (a header match or a weight), then its own canary steps."""

    name: str
    header: HeaderMatch | None = None
    weight: int | None = None
    steps: tuple[CanaryStep, ...] = ()

    def __post_init__(self) -> None:
        if not self.name:
            raise _invalid("a wave needs a name")
        if (self.header is None) == (self.weight is None):
            raise _invalid(
                f"wave '{self.name}' needs exactly one of header or weight",
                "e.g. {name: internal, header: 'x-ring: internal'} or {name: all, weight: 100}",
            )
        if self.weight is not None:
            WeightStep(self.weight)
        object.__setattr__(self, "steps", _steps_tuple(self.steps, f"wave '{self.name}'"))

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "header": self.header.to_dict() if self.header else None,
            "weight": self.weight,
            "steps": [_step_to_dict(s) for s in self.steps],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Wave:
        header = data.get("header")
        return cls(
            str(data["name"]),
            HeaderMatch.from_dict(header) if header is not None else None,
            None if data.get("weight") is None else int(data["weight"]),
            tuple(_step_from_dict(s) for s in data.get("steps", ())),
        )


@dataclass(frozen=True, kw_only=True)
class Rings(_StrategyBase):
    """Waves of widening audience, each a canary: e.g. internal header, then 10%, then all.

    A header route, once set, stays until the end: the internal ring keeps the new version
    while later rings join.
    """

    type: ClassVar[str] = "rings"
    waves: tuple[Wave, ...] = ()
    scale_down_delay: float = 0.0

    def _validate(self) -> None:
        waves = tuple(self.waves)
        object.__setattr__(self, "waves", waves)
        if not waves:
            raise _invalid("rings needs at least one wave")
        names = [w.name for w in waves]
        if len(set(names)) != len(names):
            raise _invalid(f"wave names repeat: {', '.join(names)}")
        if self.scale_down_delay < 0:
            raise _invalid("scale_down_delay cannot be negative")
        weights: list[tuple[int, int]] = []
        for i, w in enumerate(waves):
            weights += [(i, w.weight)] if w.weight is not None else []
            weights += [(i, s.weight) for s in w.steps if isinstance(s, WeightStep)]
        _never_lower(weights, "wave")

    def _extra(self) -> dict[str, Any]:
        return {
            "waves": [w.to_dict() for w in self.waves],
            "scale_down_delay": self.scale_down_delay,
        }


Strategy: TypeAlias = Recreate | Rolling | BlueGreen | Canary | Rings


def strategy_from_dict(data: Mapping[str, Any]) -> Strategy:
    """The strategy stored by ``to_dict`` (its ``type`` says which)."""
    kind = data.get("type")
    common: dict[str, Any] = {
        "instances": int(data["instances"]),
        "progress_deadline": float(data.get("progress_deadline", 600.0)),
        "on_failure": OnFailure(data.get("on_failure", OnFailure.ROLLBACK.value)),
    }
    if kind == Recreate.type:
        return Recreate(**common)
    if kind == Rolling.type:
        return Rolling(
            **common,
            max_surge=data.get("max_surge", "25%"),
            max_unavailable=data.get("max_unavailable", 0),
        )
    if kind == BlueGreen.type:
        preview = data.get("preview_header")
        return BlueGreen(
            **common,
            preview_header=HeaderMatch.from_dict(preview) if preview else None,
            preview_port=None if data.get("preview_port") is None else int(data["preview_port"]),
            mirror=int(data.get("mirror", 0)),
            auto_promote=bool(data.get("auto_promote", True)),
            promotion_delay=float(data.get("promotion_delay", 0.0)),
            pre_promotion_analysis=_analysis_from(data.get("pre_promotion_analysis")),
            post_promotion_analysis=_analysis_from(data.get("post_promotion_analysis")),
            scale_down_delay=float(data.get("scale_down_delay", 30.0)),
        )
    if kind == Canary.type:
        return Canary(
            **common,
            steps=tuple(_step_from_dict(s) for s in data.get("steps", ())),
            scale_down_delay=float(data.get("scale_down_delay", 0.0)),
        )
    if kind == Rings.type:
        return Rings(
            **common,
            waves=tuple(Wave.from_dict(w) for w in data.get("waves", ())),
            scale_down_delay=float(data.get("scale_down_delay", 0.0)),
        )
    raise _invalid(
        f"unknown strategy type {kind!r}", "one of recreate, rolling, blue-green, canary, rings"
    )


# -- commands: what the shell executes, in order -----------------------------------------------


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


# -- observations: what the shell saw ----------------------------------------------------------


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


# -- state ------------------------------------------------------------------------------------


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


# -- plans ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Scale:
    pool: Pool
    instances: int
    wait: bool = True


@dataclass(frozen=True)
class _Traffic:
    weight: int  # to the canary


@dataclass(frozen=True)
class _Route:
    match: HeaderMatch | None


@dataclass(frozen=True)
class _Preview:
    open: bool


@dataclass(frozen=True)
class _Pause:
    duration: float | None
    cause: PauseCause


@dataclass(frozen=True)
class _Delay:
    seconds: float


@dataclass(frozen=True)
class _Analyze:
    template: str
    duration: float
    when: str


@dataclass(frozen=True)
class _RollingUpdate:
    pass


@dataclass(frozen=True)
class _Finish:
    pass


@dataclass(frozen=True)
class _RestoreStable:
    pass


@dataclass(frozen=True)
class _RolledBack:
    pass


_Step: TypeAlias = (
    _Scale
    | _Traffic
    | _Route
    | _Preview
    | _Pause
    | _Delay
    | _Analyze
    | _RollingUpdate
    | _Finish
    | _RestoreStable
    | _RolledBack
)


@dataclass(frozen=True)
class _Plan:
    steps: tuple[_Step, ...]
    labels: tuple[str, ...]  # per step: the wave it belongs to, or ""
    tail: int  # where the full promotion begins


_ROLLBACK = _Plan(
    (
        _RestoreStable(),
        _Traffic(0),
        _Route(None),
        _Preview(False),
        _Scale(Pool.CANARY, 0, wait=False),
        _RolledBack(),
    ),
    ("",) * 6,
    6,
)


def _tail(instances: int, delay: float, preview: bool = False) -> list[_Step]:
    delayed: list[_Step] = [_Delay(delay)] if delay > 0 else []
    closed: list[_Step] = [_Preview(False)] if preview else []
    return [
        _Scale(Pool.CANARY, instances),
        _Traffic(100),
        _Route(None),
        *closed,
        *delayed,
        _Finish(),
    ]


def _share(instances: int, weight: int) -> int:
    """Canary instances to carry ``weight`` percent: the share rounded up, at least one."""
    return 0 if weight == 0 else max(1, math.ceil(instances * weight / 100))


@lru_cache(maxsize=256)
def _plan(strategy: Strategy, direct: bool) -> _Plan:
    """The steps of ``strategy``, each labelled with its wave, then the common tail.

    A ``direct`` plan is the tail alone: nothing to compare with (first deployment) or
    nothing to wait for (``shipyard rollback`` to a version that was live before).
    """
    body: list[tuple[_Step, str]] = []
    delay = 0.0
    n = strategy.instances
    if direct:
        pass
    elif isinstance(strategy, Recreate):
        body.append((_Scale(Pool.STABLE, 0), ""))
    elif isinstance(strategy, Rolling):
        body.append((_RollingUpdate(), ""))
    elif isinstance(strategy, BlueGreen):
        delay = strategy.scale_down_delay
        body.append((_Scale(Pool.CANARY, n), ""))
        if strategy.preview_header is not None:
            body.append((_Route(strategy.preview_header), ""))
        if strategy.preview:
            body.append((_Preview(True), ""))
        if strategy.pre_promotion_analysis is not None:
            a = strategy.pre_promotion_analysis
            body.append((_Analyze(a.template, a.duration, "pre-promotion"), ""))
        if not strategy.auto_promote:
            body.append((_Pause(None, PauseCause.PROMOTION_GATE), ""))
        elif strategy.promotion_delay > 0:
            body.append((_Pause(strategy.promotion_delay, PauseCause.PROMOTION_GATE), ""))
        body.append((_Traffic(100), ""))
        if strategy.preview_header is not None:
            body.append((_Route(None), ""))
        if strategy.preview:
            body.append((_Preview(False), ""))
        if strategy.post_promotion_analysis is not None:
            a = strategy.post_promotion_analysis
            body.append((_Analyze(a.template, a.duration, "post-promotion"), ""))
    elif isinstance(strategy, Canary):
        delay = strategy.scale_down_delay
        body.extend(_canary_body(n, strategy.steps, "", 0)[0])
    else:
        delay = strategy.scale_down_delay
        scaled = 0
        for wave in strategy.waves:
            first: CanaryStep = (
                HeaderStep(wave.header) if wave.header else WeightStep(wave.weight or 0)
            )
            steps, scaled = _canary_body(n, (first, *wave.steps), wave.name, scaled)
            body.extend(steps)
    preview = isinstance(strategy, BlueGreen) and strategy.preview and not direct
    tail = _tail(n, 0.0 if direct else delay, preview)
    return _Plan(
        tuple(s for s, _ in body) + tuple(tail),
        tuple(label for _, label in body) + ("",) * len(tail),
        len(body),
    )


def _canary_body(
    instances: int, steps: Sequence[CanaryStep], label: str, scaled: int
) -> tuple[list[tuple[_Step, str]], int]:
    out: list[tuple[_Step, str]] = []
    for s in steps:
        if isinstance(s, WeightStep):
            need = _share(instances, s.weight)
            if need > scaled:  # capacity first, then traffic; never shrink mid-rollout
                out.append((_Scale(Pool.CANARY, need), label))
                scaled = need
            out.append((_Traffic(s.weight), label))
        elif isinstance(s, HeaderStep):
            if scaled < 1:
                out.append((_Scale(Pool.CANARY, 1), label))
                scaled = 1
            out.append((_Route(s.match), label))
        elif isinstance(s, PauseStep):
            out.append((_Pause(s.duration, PauseCause.STEP), label))
        else:
            out.append((_Analyze(s.template, s.duration, "step"), label))
    return out, scaled


def _describe(s: _Step) -> str:
    if isinstance(s, _Scale):
        return f"scale the {s.pool} pool to {s.instances}" + (" and wait" if s.wait else "")
    if isinstance(s, _Traffic):
        return f"send {s.weight}% of traffic to the canary"
    if isinstance(s, _Route):
        return f"route '{s.match}' to the canary" if s.match else "clear the header route"
    if isinstance(s, _Preview):
        return "open the preview of the canary" if s.open else "close the preview"
    if isinstance(s, _Pause):
        what = "promotion gate" if s.cause is PauseCause.PROMOTION_GATE else "pause"
        return f"{what} for {_duration(s.duration)}" if s.duration else f"{what} until promoted"
    if isinstance(s, _Delay):
        return f"keep the old pool for {_duration(s.seconds)}"
    if isinstance(s, _Analyze):
        return f"{s.when} analysis '{s.template}' for {_duration(s.duration)}"
    if isinstance(s, _RollingUpdate):
        return "replace instances in batches"
    if isinstance(s, _Finish):
        return "scale down the old pool and promote"
    if isinstance(s, _RestoreStable):
        return "restore the stable pool"
    return "record the rollback"


def describe_plan(strategy: Strategy, *, direct: bool = False) -> tuple[str, ...]:
    """The steps a rollout of ``strategy`` goes through, in words (for status and dry runs)."""
    p = _plan(strategy, direct)
    return tuple(
        f"{label}: {_describe(s)}" if label else _describe(s)
        for s, label in zip(p.steps, p.labels, strict=True)
    )


def describe_step(state: RolloutState) -> str:
    """Where ``state`` is, e.g. ``step 3/8: step analysis 'errors' for 2m``."""
    if state.finished:
        return state.phase.value
    p = _ROLLBACK if state.rolling_back else _plan(state.strategy, state.direct)
    index = min(state.step, len(p.steps) - 1)
    where = "rollback step" if state.rolling_back else "step"
    label = f"{p.labels[index]}: " if p.labels[index] else ""
    return f"{where} {index + 1}/{len(p.steps)}: {label}{_describe(p.steps[index])}"


# -- the machine ------------------------------------------------------------------------------


def start(
    strategy: Strategy, now: datetime, *, stable_instances: int, direct: bool = False
) -> Decision:
    """Open a rollout of ``strategy`` while ``stable_instances`` of the old version run.

    The stable instances are taken as ready. With none (a first deployment), or with
    ``direct`` (``shipyard rollback``: back to a known version at once, argo-rollouts#2168),
    the new version goes straight to full size and all traffic, skipping steps and analysis.
    """
    if stable_instances < 0:
        raise _invalid(f"stable_instances cannot be negative, not {stable_instances}")
    state = RolloutState(
        strategy=strategy,
        phase=Phase.PROGRESSING,
        stable_instances=stable_instances,
        targets=Pools(stable_instances, 0),
        ready=Pools(stable_instances, 0),
        started_at=now,
        updated_at=now,
        direct=direct or stable_instances == 0,
    )
    run = _Run(state, now)
    if stable_instances == 0:
        run.note(
            f"started a {strategy.type} rollout of {strategy.instances} instance(s); no stable "
            "version runs, so it goes straight to full"
        )
    elif direct:
        run.note(
            f"started a direct rollout of {strategy.instances} instance(s) replacing "
            f"{stable_instances}: straight to full, skipping steps and analysis"
        )
    else:
        run.note(
            f"started a {strategy.type} rollout of {strategy.instances} instance(s) "
            f"replacing {stable_instances} stable"
        )
    run.settle()
    return run.decision()


def step(state: RolloutState, observation: Observation, now: datetime) -> Decision:
    """Advance ``state`` by what was observed at ``now``.

    An observation that changes nothing returns an equal state and no commands. A user action
    the rollout cannot take raises ``RolloutActionRefused`` (code ``rollout-action-refused``).
    """
    run = _Run(state, now)
    if isinstance(observation, Readiness):
        if observation.stable < 0 or observation.canary < 0:
            raise _invalid("ready instance counts cannot be negative")
        run.set(ready=Pools(observation.stable, observation.canary))
    elif isinstance(observation, AnalysisResult):
        run.analysis_result(observation)
    elif isinstance(observation, UserAction):
        run.act(observation.action, observation.by)
    elif isinstance(observation, TargetFailed) and not state.finished and not state.held:
        run.fail(observation.reason)
    run.settle()
    return run.decision()


def reconcile(state: RolloutState, now: datetime) -> Decision:
    """Re-assert the world ``state`` describes, for a controller that restarted.

    The shell cannot know which commands of the last decision ran before it died; these are
    idempotent, so it executes them and carries on with ``step``. A running analysis starts
    again with a fresh measurement window, and its deadline moves with it.
    """
    if state.finished:
        return Decision(state, ())
    run = _Run(state, now)
    for pool in Pool:
        if state.targets.of(pool) > 0:
            run.emit(ScaleUp(pool, state.targets.of(pool)))
    run.emit(SetWeights(100 - state.canary_weight, state.canary_weight))
    match = state.header_route
    run.emit(SetHeaderRoute(match.header, match.value) if match else ClearHeaderRoute())
    strategy = state.strategy
    if state.preview and isinstance(strategy, BlueGreen):
        run.emit(OpenPreview(strategy.preview_port, strategy.mirror))
    elif isinstance(strategy, BlueGreen) and strategy.preview:
        run.emit(ClosePreview())
    for pool in Pool:
        if state.targets.of(pool) == 0:
            run.emit(ScaleDown(pool, 0))
    run.note("re-applied pools, weights and routes after a restart")
    w, a = state.wait, state.analysis
    current = run.plan.steps[min(state.step, len(run.plan.steps) - 1)]
    analysing = w is not None and w.kind is WaitKind.ANALYSIS
    if analysing and isinstance(current, _Analyze) and a is not None and a.running:
        run.emit(StartAnalysis(current.template, current.duration))
        run.set(analysis=replace(a, started_at=now))
        if not state.user_paused:
            pd = state.strategy.progress_deadline
            run.set(deadline_at=now + timedelta(seconds=current.duration + pd))
        run.note(f"restarted analysis '{a.name}'")
    return run.decision()


_STOPPED = (Phase.HEALTHY, Phase.ABORTED, Phase.DEGRADED)


class _Run:
    """One decision in the making: the state so far, the commands and the reasons."""

    def __init__(self, state: RolloutState, now: datetime) -> None:
        self.s = state
        self.now = now
        self.commands: list[Command] = []
        self.notes: list[str] = []

    # -- bookkeeping

    def set(self, **changes: Any) -> None:
        self.s = replace(self.s, **changes)

    def emit(self, command: Command) -> None:
        self.commands.append(command)

    def note(self, text: str) -> None:
        self.notes.append(text)

    def decision(self) -> Decision:
        s = self.s
        if self.notes:
            s = replace(
                s, reason="; ".join(self.notes), decisions=s.decisions + 1, updated_at=self.now
            )
        return Decision(s, tuple(self.commands))

    @property
    def plan(self) -> _Plan:
        return _ROLLBACK if self.s.rolling_back else _plan(self.s.strategy, self.s.direct)

    @property
    def active(self) -> bool:
        return self.s.phase not in _STOPPED

    def _label(self) -> str:
        label = self.plan.labels[self.s.step]
        return f"{label}: " if label else ""

    def _ready(self, pool: Pool, n: int) -> bool:
        have = self.s.ready.of(pool)
        return have == 0 if n == 0 else have >= n

    def _wait(self, wait: Wait, deadline: float | None = None) -> None:
        at = None if deadline is None else self.now + timedelta(seconds=deadline)
        self.set(wait=wait, deadline_at=at)

    def _advance(self) -> None:
        self.set(wait=None, deadline_at=None, step=self.s.step + 1)

    # -- driving the plan

    def settle(self) -> None:
        """Run steps until one has to wait; fail the step whose deadline has passed."""
        self._unstick()
        while True:
            self._drive()
            if not self._deadline_passed():
                break
            self.fail(self._deadline_reason(), deadline=True)
        self.set(phase=self._phase())

    def _unstick(self) -> None:
        """A rollback stuck waiting for the stable pool carries on once an instance of it is
        ready again (the shell keeps replacing the ones that exit)."""
        s = self.s
        if s.phase is Phase.DEGRADED and s.rolling_back and self._restoring() and s.ready.stable:
            self.note(
                f"{s.ready.stable} stable instance(s) ready again: sending traffic back to them"
            )
            self.set(phase=Phase.PROGRESSING)
            self._advance()

    def _restoring(self) -> bool:
        w = self.s.wait
        return w is not None and w.kind is WaitKind.READY and w.pool is Pool.STABLE

    def _drive(self) -> None:
        while self.active:
            s = self.s
            if s.wait is None:
                self._enter(self.plan.steps[s.step])
                continue
            if s.user_paused:
                return
            if s.wait.kind is WaitKind.ROLLING:
                if not self._rolling():
                    return
                self._advance()
                continue
            done = self._satisfied()
            if done is None:
                return
            self.note(done)
            self._advance()

    def _phase(self) -> Phase:
        s = self.s
        if s.phase in _STOPPED:
            return s.phase
        if s.rolling_back:
            return Phase.ROLLING_BACK
        if s.user_paused or (s.wait is not None and s.wait.kind is WaitKind.PAUSE):
            return Phase.PAUSED
        return Phase.PROGRESSING

    def _enter(self, step: _Step) -> None:
        s, label = self.s, self._label()
        deadline = s.strategy.progress_deadline
        if isinstance(step, _Scale):
            current = s.targets.of(step.pool)
            if current != step.instances:
                up = step.instances > current
                self.emit(
                    ScaleUp(step.pool, step.instances)
                    if up
                    else ScaleDown(step.pool, step.instances)
                )
                self.set(targets=s.targets.with_(step.pool, step.instances))
                if not step.wait:  # nobody waits to see them go: count them gone now
                    low = min(s.ready.of(step.pool), step.instances)
                    self.set(ready=s.ready.with_(step.pool, low))
                self.note(f"{label}scaling the {step.pool} pool to {step.instances}")
            if step.wait and not self._ready(step.pool, step.instances):
                self._wait(Wait(WaitKind.READY, step.pool, step.instances), deadline)
            else:
                self._advance()
        elif isinstance(step, _Traffic):
            if s.canary_weight != step.weight:
                self.emit(SetWeights(100 - step.weight, step.weight))
                self.set(canary_weight=step.weight)
                self.note(f"{label}{_weight_words(step.weight)}")
            self._advance()
        elif isinstance(step, _Route):
            if s.header_route != step.match:
                if step.match is None:
                    self.emit(ClearHeaderRoute())
                    self.note(f"{label}header route cleared")
                else:
                    self.emit(SetHeaderRoute(step.match.header, step.match.value))
                    self.note(f"{label}requests with '{step.match}' go to the canary")
                self.set(header_route=step.match)
            self._advance()
        elif isinstance(step, _Preview):
            strategy = s.strategy
            if step.open and not s.preview and isinstance(strategy, BlueGreen):
                self.emit(OpenPreview(strategy.preview_port, strategy.mirror))
                self.set(preview=True)
                self.note(f"{label}{_preview_words(strategy)}")
            elif not step.open and s.preview:
                self.emit(ClosePreview())
                self.set(preview=False)
                self.note(f"{label}preview closed")
            self._advance()
        elif isinstance(step, _Pause):
            until = None if step.duration is None else self.now + timedelta(seconds=step.duration)
            self._wait(Wait(WaitKind.PAUSE, until=until, cause=step.cause))
            self.note(f"{label}{_pause_words(step.cause, step.duration)}")
        elif isinstance(step, _Delay):
            if step.seconds <= 0:
                self._advance()
                return
            self._wait(Wait(WaitKind.DELAY, until=self.now + timedelta(seconds=step.seconds)))
            self.note(f"keeping the old pool for {_duration(step.seconds)} before scaling it down")
        elif isinstance(step, _Analyze):
            self.emit(StartAnalysis(step.template, step.duration))
            self.set(
                analysis=AnalysisRecord(step.template, step.when, AnalysisPhase.RUNNING, self.now)
            )
            self._wait(Wait(WaitKind.ANALYSIS, analysis=step.template), step.duration + deadline)
            self.note(
                f"{label}started {step.when} analysis '{step.template}' "
                f"for {_duration(step.duration)}"
            )
        elif isinstance(step, _RollingUpdate):
            self._wait(Wait(WaitKind.ROLLING), deadline)
        elif isinstance(step, _Finish):
            if s.targets.stable > 0:
                self.emit(ScaleDown(Pool.STABLE, 0))
            self.emit(Promote())
            self.emit(Done(Phase.HEALTHY))
            self.set(phase=Phase.HEALTHY, wait=None, deadline_at=None)
            self.note("rollout complete: the new version is stable")
        elif isinstance(step, _RestoreStable):
            n = s.stable_instances
            need = 0  # a pool that kept its size takes traffic back at once, if any is ready
            if s.targets.stable < n:
                self.emit(ScaleUp(Pool.STABLE, n))
                self.set(targets=s.targets.with_(Pool.STABLE, n))
                self.note(f"scaling the stable pool back to {n}")
                need = n
            elif n > 0 and s.ready.stable == 0:
                need = 1
            if need and not self._ready(Pool.STABLE, need):
                self._wait(Wait(WaitKind.READY, Pool.STABLE, need), deadline)
                return
            self._advance()
        else:
            self.emit(Rollback(s.failure or "rolled back"))
            self.emit(Done(Phase.ABORTED))
            self.set(phase=Phase.ABORTED, wait=None, deadline_at=None)
            self.note("rolled back: the stable version serves all traffic")

    def _satisfied(self) -> str | None:
        s = self.s
        w = s.wait
        assert w is not None
        if w.kind is WaitKind.READY and w.pool is not None and w.instances is not None:
            if not self._ready(w.pool, w.instances):
                return None
            if w.instances == 0:
                return f"{w.pool} pool stopped"
            return f"{w.pool} pool ready ({s.ready.of(w.pool)}/{w.instances})"
        if w.kind in (WaitKind.PAUSE, WaitKind.DELAY):
            if w.until is None or self.now < w.until:
                return None
            if w.kind is WaitKind.DELAY:
                return "scale-down delay over"
            if w.cause is PauseCause.PROMOTION_GATE:
                return "promotion delay over: promoting the preview"
            return "pause over"
        if w.kind is WaitKind.ANALYSIS:
            a = s.analysis
            if a is None or a.name != w.analysis or a.phase is not AnalysisPhase.SUCCESSFUL:
                return None
            return f"{a.when} analysis '{a.name}' successful" + (
                f": {a.message}" if a.message else ""
            )
        return None

    def _rolling(self) -> bool:
        """One round of a rolling update; True once every new instance is up and old gone."""
        s = self.s
        spec = s.strategy
        assert isinstance(spec, Rolling)
        n = spec.instances
        surge, unavailable = spec.limits()
        old, new = s.targets.stable, s.targets.canary
        ready_new = min(s.ready.canary, new)
        ready_old = min(s.ready.stable, old)
        # Stop old instances only while enough instances stay available...
        excess = max(0, ready_new + ready_old - (n - unavailable))
        old_next = max(0, old - excess)
        # ...and start new ones only while the total stays within the surge.
        new_next = max(new, min(n, n + surge - old_next))
        serving = ready_new + old_next
        weight = 100 if serving == 0 else math.floor(100 * ready_new / serving + 0.5)
        moved = False
        if weight != s.canary_weight:
            self.emit(SetWeights(100 - weight, weight))
            moved = True
        if old_next != old:
            self.emit(ScaleDown(Pool.STABLE, old_next))
            moved = True
        if new_next != new:
            self.emit(ScaleUp(Pool.CANARY, new_next))
            moved = True
        # Stopped old instances are gone as soon as the shell runs the command.
        ready = replace(s.ready, stable=min(s.ready.stable, old_next))
        self.set(canary_weight=weight, targets=Pools(old_next, new_next), ready=ready)
        if moved:
            self.note(
                f"rolling: {ready_new}/{n} new instances ready; old pool to {old_next}, "
                f"new pool to {new_next}; {weight}% of traffic to the new version"
            )
            self._wait(Wait(WaitKind.ROLLING), spec.progress_deadline)
        done = ready_new >= n and old_next == 0
        if done:
            self.note(f"rolling update complete: {n}/{n} new instances ready")
        return done

    def _deadline_passed(self) -> bool:
        s = self.s
        return (
            self.active
            and not s.user_paused
            and s.wait is not None
            and s.deadline_at is not None
            and self.now >= s.deadline_at
        )

    def _deadline_reason(self) -> str:
        s = self.s
        w = s.wait
        assert w is not None
        limit = _duration(s.strategy.progress_deadline)
        if w.kind is WaitKind.ANALYSIS:
            when = f"{s.analysis.when} " if s.analysis else ""
            return (
                f"{self._label()}{when}analysis '{w.analysis}' gave no verdict within its "
                f"duration plus {limit}"
            )
        if w.kind is WaitKind.ROLLING:
            return (
                f"progress deadline ({limit}) exceeded: {s.ready.canary}/{s.strategy.instances} "
                "new instances ready"
            )
        assert w.pool is not None
        if w.instances == 0:
            return (
                f"progress deadline ({limit}) exceeded: the {w.pool} pool still has "
                f"{s.ready.of(w.pool)} ready"
            )
        return (
            f"progress deadline ({limit}) exceeded: {w.pool} pool has "
            f"{s.ready.of(w.pool)}/{w.instances} ready"
        )

    # -- failure and rollback

    def _stop_analysis(self) -> None:
        s = self.s
        a = s.analysis
        waiting = s.wait is not None and s.wait.kind is WaitKind.ANALYSIS
        if waiting and a is not None and a.running:
            self.emit(StopAnalysis(a.name))
            self.set(analysis=replace(a, finished_at=self.now, message="stopped"))

    def fail(self, reason: str, *, deadline: bool = False) -> None:
        self._stop_analysis()
        if self.s.rolling_back:
            self._fail_rolling_back(reason, deadline)
        elif self.s.strategy.on_failure is OnFailure.HOLD:
            self.note(f"{reason}; holding here as configured (on_failure: hold)")
            self.set(phase=Phase.DEGRADED, deadline_at=None, failure=reason, user_paused=False)
        else:
            self.note(reason)
            self._rollback(reason)

    def _fail_rolling_back(self, reason: str, deadline: bool) -> None:
        """A rollback never gives up on the stable version: a failure on the way changes
        nothing; past the deadline, traffic goes back to the stable instances that are ready
        (fewer than asked for), and with none ready the rollback is stuck (Degraded, visible)
        until one is."""
        have = self.s.ready.stable
        if not deadline or not self._restoring():
            self.note(f"{reason}; still rolling back")
        elif have:
            self.note(f"{reason}; sending traffic back to the {have} stable instance(s) ready")
            self._advance()
        else:
            self.note(f"{reason}; the rollback is stuck until a stable instance is ready")
            self.set(phase=Phase.DEGRADED, deadline_at=None)

    def _rollback(self, reason: str) -> None:
        self._stop_analysis()
        self.note("rolling back")
        self.set(
            phase=Phase.PROGRESSING,
            rolling_back=True,
            step=0,
            wait=None,
            deadline_at=None,
            user_paused=False,
            failure=reason,
        )

    # -- observations

    def analysis_result(self, result: AnalysisResult) -> None:
        s = self.s
        w, a = s.wait, s.analysis
        current = (
            self.active
            and w is not None
            and w.kind is WaitKind.ANALYSIS
            and w.analysis == result.name
            and a is not None
            and a.running
        )
        if not current or not result.phase.completed or a is None:
            return  # late, duplicate or interim: nothing to decide
        finished = replace(
            a,
            phase=result.phase,
            finished_at=self.now,
            message=result.message,
            details=dict(result.details),
        )
        self.set(analysis=finished)
        label = self._label()
        said = f": {result.message}" if result.message else ""
        if result.phase is AnalysisPhase.SUCCESSFUL:
            if s.user_paused:
                self.note(f"{label}{a.when} analysis '{a.name}' successful{said}; still paused")
        elif result.phase is AnalysisPhase.INCONCLUSIVE:
            self._wait(Wait(WaitKind.PAUSE, cause=PauseCause.INCONCLUSIVE))
            self.note(
                f"{label}{a.when} analysis '{a.name}' inconclusive{said}; "
                "paused until promoted or aborted"
            )
        else:
            verdict = "failed" if result.phase is AnalysisPhase.FAILED else "errored"
            self.fail(f"{label}{a.when} analysis '{a.name}' {verdict}{said}")

    def act(self, action: Action, by: str) -> None:
        s = self.s
        who = f" by {by}" if by else ""
        moving = self.active and not s.rolling_back
        if action is Action.PAUSE:
            if not moving:
                raise self._refuse(action, "it is not progressing")
            if s.user_paused:
                raise self._refuse(action, "it is already paused", "use resume to continue")
            self.set(user_paused=True, deadline_at=None)
            self.note(f"paused{who}")
        elif action is Action.RESUME:
            if s.user_paused and self.active:
                self.set(user_paused=False)
                self._refresh_deadline()
                self.note(f"resumed{who}")
            elif s.phase is Phase.DEGRADED:
                # A held rollout that gets through again owes nothing to the old failure.
                failure = s.failure if s.rolling_back else ""
                self.set(
                    phase=Phase.PROGRESSING,
                    wait=None,
                    deadline_at=None,
                    user_paused=False,
                    failure=failure,
                )
                self.note(f"resumed{who}: trying the current step again")
            else:
                raise self._refuse(
                    action,
                    "it is neither paused by hand nor held",
                    "use promote to skip a pause step or the promotion gate",
                )
        elif action is Action.PROMOTE and s.held:
            self._accept(who)
        elif action is Action.PROMOTE:
            w = s.wait
            if not moving or w is None or w.kind not in _SKIPPABLE:
                raise self._refuse(
                    action,
                    "it is not at a pause, an analysis or the promotion gate",
                    "use promote-full to skip every remaining step, or resume a paused rollout",
                )
            skipped = _wait_words(w, s.analysis)
            self._stop_analysis()
            self.set(user_paused=False)
            self.note(f"promoted{who}: skipped {skipped}")
            self._advance()
        elif action is Action.PROMOTE_FULL:
            tail = self.plan.tail
            if s.rolling_back or s.finished or s.step >= tail:
                raise self._refuse(action, "there are no steps left to skip")
            self._stop_analysis()
            self.set(
                phase=Phase.PROGRESSING,
                user_paused=False,
                wait=None,
                deadline_at=None,
                step=tail,
            )
            self.note(f"fully promoted{who}: skipping the remaining steps and analyses")
        elif action is Action.ABORT:
            if s.finished or (s.rolling_back and s.phase is not Phase.DEGRADED):
                raise self._refuse(action, "it is already finished or rolling back")
            held = f" while held: {s.failure}" if s.held and s.failure else ""
            self._rollback(f"aborted{who}{held}")
        else:
            if s.phase not in (Phase.ABORTED, Phase.DEGRADED):
                raise self._refuse(
                    action,
                    "only an Aborted or Degraded rollout can start over",
                    "use abort first, or resume a paused rollout",
                )
            self.set(
                phase=Phase.PROGRESSING,
                rolling_back=False,
                step=0,
                wait=None,
                deadline_at=None,
                user_paused=False,
                failure="",
            )
            self.note(f"retried{who}: starting again from the first step")

    def _accept(self, who: str) -> None:
        """Promote a held rollout: a person accepts the new version as it is, so it goes
        straight to full (the old version may not read what the migration wrote)."""
        failure = self.s.failure
        self.set(
            phase=Phase.PROGRESSING,
            wait=None,
            deadline_at=None,
            user_paused=False,
            failure="",
            step=self.plan.tail,
        )
        self.note(
            f"promoted{who} while held ({failure}): accepting the new version, "
            "skipping the remaining steps and analyses"
        )

    def _refresh_deadline(self) -> None:
        s = self.s
        w = s.wait
        if w is None or w.kind not in (WaitKind.READY, WaitKind.ROLLING, WaitKind.ANALYSIS):
            return
        at = self.now + timedelta(seconds=s.strategy.progress_deadline)
        if w.kind is WaitKind.ANALYSIS and s.deadline_at is None and s.analysis is not None:
            step = self.plan.steps[s.step]
            if isinstance(step, _Analyze):
                at = max(
                    at,
                    s.analysis.started_at
                    + timedelta(seconds=step.duration + s.strategy.progress_deadline),
                )
        self.set(deadline_at=at)

    def _refuse(self, action: Action, why: str, hint: str | None = None) -> RolloutActionRefused:
        s = self.s
        return RolloutActionRefused(
            f"cannot {action.value} this rollout: {why} (phase {s.phase.value}, "
            f"{describe_step(s)})",
            hint,
            details={"action": action.value, "phase": s.phase.value, "step": s.step},
        )


_SKIPPABLE = (WaitKind.PAUSE, WaitKind.DELAY, WaitKind.ANALYSIS)


def _preview_words(strategy: BlueGreen) -> str:
    said = []
    if strategy.preview_port is not None:
        said.append("the preview has a port of its own")
    if strategy.mirror:
        said.append(f"{strategy.mirror}% of live requests are copied to it")
    return "; ".join(said)


def _weight_words(weight: int) -> str:
    if weight == 0:
        return "all traffic to the stable pool"
    if weight == 100:
        return "all traffic to the canary"
    return f"{weight}% of traffic to the canary"


def _pause_words(cause: PauseCause, duration: float | None) -> str:
    if cause is PauseCause.PROMOTION_GATE:
        if duration is None:
            return "preview ready; waiting to be promoted"
        return f"preview ready; promoting in {_duration(duration)}"
    if duration is None:
        return "paused until promoted"
    return f"paused for {_duration(duration)}"


def _wait_words(w: Wait, a: AnalysisRecord | None) -> str:
    if w.kind is WaitKind.ANALYSIS:
        return f"analysis '{w.analysis}'"
    if w.kind is WaitKind.DELAY:
        return "the scale-down delay"
    if w.cause is PauseCause.PROMOTION_GATE:
        return "the promotion gate"
    if w.cause is PauseCause.INCONCLUSIVE:
        return f"inconclusive analysis '{a.name}'" if a else "an inconclusive analysis"
    return "the pause"
