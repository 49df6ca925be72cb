"""The rollout state machine under random failures at every step: whatever happens, a rollout
ends with all traffic on ready instances of one version, or visibly held for a person."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from hypothesis import given, settings
from hypothesis import strategies as st

from shipyard.domain.analysis import Phase as AP
from shipyard.domain.rollout import (
    Action,
    AnalysisResult,
    AnalysisStep,
    BlueGreen,
    Canary,
    ClearHeaderRoute,
    ClosePreview,
    Command,
    Decision,
    HeaderMatch,
    HeaderStep,
    Observation,
    OnFailure,
    OpenPreview,
    PauseStep,
    Phase,
    Pool,
    Readiness,
    Recreate,
    Rings,
    Rolling,
    RolloutActionRefused,
    ScaleDown,
    ScaleUp,
    SetHeaderRoute,
    SetWeights,
    Strategy,
    TargetFailed,
    Tick,
    UserAction,
    WaitKind,
    Wave,
    WeightStep,
    reconcile,
    start,
    step,
)

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
S, C = Pool.STABLE, Pool.CANARY


@dataclass
class World:
    """What the shell would have made of the commands: instances per pool (some crashed, so
    running but not ready), the router's weights and its header route."""

    running: dict[Pool, int]
    crashed: dict[Pool, int] = field(default_factory=lambda: {S: 0, C: 0})
    weights: tuple[int, int] = (100, 0)
    route: bool = False
    preview: bool = False  # the new pool's own port, and mirroring to it

    def ready(self, pool: Pool) -> int:
        return self.running[pool] - self.crashed[pool]

    def readiness(self) -> Readiness:
        return Readiness(self.ready(S), self.ready(C))

    def apply(self, d: Decision, restart: bool = False) -> None:
        for c in d.commands:
            self._one(c, d, restart)

    def _one(self, c: Command, d: Decision, restart: bool) -> None:
        if isinstance(c, ScaleUp | ScaleDown):
            self.running[c.pool] = c.instances
            self.crashed[c.pool] = min(self.crashed[c.pool], c.instances)
        elif isinstance(c, SetWeights):
            # Traffic only ever moves to the new version once the machine has seen ready
            # instances of it (a restart re-asserts the weights as they were; a router sends
            # the share of a pool without ready backends to the others).
            assert restart or c.canary == 0 or d.state.ready.canary > 0, (c, d.state.reason)
            self.weights = (c.stable, c.canary)
        elif isinstance(c, SetHeaderRoute):
            self.route = True
        elif isinstance(c, ClearHeaderRoute):
            self.route = False
        elif isinstance(c, OpenPreview):
            self.preview = True
        elif isinstance(c, ClosePreview):
            self.preview = False


STRATEGIES: list[Strategy] = [
    Recreate(instances=2, progress_deadline=60),
    Rolling(instances=3, max_surge=1, max_unavailable=1, progress_deadline=60),
    BlueGreen(
        instances=2,
        progress_deadline=60,
        preview_header=HeaderMatch("x-preview", "1"),
        preview_port=0,
        mirror=20,
        pre_promotion_analysis=AnalysisStep("pre", 30),
        post_promotion_analysis=AnalysisStep("post", 30),
        scale_down_delay=10,
    ),
    Canary(
        instances=3,
        progress_deadline=60,
        steps=(
            WeightStep(10),
            AnalysisStep("errors", 30),
            PauseStep(20),
            WeightStep(50),
            PauseStep(None),
            WeightStep(100),
        ),
    ),
    Rings(
        instances=2,
        progress_deadline=60,
        waves=(
            Wave("staff", header=HeaderMatch("x-ring", "staff"), steps=(AnalysisStep("e", 20),)),
            Wave("all", weight=100),
        ),
    ),
    Canary(
        instances=2,
        progress_deadline=60,
        on_failure=OnFailure.HOLD,
        steps=(HeaderStep(HeaderMatch("x-beta", "1")), WeightStep(30), AnalysisStep("e", 20)),
    ),
]

ANALYSIS_PHASES = [AP.SUCCESSFUL, AP.FAILED, AP.ERROR, AP.INCONCLUSIVE]
EVENTS = st.one_of(
    st.tuples(st.just("tick"), st.floats(0.1, 200)),
    st.tuples(st.just("ready"), st.just(0)),
    st.tuples(st.just("crash"), st.sampled_from([S, C])),
    st.tuples(st.just("heal"), st.just(0)),
    st.tuples(st.just("analysis"), st.sampled_from(ANALYSIS_PHASES)),
    st.tuples(st.just("target-failed"), st.just(0)),
    st.tuples(st.just("action"), st.sampled_from(list(Action))),
    st.tuples(st.just("restart"), st.just(0)),
)


def _observation(event: tuple[str, object], d: Decision, world: World) -> Observation | None:
    kind, arg = event
    s = d.state
    if kind == "ready":
        return world.readiness()
    if kind == "crash":
        pool = arg
        assert isinstance(pool, Pool)
        if world.ready(pool) > 0:
            world.crashed[pool] += 1
        # The shell fails a rollout whose new version lost an instance; a lost stable
        # instance is replaced and shows as readiness.
        going_out = pool is C and not s.rolling_back and not s.finished and not s.held
        return TargetFailed("canary-0 exited") if going_out else world.readiness()
    if kind == "heal":
        world.crashed[S] = 0
        return world.readiness()
    if kind == "analysis":
        if s.analysis is None:
            return None
        assert isinstance(arg, AP)
        return AnalysisResult(s.analysis.name, arg, f"measured {arg.value}")
    if kind == "target-failed":
        return TargetFailed("hook 'set_weight' exited with status 1")
    if kind == "action":
        assert isinstance(arg, Action)
        return UserAction(arg, "someone")
    return Tick()


@settings(max_examples=300, deadline=None)
@given(
    strategy=st.sampled_from(STRATEGIES),
    first=st.booleans(),
    events=st.lists(EVENTS, max_size=40),
)
def test_every_rollout_ends_on_one_ready_version_or_visibly_held(
    strategy: Strategy, first: bool, events: list[tuple[str, object]]
) -> None:
    """Random readiness, crashes, analysis verdicts, target failures, user actions, deadlines
    and controller restarts at every step; afterwards, with the failures gone, the rollout
    ends with all traffic on ready instances of one version and the other pool stopped, or
    stays held (Degraded) with the failure it was held for."""
    n = strategy.instances
    stable = 0 if first else n
    world = World({S: stable, C: 0}, weights=(100, 0) if stable else (0, 0))
    now = T0
    d = start(strategy, now, stable_instances=stable)
    world.apply(d)
    for event in events:
        if event[0] == "tick":
            assert isinstance(event[1], float)
            now += timedelta(seconds=event[1])
        else:
            now += timedelta(seconds=0.2)
        if event[0] == "restart":  # the controller died and another re-asserts the state
            d = reconcile(d.state, now)
            world.apply(d, restart=True)
            continue
        obs = _observation(event, d, world)
        if obs is None:
            continue
        try:
            d = step(d.state, obs, now)
        except RolloutActionRefused:
            continue
        world.apply(d)
    # The failures stop: crashed stable instances are replaced, new ones come up, analyses
    # pass, time goes by, and a person promotes what waits for a person.
    world.crashed = {S: 0, C: 0}
    for _ in range(200):
        s = d.state
        if s.finished or s.held:
            break
        now += timedelta(seconds=5)
        obs: Observation = world.readiness()
        waiting = s.wait
        if s.user_paused:
            obs = UserAction(Action.RESUME, "someone")
        elif waiting is not None and waiting.kind is WaitKind.ANALYSIS and s.analysis is not None:
            obs = AnalysisResult(s.analysis.name, AP.SUCCESSFUL, "fine")
        elif waiting is not None and waiting.kind is WaitKind.PAUSE and waiting.until is None:
            obs = UserAction(Action.PROMOTE, "someone")
        d = step(s, obs, now)
        world.apply(d)
    s = d.state
    assert s.finished or s.phase is Phase.DEGRADED, s.reason
    if s.finished:
        assert not world.preview  # no preview port or mirroring left behind
    if s.phase is Phase.HEALTHY:
        assert world.weights == (0, 100) and not world.route
        assert world.running == {S: 0, C: n} and world.ready(C) == n
    elif s.phase is Phase.ABORTED:
        assert world.weights[1] == 0 and not world.route
        assert world.running[C] == 0
        assert world.ready(S) >= 1 or stable == 0  # a first deployment leaves nothing
    else:  # held, or a rollback that cannot restore the stable version: visible, with why
        assert s.failure, s.reason
        assert s.held or world.ready(S) == 0
