"""Held rollouts (``on_failure: hold``): whether a deployment is held, and what refuses a new
deploy or rollback meanwhile.

A held rollout stays the environment's active deployment with its controller polling, as a
pause until promoted does, so every decision about it goes through the queued actions: resume,
promote and abort. `shipyard rollback ENV` of a held rollout is its abort (deploy.py,
``abort_for_rollback``): the version to go back to is the stable one still running beside it.
"""

from __future__ import annotations

from shipyard.domain import rollout as r
from shipyard.errors import Conflict
from shipyard.store.deployments import DeploymentRow


def held_state(dep: DeploymentRow | None) -> r.RolloutState | None:
    """The rollout state of ``dep`` when it is running and held, else None."""
    if dep is None or dep["status"] != "running" or not dep["state"]:
        return None
    state = r.RolloutState.from_dict(dep["state"])
    return state if state.held else None


def refused(
    dep: DeploymentRow,
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
