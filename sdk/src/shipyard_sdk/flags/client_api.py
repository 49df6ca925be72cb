"""The Unleash client API's payloads: a state from a ``/api/client/features`` payload or from
delta events (hydration, feature and segment updates and removals), and a stored feature as
that API serves it to SDKs.

What the server sends and the SDK receives, apart from the state they both build.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from shipyard_sdk.flags.errors import FlagPayloadInvalid
from shipyard_sdk.flags.parsing import (
    _array,
    _integer,
    _object,
    _parse_feature,
    _parse_segment,
    _required_str,
)
from shipyard_sdk.flags.state import FeatureState


def load_state(payload: Mapping[str, Any]) -> FeatureState:
    """A state from either a client features payload or a delta payload (``{"events": ...}``)."""
    obj = _object(payload, "payload")
    if "events" in obj and "features" not in obj:
        return hydrate_delta(_array(obj, "events", "payload"))
    return FeatureState.from_payload(obj)


def hydrate_delta(
    events: Iterable[Mapping[str, Any]], base: FeatureState | None = None
) -> FeatureState:
    """Apply delta events in order to ``base`` (an empty state by default)."""
    state = FeatureState() if base is None else base
    for index, event in enumerate(events):
        state = _apply_event(state, event, f"events[{index}]")
    return state


def apply_delta(state: FeatureState, event: Mapping[str, Any]) -> FeatureState:
    """One delta event (hydration, feature-updated, feature-removed, segment-updated,
    segment-removed) applied to ``state``; raises ``FlagPayloadInvalid`` for anything else."""
    return _apply_event(state, event, "event")


def _apply_event(state: FeatureState, event: object, path: str) -> FeatureState:
    obj = _object(event, path)
    kind = obj.get("type")
    if kind == "hydration":
        return FeatureState(
            [
                _parse_feature(f, f"{path}.features[{i}]")
                for i, f in enumerate(_array(obj, "features", path))
            ],
            [
                _parse_segment(s, f"{path}.segments[{i}]")
                for i, s in enumerate(_array(obj, "segments", path))
            ],
            version=state.version,
        )
    if kind == "feature-updated":
        return state.with_feature(_parse_feature(obj.get("feature"), f"{path}.feature"))
    if kind == "feature-removed":
        return state.without_feature(_required_str(obj, "featureName", path))
    if kind == "segment-updated":
        return state.with_segment(_parse_segment(obj.get("segment"), f"{path}.segment"))
    if kind == "segment-removed":
        return state.without_segment(_integer(obj.get("segmentId"), f"{path}.segmentId"))
    raise FlagPayloadInvalid(
        f"{path}.type: unknown delta event {kind!r}",
        hint="delta events are hydration, feature-updated, feature-removed, segment-updated "
        "and segment-removed",
        details={"path": f"{path}.type"},
    )


def served_feature(definition: Mapping[str, Any]) -> Mapping[str, Any]:
    """A stored feature (JSON) as the client API serves it: without disabled strategies.

    Unleash keeps a disabled strategy on the flag but never sends it to SDKs; a flag whose
    strategies are all disabled is sent as off, never as "no strategies, on for everyone".
    """
    strategies = definition.get("strategies") or ()
    if not any(isinstance(s, Mapping) and s.get("disabled") for s in strategies):
        return definition
    live = [s for s in strategies if not (isinstance(s, Mapping) and s.get("disabled"))]
    out = {**definition, "strategies": live}
    if not live:
        out["enabled"] = False
    return out
