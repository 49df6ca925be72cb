"""The flag model: the ``/api/client/features`` payload as typed, immutable values (features,
strategies, constraints, segments, dependencies, variant definitions) and the ``Variant``
evaluation answers with.

Plain values with their ``to_dict``; reading them from JSON is ``parsing``, compiling them
for evaluation is ``constraints``, ``strategies`` and ``compiled``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Final


@dataclass(frozen=True, slots=True)
class Payload:
    """A variant's payload; ``value`` is always text (JSON payloads are JSON text)."""

    type: str
    value: str

    def to_dict(self) -> dict[str, str]:
        return {"type": self.type, "value": self.value}


@dataclass(frozen=True, slots=True)
class Override:
    """Pins a variant for the listed values of one context field."""

    context_name: str
    values: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"contextName": self.context_name, "values": list(self.values)}


@dataclass(frozen=True, slots=True)
class VariantDefinition:
    """One weighted variant of a feature or of a strategy."""

    name: str
    weight: int
    payload: Payload | None = None
    stickiness: str | None = None
    overrides: tuple[Override, ...] = ()
    weight_type: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "weight": self.weight}
        if self.weight_type is not None:
            out["weightType"] = self.weight_type
        if self.stickiness is not None:
            out["stickiness"] = self.stickiness
        if self.payload is not None:
            out["payload"] = self.payload.to_dict()
        if self.overrides:
            out["overrides"] = [o.to_dict() for o in self.overrides]
        return out


@dataclass(frozen=True, slots=True)
class Constraint:
    """A condition on one context field; ``values`` for list operators, ``value`` otherwise."""

    context_name: str
    operator: str
    values: tuple[str, ...] = ()
    value: str | None = None
    case_insensitive: bool = False
    inverted: bool = False

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"contextName": self.context_name, "operator": self.operator}
        if self.values:
            out["values"] = list(self.values)
        if self.value is not None:
            out["value"] = self.value
        out["caseInsensitive"] = self.case_insensitive
        out["inverted"] = self.inverted
        return out


@dataclass(frozen=True, slots=True)
class Segment:
    """Constraints shared by several strategies, referenced by id."""

    id: int
    constraints: tuple[Constraint, ...] = ()
    name: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"id": self.id}
        if self.name is not None:
            out["name"] = self.name
        out["constraints"] = [c.to_dict() for c in self.constraints]
        return out


@dataclass(frozen=True, slots=True)
class Strategy:
    """One way a feature can be on; ``variants`` is ``None`` when the strategy has none."""

    name: str
    parameters: Mapping[str, str] = field(default_factory=dict)
    constraints: tuple[Constraint, ...] = ()
    segments: tuple[int, ...] = ()
    variants: tuple[VariantDefinition, ...] | None = None
    # Unleash keeps a switched-off strategy on the flag without serving it to SDKs.
    disabled: bool = False

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "name": self.name,
            "parameters": dict(self.parameters),
            "constraints": [c.to_dict() for c in self.constraints],
        }
        if self.segments:
            out["segments"] = list(self.segments)
        if self.variants is not None:
            out["variants"] = [v.to_dict() for v in self.variants]
        if self.disabled:
            out["disabled"] = True
        return out


@dataclass(frozen=True, slots=True)
class Dependency:
    """This feature needs ``feature`` to be ``enabled`` (and, if listed, on one of ``variants``)."""

    feature: str
    enabled: bool = True
    variants: tuple[str, ...] | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"feature": self.feature, "enabled": self.enabled}
        if self.variants is not None:
            out["variants"] = list(self.variants)
        return out


@dataclass(frozen=True, slots=True)
class Feature:
    """A flag in one environment, as Unleash's client API describes it."""

    name: str
    enabled: bool
    strategies: tuple[Strategy, ...] = ()
    variants: tuple[VariantDefinition, ...] = ()
    dependencies: tuple[Dependency, ...] = ()
    type: str | None = None
    project: str | None = None
    description: str | None = None
    impression_data: bool = False
    stale: bool = False

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name}
        if self.type is not None:
            out["type"] = self.type
        if self.project is not None:
            out["project"] = self.project
        if self.description is not None:
            out["description"] = self.description
        out["enabled"] = self.enabled
        out["stale"] = self.stale
        out["impressionData"] = self.impression_data
        out["strategies"] = [s.to_dict() for s in self.strategies]
        out["variants"] = [v.to_dict() for v in self.variants]
        if self.dependencies:
            out["dependencies"] = [d.to_dict() for d in self.dependencies]
        return out


@dataclass(frozen=True, slots=True)
class Variant:
    """The answer to ``get_variant``, in the shape of Unleash's SDKs."""

    name: str
    payload: Payload | None = None
    enabled: bool = False
    feature_enabled: bool = False

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name}
        if self.payload is not None:
            out["payload"] = self.payload.to_dict()
        out["enabled"] = self.enabled
        out["feature_enabled"] = self.feature_enabled
        return out


DISABLED_VARIANT: Final = Variant("disabled")
_DISABLED_VARIANT_FEATURE_ON: Final = Variant("disabled", feature_enabled=True)
