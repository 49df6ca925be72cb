"""A command target as the rollout controller's hands: the user's hooks run for each command.

The platform behind the hooks (kubectl, ssh, a cloud CLI) routes its own traffic, so there is no
Shipyard router: pools are named ``stable`` and ``canary``, ``ScaleUp``/``ScaleDown`` run the
``deploy``/``stop`` hooks with the count to reach, ``SetWeights`` runs ``set_weight`` with the
canary's share, ``Promote`` and ``Rollback`` run their hooks, and readiness is the ``health``
hook's exit status (without one, a ``deploy`` that exited 0 counts as ready). Every hook names a
target state, not a delta, so a restarted controller may run one again. The hooks run through
the ``Commands`` port (the runner's ``Ports.commands``: the shell of this host unless given).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from shipyard.adapters.targets.command import CommandTarget
from shipyard.domain import rollout as r
from shipyard.ports.commands import Commands
from shipyard.services.deployments import deploy_plan as dp


class HookDriver:
    """Executes rollout commands through a command target's hooks."""

    def __init__(
        self,
        plan: dp.DeploymentPlan,
        environment: str,
        stable_instances: int,
        commands: Commands | None = None,
    ) -> None:
        new = plan.canary
        self.sides: dict[r.Pool, Mapping[str, Any]] = {
            r.Pool.STABLE: plan.stable or {},
            r.Pool.CANARY: new,
        }
        secrets = dp.resolve_secrets(new["secret_refs"], Path(new["root"]))
        self.target = CommandTarget(
            new["hooks"],
            environment=environment,
            cwd=Path(new["workdir"]),
            env=dict(os.environ),
            secrets=secrets,
            timeout=float(new.get("timeout", 300.0)),
            commands=commands,
        )
        self.counts = {r.Pool.STABLE: stable_instances, r.Pool.CANARY: 0}
        self.healthy: dict[r.Pool, int] = {r.Pool.STABLE: stable_instances, r.Pool.CANARY: 0}
        self.weight: int | None = None  # the canary weight last sent; None: send it again

    def _run(self, hook: str, pool: r.Pool, **values: object) -> None:
        side = self.sides[pool]
        extra = {**side.get("config", {}), "APP_VERSION": str(side.get("version", ""))}
        self.target.run(
            hook,
            extra,
            pool=pool.value,
            version=side.get("version", ""),
            instances=self.counts[pool],
            **values,
        )

    def has(self, hook: str) -> bool:
        return hook in self.target.hooks

    def execute(self, c: r.Command) -> None:
        if isinstance(c, r.ScaleUp):
            self.counts[c.pool] = c.instances
            self.healthy[c.pool] = 0
            self._run("deploy", c.pool)
        elif isinstance(c, r.ScaleDown):
            self.counts[c.pool] = c.instances
            self.healthy[c.pool] = min(self.healthy[c.pool], c.instances)
            if self.has("stop"):
                self._run("stop", c.pool)
        elif isinstance(c, r.SetWeights):
            if self.has("set_weight") and self.weight != c.canary:
                self._run("set_weight", r.Pool.CANARY, weight=c.canary)
            self.weight = c.canary
        elif isinstance(c, r.Promote) and self.has("promote"):
            self._run("promote", r.Pool.CANARY, weight=self.weight or 0)
        elif isinstance(c, r.Rollback) and self.has("rollback") and self.sides[r.Pool.STABLE]:
            self._run("rollback", r.Pool.STABLE, weight=100 - (self.weight or 0))

    def ready(self, pool: r.Pool) -> int:
        """Instances of ``pool`` counted ready; the health hook runs until it passes once."""
        want = self.counts[pool]
        if want == 0 or self.healthy[pool] >= want:
            return min(self.healthy[pool], want)
        if not self.has("health"):
            self.healthy[pool] = want
            return want
        from shipyard.adapters.targets.command import HookFailed

        try:
            self._run("health", pool)
        except HookFailed:
            return 0
        self.healthy[pool] = want
        return want

    def restore(self) -> None:
        """Undo a rollout whose state machine already finished (a failing promote hook):
        the stable version back at full size with all traffic, the canary stopped."""
        if not self.sides[r.Pool.STABLE]:
            return
        n = max(self.counts[r.Pool.STABLE], self.counts[r.Pool.CANARY], 1)
        self.execute(r.ScaleUp(r.Pool.STABLE, n))
        self.weight = None
        self.execute(r.SetWeights(100, 0))
        self.execute(r.ScaleDown(r.Pool.CANARY, 0))
        self.execute(r.Rollback("restored after a failing hook"))
