"""Bucketing and variants: the murmur3 bucket every Unleash SDK computes, and which variant of
a feature or strategy a context gets (overrides first, then the weighted, sticky pick).

Apart from the on/off rules: variants hash with their own seed and read stickiness their own
way (``currentTime`` from the properties), and only ``get_variant`` asks for them.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import mmh3

from shipyard_sdk.flags.context import UnleashContext, _as_text, _context_text
from shipyard_sdk.flags.model import Strategy, Variant, VariantDefinition
from shipyard_sdk.flags.vocabulary import _STANDARD_FIELDS, RandomSource

VARIANT_SEED: Final = 86028157
"""Murmur3 seed Unleash uses to bucket variants, so variant and rollout buckets are independent."""


def bucket(group_id: str, stickiness_value: str, normalizer: int = 100, seed: int = 0) -> int:
    """The 1-based bucket of ``stickiness_value`` in ``group_id``, as every Unleash SDK computes it.

    ``murmur3_x86_32("{group_id}:{stickiness_value}", seed) % normalizer + 1``: rollouts use
    ``normalizer=100, seed=0``; variants use the total weight and ``VARIANT_SEED``.
    """
    return int(mmh3.hash(f"{group_id}:{stickiness_value}", seed, False)) % normalizer + 1


@dataclass(frozen=True, slots=True)
class _VariantSet:
    definitions: tuple[VariantDefinition, ...]
    results: tuple[Variant, ...]
    total_weight: int
    stickiness: str | None
    group: str
    has_overrides: bool

    @classmethod
    def of(
        cls, definitions: tuple[VariantDefinition, ...], group: str, stickiness: str | None
    ) -> _VariantSet:
        return cls(
            definitions=definitions,
            results=tuple(Variant(d.name, d.payload, True, True) for d in definitions),
            total_weight=sum(d.weight for d in definitions),
            stickiness=stickiness,
            group=group,
            has_overrides=any(d.overrides for d in definitions),
        )


def _strategy_variants(strategy: Strategy, feature_name: str) -> _VariantSet | None:
    if not strategy.variants:
        return None
    stickiness = strategy.parameters.get("stickiness", "default")
    group = strategy.parameters.get("groupId", feature_name)
    # Strategy variants take the strategy's stickiness and never have overrides.
    definitions = tuple(
        VariantDefinition(d.name, d.weight, d.payload, stickiness) for d in strategy.variants
    )
    return _VariantSet.of(definitions, group, stickiness)


def _resolve_variant(
    variants: _VariantSet, ctx: UnleashContext, rnd: RandomSource
) -> Variant | None:
    definitions = variants.definitions
    if not definitions:
        return None
    if variants.has_overrides:
        for index, definition in enumerate(definitions):
            for override in definition.overrides:
                value = _override_value(override.context_name, ctx)
                if value is not None and value in override.values:
                    return variants.results[index]
    total = variants.total_weight
    if total <= 0:
        return None
    seed = _variant_seed(variants.stickiness, ctx)
    if seed is None:
        target = int(rnd() * total) + 1
    else:
        target = int(mmh3.hash(f"{variants.group}:{seed}", VARIANT_SEED, False)) % total + 1
    running = 0
    for index, definition in enumerate(definitions):
        running += definition.weight
        if running >= target:
            return variants.results[index]
    return None


def _variant_seed(stickiness: str | None, ctx: UnleashContext) -> str | None:
    # Unlike rollouts, variant stickiness reads currentTime from the properties.
    if stickiness is None or stickiness == "default":
        return ctx.user_id if ctx.user_id is not None else ctx.session_id
    if stickiness in _STANDARD_FIELDS and stickiness != "currentTime":
        value = getattr(ctx, _STANDARD_FIELDS[stickiness])
        return None if value is None else str(value)
    props = ctx.properties
    if props is None:
        return None
    value = props.get(stickiness)
    return value if type(value) is str else _context_text(value)


def _override_value(name: str, ctx: UnleashContext) -> str | None:
    if name in _STANDARD_FIELDS:
        value = getattr(ctx, _STANDARD_FIELDS[name])
        return None if value is None else _as_text(value)
    props = ctx.properties
    if props is None:
        return None
    value = props.get(name)
    return value if type(value) is str else _context_text(value)
