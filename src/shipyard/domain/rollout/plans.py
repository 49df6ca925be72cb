"""Plans: every strategy compiled to a linear list of primitive steps (scale a pool and wait
for it, set traffic weights, set a header route, open or close the preview, pause, analyse,
wait, finish), ending in the same tail for every strategy; the rollback plan; and both
described in words for status and dry runs.

Pure functions of the strategy, cached; the machine walks them one step at a time.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import TypeAlias

from shipyard.domain.rollout.canary_steps import (
    CanaryStep,
    HeaderMatch,
    HeaderStep,
    PauseStep,
    WeightStep,
)
from shipyard.domain.rollout.state import RolloutState
from shipyard.domain.rollout.strategies import BlueGreen, Canary, Recreate, Rolling, Strategy
from shipyard.domain.rollout.vocabulary import PauseCause, Pool, _duration


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
