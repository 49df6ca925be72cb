"""The order a project's environments promote in, read from its spec: what trains ship
through, and the end of the chain that hotfixes and break-glass default to."""

from __future__ import annotations

from typing import TYPE_CHECKING

from shipyard.errors import InputError

if TYPE_CHECKING:
    from shipyard.spec.models import Spec


def promotion_order(spec: Spec) -> list[str]:
    """Environments in promotion order: those promoting from nothing first, then each one after
    the environment it promotes from (spec order breaks ties)."""
    names = list(spec.environments)
    order: list[str] = []
    while len(order) < len(names):
        ready = [
            n
            for n in names
            if n not in order
            and (
                spec.environments[n].promote_from is None
                or spec.environments[n].promote_from in order
            )
        ]
        if not ready:  # a cycle; the spec loader refuses those, so this is only a guard
            raise InputError(
                "the environments' promote_from form a cycle", code="spec-promotion-cycle"
            )
        order.extend(ready)
    return order


def production(spec: Spec) -> str:
    """The environment a hotfix repairs: the end of the promotion chain."""
    order = promotion_order(spec)
    if not order:
        raise InputError("shipyard.yaml has no environments", code="spec-missing-key")
    return "production" if "production" in order else order[-1]
