"""The demo's release-coordination step: freezes at fixed instants, the next trains, and a
production gate verdict blocked by the year-end freeze, then passed by approved break-glass.

Fixed instants keep the output the same on every run and every day of the year.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from shipyard.errors import ShipyardError

INSIDE = datetime(2026, 12, 24, 12, 0, tzinfo=UTC)  # Christmas Eve: year-end freeze
OUTSIDE = datetime(2026, 11, 25, 10, 0, tzinfo=UTC)  # a Wednesday in November
ONCALL, APPROVER = "oncall@demo", "release-manager@demo"


def step(ctx: Any) -> list[str]:
    from shipyard.services import approvals, breakglass, freezes, gates, trains
    from shipyard.services.coordination import latest_version

    store, spec = ctx.store, ctx.spec
    lines = []
    for at in (INSIDE, OUTSIDE):
        st = freezes.status(store, spec, at, "production")
        lines.append(f"production at {at:%Y-%m-%d %H:%M} UTC: {st['message']}")
    plan = trains.status(store, spec, OUTSIDE)
    for t in [plan["current"], *plan["upcoming"]]:
        lines.append(f"{t['name']}: cut {t['cut'][:16]}Z, ships {t['ship'][:16]}Z ({t['phase']})")
    version = (ctx.facts.get("release") or {}).get("version")
    if version is None:
        with store.read() as uow:
            version = latest_version(uow, spec.project)
    if version is None:
        return [*lines, "no version was published, so there is no gate verdict to show"]
    try:
        approvals.approve(store, spec, "production", version, APPROVER, INSIDE, "demo review")
        verdict = gates.check(store, spec, "production", version, ONCALL, INSIDE)
        lines.append(
            f"gates for {version} -> production on {INSIDE:%Y-%m-%d}: "
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
            INSIDE,
            incident="INC-DEMO",
        )
        breakglass.approve(store, spec, bg["id"], APPROVER, INSIDE)
        after = gates.check(store, spec, "production", version, ONCALL, INSIDE)
        freeze = next(g for g in after.gates if g.name == "freeze")
        lines.append(
            f"break-glass {bg['id']} requested by {ONCALL}, approved by {APPROVER}: freeze "
            + ("overridden" if freeze.overridden else "still blocks")
        )
    except ShipyardError as exc:
        lines.append(f"gate verdict unavailable: {exc.code}: {exc.message}")
    return lines
