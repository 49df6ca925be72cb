"""A flag's strategies in one environment: list, add and remove them one at a time.

Changes go through ``flags.save_in``: the whole environment is validated as it would be after
the change, nothing is stored if it is refused, and ``flag.changed`` records the feature before
and after in the same transaction.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, TypedDict

from shipyard.errors import InputError
from shipyard.services.flags import flags
from shipyard.services.flags.flag_segments import parse_constraints
from shipyard.store.append import utcnow
from shipyard.store.uow import Store


def parse_params(pairs: Sequence[str]) -> dict[str, str]:
    """``k=v`` pairs as strategy parameters (values stay text, as Unleash keeps them)."""
    return flags.parse_pairs(
        pairs,
        "pass --param rollout=25 --param stickiness=userId",
        code="flag-strategy-parameter-invalid",
    )


def _listed(feature: Mapping[str, Any]) -> list[dict[str, Any]]:
    """The feature's Unleash strategy objects, each with its ``index`` first."""
    return [{"index": i, **s} for i, s in enumerate(feature.get("strategies", []))]


class StrategyList(TypedDict):
    name: str
    environment: str
    strategies: list[dict[str, Any]]  # Unleash strategy objects with their index


def list_strategies(store: Store, project: str, env: str, name: str) -> StrategyList:
    with store.read() as uow:
        feature = flags._current(uow, project, env, name)
    return {"name": name, "environment": env, "strategies": _listed(feature)}


class StrategiesChanged(TypedDict):
    """``flags.FlagSaved`` with ``strategies`` holding the strategy objects, not their names."""

    name: str
    environment: str
    type: str
    enabled: bool
    rollout: int | None
    level: int | None
    strategies: list[dict[str, Any]]  # Unleash strategy objects with their index
    description: str | None
    updated_at: str
    changed: bool
    definition: dict[str, Any]


def add_strategy(
    store: Store,
    project: str,
    env: str,
    name: str,
    actor: str,
    *,
    kind: str,
    parameters: Mapping[str, Any] | None = None,
    constraints: Any = None,
    segments: Sequence[int] = (),
) -> StrategiesChanged:
    """Append a strategy (Unleash ``name``, parameters, constraints, segment ids)."""
    params = {str(k): str(v) for k, v in (parameters or {}).items()}
    strategy: dict[str, Any] = {
        "name": kind,
        "parameters": params,
        "constraints": parse_constraints(constraints),
    }
    if segments:
        strategy["segments"] = [_segment_id(s) for s in segments]
    with store.begin() as uow:
        feature = flags._current(uow, project, env, name)
        feature["strategies"] = [*feature.get("strategies", []), strategy]
        result = flags.save_in(uow, project, env, feature, actor, create=False, stamp=utcnow())
    return {**result, "strategies": _listed(result["definition"])}


def _segment_id(value: Any) -> int:
    if type(value) is not int:
        raise InputError(
            f"'{value}' is not a segment id",
            "segment ids are whole numbers; see `shipyard flags segment list --env ENV`",
            code="flag-segment-id-invalid",
        )
    return value


def remove_strategy(
    store: Store, project: str, env: str, name: str, index: int, actor: str
) -> StrategiesChanged:
    """Remove the strategy at ``index`` (0-based, as ``strategy list`` numbers them).

    Removing the last strategy of an enabled flag is refused: a flag without strategies is on
    for everyone, which is rarely what removing a strategy means.
    """
    with store.begin() as uow:
        feature = flags._current(uow, project, env, name)
        strategies = list(feature.get("strategies", []))
        if not 0 <= index < len(strategies):
            raise InputError(
                f"flag '{name}' has no strategy {index} in '{env}' "
                f"({len(strategies)} strateg{'y' if len(strategies) == 1 else 'ies'})",
                f"list them with `shipyard flags strategy list {name} --env {env}`",
                code="flag-strategy-index-invalid",
            )
        if len(strategies) == 1 and feature.get("enabled"):
            raise InputError(
                f"removing the last strategy would turn '{name}' on for everyone in '{env}'",
                "add the strategy that should replace it first, or disable the flag",
                code="flag-strategy-last",
            )
        del strategies[index]
        feature["strategies"] = strategies
        result = flags.save_in(uow, project, env, feature, actor, create=False, stamp=utcnow())
    return {**result, "strategies": _listed(result["definition"])}
