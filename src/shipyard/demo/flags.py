"""The demo's flag step: a dark-launched flag rolled out to the sample service's users."""

from __future__ import annotations

from typing import TYPE_CHECKING

from shipyard.services.flags import flags
from shipyard_sdk.flags import FeatureState, UnleashContext

if TYPE_CHECKING:
    from shipyard.demo.context import DemoContext

FLAG = "new-checkout-flow"
USERS = [f"user-{i}" for i in range(1000)]


def _share(state: FeatureState) -> int:
    """How many of the 1,000 sample users get the flag, evaluated as the SDKs would."""
    return sum(state.is_enabled(FLAG, UnleashContext(user_id=u)) for u in USERS)


def step(ctx: DemoContext) -> list[str]:
    spec = ctx.need_spec()
    project = spec.project
    env = "production" if "production" in spec.environments else next(iter(spec.environments))
    actor = "demo"
    flags.create(ctx.store, project, env, FLAG, actor, description="the new checkout", rollout=0)
    flags.set_enabled(ctx.store, project, env, FLAG, True, actor)
    lines = [f"flag {FLAG} created in {env}, on for 0% of users"]
    shares: dict[int, set[str]] = {}
    for pct in (10, 25, 50, 100):
        flags.set_rollout(ctx.store, project, env, FLAG, pct, actor)
        state = flags.state(ctx.store, project, env)
        shares[pct] = {u for u in USERS if state.is_enabled(FLAG, UnleashContext(user_id=u))}
        lines.append(f"rolled out to {pct:>3}%: {len(shares[pct])} of 1,000 users see it")
    kept = shares[10] <= shares[25] <= shares[50] <= shares[100]
    lines.append("each user kept their bucket as the rollout grew" if kept else "BUCKETS MOVED")
    flags.set_enabled(ctx.store, project, env, FLAG, False, actor)
    off = _share(flags.state(ctx.store, project, env))
    with ctx.store.read() as uow:
        changes = len(
            uow.events.query(project=project, kind="flag.changed", subject=f"flag:{FLAG}")
        )
    lines.append(f"flipped off: {off} of 1,000 users see it; {changes} flag.changed events logged")
    ctx.facts["flags"] = {pct: len(users) for pct, users in shares.items()}
    lines += _change_request(ctx, project, env)
    return lines


def _change_request(ctx: DemoContext, project: str, env: str) -> list[str]:
    """The environment made to need an approval: a direct toggle is refused; a proposal by
    one person is approved by another, then applied."""
    from shipyard.errors import ShipyardError
    from shipyard.services.flags import flag_requests

    dev, lead = "dev@sample.example", "lead@sample.example"
    flag_requests.protect(ctx.store, project, env, 1, lead)
    try:
        flags.set_enabled(ctx.store, project, env, FLAG, True, dev)
        refused = "ACCEPTED"
    except ShipyardError as exc:
        refused = exc.code
    request = flag_requests.propose(ctx.store, project, env, FLAG, "enable", dev)
    flag_requests.approve(ctx.store, project, request["id"], lead)
    done = flag_requests.apply(ctx.store, project, request["id"], dev)
    on = _share(flags.state(ctx.store, project, env))
    ctx.facts["change_request"] = {"refused": refused, "status": done["status"], "on": on}
    return [
        f"{env} now needs 1 approval for flag changes: a direct toggle is refused ({refused})",
        f"change request {request['id']}: proposed by {dev}, approved by {lead}, "
        f"{done['status']}: {on} of 1,000 users see it",
    ]
