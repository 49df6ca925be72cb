"""The engine of the state machine: ``_Run``, one decision in the making. It walks the plan
until a step has to wait, fails a step whose deadline passed (rolling back, or holding under
``on_failure: hold``), takes analysis verdicts and user actions, and records a reason in
words for each move.

Behind the entry points in ``machine``; the phrases its reasons are made of stay with it.
"""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from shipyard.domain.analysis import Phase as AnalysisPhase
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
)
from shipyard.domain.rollout.errors import RolloutActionRefused
from shipyard.domain.rollout.observations import AnalysisResult
from shipyard.domain.rollout.plans import (
    _ROLLBACK,
    _Analyze,
    _Delay,
    _Finish,
    _Pause,
    _Plan,
    _plan,
    _Preview,
    _RestoreStable,
    _RollingUpdate,
    _Route,
    _Scale,
    _Step,
    _Traffic,
    describe_step,
)
from shipyard.domain.rollout.state import AnalysisRecord, Decision, Pools, RolloutState, Wait
from shipyard.domain.rollout.strategies import BlueGreen, Rolling
from shipyard.domain.rollout.vocabulary import (
    Action,
    OnFailure,
    PauseCause,
    Phase,
    Pool,
    WaitKind,
    _duration,
)

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
