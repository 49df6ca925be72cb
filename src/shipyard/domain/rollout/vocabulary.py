"""The words a rollout is described in: its two pools, its phases (after Argo Rollouts), what
to do on failure, the actions a person can take, what a step waits for and why a rollout
pauses; and durations written the way a user writes them.

Plain enumerations, shared by the specs, commands, observations, state and machine.
"""

from __future__ import annotations

from enum import StrEnum


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


def _duration(seconds: float) -> str:
    """30 -> 30s, 120 -> 2m, 5400 -> 90m, 7200 -> 2h: the way a user wrote it, mostly."""
    if seconds >= 3600 and seconds % 3600 == 0:
        return f"{seconds / 3600:g}h"
    if seconds >= 60 and seconds % 60 == 0:
        return f"{seconds / 60:g}m"
    return f"{seconds:g}s"
