"""`shipyard worker`: takes leased background work from the database and does it.

Kinds of work (``JOBS``): ``rollout`` (a deployment to drive, one row each, made with the
deployment), ``supervise`` (an environment's supervisor loop,
``services/deployments/supervisor.py``: one row per environment, taken again by each
deployment, done when the environment is idle), ``schedules`` (scheduled flag changes, one
row: applied every few seconds by whichever worker holds it), ``notify`` (delivery of events
to the configured sinks, one row) and ``run`` (a queued run request,
``services/pipelines/run_requests.py``, one row each; a server's own worker leaves these to
dedicated workers, as a build takes whole cores). Every worker polls for work nobody
holds (``FOR UPDATE SKIP LOCKED`` on PostgreSQL), so when a worker dies its leases run out and
others take its work over within one lease period plus one poll, from the state the database
holds. A worker told to stop (SIGTERM, Ctrl-C) lets go of its leases at once, so others take
over without waiting for them to run out; its rollouts are not rolled back (their instances
and router keep serving as they are).
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from shipyard.services import work
from shipyard.store.uow import Store

log = logging.getLogger("shipyard.worker")

POLL_S = 1.0
MAX_ROLLOUTS = 16  # rollouts one worker drives at once
MAX_RUNS = 1  # pipeline runs at once: each runs its steps on every core, and runs of one
# state folder take its run lock in turn
SCHEDULES_EVERY_S = 5.0
NOTIFY_EVERY_S = 1.0
SINGLETONS = {"schedules": "schedules", "notify": "notify"}  # kind -> the row's id
KINDS = ("rollout", "supervise", "schedules", "notify", "run")
SERVER_KINDS = ("rollout", "supervise", "schedules", "notify")  # a server's own worker


def _rollout(store: Store, lease: work.Lease, stop: threading.Event) -> None:
    from shipyard.services.deployments import deploy

    deployment_id = lease.item.removeprefix("rollout:")
    deploy.run(store, None, deployment_id, lease=lease)


def _supervise(store: Store, lease: work.Lease, stop: threading.Event) -> None:
    from shipyard.services.deployments import supervisor

    supervisor.supervise(store, lease, stop)


def _run_request(store: Store, lease: work.Lease, stop: threading.Event) -> None:
    from shipyard.services.pipelines import run_requests

    settled = run_requests.run_leased(store, lease)
    if settled is not None:
        log.info("run request %s %s %s", settled["id"], settled["status"], settled["reason"])


def _every(seconds: float, do: Callable[[Store], Any]) -> Callable[..., None]:
    """A singleton job: ``do`` every ``seconds`` while the lease holds."""

    def job(store: Store, lease: work.Lease, stop: threading.Event) -> None:
        with lease.heartbeat():
            while not stop.is_set() and not lease.lost.is_set():
                if not lease.renew():
                    return
                try:
                    do(lease.fenced)
                except work.LeaseLost:
                    return
                except Exception:  # one failing pass (a sink, the network) never ends the job
                    log.exception("%s failed; trying again in %ss", lease.item, seconds)
                stop.wait(seconds)
        lease.release(done=False)

    return job


def _apply_schedules(store: Store) -> None:
    from datetime import UTC, datetime

    from shipyard.services.flags import flag_requests
    from shipyard.services.flags.flag_schedules import apply_due

    apply_due(store, datetime.now(UTC))
    flag_requests.apply_due(store, datetime.now(UTC))  # approved changes with a time


def _deliver(store: Store) -> None:
    from shipyard.services.coordination import notify

    # The operator's sinks (SHIPYARD_NOTIFY_*), for every project's events; a sink seen for
    # the first time starts from now, not from the log's history.
    subs = notify.subscriptions(None)
    if subs:
        notify.deliver_all(store, subs, new_from=notify.last_seq(store))


JOBS: dict[str, Callable[[Store, work.Lease, threading.Event], None]] = {
    "rollout": _rollout,
    "supervise": _supervise,
    "schedules": _every(SCHEDULES_EVERY_S, _apply_schedules),
    "notify": _every(NOTIFY_EVERY_S, _deliver),
    "run": _run_request,
}


@dataclass
class Worker:
    store: Store
    kinds: tuple[str, ...] = KINDS
    owner: str = field(default_factory=lambda: work.owner_id("worker"))
    poll_s: float = POLL_S
    max_rollouts: int = MAX_ROLLOUTS
    max_runs: int = MAX_RUNS
    stop: threading.Event = field(default_factory=threading.Event)
    running: dict[str, tuple[threading.Thread, work.Lease]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        work.act_as("worker")  # a lease of this process is revoked, never signalled

    def ensure_singletons(self) -> None:
        with self.store.begin() as uow:
            for kind, item in SINGLETONS.items():
                if kind in self.kinds:
                    work.add(uow.conn, item, kind, "*")
            if "run" in self.kinds:
                from shipyard.services.pipelines import run_requests

                run_requests.adopt(uow.conn)

    def poll_once(self) -> list[str]:
        """Take what work there is room for and start it; the items taken."""
        for item, (thread, _lease) in list(self.running.items()):
            if not thread.is_alive():
                del self.running[item]
        busy = sum(1 for i in self.running if i.startswith(("rollout:", "supervise:")))
        room = self.max_rollouts - busy + len(SINGLETONS)
        others = [k for k in self.kinds if k != "run"]
        taken = work.take(self.store, others, self.owner, room) if others else []
        if "run" in self.kinds:  # a budget of their own: a rollout never waits for a build
            runs = sum(1 for i in self.running if i.startswith("run:"))
            taken += work.take(self.store, ["run"], self.owner, self.max_runs - runs)
        for lease in taken:
            kind = lease.item.partition(":")[0] if ":" in lease.item else lease.item
            thread = threading.Thread(
                target=self._do, args=(kind, lease), name=lease.item, daemon=True
            )
            self.running[lease.item] = (thread, lease)
            thread.start()
        return [lease.item for lease in taken]

    def _do(self, kind: str, lease: work.Lease) -> None:
        try:
            JOBS[kind](self.store, lease, self.stop)
        except (Exception, work.LeaseLost) as exc:
            log.warning("%s stopped: %s", lease.item, exc)

    def run(self) -> None:
        """Poll until ``stop`` is set, then let go of every lease held."""
        self.ensure_singletons()
        while not self.stop.is_set():
            try:
                self.poll_once()
            except Exception:  # the database away for a moment: poll again
                log.exception("taking work failed")
            self.stop.wait(self.poll_s)
        self.let_go()

    def let_go(self) -> None:
        """Release every lease held now, without finishing the work: another worker takes it
        over at its next poll. A controller still running here finds its lease gone at its
        next write and stops."""
        for _item, (_thread, lease) in list(self.running.items()):
            try:
                lease.release(done=False)
            except Exception:
                log.exception("releasing %s failed; it runs out by itself", lease.item)

    def start(self) -> threading.Thread:
        """Run in a thread of this process (the server's own worker)."""
        thread = threading.Thread(target=self.run, name="shipyard-worker", daemon=True)
        thread.start()
        return thread
