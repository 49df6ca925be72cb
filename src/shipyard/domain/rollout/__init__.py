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

The modules, each holding one part: ``vocabulary`` (pools, phases, actions, waits),
``errors``, ``canary_steps`` and ``strategies`` (the specs), ``commands`` and
``observations`` (what goes out to the shell and comes back), ``state`` (``RolloutState`` and
``Decision``), ``plans`` (strategies compiled to primitive steps), ``machine`` (``start``,
``step``, ``reconcile``) and ``engine`` (how one decision is made). Import from the package:
the names below are its interface.
"""

from __future__ import annotations

from shipyard.domain.rollout.canary_steps import (
    AnalysisStep,
    CanaryStep,
    HeaderMatch,
    HeaderStep,
    PauseStep,
    WeightStep,
)
from shipyard.domain.rollout.commands import (
    ClearHeaderRoute,
    ClosePreview,
    Command,
    Done,
    OpenPreview,
    Promote,
    Rollback,
    ScaleDown,
    ScaleUp,
    SetHeaderRoute,
    SetWeights,
    StartAnalysis,
    StopAnalysis,
    command_from_dict,
)
from shipyard.domain.rollout.errors import RolloutActionRefused, RolloutSpecInvalid
from shipyard.domain.rollout.machine import reconcile, start, step
from shipyard.domain.rollout.observations import (
    AnalysisResult,
    Observation,
    Readiness,
    TargetFailed,
    Tick,
    UserAction,
    observation_from_dict,
)
from shipyard.domain.rollout.plans import describe_plan, describe_step
from shipyard.domain.rollout.state import AnalysisRecord, Decision, Pools, RolloutState, Wait
from shipyard.domain.rollout.strategies import (
    BlueGreen,
    Canary,
    Recreate,
    Rings,
    Rolling,
    Strategy,
    Wave,
    strategy_from_dict,
)
from shipyard.domain.rollout.vocabulary import (
    Action,
    OnFailure,
    PauseCause,
    Phase,
    Pool,
    WaitKind,
)

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
    "TargetFailed",
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
