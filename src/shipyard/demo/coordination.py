"""The demo's release-coordination step: freezes at chosen instants, the next trains, and a
production gate verdict blocked by the year-end freeze, then passed by approved break-glass.

The instants come from the demo's calendar (demo/context.py), so the story is the same on
every day of the year.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from shipyard.demo.context import build, git
from shipyard.errors import ShipyardError
from shipyard.services.deployments import environments as env_svc

if TYPE_CHECKING:
    from shipyard.demo.context import DemoContext

ONCALL, APPROVER = "oncall@demo", "release-manager@demo"


def step(ctx: DemoContext) -> list[str]:
    from shipyard.services.compliance import approvals, gates
    from shipyard.services.coordination import breakglass, freezes, trains
    from shipyard.services.coordination.coordination import latest_version

    store, spec = ctx.store, ctx.need_spec()
    inside, outside = ctx.calendar.inside, ctx.calendar.outside
    lines = []
    for at in (inside, ctx.calendar.weekly, outside):
        st = freezes.status(store, spec, at, "production")
        lines.append(f"production at {at:%a %Y-%m-%d %H:%M} UTC: {st['message']}")
    plan: Mapping[str, Any] = trains.status(store, spec, outside)
    for t in [plan["current"], *plan["upcoming"]]:
        lines.append(f"{t['name']}: cut {t['cut'][:16]}Z, ships {t['ship'][:16]}Z ({t['phase']})")
    version = (ctx.facts.get("release") or {}).get("version")
    if version is None:
        with store.read() as uow:
            version = latest_version(uow, spec.project)
    if version is None:
        return [*lines, "no version was published, so there is no gate verdict to show"]
    try:
        approvals.approve(store, spec, "production", version, APPROVER, inside, "demo review")
        verdict = gates.check(store, spec, "production", version, ONCALL, inside)
        lines.append(
            f"gates for {version} -> production on {inside:%Y-%m-%d}: "
            + ("pass" if verdict.passed else "blocked")
        )
        lines += [f"  {r}" for r in verdict.reasons()]
        bg = breakglass.request(
            store,
            spec,
            "production",
            "demo: urgent fix during the freeze",
            ["freeze"],
            timedelta(hours=1),
            ONCALL,
            inside,
            incident="INC-DEMO",
        )
        breakglass.approve(store, spec, bg["id"], APPROVER, inside)
        after = gates.check(store, spec, "production", version, ONCALL, inside)
        freeze = next(g for g in after.gates if g.name == "freeze")
        lines.append(
            f"break-glass {bg['id']} requested by {ONCALL}, approved by {APPROVER}: freeze "
            + ("overridden" if freeze.overridden else "still blocks")
        )
        # Its dates are in the future of most runs: close it so it overrides nothing later.
        breakglass.review(store, spec, bg["id"], APPROVER, "demo: example only")
        lines.append(f"  {APPROVER} closes it with the follow-up review")
    except ShipyardError as exc:
        lines.append(f"gate verdict unavailable: {exc.code}: {exc.message}")
    return lines


# -- a train cut, then a hotfix through a freeze by break-glass, all for real -------------------

DEPLOYER = "demo"  # the author of every change in the demo, as in the deploy step
FREEZE = "incident-freeze"


def _hotfix(ctx: DemoContext, base: str, now: datetime) -> str:
    """hotfix/<base> at the release tag, one fix committed, released as the next patch."""
    from pathlib import Path

    from shipyard.services.coordination import hotfix

    hotfix.start(ctx.store, ctx.need_spec(), ctx.root, base, DEPLOYER, now)
    try:
        (Path(ctx.root) / "HOTFIX").write_text("payments time out after 2 s, not 30 s\n")
        git(ctx, "add", "HOTFIX")
        git(ctx, "commit", "-q", "-m", "fix: time payment lookups out after 2 s")
        # The pipeline builds and tests the hotfix branch (mostly from cache): the staging and
        # production gates want that run.
        build(ctx, DEPLOYER)
        done = hotfix.finish(ctx.store, ctx.need_spec(), ctx.root, DEPLOYER, now)
    finally:
        git(ctx, "checkout", "-q", "main")  # leave the sample on its main line
    return str(done["released"])


def _blocked(ctx: DemoContext, env: str, version: str) -> str:
    """Try the deploy; the freeze refuses it before anything starts."""
    from shipyard.services.deployments import deploy

    try:
        deploy.create(ctx.store, ctx.need_spec(), ctx.root, env, version=version, actor=DEPLOYER)
    except ShipyardError as exc:
        return f"{env}: deploy of {version} refused ({exc.code}): {exc.message}"
    return f"{env}: deploy of {version} was NOT refused"


def _break_glass(ctx: DemoContext, now: datetime) -> list[str]:
    from shipyard.services.coordination import breakglass

    store, spec = ctx.store, ctx.need_spec()
    bg = breakglass.request(
        store, spec, None, "payments time out", ["freeze"], timedelta(minutes=30), DEPLOYER, now,
        incident="INC-42",
    )  # fmt: skip
    lines = [f"{DEPLOYER} requests break-glass {bg['id']} for the freeze (INC-42)"]
    try:
        breakglass.approve(store, spec, bg["id"], DEPLOYER, now)
    except ShipyardError as exc:
        lines.append(f"  {DEPLOYER} cannot approve it: {exc.code}")
    breakglass.approve(store, spec, bg["id"], APPROVER, now)
    lines.append(f"  {APPROVER} approves it: for 30 minutes the freeze gate passes")
    return lines


def _close_reviews(ctx: DemoContext, now: datetime, which: str) -> list[str]:
    """`train status` lists each approved break-glass until its review closes it."""
    from shipyard.services.coordination import breakglass, trains

    due = trains.status(ctx.store, ctx.need_spec(), now)["reviews_due"]
    if not due:
        return []
    for r in due:
        breakglass.review(
            ctx.store, ctx.need_spec(), r["id"], APPROVER, "demo: postmortem scheduled"
        )
    ids = ", ".join(r["id"] for r in due)
    return [f"train status lists {which} break-glass review(s) due: {ids}; {APPROVER} closes them"]


def hotfix_step(ctx: DemoContext) -> list[str]:
    from shipyard.services.compliance import approvals
    from shipyard.services.coordination import freezes, incidents, trains
    from shipyard.services.deployments import deploy

    store, spec, now = ctx.store, ctx.need_spec(), datetime.now(UTC)
    live = (ctx.facts.get("deploy") or {}).get("good") or (ctx.facts.get("release") or {}).get(
        "version"
    )
    if live is None:
        return ["no released version, so no train or hotfix to show"]
    cut = trains.cut(store, spec, ctx.root, DEPLOYER, now)
    lines = [f"train cut: {cut['train']} on {cut['branch']} at {cut['commit'][:7]}"]
    incident = incidents.open_incident(
        store,
        spec.project,
        ctx.facts["deploy"]["production_id"],
        title="INC-42: payments time out",
        actor=ONCALL,
    )
    lines.append(f"{ONCALL} opens incident {incident['id']} against production's {live}: INC-42")
    freezes.add(
        store,
        spec,
        {
            "name": FREEZE,
            "start": (now - timedelta(minutes=1)).isoformat(),
            "end": (now + timedelta(hours=2)).isoformat(),
            "environments": ["production"],
            "reason": "INC-42: payments time out",
        },
        DEPLOYER,
    )
    lines.append(f"freeze '{FREEZE}' on production for 2 hours (INC-42)")
    try:
        version = _hotfix(ctx, live, now)
        lines.append(f"hotfix/{live} from tag v{live}, one fix commit, released as {version}")
        for env in ("dev", "staging"):
            out = deploy.deploy(store, spec, ctx.root, env, version=version, actor=DEPLOYER)
            lines.append(f"{env}: {version} {out['status']}")
        approvals.approve(store, spec, "production", version, APPROVER, now, "hotfix reviewed")
        lines.append(f"{APPROVER} approves {version} for production")
        lines.append(_blocked(ctx, "production", version))
        lines += _break_glass(ctx, now)
        out = deploy.deploy(store, spec, ctx.root, "production", version=version, actor=DEPLOYER)
        lines.append(f"production: {version} {out['status']} through the freeze")
        incidents.resolve_incident(store, incident["id"], actor=ONCALL)
        lines.append(f"{ONCALL} resolves {incident['id']}: the hotfix is live")
        lines += _close_reviews(ctx, now, "the hotfix's")
    finally:
        freezes.remove(store, spec, FREEZE, DEPLOYER)
        for env in ("dev", "staging", "production"):
            env_svc.stop_environment(store, spec, env)
    return lines
