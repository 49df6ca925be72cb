"""Rollout strategies as state machines: every transition as a table of literal cases."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from shipyard.domain.analysis import Phase as AP
from shipyard.domain.rollout import (
    Action,
    AnalysisResult,
    AnalysisStep,
    BlueGreen,
    Canary,
    ClearHeaderRoute,
    Command,
    Decision,
    Done,
    HeaderMatch,
    HeaderStep,
    Observation,
    OnFailure,
    PauseStep,
    Phase,
    Pool,
    Promote,
    Readiness,
    Recreate,
    Rings,
    Rollback,
    Rolling,
    RolloutActionRefused,
    RolloutSpecInvalid,
    RolloutState,
    ScaleDown,
    ScaleUp,
    SetHeaderRoute,
    SetWeights,
    StartAnalysis,
    StopAnalysis,
    Strategy,
    TargetFailed,
    Tick,
    UserAction,
    Wave,
    WeightStep,
    command_from_dict,
    describe_plan,
    describe_step,
    observation_from_dict,
    reconcile,
    start,
    step,
    strategy_from_dict,
)

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
S, C = Pool.STABLE, Pool.CANARY
TICK = Tick()


def at(seconds: float) -> datetime:
    return T0 + timedelta(seconds=seconds)


def R(stable: int, canary: int) -> Readiness:
    return Readiness(stable, canary)


def ok(name: str) -> AnalysisResult:
    return AnalysisResult(name, AP.SUCCESSFUL, "error rate 0.1% <= max 1%")


def bad(name: str) -> AnalysisResult:
    return AnalysisResult(name, AP.FAILED, "error rate 9% > max 1%", {"error_rate": 0.09})


def err(name: str) -> AnalysisResult:
    return AnalysisResult(name, AP.ERROR, "metrics endpoint unreachable")


def meh(name: str) -> AnalysisResult:
    return AnalysisResult(name, AP.INCONCLUSIVE, "only 7 canary requests")


def act(action: Action, by: str = "") -> UserAction:
    return UserAction(action, by)


def roundtrip(state: RolloutState) -> None:
    data = json.loads(json.dumps(state.to_dict()))
    assert RolloutState.from_dict(data) == state


def replay(
    strategy: Strategy, history: tuple[tuple[float, Observation], ...], stable: int | None = None
) -> Decision:
    """Start a rollout and feed it ``history``; every state must survive JSON on the way."""
    d = start(strategy, at(0), stable_instances=strategy.instances if stable is None else stable)
    roundtrip(d.state)
    for t, obs in history:
        d = step(d.state, obs, at(t))
        roundtrip(d.state)
    return d


History = tuple[tuple[float, Observation], ...]


def check(
    strategy: Strategy,
    history: History,
    then: tuple[float, Observation] | None,
    commands: tuple[Command, ...],
    phase: Phase,
    stable: int | None = None,
) -> Decision:
    before = replay(strategy, history, stable)
    d = before if then is None else step(before.state, then[1], at(then[0]))
    roundtrip(d.state)
    assert d.commands == commands, d.state.reason
    assert d.state.phase is phase, d.state.reason
    return d


def rolled_back(reason: str, *cmds: Command) -> tuple[Command, ...]:
    return (*cmds, Rollback(reason), Done(Phase.ABORTED))


HEALTHY_END = (ScaleDown(S, 0), Promote(), Done(Phase.HEALTHY))

# -- recreate ---------------------------------------------------------------------------------

RECREATE = Recreate(instances=2, progress_deadline=60)
STOPPED: History = ((5, R(0, 0)),)

RECREATE_CASES = [
    pytest.param((), None, (ScaleDown(S, 0),), Phase.PROGRESSING, 2, id="start-stops-stable"),
    pytest.param((), None, (ScaleUp(C, 2),), Phase.PROGRESSING, 0, id="first-deploy-starts-new"),
    pytest.param((), (3, R(1, 0)), (), Phase.PROGRESSING, 2, id="stable-still-stopping"),
    pytest.param((), (5, R(0, 0)), (ScaleUp(C, 2),), Phase.PROGRESSING, 2, id="stable-stopped"),
    pytest.param(STOPPED, (8, R(0, 1)), (), Phase.PROGRESSING, 2, id="canary-half-ready"),
    pytest.param(
        STOPPED,
        (9, R(0, 2)),
        (SetWeights(0, 100), Promote(), Done(Phase.HEALTHY)),
        Phase.HEALTHY,
        2,
        id="canary-ready-done",
    ),
    pytest.param(
        (),
        (4, R(0, 2)),
        (SetWeights(0, 100), Promote(), Done(Phase.HEALTHY)),
        Phase.HEALTHY,
        0,
        id="first-deploy-ready-done",
    ),
    pytest.param(
        STOPPED,
        (66, TICK),
        (ScaleUp(S, 2),),
        Phase.ROLLING_BACK,
        2,
        id="deadline-restarts-stable",
    ),
    pytest.param(
        (*STOPPED, (66, TICK)),
        (70, R(2, 0)),
        rolled_back("progress deadline (1m) exceeded: canary pool has 0/2 ready", ScaleDown(C, 0)),
        Phase.ABORTED,
        2,
        id="stable-back-rollback-done",
    ),
    pytest.param(
        (*STOPPED, (66, TICK)),
        (127, TICK),
        (),
        Phase.DEGRADED,
        2,
        id="stable-never-back-degraded",
    ),
    pytest.param(
        (),
        (61, TICK),
        rolled_back(
            "progress deadline (1m) exceeded: the stable pool still has 2 ready", ScaleUp(S, 2)
        ),
        Phase.ABORTED,
        2,
        id="stable-never-stops-rollback",
    ),
    pytest.param(
        STOPPED,
        (10, act(Action.ABORT, "bob")),
        (ScaleUp(S, 2),),
        Phase.ROLLING_BACK,
        2,
        id="abort-restarts-stable",
    ),
]


@pytest.mark.parametrize(("history", "then", "commands", "phase", "stable"), RECREATE_CASES)
def test_recreate_transitions(
    history: History,
    then: tuple[float, Observation] | None,
    commands: tuple[Command, ...],
    phase: Phase,
    stable: int,
) -> None:
    """Recreate stops the old version, waits for it, starts the new one, and rolls back."""
    check(RECREATE, history, then, commands, phase, stable)


# -- rolling ----------------------------------------------------------------------------------

ROLLING = Rolling(instances=4, max_surge=1, max_unavailable=1, progress_deadline=60)
ROLLING_PCT = Rolling(instances=4, max_surge="25%", max_unavailable="0%", progress_deadline=60)
HALF: History = ((5, R(3, 2)),)

ROLLING_CASES = [
    pytest.param(
        ROLLING,
        (),
        None,
        (ScaleDown(S, 3), ScaleUp(C, 2)),
        Phase.PROGRESSING,
        id="start-within-surge-and-unavailable",
    ),
    pytest.param(ROLLING_PCT, (), None, (ScaleUp(C, 1),), Phase.PROGRESSING, id="start-surge-only"),
    pytest.param(ROLLING, (), (3, R(3, 0)), (), Phase.PROGRESSING, id="new-not-ready-yet"),
    pytest.param(
        ROLLING,
        (),
        (5, R(3, 2)),
        (SetWeights(33, 67), ScaleDown(S, 1), ScaleUp(C, 4)),
        Phase.PROGRESSING,
        id="two-ready-next-batch",
    ),
    pytest.param(
        ROLLING,
        HALF,
        (9, R(1, 3)),
        (SetWeights(0, 100), ScaleDown(S, 0)),
        Phase.PROGRESSING,
        id="three-ready-last-old-goes",
    ),
    pytest.param(
        ROLLING,
        HALF,
        (10, R(1, 4)),
        (SetWeights(0, 100), ScaleDown(S, 0), Promote(), Done(Phase.HEALTHY)),
        Phase.HEALTHY,
        id="all-ready-done",
    ),
    pytest.param(
        ROLLING_PCT,
        (),
        (5, R(4, 1)),
        (SetWeights(75, 25), ScaleDown(S, 3), ScaleUp(C, 2)),
        Phase.PROGRESSING,
        id="surge-only-one-at-a-time",
    ),
    pytest.param(
        ROLLING,
        (),
        (61, TICK),
        (ScaleUp(S, 4),),
        Phase.ROLLING_BACK,
        id="stalled-deadline-restores-stable",
    ),
    pytest.param(
        ROLLING,
        HALF,
        (66, R(1, 2)),
        (ScaleUp(S, 4),),
        Phase.ROLLING_BACK,
        id="stalled-after-progress",
    ),
    pytest.param(
        ROLLING,
        ((61, TICK),),
        (70, R(4, 0)),
        rolled_back("progress deadline (1m) exceeded: 0/4 new instances ready", ScaleDown(C, 0)),
        Phase.ABORTED,
        id="stable-restored-rollback-done",
    ),
    pytest.param(
        ROLLING,
        HALF,
        (7, act(Action.ABORT)),
        (ScaleUp(S, 4),),
        Phase.ROLLING_BACK,
        id="abort-restores-stable-first",
    ),
    pytest.param(
        ROLLING,
        (*HALF, (7, act(Action.ABORT))),
        (9, R(4, 2)),
        rolled_back("aborted", SetWeights(100, 0), ScaleDown(C, 0)),
        Phase.ABORTED,
        id="abort-then-traffic-back",
    ),
    pytest.param(ROLLING, (), (2, act(Action.PAUSE)), (), Phase.PAUSED, id="pause-stops-batches"),
    pytest.param(
        ROLLING,
        ((2, act(Action.PAUSE)),),
        (5, R(3, 2)),
        (),
        Phase.PAUSED,
        id="paused-ignores-readiness",
    ),
    pytest.param(
        ROLLING,
        ((2, act(Action.PAUSE)), (5, R(3, 2))),
        (8, act(Action.RESUME)),
        (SetWeights(33, 67), ScaleDown(S, 1), ScaleUp(C, 4)),
        Phase.PROGRESSING,
        id="resume-continues-batches",
    ),
    pytest.param(
        ROLLING,
        ((2, act(Action.PAUSE)),),
        (500, TICK),
        (),
        Phase.PAUSED,
        id="paused-has-no-deadline",
    ),
    pytest.param(
        ROLLING,
        HALF,
        (7, act(Action.PROMOTE_FULL)),
        (),
        Phase.PROGRESSING,
        id="promote-full-waits-for-full-size",
    ),
]


@pytest.mark.parametrize(("strategy", "history", "then", "commands", "phase"), ROLLING_CASES)
def test_rolling_transitions(
    strategy: Strategy,
    history: History,
    then: tuple[float, Observation] | None,
    commands: tuple[Command, ...],
    phase: Phase,
) -> None:
    """Rolling replaces instances in batches bounded by surge and unavailability."""
    check(strategy, history, then, commands, phase)


# -- blue-green -------------------------------------------------------------------------------

PREVIEW = HeaderMatch("x-preview", "1")
BG = BlueGreen(
    instances=2,
    preview_header=PREVIEW,
    pre_promotion_analysis=AnalysisStep("smoke", 30),
    post_promotion_analysis=AnalysisStep("errors", 60),
    scale_down_delay=30,
    progress_deadline=60,
)
BG_MANUAL = BlueGreen(instances=2, auto_promote=False, scale_down_delay=0)
BG_TIMED = BlueGreen(instances=2, promotion_delay=20, scale_down_delay=0)
PREVIEWING: History = ((5, R(2, 2)),)
SWITCHED: History = (*PREVIEWING, (30, ok("smoke")))
DELAYING: History = (*SWITCHED, (90, ok("errors")))
SWITCH = (SetWeights(0, 100), Promote(), Done(Phase.HEALTHY))

BLUE_GREEN_CASES = [
    pytest.param(BG, (), None, (ScaleUp(C, 2),), Phase.PROGRESSING, id="start-preview-pool"),
    pytest.param(BG, (), (3, R(2, 1)), (), Phase.PROGRESSING, id="preview-half-ready"),
    pytest.param(
        BG,
        (),
        (5, R(2, 2)),
        (SetHeaderRoute("x-preview", "1"), StartAnalysis("smoke", 30)),
        Phase.PROGRESSING,
        id="preview-ready-pre-analysis",
    ),
    pytest.param(
        BG,
        PREVIEWING,
        (30, ok("smoke")),
        (SetWeights(0, 100), ClearHeaderRoute(), StartAnalysis("errors", 60)),
        Phase.PROGRESSING,
        id="pre-ok-auto-switch-post-analysis",
    ),
    pytest.param(
        BG,
        PREVIEWING,
        (30, bad("smoke")),
        rolled_back(
            "pre-promotion analysis 'smoke' failed: error rate 9% > max 1%",
            ClearHeaderRoute(),
            ScaleDown(C, 0),
        ),
        Phase.ABORTED,
        id="pre-failed-never-switches",
    ),
    pytest.param(
        BG, PREVIEWING, (30, meh("smoke")), (), Phase.PAUSED, id="pre-inconclusive-pauses"
    ),
    pytest.param(
        BG,
        (*PREVIEWING, (30, meh("smoke"))),
        (40, act(Action.PROMOTE)),
        (SetWeights(0, 100), ClearHeaderRoute(), StartAnalysis("errors", 60)),
        Phase.PROGRESSING,
        id="inconclusive-promoted-switches",
    ),
    pytest.param(
        BG,
        PREVIEWING,
        (96, TICK),
        rolled_back(
            "pre-promotion analysis 'smoke' gave no verdict within its duration plus 1m",
            StopAnalysis("smoke"),
            ClearHeaderRoute(),
            ScaleDown(C, 0),
        ),
        Phase.ABORTED,
        id="pre-analysis-silent-deadline",
    ),
    pytest.param(
        BG, PREVIEWING, (30, ok("other")), (), Phase.PROGRESSING, id="stray-result-ignored"
    ),
    pytest.param(
        BG,
        SWITCHED,
        (90, bad("errors")),
        rolled_back(
            "post-promotion analysis 'errors' failed: error rate 9% > max 1%",
            SetWeights(100, 0),
            ScaleDown(C, 0),
        ),
        Phase.ABORTED,
        id="post-failed-instant-switch-back",
    ),
    pytest.param(
        BG, SWITCHED, (90, ok("errors")), (), Phase.PROGRESSING, id="post-ok-scale-down-delay"
    ),
    pytest.param(BG, DELAYING, (110, TICK), (), Phase.PROGRESSING, id="delay-running"),
    pytest.param(BG, DELAYING, (120, TICK), HEALTHY_END, Phase.HEALTHY, id="delay-over-done"),
    pytest.param(
        BG,
        DELAYING,
        (100, act(Action.PROMOTE)),
        HEALTHY_END,
        Phase.HEALTHY,
        id="promote-skips-delay",
    ),
    pytest.param(
        BG,
        DELAYING,
        (100, act(Action.ABORT, "bob")),
        rolled_back("aborted by bob", SetWeights(100, 0), ScaleDown(C, 0)),
        Phase.ABORTED,
        id="abort-during-delay-switches-back",
    ),
    pytest.param(
        BG,
        (),
        (61, TICK),
        rolled_back("progress deadline (1m) exceeded: canary pool has 0/2 ready", ScaleDown(C, 0)),
        Phase.ABORTED,
        id="preview-never-ready",
    ),
    pytest.param(BG_MANUAL, (), (5, R(2, 2)), (), Phase.PAUSED, id="manual-gate-pauses"),
    pytest.param(
        BG_MANUAL, ((5, R(2, 2)),), (900, TICK), (), Phase.PAUSED, id="manual-gate-no-deadline"
    ),
    pytest.param(
        BG_MANUAL,
        ((5, R(2, 2)),),
        (20, act(Action.PROMOTE, "alice")),
        (*SWITCH[:1], ScaleDown(S, 0), *SWITCH[1:]),
        Phase.HEALTHY,
        id="manual-promote-switches",
    ),
    pytest.param(BG_TIMED, (), (5, R(2, 2)), (), Phase.PAUSED, id="timed-gate-pauses"),
    pytest.param(BG_TIMED, ((5, R(2, 2)),), (24, TICK), (), Phase.PAUSED, id="timed-gate-early"),
    pytest.param(
        BG_TIMED,
        ((5, R(2, 2)),),
        (25, TICK),
        (SetWeights(0, 100), ScaleDown(S, 0), Promote(), Done(Phase.HEALTHY)),
        Phase.HEALTHY,
        id="timed-gate-auto-promotes",
    ),
    pytest.param(
        BG_TIMED,
        ((5, R(2, 2)),),
        (10, act(Action.PROMOTE)),
        (SetWeights(0, 100), ScaleDown(S, 0), Promote(), Done(Phase.HEALTHY)),
        Phase.HEALTHY,
        id="timed-gate-promoted-early",
    ),
]


@pytest.mark.parametrize(("strategy", "history", "then", "commands", "phase"), BLUE_GREEN_CASES)
def test_blue_green_transitions(
    strategy: Strategy,
    history: History,
    then: tuple[float, Observation] | None,
    commands: tuple[Command, ...],
    phase: Phase,
) -> None:
    """Blue-green previews, analyses, switches at once and can switch straight back."""
    check(strategy, history, then, commands, phase)


# -- canary -----------------------------------------------------------------------------------

CANARY = Canary(
    instances=4,
    steps=(
        WeightStep(25),
        AnalysisStep("errors", 120),
        PauseStep(60),
        WeightStep(50),
        PauseStep(),
    ),
    progress_deadline=60,
)
AT_25: History = ((5, R(4, 1)),)
TIMED_PAUSE: History = (*AT_25, (120, ok("errors")))
AT_50: History = (*TIMED_PAUSE, (180, TICK), (185, R(4, 2)))
TO_STABLE = (SetWeights(100, 0), ScaleDown(C, 0))

CANARY_CASES = [
    pytest.param((), None, (ScaleUp(C, 1),), Phase.PROGRESSING, id="start-scales-share"),
    pytest.param((), (3, R(4, 0)), (), Phase.PROGRESSING, id="canary-not-ready"),
    pytest.param(
        (),
        (5, R(4, 1)),
        (SetWeights(75, 25), StartAnalysis("errors", 120)),
        Phase.PROGRESSING,
        id="ready-weight-then-analysis",
    ),
    pytest.param(AT_25, (60, R(4, 1)), (), Phase.PROGRESSING, id="analysis-running"),
    pytest.param(AT_25, (120, ok("errors")), (), Phase.PAUSED, id="analysis-ok-timed-pause"),
    pytest.param(
        AT_25,
        (120, bad("errors")),
        rolled_back("step analysis 'errors' failed: error rate 9% > max 1%", *TO_STABLE),
        Phase.ABORTED,
        id="analysis-failed-rolls-back",
    ),
    pytest.param(
        AT_25,
        (120, err("errors")),
        rolled_back("step analysis 'errors' errored: metrics endpoint unreachable", *TO_STABLE),
        Phase.ABORTED,
        id="analysis-error-rolls-back",
    ),
    pytest.param(AT_25, (120, meh("errors")), (), Phase.PAUSED, id="inconclusive-pauses"),
    pytest.param(
        AT_25,
        (120, AnalysisResult("errors", AP.RUNNING, "2 of 12 measurements")),
        (),
        Phase.PROGRESSING,
        id="interim-result-ignored",
    ),
    pytest.param(
        (*AT_25, (120, meh("errors"))),
        (130, act(Action.PROMOTE)),
        (),
        Phase.PAUSED,
        id="inconclusive-promoted-next-pause",
    ),
    pytest.param(
        (*AT_25, (120, meh("errors"))),
        (130, act(Action.ABORT)),
        rolled_back("aborted", *TO_STABLE),
        Phase.ABORTED,
        id="inconclusive-aborted",
    ),
    pytest.param(
        AT_25,
        (200, TICK),
        rolled_back(
            "step analysis 'errors' gave no verdict within its duration plus 1m",
            StopAnalysis("errors"),
            *TO_STABLE,
        ),
        Phase.ABORTED,
        id="silent-analysis-deadline",
    ),
    pytest.param(TIMED_PAUSE, (170, TICK), (), Phase.PAUSED, id="pause-not-over"),
    pytest.param(
        TIMED_PAUSE, (180, TICK), (ScaleUp(C, 2),), Phase.PROGRESSING, id="pause-over-scales"
    ),
    pytest.param(
        TIMED_PAUSE,
        (150, act(Action.PROMOTE)),
        (ScaleUp(C, 2),),
        Phase.PROGRESSING,
        id="promote-skips-pause",
    ),
    pytest.param(
        (*TIMED_PAUSE, (180, TICK)),
        (185, R(4, 2)),
        (SetWeights(50, 50),),
        Phase.PAUSED,
        id="weight-50-then-indefinite-pause",
    ),
    pytest.param(AT_50, (9999, TICK), (), Phase.PAUSED, id="indefinite-pause-holds"),
    pytest.param(
        AT_50,
        (200, act(Action.PROMOTE)),
        (ScaleUp(C, 4),),
        Phase.PROGRESSING,
        id="promoted-scales-full",
    ),
    pytest.param(
        (*AT_50, (200, act(Action.PROMOTE))),
        (210, R(4, 4)),
        (SetWeights(0, 100), *HEALTHY_END),
        Phase.HEALTHY,
        id="full-and-done",
    ),
    pytest.param(
        AT_25,
        (30, act(Action.PROMOTE)),
        (StopAnalysis("errors"),),
        Phase.PAUSED,
        id="promote-skips-analysis",
    ),
    pytest.param(
        AT_25,
        (30, act(Action.PROMOTE_FULL)),
        (StopAnalysis("errors"), ScaleUp(C, 4)),
        Phase.PROGRESSING,
        id="promote-full-skips-all",
    ),
    pytest.param(
        (*AT_25, (30, act(Action.PROMOTE_FULL))),
        (40, R(4, 4)),
        (SetWeights(0, 100), *HEALTHY_END),
        Phase.HEALTHY,
        id="promote-full-then-done",
    ),
    pytest.param(
        (),
        (61, TICK),
        rolled_back("progress deadline (1m) exceeded: canary pool has 0/1 ready", ScaleDown(C, 0)),
        Phase.ABORTED,
        id="never-ready-deadline",
    ),
    pytest.param(
        (),
        (70, R(4, 1)),
        (SetWeights(75, 25), StartAnalysis("errors", 120)),
        Phase.PROGRESSING,
        id="late-readiness-beats-deadline",
    ),
    pytest.param(AT_25, (30, act(Action.PAUSE)), (), Phase.PAUSED, id="pause-during-analysis"),
    pytest.param(
        (*AT_25, (30, act(Action.PAUSE))),
        (120, ok("errors")),
        (),
        Phase.PAUSED,
        id="paused-analysis-ok-waits",
    ),
    pytest.param(
        (*AT_25, (30, act(Action.PAUSE)), (120, ok("errors"))),
        (130, act(Action.RESUME)),
        (),
        Phase.PAUSED,
        id="resume-enters-next-pause",
    ),
    pytest.param(
        (*AT_25, (30, act(Action.PAUSE))),
        (120, bad("errors")),
        rolled_back("step analysis 'errors' failed: error rate 9% > max 1%", *TO_STABLE),
        Phase.ABORTED,
        id="paused-analysis-failure-still-rolls-back",
    ),
    pytest.param(
        (),
        (2, act(Action.ABORT, "carol")),
        rolled_back("aborted by carol", ScaleDown(C, 0)),
        Phase.ABORTED,
        id="abort-before-traffic",
    ),
    pytest.param(
        ((2, act(Action.ABORT)),),
        (10, act(Action.RETRY)),
        (ScaleUp(C, 1),),
        Phase.PROGRESSING,
        id="retry-starts-over",
    ),
    pytest.param(
        (*AT_25, (120, bad("errors"))),
        (130, ok("errors")),
        (),
        Phase.ABORTED,
        id="late-result-after-abort-ignored",
    ),
]


@pytest.mark.parametrize(("history", "then", "commands", "phase"), CANARY_CASES)
def test_canary_transitions(
    history: History,
    then: tuple[float, Observation] | None,
    commands: tuple[Command, ...],
    phase: Phase,
) -> None:
    """Canary scales, shifts weight, analyses and pauses step by step, or rolls back."""
    check(CANARY, history, then, commands, phase)


# -- hold instead of rollback -----------------------------------------------------------------

HOLD = Canary(
    instances=2,
    on_failure=OnFailure.HOLD,
    steps=(WeightStep(50), AnalysisStep("errors", 60)),
    progress_deadline=60,
)
HELD: History = ((5, R(2, 1)), (65, bad("errors")))

HOLD_CASES = [
    pytest.param(((5, R(2, 1)),), (65, bad("errors")), (), Phase.DEGRADED, id="failure-holds"),
    pytest.param((), (61, TICK), (), Phase.DEGRADED, id="deadline-holds"),
    pytest.param(HELD, (999, TICK), (), Phase.DEGRADED, id="held-stays"),
    pytest.param(
        HELD,
        (70, act(Action.RESUME)),
        (StartAnalysis("errors", 60),),
        Phase.PROGRESSING,
        id="resume-reruns-step",
    ),
    pytest.param(
        HELD,
        (70, act(Action.ABORT)),
        rolled_back(
            "aborted while held: step analysis 'errors' failed: error rate 9% > max 1%",
            SetWeights(100, 0),
            ScaleDown(C, 0),
        ),
        Phase.ABORTED,
        id="abort-rolls-back",
    ),
    pytest.param(
        HELD,
        (70, act(Action.PROMOTE)),
        (ScaleUp(C, 2),),
        Phase.PROGRESSING,
        id="promote-accepts",
    ),
    pytest.param(
        (*HELD, (70, act(Action.PROMOTE))),
        (75, R(2, 2)),
        (SetWeights(0, 100), *HEALTHY_END),
        Phase.HEALTHY,
        id="promote-goes-to-full",
    ),
    pytest.param(
        HELD,
        (70, act(Action.PROMOTE_FULL)),
        (ScaleUp(C, 2),),
        Phase.PROGRESSING,
        id="promote-full-goes-on",
    ),
    pytest.param(
        HELD,
        (70, act(Action.RETRY)),
        (StartAnalysis("errors", 60),),
        Phase.PROGRESSING,
        id="retry-from-first-step",
    ),
]


HOOK = TargetFailed("hook-failed: hook 'set_weight' exited with status 3")
TARGET_FAILED_CASES = [
    pytest.param(HOLD, ((5, R(2, 1)),), 10, (StopAnalysis("errors"),), Phase.DEGRADED, id="holds"),
    pytest.param(
        Canary(instances=2, steps=HOLD.steps, progress_deadline=60),
        ((5, R(2, 1)),),
        10,
        (
            StopAnalysis("errors"),
            *rolled_back(HOOK.reason, SetWeights(100, 0), ScaleDown(C, 0)),
        ),
        Phase.ABORTED,
        id="rolls-back",
    ),
    pytest.param(HOLD, HELD, 70, (), Phase.DEGRADED, id="already-held-ignores-it"),
]


@pytest.mark.parametrize(("strategy", "history", "t", "commands", "phase"), TARGET_FAILED_CASES)
def test_a_failing_target_is_a_failure_like_analysis(
    strategy: Strategy,
    history: History,
    t: float,
    commands: tuple[Command, ...],
    phase: Phase,
) -> None:
    """A hook that fails mid-rollout rolls back, or holds under on_failure: hold."""
    check(strategy, history, (t, HOOK), commands, phase)
    assert observation_from_dict(HOOK.to_dict()) == HOOK


@pytest.mark.parametrize(("history", "then", "commands", "phase"), HOLD_CASES)
def test_hold_transitions(
    history: History,
    then: tuple[float, Observation] | None,
    commands: tuple[Command, ...],
    phase: Phase,
) -> None:
    """With on_failure: hold a failure leaves traffic as it is and waits for a person."""
    check(HOLD, history, then, commands, phase)


def test_held_rollout_keeps_the_failure_and_its_numbers() -> None:
    """A held rollout says why it stopped, keeps the analysis numbers and its traffic split."""
    held = replay(HOLD, HELD).state
    assert held.held and held.canary_weight == 50
    assert held.failure == "step analysis 'errors' failed: error rate 9% > max 1%"
    assert held.analysis is not None and held.analysis.details == {"error_rate": 0.09}
    assert step(held, R(2, 1), at(80)).commands == ()
    resumed = step(held, act(Action.RESUME), at(90)).state
    assert not resumed.held and resumed.failure == ""


def test_stuck_rollback_is_not_held() -> None:
    """A rollback that cannot restore the stable pool is Degraded but not a hold to accept."""
    stuck = replay(RECREATE, (*STOPPED, (66, TICK), (127, TICK)), stable=2).state
    assert stuck.phase is Phase.DEGRADED and not stuck.held
    with pytest.raises(RolloutActionRefused):
        step(stuck, act(Action.PROMOTE), at(130))


# -- rings ------------------------------------------------------------------------------------

RINGS = Rings(
    instances=4,
    waves=(
        Wave("internal", header=HeaderMatch("x-ring", "internal"), steps=(AnalysisStep("e", 60),)),
        Wave("early", weight=10, steps=(PauseStep(30),)),
        Wave("everyone", weight=100),
    ),
    progress_deadline=60,
)
RING0: History = ((5, R(4, 1)),)
RING1: History = (*RING0, (65, ok("e")))

RINGS_CASES = [
    pytest.param((), None, (ScaleUp(C, 1),), Phase.PROGRESSING, id="start-one-canary"),
    pytest.param(
        (),
        (5, R(4, 1)),
        (SetHeaderRoute("x-ring", "internal"), StartAnalysis("e", 60)),
        Phase.PROGRESSING,
        id="ring0-header-route",
    ),
    pytest.param(RING0, (65, ok("e")), (SetWeights(90, 10),), Phase.PAUSED, id="ring1-ten-percent"),
    pytest.param(
        RING0,
        (65, bad("e")),
        rolled_back(
            "internal: step analysis 'e' failed: error rate 9% > max 1%",
            ClearHeaderRoute(),
            ScaleDown(C, 0),
        ),
        Phase.ABORTED,
        id="ring0-failure-drops-route",
    ),
    pytest.param(RING1, (95, TICK), (ScaleUp(C, 4),), Phase.PROGRESSING, id="ring2-scales"),
    pytest.param(
        (*RING1, (95, TICK)),
        (100, R(4, 4)),
        (SetWeights(0, 100), ClearHeaderRoute(), *HEALTHY_END),
        Phase.HEALTHY,
        id="ring2-everyone-done",
    ),
    pytest.param(
        RING1,
        (70, act(Action.ABORT)),
        rolled_back("aborted", SetWeights(100, 0), ClearHeaderRoute(), ScaleDown(C, 0)),
        Phase.ABORTED,
        id="abort-in-ring1",
    ),
]


@pytest.mark.parametrize(("history", "then", "commands", "phase"), RINGS_CASES)
def test_rings_transitions(
    history: History,
    then: tuple[float, Observation] | None,
    commands: tuple[Command, ...],
    phase: Phase,
) -> None:
    """Rings widen the audience wave by wave, keeping the header route to the end."""
    check(RINGS, history, then, commands, phase)


# -- refused actions --------------------------------------------------------------------------

REFUSED = [
    pytest.param(CANARY, (), Action.PROMOTE, id="promote-while-scaling"),
    pytest.param(CANARY, (), Action.RESUME, id="resume-not-paused"),
    pytest.param(CANARY, TIMED_PAUSE, Action.RESUME, id="resume-at-pause-step"),
    pytest.param(CANARY, (), Action.RETRY, id="retry-while-progressing"),
    pytest.param(CANARY, ((2, act(Action.PAUSE)),), Action.PAUSE, id="pause-twice"),
    pytest.param(CANARY, ((2, act(Action.ABORT)),), Action.ABORT, id="abort-aborted"),
    pytest.param(CANARY, ((2, act(Action.ABORT)),), Action.PAUSE, id="pause-aborted"),
    pytest.param(
        CANARY, (*AT_50, (200, act(Action.PROMOTE)), (210, R(4, 4))), Action.ABORT, id="abort-done"
    ),
    pytest.param(ROLLING, ((7, act(Action.ABORT)),), Action.ABORT, id="abort-rolling-back"),
    pytest.param(ROLLING, ((7, act(Action.ABORT)),), Action.PROMOTE_FULL, id="full-rolling-back"),
    pytest.param(BG, DELAYING, Action.PROMOTE_FULL, id="promote-full-in-tail"),
    pytest.param(HOLD, HELD, Action.PAUSE, id="pause-held"),
    pytest.param(HOLD, (*HELD, (70, act(Action.ABORT))), Action.PROMOTE, id="promote-aborted"),
]


@pytest.mark.parametrize(("strategy", "history", "action"), REFUSED)
def test_refused_actions(strategy: Strategy, history: History, action: Action) -> None:
    """An action the rollout cannot take is refused with a stable code and leaves no trace."""
    before = replay(strategy, history)
    with pytest.raises(RolloutActionRefused) as caught:
        step(before.state, act(action), at(1000))
    assert caught.value.code == "rollout-action-refused"
    assert caught.value.exit_code == 7
    assert caught.value.hint


# -- decisions, reasons and time --------------------------------------------------------------


def test_reason_names_every_decision() -> None:
    """A decision's reason says what happened, with the numbers from the analysis."""
    d = replay(CANARY, (*AT_25, (120, bad("errors"))))
    assert d.state.reason == (
        "step analysis 'errors' failed: error rate 9% > max 1%; rolling back; "
        "all traffic to the stable pool; scaling the canary pool to 0; "
        "rolled back: the stable version serves all traffic"
    )
    assert d.state.analysis is not None
    assert d.state.analysis.details == {"error_rate": 0.09}
    assert d.state.failure == "step analysis 'errors' failed: error rate 9% > max 1%"


def test_observation_without_decision_keeps_the_count() -> None:
    """Readiness that changes nothing is recorded without counting as a decision."""
    before = replay(CANARY, AT_25)
    after = step(before.state, R(4, 1), at(30))
    assert after.commands == ()
    assert after.state == before.state
    assert after.state.decisions == before.state.decisions


def test_user_pause_stops_the_deadline_clock() -> None:
    """Time paused by a user does not count towards the progress deadline."""
    paused = replay(CANARY, ((10, act(Action.PAUSE)), (500, TICK)))
    assert paused.state.phase is Phase.PAUSED
    resumed = step(paused.state, act(Action.RESUME), at(600))
    assert resumed.state.deadline_at == at(660)
    assert step(resumed.state, TICK, at(650)).state.phase is Phase.PROGRESSING
    assert step(resumed.state, TICK, at(661)).state.phase is Phase.ABORTED


def test_timed_pause_does_not_end_while_paused_by_hand() -> None:
    """A pause step's timer does not move the rollout on while a user holds it."""
    held = replay(CANARY, (*TIMED_PAUSE, (130, act(Action.PAUSE)), (400, TICK)))
    assert held.commands == ()
    assert held.state.phase is Phase.PAUSED
    resumed = step(held.state, act(Action.RESUME), at(410))
    assert resumed.commands == (ScaleUp(C, 2),)


def test_direct_rollback_skips_steps_and_analysis() -> None:
    """A direct rollout to an earlier version replaces the stable pool without any step."""
    d = start(CANARY, at(0), stable_instances=4, direct=True)
    assert d.commands == (ScaleUp(C, 4),)
    done = step(d.state, R(4, 4), at(5))
    assert done.commands == (SetWeights(0, 100), *HEALTHY_END)


def test_actor_is_in_the_reason() -> None:
    """Who promoted is recorded in the reason."""
    d = replay(BG_MANUAL, ((5, R(2, 2)), (9, act(Action.PROMOTE, "alice"))))
    assert d.state.reason.startswith("promoted by alice: skipped the promotion gate")


# -- plans, status and restarts ---------------------------------------------------------------


def test_describe_plan_lists_the_steps() -> None:
    """The plan of a ring rollout reads as the waves and their steps."""
    assert describe_plan(RINGS) == (
        "internal: scale the canary pool to 1 and wait",
        "internal: route 'x-ring: internal' to the canary",
        "internal: step analysis 'e' for 1m",
        "early: send 10% of traffic to the canary",
        "early: pause for 30s",
        "everyone: scale the canary pool to 4 and wait",
        "everyone: send 100% of traffic to the canary",
        "scale the canary pool to 4 and wait",
        "send 100% of traffic to the canary",
        "clear the header route",
        "scale down the old pool and promote",
    )


def test_direct_plan_skips_everything() -> None:
    """A direct plan goes straight to full size, whatever the strategy."""
    assert describe_plan(CANARY, direct=True) == (
        "scale the canary pool to 4 and wait",
        "send 100% of traffic to the canary",
        "clear the header route",
        "scale down the old pool and promote",
    )


def test_describe_step_shows_where_a_rollout_is() -> None:
    """Status names the current step and its position."""
    assert describe_step(replay(CANARY, AT_25).state) == "step 3/11: step analysis 'errors' for 2m"
    assert describe_step(replay(CANARY, (*AT_25, (120, bad("errors")))).state) == "Aborted"


def test_reconcile_reasserts_the_world_after_a_restart() -> None:
    """After a crash the shell re-applies pools, weights, route and the running analysis."""
    state = replay(RINGS, RING0).state
    d = reconcile(state, at(40))
    assert d.commands == (
        ScaleUp(S, 4),
        ScaleUp(C, 1),
        SetWeights(100, 0),
        SetHeaderRoute("x-ring", "internal"),
        StartAnalysis("e", 60),
    )
    assert d.state.deadline_at == at(40 + 60 + 60)
    assert d.state.analysis is not None and d.state.analysis.started_at == at(40)
    finished = replay(RINGS, (*RING1, (95, TICK), (100, R(4, 4)))).state
    assert reconcile(finished, at(200)) == (finished, ())


def test_reconcile_does_not_restart_a_stopped_analysis() -> None:
    """A held rollout whose analysis timed out is re-applied without measuring again."""
    held = replay(HOLD, ((5, R(2, 1)), (200, TICK))).state
    assert held.phase is Phase.DEGRADED
    assert reconcile(held, at(300)).commands == (
        ScaleUp(S, 2),
        ScaleUp(C, 1),
        SetWeights(50, 50),
        ClearHeaderRoute(),
    )


@pytest.mark.parametrize("observation", [R(0, 4), ok("errors"), TICK], ids=["ready", "ok", "tick"])
def test_finished_rollout_ignores_observations(observation: Observation) -> None:
    """Nothing observed after the end moves a finished rollout or emits a command."""
    done = replay(CANARY, (*AT_50, (200, act(Action.PROMOTE)), (210, R(4, 4)))).state
    after = step(done, observation, at(9999))
    assert after.commands == ()
    assert after.state.phase is Phase.HEALTHY
    assert after.state.decisions == done.decisions


def test_restart_from_json_resumes_the_same_way() -> None:
    """A state restored from JSON takes the same decision as the one kept in memory."""
    live = replay(CANARY, TIMED_PAUSE).state
    restored = RolloutState.from_dict(json.loads(json.dumps(live.to_dict())))
    assert step(restored, TICK, at(180)) == step(live, TICK, at(180))


# -- specs ------------------------------------------------------------------------------------

STRATEGIES = [
    pytest.param(RECREATE, id="recreate"),
    pytest.param(ROLLING, id="rolling"),
    pytest.param(ROLLING_PCT, id="rolling-percent"),
    pytest.param(BG, id="blue-green"),
    pytest.param(BG_MANUAL, id="blue-green-manual"),
    pytest.param(CANARY, id="canary"),
    pytest.param(HOLD, id="canary-hold"),
    pytest.param(RINGS, id="rings"),
]


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_strategy_round_trips_through_json(strategy: Strategy) -> None:
    """Every strategy survives to_dict, JSON and strategy_from_dict unchanged."""
    assert strategy_from_dict(json.loads(json.dumps(strategy.to_dict()))) == strategy


ALL_COMMANDS: list[Command] = [
    ScaleUp(C, 3),
    ScaleDown(S),
    SetWeights(95, 5),
    SetHeaderRoute("x-ring", "internal"),
    ClearHeaderRoute(),
    StartAnalysis("errors", 120),
    StopAnalysis("errors"),
    Promote(),
    Rollback("aborted by bob"),
    Done(Phase.HEALTHY),
]


@pytest.mark.parametrize("command", ALL_COMMANDS, ids=lambda c: c.kind)
def test_command_round_trips_through_json(command: Command) -> None:
    """Every command survives to_dict, JSON and command_from_dict unchanged."""
    assert command_from_dict(json.loads(json.dumps(command.to_dict()))) == command


ALL_OBSERVATIONS: list[Observation] = [R(3, 1), bad("errors"), act(Action.ABORT, "bob"), TICK]


@pytest.mark.parametrize("observation", ALL_OBSERVATIONS, ids=lambda o: o.kind)
def test_observation_round_trips_through_json(observation: Observation) -> None:
    """Every observation survives to_dict, JSON and observation_from_dict unchanged."""
    data = json.loads(json.dumps(observation.to_dict()))
    assert observation_from_dict(data) == observation


def test_set_weights_serialises_as_a_mapping() -> None:
    """SetWeights reads as a pool-to-percent mapping in JSON."""
    assert SetWeights(95, 5).to_dict() == {
        "kind": "set-weights",
        "weights": {"stable": 95, "canary": 5},
    }


def test_header_match_parses_the_spec_form() -> None:
    """A ring's 'header: value' text becomes a lower-cased header match."""
    assert HeaderMatch.parse("X-Ring: internal") == HeaderMatch("x-ring", "internal")


def test_rolling_percentages_round_like_kubernetes() -> None:
    """Surge percentages round up and unavailable percentages round down."""
    assert Rolling(instances=10, max_surge="25%", max_unavailable="25%").limits() == (3, 2)
    assert Rolling(instances=3, max_surge="2", max_unavailable=0).limits() == (2, 0)


BAD_SPECS = [
    pytest.param(lambda: WeightStep(101), id="weight-over-100"),
    pytest.param(lambda: WeightStep(-1), id="weight-negative"),
    pytest.param(lambda: PauseStep(0), id="pause-zero"),
    pytest.param(lambda: AnalysisStep("", 60), id="analysis-no-template"),
    pytest.param(lambda: AnalysisStep("errors", 0), id="analysis-zero-duration"),
    pytest.param(lambda: Recreate(instances=0), id="instances-zero"),
    pytest.param(lambda: Recreate(instances=1, progress_deadline=0), id="deadline-zero"),
    pytest.param(lambda: Rolling(instances=4, max_surge=0, max_unavailable=0), id="rolling-stuck"),
    pytest.param(
        lambda: Rolling(instances=1, max_surge="0%", max_unavailable="50%"),
        id="rolling-rounds-to-stuck",
    ),
    pytest.param(lambda: Rolling(instances=4, max_surge="150%"), id="rolling-bad-percent"),
    pytest.param(lambda: Rolling(instances=4, max_surge="lots"), id="rolling-garbage"),
    pytest.param(
        lambda: BlueGreen(instances=1, auto_promote=False, promotion_delay=30),
        id="blue-green-delay-without-auto",
    ),
    pytest.param(
        lambda: BlueGreen(instances=1, scale_down_delay=-1), id="blue-green-negative-delay"
    ),
    pytest.param(lambda: Wave("x", header=HeaderMatch("x-a", "1"), weight=5), id="wave-both"),
    pytest.param(lambda: Wave("x"), id="wave-neither"),
    pytest.param(lambda: Rings(instances=1, waves=()), id="rings-empty"),
    pytest.param(
        lambda: Rings(instances=1, waves=(Wave("a", weight=5), Wave("a", weight=100))),
        id="rings-duplicate-names",
    ),
    pytest.param(lambda: HeaderMatch.parse("x-ring internal"), id="header-no-colon"),
    pytest.param(lambda: HeaderMatch("x ring", "1"), id="header-bad-name"),
    pytest.param(lambda: SetWeights(60, 50), id="weights-not-100"),
    pytest.param(
        lambda: strategy_from_dict({"type": "big-bang", "instances": 1}), id="unknown-strategy"
    ),
    pytest.param(
        lambda: strategy_from_dict({"type": "canary", "instances": 1, "steps": [{"jump": 1}]}),
        id="unknown-step",
    ),
    pytest.param(lambda: Canary(instances=1, steps=("weight 5",)), id="canary-step-wrong-type"),  # type: ignore[arg-type]
]


@pytest.mark.parametrize("make", BAD_SPECS)
def test_bad_specs_are_refused(make: Callable[[], object]) -> None:
    """A spec that cannot run raises rollout-spec-invalid, an input error."""
    with pytest.raises(RolloutSpecInvalid) as caught:
        make()
    assert caught.value.code == "rollout-spec-invalid"
    assert caught.value.exit_code == 2


def test_header_step_scales_a_canary_first() -> None:
    """A header route never points at an empty canary pool."""
    plan = describe_plan(Canary(instances=3, steps=(HeaderStep(HeaderMatch("x-beta", "yes")),)))
    assert plan[:2] == ("scale the canary pool to 1 and wait", "route 'x-beta: yes' to the canary")


# -- failures while rolling back ----------------------------------------------------------------

ABORTING: History = (*AT_25, (10, act(Action.ABORT)))
RECREATE_BACK: History = (*STOPPED, (66, TICK))  # the deadline sent recreate back

ROLLING_BACK_CASES = [
    pytest.param(
        CANARY,
        AT_25,
        (10, HOOK),
        rolled_back(HOOK.reason, StopAnalysis("errors"), SetWeights(100, 0), ScaleDown(C, 0)),
        Phase.ABORTED,
        4,
        id="canary-stable-kept-its-size-back-at-once",
    ),
    pytest.param(
        CANARY,
        ((5, R(0, 1)),),
        (10, act(Action.ABORT)),
        (StopAnalysis("errors"),),
        Phase.ROLLING_BACK,
        4,
        id="no-stable-instance-ready-waits-for-one",
    ),
    pytest.param(
        CANARY,
        ((5, R(0, 1)), (10, act(Action.ABORT))),
        (11, R(1, 1)),
        rolled_back("aborted", SetWeights(100, 0), ScaleDown(C, 0)),
        Phase.ABORTED,
        4,
        id="one-stable-instance-back-is-enough",
    ),
    pytest.param(
        RECREATE,
        RECREATE_BACK,
        (67, HOOK),
        (),
        Phase.ROLLING_BACK,
        2,
        id="a-failure-while-rolling-back-changes-nothing",
    ),
    pytest.param(
        RECREATE,
        (*RECREATE_BACK, (70, R(1, 0))),
        (127, TICK),
        rolled_back("progress deadline (1m) exceeded: canary pool has 0/2 ready", ScaleDown(C, 0)),
        Phase.ABORTED,
        2,
        id="deadline-sends-traffic-to-the-stable-instances-ready",
    ),
    pytest.param(
        RECREATE,
        (*RECREATE_BACK, (127, TICK)),
        (130, R(1, 0)),
        rolled_back("progress deadline (1m) exceeded: canary pool has 0/2 ready", ScaleDown(C, 0)),
        Phase.ABORTED,
        2,
        id="stuck-rollback-carries-on-once-a-stable-instance-is-ready",
    ),
]


@pytest.mark.parametrize(
    ("strategy", "history", "then", "commands", "phase", "stable"), ROLLING_BACK_CASES
)
def test_a_rollback_never_gives_up_on_the_stable_version(
    strategy: Strategy,
    history: History,
    then: tuple[float, Observation],
    commands: tuple[Command, ...],
    phase: Phase,
    stable: int,
) -> None:
    """A rollback takes traffic back as soon as a stable instance is ready, carries on past a
    failure on the way, and past its deadline with the stable instances it has."""
    check(strategy, history, then, commands, phase, stable)
