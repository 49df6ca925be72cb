"""The deployment strategies as specs: recreate, rolling (surge and unavailability limits),
blue-green (preview, promotion gate, analyses around the switch), canary (steps) and rings
(waves of widening audience), each validated when built and stored by ``to_dict``.

What a user wrote in ``shipyard.yaml``, checked; how it runs is ``plans`` and the machine.
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar, TypeAlias

from shipyard.domain.rollout.canary_steps import (
    AnalysisStep,
    CanaryStep,
    HeaderMatch,
    HeaderStep,
    PauseStep,
    WeightStep,
    _step_from_dict,
    _step_to_dict,
)
from shipyard.domain.rollout.errors import _invalid
from shipyard.domain.rollout.vocabulary import OnFailure


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
