"""The rollout controller: drives ``domain.rollout`` with what it observes on its ports.

Each loop it takes the user's actions, the running analysis' verdict and the pools' readiness,
asks the state machine what to do, records the decision (state and ``rollout.stepped`` event in
one transaction), then executes the commands on the instances and the router. Commands name
targets, not deltas, so a controller that restarts re-applies them with ``reconcile``.

Everything it does outside the store goes through ``Ports``: the instances (``Targets``), the
router (``Routers``), the time (``Clock``), the analyses' metrics sources and a command
target's hooks (``Commands``); by default the real ones (local processes, the router process,
the system clock, the router's metrics or Prometheus, the shell), in tests the fakes of
``tests/fakes.py``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, TypedDict

from shipyard.adapters.clock import SystemClock
from shipyard.adapters.commands import ShellCommands
from shipyard.adapters.metrics.base import MetricsSource
from shipyard.adapters.routers.local import ProcessRouters
from shipyard.adapters.targets import local as rt
from shipyard.domain import rollout as r
from shipyard.domain.analysis import Phase as AnalysisPhase
from shipyard.errors import Conflict, ShipyardError
from shipyard.ports.clock import Clock
from shipyard.ports.commands import Commands
from shipyard.ports.routers import RouterControl, Routers
from shipyard.ports.targets import Fleet, Targets
from shipyard.services.deployments import deploy_plan as dp
from shipyard.services.deployments.rollout_analysis import source_for
from shipyard.store import deployments as repo
from shipyard.store.append import utcnow
from shipyard.store.uow import Store

POLL = 0.2  # seconds between observations
DRAIN_TIMEOUT = 10.0  # longest wait for a pool's requests in flight before its instances stop
STATUS = {r.Phase.HEALTHY: "succeeded", r.Phase.ABORTED: "rolled-back"}


class Interrupted(BaseException):
    """SIGTERM reached the controller (a cancelled CI job, `kill`): handled as Ctrl-C is.

    A BaseException, as KeyboardInterrupt is, so that no ``except Exception`` on the way
    swallows it."""

    def __init__(self, signum: int) -> None:
        super().__init__(signal.Signals(signum).name)


@contextlib.contextmanager
def interrupts_raised() -> Iterator[None]:
    """SIGTERM raises ``Interrupted`` in the main thread while the controller runs, so the
    rollout is undone instead of the process vanishing with traffic split."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def raise_(signum: int, _frame: object) -> None:
        raise Interrupted(signum)

    before = signal.signal(signal.SIGTERM, raise_)
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, before)


def failure_of(kind: str, name: str, result: r.AnalysisResult) -> str:
    """``background analysis 'errors' failed: ...`` for an analysis outside the steps."""
    verdict = "failed" if result.phase is AnalysisPhase.FAILED else "errored"
    return f"{kind} analysis '{name}' {verdict}: {result.message}"


def failure_text(exc: BaseException) -> str:
    """A failure of the controller as a reason: ``code: message``."""
    if isinstance(exc, ShipyardError):
        return f"{exc.code}: {exc.message}"
    if isinstance(exc, Interrupted):
        return f"controller-interrupted: the controller got {exc}"
    if isinstance(exc, KeyboardInterrupt):
        return "controller-interrupted: the controller was interrupted (Ctrl-C)"
    return f"controller-failed: {type(exc).__name__}: {exc}"


def deploy_dir(store: Store, env: str) -> Path:
    return store.home / "deploy" / env


class Weights(TypedDict):
    """The traffic split, in percent."""

    stable: int
    canary: int


class MetricNumbers(TypedDict):
    """One metric of an analysis of several: its phase and the numbers behind it."""

    phase: str
    numbers: dict[str, float | int | str]


class Measurements(TypedDict, total=False):
    """The numbers behind the analysis running or last run (``rollout_analysis``), as
    events and lines carry them: none before any analysis, else its name and phase at least."""

    analysis: str
    phase: str
    canary: dict[str, float | int | str | None]  # ``summarize``d windows
    baseline: dict[str, float | int | str | None]
    numbers: dict[str, float | int | str]
    measurements: int
    metrics: dict[str, MetricNumbers]  # an analysis of several metrics


class Outcome(TypedDict):
    """How driving a deployment ended (``status``: succeeded, rolled-back or failed), or that
    its controller stopped while the rollout stays held (``held``)."""

    id: str
    service: str
    environment: str
    version: str
    status: str
    reason: str
    config_revision: str
    measurements: Measurements


MetricsSources = Callable[[Mapping[str, Any], str], MetricsSource]
"""The metrics source one metric of an analysis template names, given the router's admin
URL (``rollout_analysis.source_for``: the router's own metrics, or Prometheus)."""


@dataclass(frozen=True)
class Ports:
    """What a runner does its I/O through, the real ones unless given."""

    targets: Targets = field(default_factory=rt.ProcessTargets)
    routers: Routers = field(default_factory=ProcessRouters)
    clock: Clock = field(default_factory=SystemClock)
    metrics: MetricsSources = source_for
    commands: Commands = field(default_factory=ShellCommands)


class Runner:
    """Drives one deployment to its end; ``on_line`` hears every decision in words."""

    def __init__(
        self,
        store: Store,
        deployment_id: str,
        on_line: Callable[[str, dict[str, Any]], None] | None = None,
        poll: float = POLL,
        ports: Ports | None = None,
    ) -> None:
        self.store = store
        self.ports = ports or Ports()
        self.clock = self.ports.clock
        self.on_line = on_line or (lambda _text, _data: None)
        self.poll = poll
        with store.read() as uow:
            dep = repo.get_deployment(uow.conn, deployment_id)
            assert dep is not None
            env = repo.get_environment(uow.conn, dep["project"], dep["environment"])
        self.dep = dep
        self.plan = dp.DeploymentPlan.from_json(dep["plan"])
        self.env_row = env or {}
        self.pools = {
            r.Pool.STABLE: self.plan.pools["stable"],
            r.Pool.CANARY: self.plan.pools["canary"],
        }
        base = deploy_dir(store, dep["environment"])
        self.instances: Fleet = self.ports.targets.adopt(
            base / "logs", self.env_row.get("instances", [])
        )
        self.router: RouterControl | None = None
        self.state: r.RolloutState | None = (
            r.RolloutState.from_dict(dep["state"]) if dep["state"] else None
        )
        self.analysis: Any = None
        self.background: dict[str, Any] = {}  # watch analyses through the rollout, by name
        self.promoted = False
        self.backends: dict[str, list[str]] = {}
        self.weights: dict[str, int] = {}
        self.hooks: Any = None  # a command target's HookDriver; None for the process target
        self.hook_failure = ""
        self.forced_status = ""
        self.emergency = ""  # why the stable version was restored without the state machine
        self.reconciled = self.state is None
        self.finished = False
        self._stopping = False  # interrupted: finish the rollback, leave a hold as it is
        self._replaced: dict[str, float] = {}  # pool -> when dead instances were last replaced
        if self.plan.canary.get("target") == "command":
            from shipyard.services.deployments.deploy_hooks import HookDriver

            live = self.env_row.get("version") is not None
            self.hooks = HookDriver(
                self.plan,
                dep["environment"],
                r.strategy_from_dict(self.plan.strategy).instances if live else 0,
                self.ports.commands,
            )
            self.pools = {r.Pool.STABLE: r.Pool.STABLE.value, r.Pool.CANARY: r.Pool.CANARY.value}

    # -- the loop -----------------------------------------------------------------------------

    def run(self) -> Outcome:
        """Drive the rollout to its end. Whatever fails on the way (a metrics provider, the
        router, a target, this controller's own code, SIGTERM or Ctrl-C) is fed to the state
        machine as a failure, which rolls back (or holds, under ``on_failure: hold``); a
        second failure while doing so restores the stable version without it."""
        self._claim()
        failures: list[str] = []
        with interrupts_raised():
            while True:
                try:
                    self._drive()
                    break
                except (Exception, Interrupted, KeyboardInterrupt) as exc:
                    if not self._recover(exc, failures):
                        raise
                    if self._stopping and self.state is not None and self.state.held:
                        break  # interrupted and held: the rollout waits for a person
        assert self.state is not None
        if self.emergency:
            return self._finish("failed", self.emergency)
        status = self.forced_status or STATUS.get(self.state.phase, "failed")
        reason = self.state.failure or self.state.reason
        if self.hook_failure:
            reason = f"{self.hook_failure}; rolled back" if status == "rolled-back" else reason
        if self.state.held:
            return self._report_held()
        return self._finish(status, reason)

    def _claim(self) -> None:
        with self.store.begin() as uow:
            mine = repo.claim(uow.conn, self.dep["id"], os.getpid(), self.dep["controller_pid"])
        if not mine:
            raise Conflict(
                f"deployment {self.dep['id']} was taken by another controller",
                f"follow it with `shipyard rollout status {self.dep['environment']}`",
                code="rollout-in-progress",
            )

    def _drive(self) -> None:
        if self.router is None and self.hooks is None:
            self._open_router()
        if self.state is None:
            strategy = r.strategy_from_dict(self.plan.strategy)
            stable = (
                self.hooks.counts[r.Pool.STABLE]
                if self.hooks is not None
                else len(self._ready_now()[r.Pool.STABLE])
            )
            direct = self.plan.direct
            now = self.clock.now()
            decision = r.start(strategy, now, stable_instances=stable, direct=direct)
            self._apply(decision, first=True)
        elif not self.reconciled:  # a controller that died: re-assert the state, carry on
            self.reconciled = True
            self._take_actions()  # an abort queued while no controller ran comes first
            if self._running():
                self._apply(r.reconcile(self.state, self.clock.now()))
        self.reconciled = True
        while self._running():
            self.clock.sleep(self.poll)
            self._observe()

    def _open_router(self) -> None:
        """Adopt the environment's router (or start it) and record it at once, so that
        `shipyard env stop` finds it even if this controller dies before the end."""
        base = deploy_dir(self.store, self.dep["environment"])
        router = self.ports.routers.open(self.plan.router, self.env_row.get("router"), base)
        self.router = router
        self.weights = dict(router.routes().get("weights", {}))
        if router.to_dict() != self.env_row.get("router"):
            with self.store.begin() as uow:
                repo.save_environment(
                    uow.conn,
                    self.dep["project"],
                    self.dep["environment"],
                    router=router.to_dict(),
                    updated_at=utcnow(),
                )
            self.env_row = {**self.env_row, "router": router.to_dict()}

    def _recover(self, exc: BaseException, failures: list[str]) -> bool:
        """Handle a failure of the loop; False when it is not ours to handle (re-raised)."""
        reason = failure_text(exc)
        interrupted = isinstance(exc, Interrupted | KeyboardInterrupt)
        self._stopping = self._stopping or interrupted
        s = self.state
        if s is None or s.finished:
            # Nothing moved yet (or all is done): there is nothing to undo.
            if s is None and not self.finished:
                self._finish("failed", reason)
            return False
        failures.append(reason)
        if s.held:
            # Interrupted, it stops quietly; any other failure is raised. Either way the
            # rollout stays held for `rollout abort|resume|promote` (and `rollout continue`).
            return interrupted
        if len(failures) == 1 and not s.rolling_back:
            self.on_line(f"{reason}: the rollout fails here", {})
            try:
                self._apply(r.step(s, r.TargetFailed(reason), self.clock.now()))
                return True
            except (Exception, Interrupted, KeyboardInterrupt) as again:
                failures.append(failure_text(again))
        elif len(failures) == 1 and not interrupted and self.hooks is None:
            return True  # a failure while rolling back: carry on rolling back
        self._restore_now("; then ".join(failures))
        return True

    def _restore_now(self, reason: str) -> None:
        """Put the stable version back without the state machine: all traffic to it, header
        route cleared, the new version stopped. What cannot be done is said, not raised."""
        notes = []
        if self.hooks is not None:
            try:
                self.hooks.restore()
            except ShipyardError as exc:
                notes.append(f"the rollback hook failed too: {exc.message}")
        else:
            stable, canary = self.pools[r.Pool.STABLE], self.pools[r.Pool.CANARY]
            try:
                if self.router is None or not self.router.healthy():
                    self._open_router()
                ready = self.instances.ready(stable, self._path())
                router = self.router
                assert router is not None
                router.set_pool(stable, [m.address for m in ready])
                router.set_weights({stable: 100, canary: 0})
                router.clear_header_route()
                router.set_pool(canary, [])
            except (Exception, Interrupted, KeyboardInterrupt) as exc:
                notes.append(f"the router could not be reset: {failure_text(exc)}")
            self.instances.scale(canary, 0, None)
        self.promoted = False
        self.emergency = f"{reason}; restored the stable version directly" + "".join(
            f"; {n}" for n in notes
        )
        self.on_line(self.emergency, {})

    def _running(self) -> bool:
        """Until the rollout ends. A held rollout waits for a person, as a pause until
        promoted does, and a stuck rollback for the stable pool to come back, so the
        controller keeps polling; interrupted, it leaves a held rollout as it is."""
        if self.state is None or self.emergency:
            return False
        if self._stopping and self.state.held:
            return False
        return not self.state.finished

    def _ready_now(self) -> dict[r.Pool, list[rt.Member]]:
        """Each pool's ready instances of the revision it should run (none other counts)."""
        return {p: self.instances.ready(self.pools[p], self._path(), self._want(p)) for p in r.Pool}

    def _want(self, pool: r.Pool) -> rt.Launch | None:
        """What ``pool`` should run, without reading secrets (for matching instances only)."""
        side = self.plan.side(pool)
        if not side or side.get("target") == "command":
            return None
        return rt.Launch("", side["version"], "", {}, revision=rt.revision_of(side))

    def _path(self) -> str:
        return str(self.plan.readiness_path)

    def _take_actions(self) -> None:
        assert self.state is not None
        with self.store.begin() as uow:
            actions = repo.take_actions(uow.conn, self.dep["id"], utcnow())
        for act in actions:
            try:
                obs = r.UserAction(r.Action(act["action"]), act["actor"])
                self._apply(r.step(self.state, obs, self.clock.now()))
            except r.RolloutActionRefused as exc:
                self.on_line(f"{act['action']} by {act['actor']} refused: {exc.message}", {})

    def _observe(self) -> None:
        assert self.state is not None
        self._take_actions()
        if self.analysis is not None and self._running():
            result = self.analysis.poll(self.clock.monotonic())
            self._store_measurements(self.analysis)
            if result is not None:
                self.analysis = None
                self._apply(r.step(self.state, result, self.clock.now()))
        self._background()
        if not self._running():
            return
        if self.hooks is not None:
            counts = {p: self.hooks.ready(p) for p in r.Pool}
            seen = r.Readiness(counts[r.Pool.STABLE], counts[r.Pool.CANARY])
            self._apply(r.step(self.state, seen, self.clock.now()))
            return
        if self._target_exited():
            return
        self._replace_exited()
        ready = self._ready_now()
        self._sync_router(ready)
        obs = r.Readiness(len(ready[r.Pool.STABLE]), len(ready[r.Pool.CANARY]))
        self._apply(r.step(self.state, obs, self.clock.now()))

    def _background(self) -> None:
        """The environment's watch analyses, judged through the whole rollout (Argo's
        background analysis): one that fails fails the rollout, whatever step it is at."""
        s = self.state
        assert s is not None
        names = self.plan.watch["analysis"]
        if not names or s.direct or s.rolling_back or s.finished or s.held:
            return
        from shipyard.services.deployments.rollout_analysis import AnalysisRun

        now = self.clock.monotonic()
        url = self.router.admin_url if self.router is not None else ""
        for name in names:
            if name not in self.background:
                self.background[name] = AnalysisRun(
                    name,
                    self.plan.analysis[name],
                    None,
                    url,
                    self.pools[r.Pool.CANARY],
                    self.pools[r.Pool.STABLE],
                    now,
                    when="background",
                    sources=self.ports.metrics,
                    clock=self.clock,
                )
            run = self.background[name]
            result = run.poll(now)
            self._store_measurements(run)
            if result is None:
                continue
            if result.phase is AnalysisPhase.INCONCLUSIVE:
                del self.background[name]  # past its inconclusive limit: measure afresh
                continue
            reason = failure_of("background", name, result)
            self._apply(r.step(s, r.TargetFailed(reason), self.clock.now()))
            return

    def _target_exited(self) -> bool:
        """An instance of the version going out whose processes are all gone fails the
        rollout at once (rolled back, or held under ``on_failure: hold``), as a failing hook
        does, instead of waiting out the progress deadline; True when one did."""
        s = self.state
        assert s is not None
        if s.rolling_back or s.finished or s.held or s.targets.canary == 0:
            return False
        gone = self.instances.exited(self.pools[r.Pool.CANARY])
        if not gone:
            return False
        self.instances.forget([g.member for g in gone])
        reason = "target-exited: " + "; ".join(g.reason for g in gone)
        self._apply(r.step(s, r.TargetFailed(reason), self.clock.now()))
        return True

    def _replace_exited(self, which: r.Pool = r.Pool.STABLE, *, now: bool = False) -> None:
        """Instances of the stable version that exited are replaced (at most once a second
        per pool), so a rollback never waits for an instance that is gone; at the end, those
        of the version that stays live are."""
        s = self.state
        assert s is not None
        pool = self.pools[which]
        want = len(self.instances.of(pool)) if now else s.targets.of(which)
        gone = self.instances.exited(pool)
        if not gone or want == 0:
            return
        at = self.clock.monotonic()
        if not now and at - self._replaced.get(pool, 0.0) < 1.0:
            return
        self._replaced[pool] = at
        self.instances.forget([g.member for g in gone])
        launch = self._launch(which)
        if launch is None:
            return
        for g in gone:
            self.on_line(f"replacing {g.reason}", {})
        self.instances.scale(pool, want, launch)
        self._save_instances()

    def _save_instances(self) -> None:
        with self.store.begin() as uow:
            repo.save_environment(
                uow.conn,
                self.dep["project"],
                self.dep["environment"],
                instances=self.instances.to_list(),
                updated_at=utcnow(),
            )

    # -- decisions ----------------------------------------------------------------------------

    def _apply(self, decision: r.Decision, first: bool = False) -> None:
        before = self.state
        self.state = decision.state
        moved = first or before is None or decision.state.decisions != before.decisions
        held = decision.state.held and not (before is not None and before.held)
        if moved or decision.commands:
            self._record(decision, moved, held)
        for command in decision.commands:
            if self.hooks is None:
                self._execute(command)
                continue
            from shipyard.ports.targets import TargetError

            try:
                self._execute(command)
            except TargetError as exc:
                self._hook_failed(exc)
                return
        if decision.commands:
            self._save_instances()

    def _weights(self, s: r.RolloutState) -> dict[str, int]:
        return {
            self.pools[r.Pool.STABLE]: 100 - s.canary_weight,
            self.pools[r.Pool.CANARY]: s.canary_weight,
        }

    def _record(self, decision: r.Decision, moved: bool, held: bool = False) -> None:
        s = decision.state
        payload = {
            "phase": s.phase.value,
            "step": r.describe_step(s),
            "weights": {"stable": 100 - s.canary_weight, "canary": s.canary_weight},
            "reason": s.reason,
            "measurements": self._measurements(s),
            "commands": [c.to_dict() for c in decision.commands],
        }
        with self.store.begin() as uow:
            repo.update_deployment(
                uow.conn,
                self.dep["id"],
                state=s.to_dict(),
                phase=s.phase.value,
                reason=s.reason,
                updated_at=utcnow(),
                controller_pid=os.getpid(),
            )
            if moved:
                uow.events.append(
                    "rollout.stepped",
                    f"deployment:{self.dep['id']}",
                    self.dep["actor"],
                    payload,
                    project=self.dep["project"],
                )
            if held:
                uow.events.append(
                    "rollout.held",
                    f"deployment:{self.dep['id']}",
                    self.dep["actor"],
                    self._held_payload(s, payload),
                    project=self.dep["project"],
                )
        if moved:
            self.on_line(s.reason, payload)
        if held:
            env = self.dep["environment"]
            self.on_line(
                f"held: `shipyard rollout abort {env}` rolls back, `shipyard rollout promote "
                f"{env}` accepts {self.dep['version']}, `shipyard rollout resume {env}` retries",
                payload,
            )

    def _held_payload(self, s: r.RolloutState, stepped: dict[str, Any]) -> dict[str, Any]:
        return {
            "environment": self.dep["environment"],
            "version": self.dep["version"],
            "reason": s.failure,
            "step": stepped["step"],
            "weights": stepped["weights"],
            "measurements": stepped["measurements"],
        }

    def _measurements(self, s: r.RolloutState) -> Measurements:
        a = s.analysis
        if a is None:
            return {}
        out: Measurements = {"analysis": a.name, "phase": a.phase.value}
        details = dict(a.details) if a.details else (self.analysis.last if self.analysis else {})
        if "canary" in details:
            out["canary"] = details["canary"]
        if "baseline" in details:
            out["baseline"] = details["baseline"]
        if "numbers" in details:
            out["numbers"] = details["numbers"]
        if "measurements" in details:
            out["measurements"] = details["measurements"]
        if len(details.get("metrics") or {}) > 1:
            out["metrics"] = {
                name: {"phase": m["phase"], "numbers": m["numbers"]}
                for name, m in details["metrics"].items()
            }
        return out

    # -- commands -----------------------------------------------------------------------------

    def _launch(self, pool: r.Pool) -> rt.Launch | None:
        from shipyard.services.deployments.deploy_sides import launch_for

        return launch_for(self.store, self.plan.side(pool))

    def _hook_failed(self, exc: ShipyardError) -> None:
        """A hook failed: the state machine rolls back (or holds, under ``on_failure: hold``);
        once it finished, the rollback is done by hand. A hook failing while rolling back
        leaves the deployment failed."""
        assert self.state is not None and self.hooks is not None
        if self.hook_failure or self.state.rolling_back:
            raise exc
        reason = f"{exc.code}: {exc.message}"
        if not self.state.finished:
            self._apply(r.step(self.state, r.TargetFailed(reason), self.clock.now()))
            if self.state.held:
                return  # recorded and announced as held; a person decides what happens next
            self.hook_failure = reason
            self.on_line(f"{exc.message}; rolling back", {})
            return
        self.hook_failure = reason
        self.on_line(f"{exc.message}; rolling back", {})
        self.hooks.restore()  # the promote hook failed after the last step
        self.promoted = False
        self.forced_status = "rolled-back"

    def _execute(self, c: r.Command) -> None:
        if self.hooks is not None:
            if isinstance(c, r.StartAnalysis):
                self._start_analysis(c, "")
            elif isinstance(c, r.StopAnalysis):
                self.analysis = None
            else:
                self.hooks.execute(c)
                if isinstance(c, r.Promote):
                    self.promoted = True
            return
        assert self.router is not None
        if isinstance(c, r.ScaleUp | r.ScaleDown):
            phys = self.pools[c.pool]
            keep = self.instances.of(phys)[: c.instances]
            if len(keep) < len(self.instances.of(phys)):  # drain before stopping
                self._set_pool(phys, [m.address for m in keep if m in keep])
                if self.backends.get(phys) == []:
                    self._drain(phys)
            self.instances.scale(phys, c.instances, self._launch(c.pool))
        elif isinstance(c, r.SetWeights):
            ready = self._ready_now()
            self._sync_router(ready)
            self.weights = {
                self.pools[r.Pool.STABLE]: c.stable,
                self.pools[r.Pool.CANARY]: c.canary,
            }
            self.router.set_weights(self.weights)
        elif isinstance(c, r.SetHeaderRoute):
            self.router.set_header_route(c.header, c.value, self.pools[c.pool])
        elif isinstance(c, r.ClearHeaderRoute):
            self.router.clear_header_route()
        elif isinstance(c, r.OpenPreview):
            port = self.router.set_preview(self.pools[c.pool], c.port, c.mirror)
            if port:
                self.on_line(f"preview of {self.dep['version']} at http://127.0.0.1:{port}", {})
        elif isinstance(c, r.ClosePreview):
            self.router.clear_preview()
        elif isinstance(c, r.StartAnalysis):
            self._start_analysis(c, self.router.admin_url)
        elif isinstance(c, r.StopAnalysis):
            self.analysis = None
        elif isinstance(c, r.Promote):
            self.promoted = True

    def _start_analysis(self, c: r.StartAnalysis, router_admin_url: str) -> None:
        from shipyard.services.deployments.rollout_analysis import AnalysisRun

        a = self.state.analysis if self.state is not None else None
        self.analysis = AnalysisRun(
            c.name,
            self.plan.analysis[c.name],
            c.duration,
            router_admin_url,
            self.pools[r.Pool.CANARY],
            self.pools[r.Pool.STABLE],
            self.clock.monotonic(),
            when=a.when if a is not None and a.name == c.name else "step",
            sources=self.ports.metrics,
            clock=self.clock,
        )

    def _store_measurements(self, run: Any) -> None:
        rows = run.take_measurements()
        if rows:
            with self.store.begin() as uow:
                repo.add_measurements(uow.conn, self.dep["id"], rows)

    def _drain(self, pool: str) -> None:
        """Wait until the router has no request in flight to ``pool``, now out of it, so
        stopping its instances cuts no response short (a rolled-back canary answering slowly:
        without it, the request was cut and the router answered 502)."""
        in_flight = getattr(self.router, "in_flight", None)
        if in_flight is None:  # nginx: in-flight requests finish on the old workers
            return
        deadline = self.clock.monotonic() + DRAIN_TIMEOUT
        while in_flight(pool) > 0 and self.clock.monotonic() < deadline:
            self.clock.sleep(0.01)

    def _set_pool(self, pool: str, backends: list[str]) -> None:
        assert self.router is not None
        if not backends and self.weights.get(pool, 0) > 0:
            # A pool with traffic and nothing ready keeps its instances that are alive (a
            # busy instance may miss a probe); a dead one goes, and with none left the
            # router sends the pool's share elsewhere.
            backends = [m.address for m in self.instances.alive(pool)]
        if self.backends.get(pool) == backends:
            return
        self.router.set_pool(pool, backends)
        self.backends[pool] = backends

    def _sync_router(self, ready: dict[r.Pool, list[rt.Member]]) -> None:
        for pool, members in ready.items():
            self._set_pool(self.pools[pool], [m.address for m in members])

    # -- the end ------------------------------------------------------------------------------

    def _finish(self, status: str, reason: str) -> Outcome:
        d = self.dep
        live_pool: str | None = (
            self.pools[r.Pool.CANARY] if self.promoted else self.pools[r.Pool.STABLE]
        )
        if self.hooks is not None:
            live_pool = None  # the platform behind the hooks names its own pools
        succeeded = status == "succeeded"
        side = self.plan.canary if succeeded else self.plan.stable
        plan = self.plan
        if succeeded and self.background:
            # What the old version served through the rollout: the baseline of the watch.
            baselines = {n: run.stable_windows() for n, run in self.background.items()}
            watch: dp.Watch = {**plan.watch, "baselines": baselines}
            plan = replace(plan, watch=watch, missing=plan.missing - {"watch"})
        if self.hooks is None and self.state is not None and not self.state.held:
            with contextlib.suppress(ShipyardError):  # best effort: a supervisor retries
                self._replace_exited(r.Pool.CANARY if self.promoted else r.Pool.STABLE, now=True)
        measurements: Measurements = self._measurements(self.state) if self.state else {}
        outcome = self._outcome(status, reason, measurements)
        payload = {k: v for k, v in outcome.items() if k != "id"}  # the event names the id
        now = utcnow()
        with self.store.begin() as uow:
            repo.update_deployment(
                uow.conn,
                d["id"],
                status=status,
                reason=reason,
                plan=plan.to_json(),
                finished_at=now,
                updated_at=now,
            )
            repo.save_environment(
                uow.conn,
                d["project"],
                d["environment"],
                version=side["version"] if side else None,
                config_revision=side["config_revision"] if side else None,
                deployment_id=d["id"] if succeeded else self.env_row.get("deployment_id"),
                active_deployment=None,
                live_pool=live_pool,
                router=self.router.to_dict() if self.router else self.env_row.get("router"),
                instances=self.instances.to_list(),
                updated_at=now,
            )
            uow.events.append(
                "deployment.finished",
                f"deployment:{d['id']}",
                d["actor"],
                payload,
                project=d["project"],
            )
        self.finished = True
        self.on_line(f"deployment {status}: {reason}", payload)
        return outcome

    def _outcome(self, status: str, reason: str, measurements: Measurements) -> Outcome:
        d = self.dep
        return {
            "id": d["id"],
            "service": d["service"],
            "environment": d["environment"],
            "version": d["version"],
            "status": status,
            "reason": reason,
            "config_revision": d["config_revision"],
            "measurements": measurements,
        }

    def _report_held(self) -> Outcome:
        """The controller stops while the rollout stays held: it is recorded as such."""
        d, s = self.dep, self.state
        assert s is not None
        self.on_line(f"the controller stops; {d['version']} stays held in {d['environment']}", {})
        return self._outcome("held", s.failure, self._measurements(s))
