"""The demo's deployment step: the released version goes dev -> staging -> production; then a
change with a bug is built, released and promoted, and production's canary analysis catches it
and rolls it back by itself. Every process it starts is stopped before it returns."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx

from shipyard.demo.context import build, git
from shipyard.services.deployments import environments as env_svc

if TYPE_CHECKING:
    from shipyard.demo.context import DemoContext
    from shipyard.services.deployments.deploy import Deployed

ACTOR = "demo"  # the deployer, who is also the author of every change in the demo
APPROVER = "release-manager@demo"
ENVS = ("dev", "staging", "production")


class Traffic:
    """Steady requests from new visitors (no cookies) while a rollout runs, counted by status."""

    def __init__(self, url: str) -> None:
        self.url, self.counts, self.stop = url, Counter[Any](), threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        with httpx.Client(timeout=5) as client:
            while not self.stop.is_set():
                client.cookies.clear()
                try:
                    self.counts[client.get(self.url + "/").status_code] += 1
                except httpx.HTTPError as exc:
                    self.counts[type(exc).__name__] += 1
                self.stop.wait(0.005)

    def __enter__(self) -> Traffic:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join()


def _clear_gates(ctx: DemoContext, env: str, version: str) -> list[str]:
    """Get the environment's gates to pass the way a team would: a second person approves.
    The sample's freezes lie clear of the day the demo runs (demo/context.py)."""
    from shipyard.services.compliance import approvals, gates

    spec, store = ctx.need_spec(), ctx.store
    if not spec.environments[env].gates:
        return []
    now = datetime.now(UTC)
    lines: list[str] = []
    verdict = gates.check(store, spec, env, version, ACTOR, now)
    if any(g.name == "approval" for g in verdict.failures):
        approvals.approve(store, spec, env, version, APPROVER, now, "demo review")
        lines.append(f"{APPROVER} approved {version} for {env} (not its author)")
    return lines


def _deploy(ctx: DemoContext, env: str, version: str) -> Deployed:
    from shipyard.services.deployments import deploy

    return deploy.deploy(
        ctx.store,
        ctx.need_spec(),
        ctx.root,
        env,
        version=version if env == "dev" else None,
        actor=ACTOR,
    )


def _url(ctx: DemoContext, env: str) -> str:

    envs = env_svc.environments(ctx.store, ctx.need_spec())["environments"]
    return str(next(e["url"] for e in envs if e["environment"] == env))


def _ship_a_bug(ctx: DemoContext) -> str:
    """Commit a change that makes 40% of requests fail, build it, release it."""
    from shipyard.services.releases import release

    app = Path(ctx.root) / "app.py"
    app.write_text(app.read_text().replace('get("FAIL_RATE", "0")', 'get("FAIL_RATE", "0.4")'))
    git(ctx, "add", "app.py")
    git(ctx, "commit", "-q", "-m", "fix: retry slow payment lookups")
    build(ctx, ACTOR)
    spec = ctx.need_spec()
    out = release.release(ctx.store, ctx.root, project=spec.project, spec=spec, actor=ACTOR)
    return str(out["version"])


def step(ctx: DemoContext) -> list[str]:

    good = (ctx.facts.get("release") or {}).get("version")
    if good is None:
        return ["no released version to deploy"]
    spec = ctx.need_spec()
    lines: list[str] = []
    try:
        for env in ENVS:
            lines += _clear_gates(ctx, env, good)
            out = _deploy(ctx, env, good)
            production_id = out["id"]
            lines.append(f"{env}: {good} {out['status']} ({spec.environments[env].strategy.kind})")
        bad = _ship_a_bug(ctx)
        lines.append(
            f"commit 'fix: retry slow payment lookups' (a bug: 40% of requests fail) "
            f"built and released as {bad}"
        )
        for env in ENVS[:2]:
            lines += _clear_gates(ctx, env, bad)
            lines.append(f"{env}: {bad} {_deploy(ctx, env, bad)['status']} (no analysis there)")
        lines += _clear_gates(ctx, "production", bad)
        with Traffic(_url(ctx, "production")) as traffic:
            out = _deploy(ctx, "production", bad)
        measured: Mapping[str, Any] = out.get("measurements", {})
        canary = measured.get("canary", {})
        stable = measured.get("baseline", {})
        lines.append(f"production canary of {bad}: {out['status']}: {out.get('reason', '')}")
        if canary:
            lines.append(
                f"  canary error rate {canary.get('error_rate', 0):.1%} over "
                f"{canary.get('requests', 0)} requests vs stable "
                f"{stable.get('error_rate', 0):.1%}; {sum(traffic.counts.values())} "
                "requests served during the rollout"
            )
        live = {
            e["environment"]: e["version"]
            for e in env_svc.environments(ctx.store, spec)["environments"]
        }
        lines.append("live now: " + ", ".join(f"{env} {live.get(env)}" for env in ENVS))
        ctx.facts["deploy"] = {
            "good": good,
            "bad": bad,
            "production": out["status"],
            "production_id": production_id,
        }
    finally:
        for env in ENVS:
            env_svc.stop_environment(ctx.store, spec, env)
    return lines
