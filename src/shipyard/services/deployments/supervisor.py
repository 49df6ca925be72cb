"""The supervisor of an environment: a long-running loop that keeps what is live healthy.

Every ``TICK`` seconds ``Supervisor.tick`` looks at the environment as recorded and acts:

- a rollout whose controller is gone (killed, or the machine's `shipyard deploy` lost) is
  taken over: the supervisor becomes its controller and drives it to its end, as Argo's
  controller carries on after a restart (held rollouts wait there for abort|resume|promote);
- while a live controller drives a rollout, the supervisor leaves everything to it;
- otherwise it supervises the live pool (``domain.supervision``): instances that exited are
  restarted with back-off, instances failing their readiness probe are taken out of the router
  within a second and put back once they answer again, and a router process that died is
  started again with the live pool;
- for ``watch.window`` after a promotion it judges the environment's ``watch.analysis`` on the
  live version against what the old version served during the rollout; a failing verdict
  rolls back to the version live before, at once (Flagger's post-rollout checks).

The loop is a function of the recorded state and of its ports, the rollout runner's ``Ports``
(instances, router, clock, metrics; the real ones unless given): nothing is kept that a
restarted supervisor cannot rebuild, so a server-mode worker holding a database lease can run
the same ``tick``. In embedded mode `shipyard deploy` starts one process per environment
(``ensure``), kept unique by a lock file; `shipyard env stop` stops it (``stop``); it also ends
by itself once the environment has nothing running.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import signal
import sys
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any, TypedDict

from shipyard.adapters import processes
from shipyard.adapters.targets import local as rt
from shipyard.domain import supervision as sv
from shipyard.domain.analysis import Phase as AnalysisPhase
from shipyard.domain.analysis import Window
from shipyard.errors import ShipyardError
from shipyard.ports.routers import RouterControl
from shipyard.ports.targets import Member, Supervised
from shipyard.services.deployments import deploy_plan as dp
from shipyard.services.deployments.rollout_runner import Ports
from shipyard.store import deployments as repo
from shipyard.store.append import utcnow
from shipyard.store.deployments import DeploymentRow
from shipyard.store.uow import Store

TICK = 0.2  # seconds between looks: two failed probes eject, so out within about a second
PROBE_TIMEOUT = 0.25
IDLE_EXIT = 10.0  # seconds with nothing running before the process ends by itself
ACTOR = "supervisor"


def folder(store: Store, env: str) -> Path:
    return store.home / "deploy" / env


# -- the process: one per environment -------------------------------------------------------------


@contextlib.contextmanager
def _locked(store: Store, env: str) -> Iterator[bool]:
    """Hold the environment's supervisor lock while inside; False if another process has it."""
    base = folder(store, env)
    base.mkdir(parents=True, exist_ok=True)
    with open(base / "supervisor.lock", "a+") as fh:
        try:
            fcntl.flock(fh, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            yield False
            return
        try:
            yield True
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def running(store: Store, env: str) -> bool:
    """Whether a supervisor process holds the environment's lock now."""
    if not (folder(store, env) / "supervisor.lock").exists():
        return False
    with _locked(store, env) as free:
        return not free


class Report(TypedDict):
    """What a supervisor process reports of itself (``supervisor.json``)."""

    pid: int
    since: str
    beat: str  # its last look
    doing: str


class SupervisorProcess(Report):
    """An environment's supervisor process on this host, as it reports itself."""

    running: bool


class SupervisorWorker(TypedDict):
    """A worker supervising the environment, on whatever host: its lease's holder."""

    running: bool
    owner: str


class SupervisorUnreported(TypedDict):
    """No supervisor (``running`` false), or a process that has not reported yet."""

    running: bool


SupervisorStatus = SupervisorProcess | SupervisorWorker | SupervisorUnreported


def status(store: Store, env: str, project: str | None = None) -> SupervisorStatus:
    """What the environment's supervisor reports: running, pid, what it does, since when; or,
    when a worker elsewhere supervises it (``project`` given), that worker."""
    if not running(store, env):
        holder = _holder(store, project, env) if project is not None else None
        return {"running": True, "owner": holder} if holder else {"running": False}
    try:
        said: Report = json.loads((folder(store, env) / "supervisor.json").read_text())
    except (OSError, ValueError):
        return {"running": True}
    return {"running": True, **said}


def ensure(store: Store, root: Path, env: str) -> bool:
    """Start the environment's supervisor unless one runs; True if one was started. It runs in
    a session of its own, so it outlives the command that started it."""
    if running(store, env):
        return False
    base = folder(store, env)
    base.mkdir(parents=True, exist_ok=True)
    processes.start_detached(
        [sys.executable, "-m", "shipyard", "env", "supervise", env],
        cwd=root,
        log=base / "supervisor.log",
    )
    return True


def _holder(store: Store, project: str, env: str) -> str | None:
    """The worker whose lease holds the environment's supervision now, if one does."""
    from shipyard.services import work
    from shipyard.services.deployments.deploy import supervision_of

    row = work.get(store, supervision_of(project, env))
    if row is None or row["owner"] is None or (row["left_s"] or -1) < 0:
        return None
    return str(row["owner"])


def stop(store: Store, env: str, grace: float = 10.0, project: str | None = None) -> bool:
    """Stop the environment's supervisor (SIGTERM, then SIGKILL after ``grace``); True if one
    ran. It finishes the look it is taking first, recording what it started. A worker's
    supervision (``project`` given) has its lease revoked: its next write is refused."""
    if project is not None and not running(store, env) and _holder(store, project, env):
        from shipyard.services.deployments.deploy import supervision_of
        from shipyard.store import work as work_repo

        with store.begin() as uow:
            work_repo.revoke(uow.conn, supervision_of(project, env), utcnow())
        time.sleep(1.0)  # it looks every 0.2 s: by then it has met the revoked lease
        return True
    if not running(store, env):
        return False
    try:
        pid = int((folder(store, env) / "supervisor.pid").read_text())
    except (OSError, ValueError):
        return False
    processes.terminate(pid)
    deadline = time.monotonic() + grace
    while running(store, env) and time.monotonic() < deadline:
        time.sleep(0.05)
    if running(store, env):
        processes.kill(pid)
        while running(store, env):
            time.sleep(0.05)
    return True


def serve(store: Store, root: Path, project: str, env: str) -> int:
    """The supervisor process: hold the lock and the environment's supervision lease (the one
    a worker would hold), and loop until stopped or idle."""
    from shipyard.services import work
    from shipyard.services.deployments.deploy import supervision_of

    with _locked(store, env) as mine:
        if not mine:
            return 0  # another supervisor has this environment
        item = supervision_of(project, env)
        with store.begin() as uow:
            work.add(uow.conn, item, "supervise", project, revive=True)
        lease = work.take_item(store, item, work.owner_id("supervisor"))
        if lease is None:
            return 0  # a worker supervises it
        base = folder(store, env)
        (base / "supervisor.pid").write_text(str(os.getpid()))
        done = threading.Event()
        signal.signal(signal.SIGTERM, lambda *_: done.set())
        signal.signal(signal.SIGINT, lambda *_: done.set())
        sup = Supervisor(lease.fenced, root, project, env)
        # Notifications go out as events are written, rollouts' included.
        from shipyard.services.coordination.notify import Sender

        sender = threading.Thread(target=Sender(store, root).run, args=(done, sup.say), daemon=True)
        sender.start()
        try:
            with lease.heartbeat():
                sup.run(done, lease.lost)
        except work.LeaseLost:
            return 0  # taken over (or revoked): the holder now supervises
        finally:
            done.set()
            sender.join(timeout=10)
        with contextlib.suppress(Exception, work.LeaseLost):
            lease.release(done=True)
    return 0


def supervise(store: Store, lease: Any, stop: threading.Event) -> None:
    """A worker's job (``services/worker.py``): supervise the environment its lease names
    until the environment is idle (the work is done) or the worker stops."""
    from shipyard.services import work

    project, _, env = lease.item.removeprefix("supervise:").rpartition("/")
    sup = Supervisor(lease.fenced, None, project, env)
    sup.say(f"supervising {env} of {project} as {lease.owner} (token {lease.fence})")
    with lease.heartbeat():
        while not stop.is_set() and lease.held():
            try:
                if not sup.tick():
                    lease.release(done=True)
                    return
            except work.LeaseLost:
                return
            except ShipyardError as exc:
                sup.say(f"{exc.code}: {exc.message}")
            except Exception as exc:  # one bad look must not end the supervision
                sup.say(f"error: {type(exc).__name__}: {exc}")
            stop.wait(TICK)
    with contextlib.suppress(Exception, work.LeaseLost):
        lease.release(done=False)


# -- the loop ---------------------------------------------------------------------------------


class Supervisor:
    """One environment's supervision; ``tick`` is one look, ``run`` loops over it."""

    def __init__(
        self,
        store: Store,
        root: Path | None,
        project: str,
        env: str,
        *,
        ports: Ports | None = None,
        policy: sv.Policy = sv.Policy(),
    ) -> None:
        self.store, self.root, self.project, self.env = store, root, project, env
        self.ports = ports or Ports()
        self.clock, self.policy = self.ports.clock, policy
        self.base = folder(store, env)
        self.health: dict[tuple[str, int], sv.Health] = {}
        self.watching: str | None = None  # the deployment whose watch runs
        self.watch_runs: dict[str, Any] = {}
        self._watch_exit = ""  # an instance of the watched version that exited
        self.router: RouterControl | None = None
        self.doing = "starting"
        self.idle_since: float | None = None
        self.started = utcnow()
        self._launch_of: str | None = None
        self._launched: rt.Launch | None = None
        from concurrent.futures import ThreadPoolExecutor

        self._pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="probe")

    def say(self, text: str, _data: dict[str, Any] | None = None) -> None:
        stamp = self.clock.now().isoformat(timespec="milliseconds")
        with contextlib.suppress(OSError), open(self.base / "supervisor.log", "a") as log:
            log.write(f"{stamp} {text}\n")

    def run(self, stop: threading.Event, lost: threading.Event | None = None) -> None:
        """Look every ``TICK`` until stopped, idle, or ``lost`` (the lease could not be kept:
        another supervisor may act on the environment now)."""
        self.say(f"supervising {self.env} (pid {os.getpid()})")
        while not stop.is_set() and not (lost is not None and lost.is_set()):
            try:
                if not self.tick():
                    break
            except ShipyardError as exc:
                self.say(f"{exc.code}: {exc.message}")
            except Exception as exc:  # one bad look must not end the supervision
                self.say(f"error: {type(exc).__name__}: {exc}")
            self._report()
            stop.wait(TICK)
        self.say("stopped")

    def _report(self) -> None:
        body: Report = {
            "pid": os.getpid(),
            "since": self.started,
            "beat": utcnow(),
            "doing": self.doing,
        }
        with contextlib.suppress(OSError):
            tmp = self.base / "supervisor.json.tmp"
            tmp.write_text(json.dumps(body))
            os.replace(tmp, self.base / "supervisor.json")

    # -- one look

    def tick(self) -> bool:
        """One look at the environment; False once there is nothing left to supervise."""
        if not self.store.home.is_dir():
            return False  # the project's state is gone
        with self.store.read() as uow:
            row = repo.get_environment(uow.conn, self.project, self.env)
            active = None
            if row and row.get("active_deployment"):
                active = repo.get_deployment(uow.conn, row["active_deployment"])
        if active is not None and active["status"] == "running":
            self.idle_since = None
            self._rollout(active)
            return True
        if not row or not row.get("instances"):
            now = self.clock.monotonic()
            if self.idle_since is None:
                self.idle_since = now
            self.doing = "idle: nothing runs"
            return now - self.idle_since < IDLE_EXIT
        self.idle_since = None
        self._supervise(row)
        self._watch(row)
        return True

    def _rollout(self, dep: DeploymentRow) -> None:
        """A rollout in progress: its controller's, unless that controller is gone."""
        from shipyard.services.deployments.deploy import _controller_alive

        self.health.clear()  # the controller owns the instances meanwhile
        self.watching, self.watch_runs = None, {}
        self.router = None
        if _controller_alive(dep, self.store):
            self.doing = f"rollout {dep['id']} driven by its controller"
            return
        from shipyard.errors import Conflict
        from shipyard.services.deployments import deploy

        self.doing = f"driving rollout {dep['id']}: its controller stopped"
        self._report()
        self.say(f"deployment {dep['id']} has no controller (pid {dep.get('controller_pid')})")
        try:  # under the rollout's lease, as every controller
            out = deploy.run(self.store, None, dep["id"], self.say, ports=self.ports)
        except Conflict:
            return  # another controller took it first
        self.say(f"deployment {dep['id']} {out['status']}: {out['reason']}")

    # -- the live pool

    def _supervise(self, row: dict[str, Any]) -> None:
        """Probe the live pool's instances; eject, admit and restart as ``observe`` says."""
        pool = row.get("live_pool")
        if not pool:
            return
        instances = self.ports.targets.supervise(self.base / "logs", row["instances"])
        launch = self._launch(row)
        path = launch.readiness_path if launch else "/healthz"
        now = self.clock.monotonic()
        changed = False
        members = instances.of(pool)
        keys = {(m.pool, m.index) for m in members}
        self.health = {k: h for k, h in self.health.items() if k in keys}
        looks = self._probe_all(instances, members, path)
        probes = [seen[-1] for seen in looks]
        if self.watching is not None and sv.Probe.GONE in probes:
            # An instance of the version being watched exited: the watch fails at once, as the
            # rollout does for an instance of its new version (`target-exited`).
            m = members[probes.index(sv.Probe.GONE)]
            self._watch_exit = f"{m.pool}-{m.index} ({m.version}) {instances.exit_of(m)}"
        for m, seen in zip(members, looks, strict=True):
            key = (m.pool, m.index)
            probe = seen[-1]
            health = self.health.get(key, sv.Health(ejected=False, seen_up=True))
            todo: tuple[sv.Todo, ...] = ()
            for each in seen:
                health, more = sv.observe(
                    health,
                    each,
                    now,
                    self.policy,
                    instances.exit_of(m) if each is sv.Probe.GONE else "",
                )
                todo += more
            if sv.Todo.EJECT in todo:
                self.say(f"{m.pool}-{m.index} ({m.version}) {probe.value}: out of the router")
            if sv.Todo.ADMIT in todo:
                self.say(f"{m.pool}-{m.index} ({m.version}) ready: in the router")
            if sv.Todo.RESTART in todo and launch is not None:
                new = instances.replace(m, launch)
                self.say(
                    f"{m.pool}-{m.index} ({m.version}) {health.last_exit}: restarted as "
                    f"{new.pool}-{new.index} (pid {new.pid}, restart {health.restarts})"
                )
                key = (new.pool, new.index)
            self.health[key] = health
            changed = changed or bool(todo)
        gone = {
            (m.pool, m.index) for m, p in zip(members, probes, strict=True) if p is sv.Probe.GONE
        }
        self.health = sv.keep_one(self.health, gone)
        admitted = [
            m.address
            for m in instances.of(pool)
            if not self.health.get((m.pool, m.index), sv.Health()).ejected
        ]
        self._route(row, pool, admitted)
        watched = f"; watching deployment {self.watching}" if self.watching else ""
        self.doing = f"supervising {len(members)} instance(s) of {pool}{watched}"
        if changed:
            self._save(instances)

    def _probe_all(
        self, instances: Supervised, members: list[Member], path: str
    ) -> list[list[sv.Probe]]:
        """Every instance probed at once, so a hung one delays no other; one in the router
        that fails is probed again at once, so two failures in a row take half a second."""

        def once(m: Member) -> sv.Probe:
            if not instances.is_alive(m):
                return sv.Probe.GONE
            return sv.Probe.UP if instances.answers(m, path, PROBE_TIMEOUT) else sv.Probe.DOWN

        def one(m: Member) -> list[sv.Probe]:
            first = once(m)
            serving = not self.health.get((m.pool, m.index), sv.Health(ejected=False)).ejected
            if first is sv.Probe.DOWN and serving:
                return [first, once(m)]  # an instance in the router failing: look again now
            return [first]

        if len(members) <= 1:
            return [one(m) for m in members]
        return list(self._pool.map(one, members))

    def _launch(self, row: dict[str, Any]) -> rt.Launch | None:
        """How the live version is started: the side of the deployment that made it live
        (read again only when that deployment changes)."""
        from shipyard.services.deployments.deploy_sides import launch_for

        dep_id = row.get("deployment_id")
        if dep_id != self._launch_of:
            self._launch_of, self._launched = dep_id, None
            with self.store.read() as uow:
                dep = repo.get_deployment(uow.conn, dep_id) if dep_id else None
            side = dp.DeploymentPlan.from_json(dep["plan"]).canary if dep is not None else None
            if side is not None and side.get("target") != "command":
                self._launched = launch_for(self.store, side)
        return self._launched

    def _route(self, row: dict[str, Any], pool: str, backends: list[str]) -> None:
        """The router serves the live pool's admitted instances; a dead router comes back."""
        recorded = row.get("router")
        if not recorded or recorded.get("kind") == "nginx":
            return
        if self.router is None:
            self.router = self.ports.routers.adopt(recorded)
        if not self.router.healthy():
            self.router = self.ports.routers.open(recorded.get("kind"), recorded, self.base)
            port = self.router.url.rsplit(":", 1)[-1]
            self.say(f"the router was down: started again on port {port}")
            with self.store.begin() as uow:
                repo.save_environment(
                    uow.conn,
                    self.project,
                    self.env,
                    router=self.router.to_dict(),
                    updated_at=utcnow(),
                )
            self.router.set_pool(pool, backends)
            self.router.set_weights({pool: 100, rt.other_pool(pool): 0})
            return
        if self.router.routes().get("pools", {}).get(pool) != backends:
            self.router.set_pool(pool, backends)

    def _save(self, instances: Supervised) -> None:
        """Record the instances (with what the supervisor knows of them), unless a rollout
        started meanwhile: then what this look started is stopped, the controller decides."""
        listed = []
        for item in instances.to_list():
            h = self.health.get((item["pool"], item["index"]))
            if h is not None:
                item = {**item, "health": sv.state_of(h), "restarts": h.restarts}
            listed.append(item)
        with self.store.begin() as uow:
            row = repo.get_environment(uow.conn, self.project, self.env, for_update=True)
            if row is None or row.get("active_deployment"):
                mine = {m["pid"] for m in row["instances"]} if row else set()
                instances.stop([m for m in instances.members if m.pid not in mine], 1.0)
                return
            repo.save_environment(
                uow.conn, self.project, self.env, instances=listed, updated_at=utcnow()
            )

    # -- the watch after promotion

    def _watch(self, row: dict[str, Any]) -> None:
        dep_id = row.get("deployment_id")
        with self.store.read() as uow:
            dep = repo.get_deployment(uow.conn, dep_id) if dep_id else None
        watch = dp.DeploymentPlan.from_json(dep["plan"]).watch if dep is not None else None
        window = float(watch["window"] or 0) if watch else 0.0
        names = list(watch["analysis"]) if watch else []
        direct = bool(dep is not None and dep["state"] and dep["state"].get("direct"))
        if dep is None or dep["status"] != "succeeded" or not names or direct:
            self.watching, self.watch_runs = None, {}
            return
        assert dep["finished_at"] is not None  # it succeeded
        finished = datetime.fromisoformat(dep["finished_at"]).timestamp()
        if not sv.watch_due(finished, window, self.clock.now().timestamp()):
            if self.watching == dep["id"]:
                self.say(f"deployment {dep['id']} passed its watch window")
            self.watching, self.watch_runs = None, {}
            return
        if self.watching != dep["id"]:
            self._start_watch(row, dep, names)
        if self._watch_exit:
            self._watch_failed(dep, f"watch: target-exited: {self._watch_exit}")
            return
        from shipyard.services.deployments.rollout_runner import failure_of

        now = self.clock.monotonic()
        for name, run in list(self.watch_runs.items()):
            result = run.poll(now)
            rows = run.take_measurements()
            if rows:
                with self.store.begin() as uow:
                    repo.add_measurements(uow.conn, dep["id"], rows)
            if result is None:
                continue
            if result.phase is AnalysisPhase.INCONCLUSIVE:
                self.watch_runs.pop(name)  # past its inconclusive limit: measure afresh
                continue
            self._watch_failed(dep, failure_of("watch", name, result))
            return

    def _start_watch(self, row: dict[str, Any], dep: DeploymentRow, names: list[str]) -> None:
        from shipyard.services.deployments.rollout_analysis import AnalysisRun

        self.watching, self.watch_runs, self._watch_exit = dep["id"], {}, ""
        recorded = row.get("router") or {}
        url = f"http://127.0.0.1:{recorded['admin_port']}" if recorded.get("admin_port") else ""
        plan = dp.DeploymentPlan.from_json(dep["plan"])
        saved = plan.watch.get("baselines") or {}
        pool = row["live_pool"]
        for name in names:
            baselines = {k: Window.from_dict(w) for k, w in (saved.get(name) or {}).items()}
            self.watch_runs[name] = AnalysisRun(
                name,
                plan.analysis[name],
                None,
                url,
                pool,
                rt.other_pool(pool),
                self.clock.monotonic(),
                when="watch",
                baselines=baselines,
                sources=self.ports.metrics,
                clock=self.clock,
            )
        self.say(f"watching deployment {dep['id']} ({dep['version']}): {', '.join(names)}")

    def _watch_failed(self, dep: DeploymentRow, reason: str) -> None:
        """Roll back to the version live before, as `shipyard rollback` would, at once."""
        from shipyard.services import specs
        from shipyard.services.deployments import deploy
        from shipyard.spec.load import find_spec, load_spec

        self.say(f"deployment {dep['id']} ({dep['version']}): {reason}; rolling back")
        self.watching, self.watch_runs, self._watch_exit = None, {}, ""
        with self.store.begin() as uow:
            repo.update_deployment(
                uow.conn,
                dep["id"],
                status="rolled-back",
                reason=f"rolled back after promotion: {reason}",
                updated_at=utcnow(),
            )
            uow.events.append(
                "deployment.watch-failed",
                f"deployment:{dep['id']}",
                ACTOR,
                {"environment": self.env, "version": dep["version"], "reason": reason},
                project=self.project,
            )
        if self.root is not None:
            spec = load_spec(find_spec(start=self.root))
        else:  # a worker's supervision: the project's spec as the server holds it
            spec = specs.require(self.store, self.project)
        created = deploy.create_rollback(
            self.store, spec, self.env, actor=ACTOR, reason=reason, check_lock=False
        )
        self.doing = f"rolling back {dep['version']} after its watch failed"
        self._report()
        out = deploy.run(self.store, None, created["id"], self.say, ports=self.ports)
        self.say(f"rollback {created['id']} {out['status']}: {out['reason']}")
