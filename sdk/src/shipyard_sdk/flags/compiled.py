"""A feature compiled for evaluation: its rule, each strategy with the variants it hands out,
and why it is off if it cannot be compiled. Each feature becomes closures, built once per
state, so evaluation is a few attribute reads and calls.

Between the state, which holds one per feature, and evaluation, which reads them.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from shipyard_sdk.flags.constraints import _Broken
from shipyard_sdk.flags.model import Feature, Segment
from shipyard_sdk.flags.strategies import _any_of, _compile_strategy, _never, _Rule
from shipyard_sdk.flags.variants import _strategy_variants, _VariantSet


@dataclass(frozen=True, slots=True)
class _CompiledFeature:
    feature: Feature
    rule: _Rule  # any strategy on
    broken: str | None
    # Each strategy with the variants it hands out, None meaning the feature's variants.
    strategies: tuple[tuple[_Rule, _VariantSet | None], ...]
    variants: _VariantSet
    segment_ids: frozenset[int]
    # Read on every evaluation: kept here rather than two attribute reads away.
    on: bool = False
    parents: bool = False


def _compile_feature(feature: Feature, segments: Mapping[int, Segment]) -> _CompiledFeature:
    broken = None
    try:
        rules = [_compile_strategy(s, segments) for s in feature.strategies]
    except _Broken as exc:
        rules, broken = [], str(exc)
    first = feature.variants[0].stickiness if feature.variants else None
    return _CompiledFeature(
        feature=feature,
        rule=_never if broken is not None else _any_of(rules),
        broken=broken,
        strategies=tuple(
            (rule, _strategy_variants(strategy, feature.name))
            for rule, strategy in zip(rules, feature.strategies, strict=False)
        ),
        variants=_VariantSet.of(feature.variants, feature.name, first),
        segment_ids=frozenset(s for strategy in feature.strategies for s in strategy.segments),
        on=feature.enabled,
        parents=bool(feature.dependencies),
    )
