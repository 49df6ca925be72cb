"""The state machine's entry points: ``start`` opens a rollout, ``step`` advances it by one
observation, ``reconcile`` re-asserts the world a state describes after a restart. Each
returns a ``Decision``.

The interface the shell calls; the decision itself is made in ``engine``.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

from shipyard.domain.rollout.commands import (
    ClearHeaderRoute,
    ClosePreview,
    OpenPreview,
    ScaleDown,
    ScaleUp,
    SetHeaderRoute,
    SetWeights,
    StartAnalysis,
)
from shipyard.domain.rollout.engine import _Run
from shipyard.domain.rollout.errors import _invalid
from shipyard.domain.rollout.observations import (
    AnalysisResult,
    Observation,
    Readiness,
    TargetFailed,
    UserAction,
)
from shipyard.domain.rollout.plans import _Analyze
from shipyard.domain.rollout.state import Decision, Pools, RolloutState
from shipyard.domain.rollout.strategies import BlueGreen, Strategy
from shipyard.domain.rollout.vocabulary import Phase, Pool, WaitKind


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
