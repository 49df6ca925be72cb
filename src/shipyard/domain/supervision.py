"""What a supervisor decides about the live instances of an environment, as pure functions.

Each instance has a ``Health``. Every probe interval the shell observes each instance (its
process gone, or its readiness probe failing or answering) and ``observe`` returns the next
health with what to do: take the instance out of the router (eject), put it back (admit), or
start it again (restart). Rules, as Kubernetes' probes and restart back-off have them:

- a process that is gone is ejected at once and started again: at once the first time, then
  after a back-off that starts at ``backoff`` seconds and doubles per restart up to
  ``max_backoff``; an instance that stays ready for ``reset_after`` seconds has its back-off
  forgotten;
- a live instance is ejected after ``eject_after`` failed probes in a row and admitted again
  after ``admit_after`` good ones (a new instance is admitted at its first good probe).

``watch_due`` says whether a deployment is still inside its watch window after promotion.
Times are seconds on the shell's clock, given in; nothing here reads one.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum
from typing import Any

__all__ = [
    "Health",
    "Policy",
    "Probe",
    "Todo",
    "keep_one",
    "observe",
    "state_of",
    "watch_due",
]


class Probe(StrEnum):
    """What one look at an instance found."""

    GONE = "gone"  # its process exited
    DOWN = "down"  # alive, but its readiness probe failed
    UP = "up"  # alive and ready


class Todo(StrEnum):
    EJECT = "eject"
    ADMIT = "admit"
    RESTART = "restart"


@dataclass(frozen=True)
class Policy:
    eject_after: int = 2
    admit_after: int = 2
    backoff: float = 1.0
    max_backoff: float = 60.0
    reset_after: float = 30.0


@dataclass(frozen=True)
class Health:
    """What the supervisor knows of one instance."""

    failures: int = 0  # failed probes in a row
    successes: int = 0  # good probes in a row
    ejected: bool = True  # out of the router; a new instance earns its place
    seen_up: bool = False  # answered once since it (re)started
    restarts: int = 0
    restart_at: float | None = None  # gone: when to start it again
    up_since: float | None = None
    last_exit: str = ""

    def to_dict(self) -> dict[str, Any]:
        return {
            "failures": self.failures,
            "successes": self.successes,
            "ejected": self.ejected,
            "seen_up": self.seen_up,
            "restarts": self.restarts,
            "restart_at": self.restart_at,
            "up_since": self.up_since,
            "last_exit": self.last_exit,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Health:
        return cls(
            failures=int(data.get("failures", 0)),
            successes=int(data.get("successes", 0)),
            ejected=bool(data.get("ejected", True)),
            seen_up=bool(data.get("seen_up", False)),
            restarts=int(data.get("restarts", 0)),
            restart_at=None if data.get("restart_at") is None else float(data["restart_at"]),
            up_since=None if data.get("up_since") is None else float(data["up_since"]),
            last_exit=str(data.get("last_exit", "")),
        )


def observe(
    health: Health, probe: Probe, now: float, policy: Policy = Policy(), exit_text: str = ""
) -> tuple[Health, tuple[Todo, ...]]:
    """The next health of an instance after ``probe`` at ``now``, and what to do about it."""
    todo: list[Todo] = []
    h = health
    if probe is Probe.GONE:
        if not h.ejected:
            todo.append(Todo.EJECT)
        if h.restart_at is None:  # the first crash restarts at once, then back off
            delay = 0.0 if h.restarts == 0 else policy.backoff * 2 ** (h.restarts - 1)
            delay = min(delay, policy.max_backoff)
            h = replace(h, restart_at=now + delay, last_exit=exit_text or h.last_exit)
        h = replace(h, ejected=True, failures=h.failures + 1, successes=0, up_since=None)
        if now >= (h.restart_at or now):
            todo.append(Todo.RESTART)
            h = replace(
                h,
                restarts=h.restarts + 1,
                restart_at=None,
                failures=0,
                seen_up=False,
            )
        return h, tuple(todo)
    if probe is Probe.DOWN:
        h = replace(h, failures=h.failures + 1, successes=0, up_since=None)
        if not h.ejected and h.failures >= policy.eject_after:
            todo.append(Todo.EJECT)
            h = replace(h, ejected=True)
        return h, tuple(todo)
    h = replace(h, successes=h.successes + 1, failures=0, restart_at=None)
    if h.up_since is None:
        h = replace(h, up_since=now)
    if h.ejected and (not h.seen_up or h.successes >= policy.admit_after):
        todo.append(Todo.ADMIT)
        h = replace(h, ejected=False)
    h = replace(h, seen_up=True)
    if h.restarts and h.up_since is not None and now - h.up_since >= policy.reset_after:
        h = replace(h, restarts=0)
    return h, tuple(todo)


def keep_one(pool: dict[Any, Health], gone: set[Any]) -> dict[Any, Health]:
    """A pool never loses its last instance to failed probes alone: when every instance that
    still runs is ejected (all slow at once, say), the one with the fewest failed probes stays
    in, since a slow answer beats none. Instances whose process is gone stay out."""
    alive = {k: h for k, h in pool.items() if k not in gone}
    if not alive or any(not h.ejected for h in alive.values()):
        return pool
    best = min(alive, key=lambda k: (not alive[k].seen_up, alive[k].failures))
    if not alive[best].seen_up:
        return pool  # none ever answered: nothing to keep
    return {**pool, best: replace(alive[best], ejected=False)}


def state_of(health: Health) -> str:
    """One word for `shipyard env`: ready, ejected, starting or crashed."""
    if health.restart_at is not None:
        return "crashed"
    if not health.ejected:
        return "ready"
    return "ejected" if health.seen_up else "starting"


def watch_due(finished_at: float, window: float, now: float) -> bool:
    """Whether a deployment promoted at ``finished_at`` is still in its watch window."""
    return window > 0 and finished_at <= now < finished_at + window
