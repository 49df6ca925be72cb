"""``FeatureState``: an immutable snapshot of one environment's flags, compiled for
evaluation, changed by returning a new state that recompiles only what changed.

The container only; what a state answers is ``evaluation``, how it is read from the client
API's payloads and deltas is ``client_api``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from random import random as _system_random
from types import MappingProxyType
from typing import Any

from shipyard_sdk.flags.compiled import _compile_feature, _CompiledFeature
from shipyard_sdk.flags.context import UnleashContext
from shipyard_sdk.flags.evaluation import get_variant, is_enabled
from shipyard_sdk.flags.model import Feature, Segment, Variant
from shipyard_sdk.flags.parsing import _array, _integer, _object, _parse_feature, _parse_segment
from shipyard_sdk.flags.vocabulary import RandomSource


class FeatureState:
    """An immutable snapshot of the flags of one environment, compiled for evaluation.

    Build it from the client API payload (``FeatureState.from_payload`` or ``load_state``) or
    from delta events (``hydrate_delta``); change it with ``apply_delta`` or the ``with_*``
    methods, which return a new state and recompile only what changed.
    """

    __slots__ = ("_compiled", "_features", "_segments", "_version")

    _version: int
    _features: dict[str, Feature]
    _segments: dict[int, Segment]
    _compiled: dict[str, _CompiledFeature]

    def __init__(
        self,
        features: Iterable[Feature] = (),
        segments: Iterable[Segment] = (),
        *,
        version: int = 2,
    ) -> None:
        self._version = version
        self._segments = {s.id: s for s in segments}
        # A name given twice keeps the last definition, as the reference engine does.
        self._features = {f.name: f for f in features}
        self._compiled = {
            name: _compile_feature(f, self._segments) for name, f in self._features.items()
        }

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any]) -> FeatureState:
        """Read a ``/api/client/features`` payload; raises ``FlagPayloadInvalid``."""
        obj = _object(payload, "payload")
        version = obj.get("version", 2)
        return cls(
            [
                _parse_feature(f, f"features[{i}]")
                for i, f in enumerate(_array(obj, "features", "payload"))
            ],
            [
                _parse_segment(s, f"segments[{i}]")
                for i, s in enumerate(_array(obj, "segments", "payload"))
            ],
            version=_integer(version, "version"),
        )

    def to_payload(self) -> dict[str, Any]:
        """The state as a ``/api/client/features`` payload (what ``flags export`` writes)."""
        out: dict[str, Any] = {
            "version": self._version,
            "features": [f.to_dict() for f in self._features.values()],
        }
        if self._segments:
            out["segments"] = [s.to_dict() for s in self._segments.values()]
        return out

    @property
    def version(self) -> int:
        return self._version

    @property
    def features(self) -> Mapping[str, Feature]:
        return MappingProxyType(self._features)

    @property
    def segments(self) -> Mapping[int, Segment]:
        return MappingProxyType(self._segments)

    def __len__(self) -> int:
        return len(self._features)

    def __contains__(self, name: object) -> bool:
        return name in self._features

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, FeatureState):
            return NotImplemented
        return (self._features, self._segments) == (other._features, other._segments)

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"FeatureState({len(self._features)} features, {len(self._segments)} segments)"

    def broken_features(self) -> Mapping[str, str]:
        """Features that evaluate as off because they cannot be compiled, with the reason."""
        return {n: c.broken for n, c in self._compiled.items() if c.broken is not None}

    def _replace(
        self,
        features: dict[str, Feature],
        segments: dict[int, Segment],
        compiled: dict[str, _CompiledFeature],
    ) -> FeatureState:
        new = object.__new__(FeatureState)
        new._version = self._version
        new._features = features
        new._segments = segments
        new._compiled = compiled
        return new

    def with_feature(self, feature: Feature) -> FeatureState:
        """This state with ``feature`` added or replaced."""
        features = dict(self._features)
        features[feature.name] = feature
        compiled = dict(self._compiled)
        compiled[feature.name] = _compile_feature(feature, self._segments)
        return self._replace(features, self._segments, compiled)

    def without_feature(self, name: str) -> FeatureState:
        """This state without the feature ``name`` (unchanged if it is not there)."""
        if name not in self._features:
            return self
        features = dict(self._features)
        del features[name]
        compiled = dict(self._compiled)
        del compiled[name]
        return self._replace(features, self._segments, compiled)

    def _with_segments(self, segments: dict[int, Segment], changed: int) -> FeatureState:
        compiled = dict(self._compiled)
        for name, each in self._compiled.items():
            if changed in each.segment_ids:
                compiled[name] = _compile_feature(each.feature, segments)
        return self._replace(self._features, segments, compiled)

    def with_segment(self, segment: Segment) -> FeatureState:
        """This state with ``segment`` added or replaced."""
        segments = dict(self._segments)
        segments[segment.id] = segment
        return self._with_segments(segments, segment.id)

    def without_segment(self, segment_id: int) -> FeatureState:
        """This state without the segment; strategies that use it turn off."""
        if segment_id not in self._segments:
            return self
        segments = dict(self._segments)
        del segments[segment_id]
        return self._with_segments(segments, segment_id)

    def is_enabled(
        self,
        name: str,
        context: UnleashContext | None = None,
        *,
        now: datetime | None = None,
        random: RandomSource = _system_random,
        hostname: str | None = None,
    ) -> bool:
        """See ``is_enabled``."""
        return is_enabled(self, name, context, now=now, random=random, hostname=hostname)

    def get_variant(
        self,
        name: str,
        context: UnleashContext | None = None,
        *,
        now: datetime | None = None,
        random: RandomSource = _system_random,
        hostname: str | None = None,
    ) -> Variant:
        """See ``get_variant``."""
        return get_variant(self, name, context, now=now, random=random, hostname=hostname)
