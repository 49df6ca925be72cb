"""Held rollouts (``on_failure: hold``): what refuses a new deploy, and `shipyard rollback` of one.

A held rollout stays the environment's active deployment with its controller polling, as a
pause until promoted does, so every decision about it goes through the queued actions: resume,
promote and abort. `shipyard rollback ENV` of a held rollout is its abort: the version to go back
to is the stable one still running beside it.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from shipyard.domain import rollout as r
from shipyard.errors import Conflict
from shipyard.store import deployments as repo
from shipyard.store.uow import Store


def held_state(dep: dict[str, Any] | None) -> r.RolloutState | None:
    """The rollout state of ``dep`` when it is running and held, else None."""
    if dep is None or dep["status"] != "running" or not dep["state"]:
        return None
    state = r.RolloutState.from_dict(dep["state"])
    return state if state.held else None


def refused(
    dep: dict[str, Any],
    state: r.RolloutState,
    env: str,
    *,
    alive: bool = True,
    ways: str | None = None,
) -> Conflict:
    """Why a deploy or rollback cannot start while ``dep`` is held, and the ways out."""
    first = "" if alive else f"its controller stopped: `shipyard rollout continue {env}` first; "
    ways = ways or (
        f"`shipyard rollout abort {env}` rolls it back, `shipyard rollout promote {env}` "
        f"accepts {dep['version']}, `shipyard rollout resume {env}` tries the step again"
    )
    return Conflict(
        f"deployment {dep['id']} of {dep['version']} is held in {env} after a failure: "
        f"{state.failure}",
        first + ways,
        code="rollout-held",
        details={"deployment": dep["id"], "version": dep["version"]},
    )


def abort_for_rollback(
    store: Store, spec: Any, env: str, *, to: str | None, actor: str
) -> dict[str, Any] | None:
    """Queue the abort of ``env``'s held rollout for `shipyard rollback`; None when none is held.

    ``to`` may only name the stable version: going anywhere else first needs the held version
    gone, and two rollouts at once are refused everywhere else too.
    """
    from shipyard.services.deploy import _controller_alive, act

    with store.read() as uow:
        live = repo.get_environment(uow.conn, spec.project, env)
        active = live.get("active_deployment") if live else None
        dep = repo.get_deployment(uow.conn, active) if active else None
    state = held_state(dep)
    if live is None or dep is None or state is None:
        return None
    stable = live.get("version")
    if to is not None and to != stable:
        then = f"`shipyard rollout abort {env}` first, then `shipyard rollback {env} --to {to}`"
        raise refused(dep, state, env, ways=then)
    act(store, spec, env, "abort", actor)
    return {
        "id": dep["id"],
        "environment": env,
        "version": stable,
        "from": dep["version"],
        "controller_alive": _controller_alive(dep),
        "notes": [f"{dep['version']} is held in {env}: aborting {dep['id']} goes back to {stable}"],
    }


def follow(
    store: Store,
    spec: Any,
    queued: dict[str, Any],
    on_line: Callable[[str, dict[str, Any]], None] | None = None,
) -> dict[str, Any]:
    """Wait for the aborted rollout to end, driving it here if its controller is gone."""
    from shipyard.services.deploy import follow as follow_deployment

    dep = follow_deployment(store, spec, queued["id"], on_line)
    # The rollback asked for is done when the held deployment rolled back.
    status = "succeeded" if dep["status"] == "rolled-back" else dep["status"]
    return {**queued, "status": status, "reason": dep["reason"], "aborted": dep["id"]}
