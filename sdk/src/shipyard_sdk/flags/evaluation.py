"""Evaluation: whether a feature is on for a context (``is_enabled``) and which variant it
gets (``get_variant``), dependencies on parent features included.

Reads a state's compiled features; the state's own ``is_enabled`` and ``get_variant`` call
these, so the state is imported here for its type only.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from random import random as _system_random
from typing import TYPE_CHECKING

from shipyard_sdk.flags.compiled import _CompiledFeature
from shipyard_sdk.flags.context import _EMPTY_CONTEXT, UnleashContext
from shipyard_sdk.flags.model import _DISABLED_VARIANT_FEATURE_ON, DISABLED_VARIANT, Variant
from shipyard_sdk.flags.variants import _resolve_variant, _VariantSet
from shipyard_sdk.flags.vocabulary import RandomSource

if TYPE_CHECKING:
    from shipyard_sdk.flags.state import FeatureState


def _pick_variant(
    compiled: _CompiledFeature,
    ctx: UnleashContext,
    default: str,
    rnd: RandomSource,
    now: datetime | None,
    host: str | None,
) -> Variant | None:
    """The variant of a feature, whether it is on or not (dependencies ask this of parents).

    The first strategy that matches decides: its own variants if it has some, otherwise the
    feature's; when none matches, the feature's.
    """
    for rule, variants in compiled.strategies:
        if rule(ctx, default, rnd, now, host):
            return _resolve_variant(variants or compiled.variants, ctx, rnd)
    return _resolve_variant(compiled.variants, ctx, rnd)


def _parents_allow(
    compiled_map: Mapping[str, _CompiledFeature],
    child: _CompiledFeature,
    ctx: UnleashContext,
    rnd: RandomSource,
    now: datetime | None,
    host: str | None,
) -> bool:
    name = child.feature.name
    for dependency in child.feature.dependencies:
        parent = compiled_map.get(dependency.feature)
        # Only one level of dependency: a parent that itself has parents never satisfies.
        if parent is None or parent.feature.dependencies:
            return False
        # The parent is asked with the child's name as default group id, as the reference does.
        parent_enabled = parent.feature.enabled and parent.rule(ctx, name, rnd, now, host)
        if dependency.variants:
            variant = _pick_variant(parent, ctx, name, rnd, now, host)
            if variant is not None and variant.name not in dependency.variants:
                return False
        if parent_enabled != dependency.enabled:
            return False
    return True


def is_enabled(
    state: FeatureState,
    name: str,
    context: UnleashContext | None = None,
    *,
    now: datetime | None = None,
    random: RandomSource = _system_random,
    hostname: str | None = None,
) -> bool:
    """Whether feature ``name`` is on for ``context``; unknown features are off.

    ``now`` stands in for ``currentTime`` when the context has none (without either, date
    constraints on ``currentTime`` are false); ``hostname`` is what ``applicationHostname``
    compares. ``random`` (the standard library's by default) is called only when a rollout is
    random or has nothing in the context to stick to; pass a seeded one for repeatable runs.
    """
    compiled = state._compiled.get(name)
    if compiled is None or not compiled.on:
        return False
    ctx = _EMPTY_CONTEXT if context is None else context
    if compiled.parents and not _parents_allow(
        state._compiled, compiled, ctx, random, now, hostname
    ):
        return False
    return compiled.rule(ctx, name, random, now, hostname)


def get_variant(
    state: FeatureState,
    name: str,
    context: UnleashContext | None = None,
    *,
    now: datetime | None = None,
    random: RandomSource = _system_random,
    hostname: str | None = None,
) -> Variant:
    """The variant of feature ``name`` for ``context``.

    ``disabled`` with ``feature_enabled=False`` when the feature is off or unknown, ``disabled``
    with ``feature_enabled=True`` when it is on but has no variant to give.
    """
    compiled = state._compiled.get(name)
    if compiled is None or not compiled.on:
        return DISABLED_VARIANT
    ctx = _EMPTY_CONTEXT if context is None else context
    if compiled.parents and not _parents_allow(
        state._compiled, compiled, ctx, random, now, hostname
    ):
        return DISABLED_VARIANT
    if compiled.broken is not None:
        return DISABLED_VARIANT
    chosen: _VariantSet | None = None
    if compiled.strategies:
        # One pass: the first strategy that matches both turns the feature on and picks.
        for rule, variants in compiled.strategies:
            if rule(ctx, name, random, now, hostname):
                chosen = variants
                break
        else:
            return DISABLED_VARIANT
    variant = _resolve_variant(chosen or compiled.variants, ctx, random)
    return _DISABLED_VARIANT_FEATURE_ON if variant is None else variant
