"""Feature flag evaluation, bit-compatible with Unleash.

Pure: the caller hands in the flag state (the ``/api/client/features`` payload or delta events),
the context, the current time (``now``) for date constraints, the host name for
``applicationHostname`` and, for the ``random`` strategy and stickiness, a source of random
numbers. Nothing here reads the clock, the network or the file system.

The behaviour follows the Unleash client specification and, where the specification is silent,
the reference engine (Yggdrasil) that the official SDKs embed, so that a user lands in the same
bucket whichever SDK asks:

* rollout buckets are ``murmur3_x86_32("groupId:stickiness", seed 0) % 100 + 1``;
* variant buckets are the same hash with seed 86028157, modulo the total variant weight;
* what the reference engine cannot compile switches the whole feature off: a number, date or
  semver constraint whose value is not one, a string operator without values, an unknown
  operator, a reference to a missing segment, a rollout above 100. An invalid regular expression
  only makes its constraint false, and unknown (custom) strategies are false;
* ``NUM_*``, ``DATE_*`` and ``SEMVER_*`` compare by the shape of the operand, as the reference
  engine's grammar does: ``NUM_GT`` with ``1.2.3`` compares semantic versions;
* the first strategy that matches picks the variant: from its own variants if it has some,
  otherwise from the feature's.

``REGEX`` takes the Rust ``regex`` crate's syntax and runs it on RE2, in time linear in the
input (see ``flag_regex``); constructs Rust rejects, such as look-around and back-references,
make the constraint false.
"""

from __future__ import annotations

import ipaddress
import operator
import re
import sys
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from random import random as _system_random
from types import MappingProxyType
from typing import Any, Final, NoReturn, TypeAlias

import mmh3

from shipyard.domain.flag_regex import Matcher, compile_pattern, pattern_problem
from shipyard.errors import InputError

__all__ = [
    "CONTEXT_FIELDS",
    "DISABLED_VARIANT",
    "KNOWN_OPERATORS",
    "KNOWN_STRATEGIES",
    "VARIANT_SEED",
    "Constraint",
    "Dependency",
    "Feature",
    "FeatureState",
    "FlagDefinitionInvalid",
    "FlagPayloadInvalid",
    "FlagProblem",
    "Override",
    "Payload",
    "RandomSource",
    "Segment",
    "Strategy",
    "UnleashContext",
    "Variant",
    "VariantDefinition",
    "apply_delta",
    "bucket",
    "find_problems",
    "get_variant",
    "hydrate_delta",
    "is_enabled",
    "load_state",
    "new_problems",
    "problem_effect",
    "raise_problems",
    "served_feature",
    "validate_state",
]

# --------------------------------------------------------------------------------------------
# Errors


class FlagPayloadInvalid(InputError):
    """A flag payload that is not the Unleash client features or delta shape."""

    code = "flag-payload-invalid"
    default_hint = (
        'send the Unleash /api/client/features shape: {"version": 2, "features": [...], '
        '"segments": [...]}, or delta events {"events": [...]}'
    )


class FlagDefinitionInvalid(InputError):
    """Well-formed flags that would not behave as their author meant; see ``find_problems``."""

    code = "flag-definition-invalid"
    default_hint = "fix the flag definition named in the message and submit it again"


# --------------------------------------------------------------------------------------------
# Constants

VARIANT_SEED: Final = 86028157
"""Murmur3 seed Unleash uses to bucket variants, so variant and rollout buckets are independent."""

KNOWN_STRATEGIES: Final = frozenset(
    {
        "default",
        "userWithId",
        "gradualRolloutUserId",
        "gradualRolloutSessionId",
        "gradualRolloutRandom",
        "flexibleRollout",
        "remoteAddress",
        "applicationHostname",
    }
)

_STRATEGY_PARAMETERS: Final[Mapping[str, frozenset[str]]] = MappingProxyType(
    {
        "default": frozenset(),
        "userWithId": frozenset({"userIds"}),
        "gradualRolloutUserId": frozenset({"percentage", "groupId"}),
        "gradualRolloutSessionId": frozenset({"percentage", "groupId"}),
        "gradualRolloutRandom": frozenset({"percentage"}),
        "flexibleRollout": frozenset({"rollout", "stickiness", "groupId"}),
        "remoteAddress": frozenset({"IPs"}),
        "applicationHostname": frozenset({"hostNames"}),
    }
)

_STRING_OPERATORS: Final = frozenset({"STR_CONTAINS", "STR_STARTS_WITH", "STR_ENDS_WITH"})
_ORDINAL_OPERATORS: Final[Mapping[str, str]] = MappingProxyType(
    {
        "NUM_EQ": "==",
        "NUM_GT": ">",
        "NUM_GTE": ">=",
        "NUM_LT": "<",
        "NUM_LTE": "<=",
        "DATE_AFTER": ">",
        "DATE_BEFORE": "<",
        "SEMVER_EQ": "==",
        "SEMVER_GT": ">",
        "SEMVER_GTE": ">=",
        "SEMVER_LT": "<",
        "SEMVER_LTE": "<=",
    }
)
KNOWN_OPERATORS: Final = frozenset(
    {"IN", "NOT_IN", "REGEX", "IN_CIDR", *_STRING_OPERATORS, *_ORDINAL_OPERATORS}
)

# Context names that live on the context itself rather than in its properties.
_STANDARD_FIELDS: Final[Mapping[str, str]] = MappingProxyType(
    {
        "userId": "user_id",
        "sessionId": "session_id",
        "remoteAddress": "remote_address",
        "environment": "environment",
        "appName": "app_name",
        "currentTime": "current_time",
    }
)
CONTEXT_FIELDS: Final = frozenset(_STANDARD_FIELDS)
"""Context names Unleash reads from the top level of a context; any other name is a property."""


RandomSource: TypeAlias = Callable[[], float]
"""Returns a float in [0, 1), like ``random.random``; the only randomness evaluation uses."""

# --------------------------------------------------------------------------------------------
# Context


@dataclass(slots=True, kw_only=True)
class UnleashContext:
    """Who is asking: the Unleash context. A plain value; evaluation never changes it.

    ``current_time`` may be a ``datetime`` (naive means UTC) or an RFC 3339 string; when it is
    ``None`` date constraints use the ``now`` the caller passes to ``is_enabled``. A property
    that is not text is read as ``from_dict`` reads it (booleans as ``true``/``false``, numbers
    as their decimal text, anything else as absent), so a caller may pass its own mapping.
    """

    user_id: str | None = None
    session_id: str | None = None
    remote_address: str | None = None
    environment: str | None = None
    app_name: str | None = None
    current_time: datetime | str | None = None
    properties: Mapping[str, str | None] | None = None

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> UnleashContext:
        """Read an Unleash context as the SDKs send it (``userId``, ``properties`` ...).

        As the reference engine does: a standard field missing at the top level is taken from
        ``properties``, other top-level keys become properties, booleans read as ``true`` or
        ``false``, numbers as their decimal text, and other values (lists, objects) are ignored.
        """
        if not isinstance(data, Mapping):
            raise FlagPayloadInvalid(
                "context: expected an object",
                hint='send a context such as {"userId": "42", "properties": {"plan": "pro"}}',
            )
        props: dict[str, str] = {}
        raw_props = data.get("properties")
        if isinstance(raw_props, Mapping):
            for key, value in raw_props.items():
                prop = value if type(value) is str else _context_text(value)
                if prop is not None:
                    props[str(key)] = prop
        fields: dict[str, Any] = {}
        for key, value in data.items():
            attribute = _STANDARD_FIELDS.get(key)
            if type(value) is str:
                text: str | None = value
            elif attribute == "current_time" and isinstance(value, datetime):
                fields[attribute] = value
                continue
            else:
                text = _context_text(value)
            if text is None:
                continue
            if attribute is not None:
                fields[attribute] = text
            elif key != "properties":
                props[str(key)] = text  # top-level keys win over the same property
        if props:
            for key, attribute in _STANDARD_FIELDS.items():
                if attribute not in fields and key in props:
                    fields[attribute] = props[key]
        return cls(**fields, properties=props or None)

    def to_dict(self) -> dict[str, Any]:
        """The context in Unleash's JSON shape, leaving out what is unset."""
        out: dict[str, Any] = {}
        for key, attribute in _STANDARD_FIELDS.items():
            value = getattr(self, attribute)
            if value is not None:
                out[key] = value.isoformat() if isinstance(value, datetime) else value
        if self.properties:
            out["properties"] = {k: v for k, v in self.properties.items() if v is not None}
        return out


def _context_text(value: object) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, datetime):
        return value.isoformat()
    return None


_EMPTY_CONTEXT: Final = UnleashContext()

# --------------------------------------------------------------------------------------------
# Flag model: the /api/client/features payload as typed, immutable values


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

# --------------------------------------------------------------------------------------------
# Parsing the payload. Errors carry the JSON path of what is wrong.


def _fail(path: str, expected: str) -> NoReturn:
    raise FlagPayloadInvalid(f"{path}: expected {expected}", details={"path": path})


def _object(value: object, path: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        _fail(path, "an object")
    return value


def _array(obj: Mapping[str, Any], key: str, path: str) -> list[Any]:
    value = obj.get(key)
    if value is None:
        return []
    if not isinstance(value, list):
        _fail(f"{path}.{key}", "a list")
    return value


def _text(value: object, path: str) -> str:
    # Unleash sends parameters and values as text; numbers are accepted for hand-written JSON.
    if isinstance(value, str):
        return value
    if isinstance(value, int | float) and not isinstance(value, bool):
        return str(value)
    _fail(path, "a string")


def _required_str(obj: Mapping[str, Any], key: str, path: str) -> str:
    value = obj.get(key)
    if not isinstance(value, str):
        _fail(f"{path}.{key}", "a string")
    return value


def _optional_str(obj: Mapping[str, Any], key: str, path: str) -> str | None:
    value = obj.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        _fail(f"{path}.{key}", "a string or null")
    return value


def _flag(obj: Mapping[str, Any], key: str, path: str, default: bool) -> bool:
    value = obj.get(key)
    if value is None:
        return default
    if not isinstance(value, bool):
        _fail(f"{path}.{key}", "true or false")
    return value


def _integer(value: object, path: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        _fail(path, "an integer")
    return value


def _parse_constraint(raw: object, path: str) -> Constraint:
    obj = _object(raw, path)
    values = tuple(
        _text(v, f"{path}.values[{i}]") for i, v in enumerate(_array(obj, "values", path))
    )
    value = obj.get("value")
    return Constraint(
        context_name=_required_str(obj, "contextName", path),
        operator=_required_str(obj, "operator", path),
        values=values,
        value=None if value is None else _text(value, f"{path}.value"),
        case_insensitive=_flag(obj, "caseInsensitive", path, False),
        inverted=_flag(obj, "inverted", path, False),
    )


def _parse_constraints(obj: Mapping[str, Any], path: str) -> tuple[Constraint, ...]:
    return tuple(
        _parse_constraint(c, f"{path}.constraints[{i}]")
        for i, c in enumerate(_array(obj, "constraints", path))
    )


def _parse_payload(raw: object, path: str) -> Payload | None:
    if raw is None:
        return None
    obj = _object(raw, path)
    return Payload(type=_required_str(obj, "type", path), value=_text(obj.get("value"), path))


def _parse_variant(raw: object, path: str) -> VariantDefinition:
    obj = _object(raw, path)
    overrides = []
    for i, o in enumerate(_array(obj, "overrides", path)):
        opath = f"{path}.overrides[{i}]"
        oobj = _object(o, opath)
        overrides.append(
            Override(
                context_name=_required_str(oobj, "contextName", opath),
                values=tuple(
                    _text(v, f"{opath}.values[{j}]")
                    for j, v in enumerate(_array(oobj, "values", opath))
                ),
            )
        )
    return VariantDefinition(
        name=_required_str(obj, "name", path),
        weight=_integer(obj.get("weight"), f"{path}.weight"),
        payload=_parse_payload(obj.get("payload"), f"{path}.payload"),
        stickiness=_optional_str(obj, "stickiness", path),
        overrides=tuple(overrides),
        weight_type=_optional_str(obj, "weightType", path),
    )


def _parse_variants(obj: Mapping[str, Any], path: str) -> tuple[VariantDefinition, ...]:
    return tuple(
        _parse_variant(v, f"{path}.variants[{i}]")
        for i, v in enumerate(_array(obj, "variants", path))
    )


def _parse_strategy(raw: object, path: str) -> Strategy:
    obj = _object(raw, path)
    params_raw = obj.get("parameters")
    params: dict[str, str] = {}
    if params_raw is not None:
        for key, value in _object(params_raw, f"{path}.parameters").items():
            params[str(key)] = _text(value, f"{path}.parameters.{key}")
    return Strategy(
        name=_required_str(obj, "name", path),
        parameters=params,
        constraints=_parse_constraints(obj, path),
        segments=tuple(
            _integer(s, f"{path}.segments[{i}]")
            for i, s in enumerate(_array(obj, "segments", path))
        ),
        # An absent list and an empty one differ: only strategies with the key pick variants.
        variants=None if obj.get("variants") is None else _parse_variants(obj, path),
        disabled=_flag(obj, "disabled", path, False),
    )


def _parse_dependency(raw: object, path: str) -> Dependency:
    obj = _object(raw, path)
    variants = obj.get("variants")
    return Dependency(
        feature=_required_str(obj, "feature", path),
        enabled=_flag(obj, "enabled", path, True),
        variants=None
        if variants is None
        else tuple(
            _text(v, f"{path}.variants[{i}]") for i, v in enumerate(_array(obj, "variants", path))
        ),
    )


def _parse_feature(raw: object, path: str) -> Feature:
    obj = _object(raw, path)
    return Feature(
        name=_required_str(obj, "name", path),
        enabled=_flag(obj, "enabled", path, False),
        strategies=tuple(
            _parse_strategy(s, f"{path}.strategies[{i}]")
            for i, s in enumerate(_array(obj, "strategies", path))
        ),
        variants=_parse_variants(obj, path),
        dependencies=tuple(
            _parse_dependency(d, f"{path}.dependencies[{i}]")
            for i, d in enumerate(_array(obj, "dependencies", path))
        ),
        type=_optional_str(obj, "type", path),
        project=_optional_str(obj, "project", path),
        description=_optional_str(obj, "description", path),
        impression_data=_flag(obj, "impressionData", path, False),
        stale=_flag(obj, "stale", path, False),
    )


def _parse_segment(raw: object, path: str) -> Segment:
    obj = _object(raw, path)
    return Segment(
        id=_integer(obj.get("id"), f"{path}.id"),
        constraints=_parse_constraints(obj, path),
        name=_optional_str(obj, "name", path),
    )


# --------------------------------------------------------------------------------------------
# Bucketing


def bucket(group_id: str, stickiness_value: str, normalizer: int = 100, seed: int = 0) -> int:
    """The 1-based bucket of ``stickiness_value`` in ``group_id``, as every Unleash SDK computes it.

    ``murmur3_x86_32("{group_id}:{stickiness_value}", seed) % normalizer + 1``: rollouts use
    ``normalizer=100, seed=0``; variants use the total weight and ``VARIANT_SEED``.
    """
    return int(mmh3.hash(f"{group_id}:{stickiness_value}", seed, False)) % normalizer + 1


# --------------------------------------------------------------------------------------------
# Literals. The reference engine embeds values in a small rule language and parses them back;
# these functions reproduce what that accepts, so the same values fail in the same way.

_GRAMMAR_SPACE: Final = " \t"


def _grammar_string(text: str, *, escaped: bool) -> str | None:
    """What a string embedded in the reference engine's rule text reads back as.

    ``None`` when it breaks the rule (the engine then switches the whole feature off): a value
    ending in a backslash escapes its own closing quote, and, where the engine does not escape
    quotes, a bare quote ends the string early.
    """
    if escaped:
        text = text.replace('"', '\\"')
    quoted = text + '"'
    i, end = 0, len(quoted)
    while i < end:
        if quoted.startswith('\\"', i):
            i += 2
        elif quoted[i] == '"':
            return text.replace('\\"', '"') if i == end - 1 else None
        else:
            i += 1
    return None


_USIZE: Final = re.compile(r"\+?[0-9]+", re.ASCII)
_USIZE_MAX: Final = 2**64 - 1


def _parse_usize(text: str | None) -> int | None:
    """A percentage parameter as Rust reads ``usize``: digits, an optional ``+``, no spaces."""
    if text is None or not _USIZE.fullmatch(text):
        return None
    value = int(text)
    return value if value <= _USIZE_MAX else None


# Operand shapes of the reference grammar, tried in this order: date, semver, number.
_DATE_LITERAL: Final = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]{3}))?"
    r"(Z|[+-][0-9]{2}:[0-9]{2})",
    re.ASCII,
)
_SEMVER_LITERAL: Final = re.compile(
    r"[0-9]+\.[0-9]+\.[0-9]+(?:-[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*)?"
    r"(?:\+[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*)?",
    re.ASCII,
)
_NUMBER_LITERAL: Final = re.compile(r"[+-]?[0-9]+(?:\.[0-9]*)?(?:[eE][+-]?[0-9]+)?", re.ASCII)
# What Rust's f64::from_str accepts for context values (Python's float() also takes spaces,
# underscores and non-ASCII digits, which must not match).
_RUST_FLOAT: Final = re.compile(
    r"[+-]?(?:inf|infinity|nan|(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:e[+-]?[0-9]+)?)",
    re.ASCII | re.IGNORECASE,
)


@lru_cache(maxsize=4096)  # context values repeat (ages, counts): parse each once
def _parse_number(text: str) -> float | None:
    if not _RUST_FLOAT.fullmatch(text):
        return None
    return float(text)


_SEMVER_STRICT: Final = re.compile(
    r"(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)\.(0|[1-9][0-9]*)"
    r"(?:-([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?"
    r"(?:\+[0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*)?",
    re.ASCII,
)
_SemverKey: TypeAlias = tuple[int, int, int, tuple[tuple[int, int | str], ...] | tuple[int]]


@lru_cache(maxsize=4096)
def _parse_semver(text: str) -> _SemverKey | None:
    """A strict SemVer 2.0.0 precedence key; build metadata does not take part, as in Unleash."""
    match = _SEMVER_STRICT.fullmatch(text)
    if match is None:
        return None
    major, minor, patch = (int(match.group(n)) for n in (1, 2, 3))
    if max(major, minor, patch) > _USIZE_MAX:
        return None
    pre = match.group(4)
    if pre is None:
        # A release sorts after all of its pre-releases.
        return (major, minor, patch, (1,))
    identifiers: list[tuple[int, int | str]] = []
    for ident in pre.split("."):
        if ident.isdigit():
            if len(ident) > 1 and ident[0] == "0":
                return None
            identifiers.append((0, int(ident)))
        else:
            identifiers.append((1, ident))
    return (major, minor, patch, (0, *identifiers))  # type: ignore[arg-type]


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _build_datetime(
    year: int,
    month: int,
    day: int,
    hour: int,
    minute: int,
    second: int,
    fraction: str | None,
    offset_minutes: int,
) -> datetime | None:
    try:
        # Leap seconds (":60") are valid RFC 3339; they sort just after the 59th second.
        moment = datetime(year, month, day, hour, minute, min(second, 59), tzinfo=UTC)
    except ValueError:
        if 1 <= month <= 12 and year < 1:
            return datetime.min.replace(tzinfo=UTC)
        if 1 <= month <= 12 and year > 9999:
            return datetime.max.replace(tzinfo=UTC)
        return None
    if second > 60:
        return None
    micro = int((fraction or "0")[:6].ljust(6, "0"))
    if second == 60:
        micro = 999999
    moment = moment.replace(microsecond=micro)
    try:
        return moment - timedelta(minutes=offset_minutes)
    except OverflowError:
        return (
            datetime.min.replace(tzinfo=UTC)
            if offset_minutes > 0
            else datetime.max.replace(tzinfo=UTC)
        )


def _offset_minutes(sign: str, hours: str, minutes: str) -> int | None:
    h, m = int(hours), int(minutes)
    if h > 23 or m > 59:
        return None
    return (h * 60 + m) * (-1 if sign == "-" else 1)


def _parse_date_literal(text: str) -> datetime | None:
    match = _DATE_LITERAL.fullmatch(text)
    if match is None:
        return None
    zone = match.group(8)
    offset = 0 if zone == "Z" else _offset_minutes(zone[0], zone[1:3], zone[4:6])
    if offset is None:
        return None
    y, mo, d, h, mi, s = (int(match.group(n)) for n in range(1, 7))
    return _build_datetime(y, mo, d, h, mi, s, match.group(7), offset)


# The relaxed RFC 3339 that chrono accepts for context values: 'T', 't' or spaces between date
# and time, short fields, spaces around fields, 'Z', 'UTC' or an offset with an optional colon.
_CONTEXT_DATE: Final = re.compile(
    r"\s*([+-][0-9]{1,9}|[0-9]{1,4})\s*-\s*([0-9]{1,2})\s*-\s*([0-9]{1,2})"
    r"(?:[Tt]|\s+)\s*([0-9]{1,2})\s*:\s*([0-9]{1,2})\s*:\s*([0-9]{1,2})(?:\.([0-9]+))?"
    r"\s*(?:(Z|z|[Uu][Tt][Cc])|([+-])([0-9]{2})\s*:?\s*([0-9]{2}))\s*",
    re.ASCII,
)


@lru_cache(maxsize=4096)
def _parse_context_date(text: str) -> datetime | None:
    match = _CONTEXT_DATE.fullmatch(text)
    if match is None:
        return None
    if match.group(8) is not None:
        offset: int | None = 0
    else:
        offset = _offset_minutes(match.group(9), match.group(10), match.group(11))
    if offset is None:
        return None
    y, mo, d, h, mi, s = (int(match.group(n)) for n in range(1, 7))
    if h > 23 or mi > 59:
        return None
    return _build_datetime(y, mo, d, h, mi, s, match.group(7), offset)


_Address: TypeAlias = ipaddress.IPv4Address | ipaddress.IPv6Address
_Network: TypeAlias = ipaddress.IPv4Network | ipaddress.IPv6Network


@lru_cache(maxsize=4096)
def _parse_address(text: str) -> _Address | None:
    if "%" in text:  # zone ids are not addresses to Rust's parser
        return None
    try:
        return ipaddress.ip_address(text)
    except ValueError:
        return None


def _parse_network(text: str) -> _Network | None:
    """An address or CIDR range as Rust's ``ipnetwork`` reads it (no host masks, no zones)."""
    if "%" in text or text.strip() != text:
        return None
    _, slash, mask = text.partition("/")
    try:
        network = ipaddress.ip_network(text, strict=False)
    except ValueError:
        return None
    if slash and "." in mask and ipaddress.ip_address(mask) != network.netmask:
        return None  # Python also reads "/0.0.0.255" as a host mask
    return network


def _address_matcher(entries: Iterable[str]) -> Callable[[str], bool]:
    networks = [n for n in (_parse_network(e) for e in entries) if n is not None]
    v4 = tuple((int(n.network_address), int(n.netmask)) for n in networks if n.version == 4)
    v6 = tuple((int(n.network_address), int(n.netmask)) for n in networks if n.version == 6)

    def matches(text: str) -> bool:
        address = _parse_address(text)
        if address is None:
            return False
        value = int(address)
        pool = v4 if address.version == 4 else v6
        return any(value & mask == net for net, mask in pool)

    return matches


# --------------------------------------------------------------------------------------------
# Compilation: each feature becomes closures, built once per state, so evaluation is a few
# attribute reads and calls.


class _Broken(Exception):
    """The reference engine could not compile this feature; it is off until fixed."""


_Value: TypeAlias = "str | datetime | None"
_Getter: TypeAlias = Callable[[UnleashContext, "datetime | None"], _Value]
# A constraint's test of the value its field holds (None when absent), and ``now``.
_Test: TypeAlias = Callable[[_Value, "datetime | None"], bool]


@dataclass(frozen=True, slots=True)
class _Check:
    """A compiled constraint: the property it reads (None: a standard field, read by ``get``),
    its test, and for a plain IN / NOT_IN on a property the values, tested in line."""

    prop: str | None
    get: _Getter
    test: _Test
    members: frozenset[str] | None = None
    want_in: bool = True
    # Or, for a property: the test as an expression of ``v`` (text or None) and ``{arg}``.
    inline: str | None = None
    arg: Any = None


# (context, default group id, random, now, hostname) -> bool
_Rule: TypeAlias = Callable[
    [UnleashContext, str, RandomSource, "datetime | None", "str | None"], bool
]


def _always(
    ctx: UnleashContext, group: str, rnd: RandomSource, now: datetime | None, host: str | None
) -> bool:
    return True


def _never(
    ctx: UnleashContext, group: str, rnd: RandomSource, now: datetime | None, host: str | None
) -> bool:
    return False


def _test_false(value: _Value, now: datetime | None) -> bool:
    return False


def _as_text(value: str | datetime) -> str:
    return value if isinstance(value, str) else value.isoformat()


def _property_name(name: str) -> str:
    # The reference engine reads property names back without unescaping them.
    if _grammar_string(name, escaped=False) is None:
        raise _Broken(f"context name {name!r} cannot be read")
    return name


def _getter(context_name: str) -> _Getter:
    """How a constraint reads its field; ``currentTime`` falls back to ``now``."""
    if context_name == "userId":
        return lambda ctx, now: ctx.user_id
    if context_name == "sessionId":
        return lambda ctx, now: ctx.session_id
    if context_name == "remoteAddress":
        return lambda ctx, now: ctx.remote_address
    if context_name == "environment":
        return lambda ctx, now: ctx.environment
    if context_name == "appName":
        return lambda ctx, now: ctx.app_name
    if context_name == "currentTime":
        return lambda ctx, now: ctx.current_time if ctx.current_time is not None else now
    name = _property_name(context_name)

    def read_property(ctx: UnleashContext, now: datetime | None) -> _Value:
        props = ctx.properties
        if props is None:
            return None
        value = props.get(name)
        return value if type(value) is str else _context_text(value)

    return read_property


def _stringy_values(constraint: Constraint) -> tuple[str, ...]:
    values = []
    for value in constraint.values:
        resolved = _grammar_string(value, escaped=True)
        if resolved is None:
            raise _Broken(f"value {value!r} cannot be read")
        values.append(resolved)
    return tuple(values)


def _compile_constraint(constraint: Constraint) -> _Check:
    """The constraint as (property name or None, getter, test): a rule reads a property
    itself, one call less per constraint on the hot path, and asks the getter otherwise."""
    op = constraint.operator
    if op not in KNOWN_OPERATORS:
        raise _Broken(f"unknown operator {op!r}")
    name = constraint.context_name
    get = _getter(name)
    prop = None if name in _STANDARD_FIELDS else _property_name(name)
    if op.startswith("SEMVER_") and (constraint.value or "").startswith("v"):
        return _Check(prop, get, _test_false)  # the reference engine rejects "v1.2.3" so
    test: _Test
    if op in ("IN", "NOT_IN"):
        members = frozenset(_stringy_values(constraint))
        test = _list_test(members, op == "IN")
        if prop is not None and not constraint.inverted:
            return _Check(prop, get, test, members, op == "IN")
    elif op in _STRING_OPERATORS:
        values = _stringy_values(constraint)
        if not values:
            raise _Broken(f"{op} without values")
        test = _string_test(op, values, constraint.case_insensitive)
        method = {"STR_STARTS_WITH": "startswith", "STR_ENDS_WITH": "endswith"}.get(op)
        if prop is not None and method and not constraint.case_insensitive | constraint.inverted:
            inline = f"v is not None and v.{method}({{arg}})"
            return _Check(prop, get, test, inline=inline, arg=values)
    elif op == "REGEX":
        pattern = _grammar_string(constraint.value or "", escaped=True)
        if pattern is None:
            raise _Broken("regular expression cannot be read")
        test = _regex_test(compile_pattern(pattern, constraint.case_insensitive))
    elif op == "IN_CIDR":
        values = _stringy_values(constraint)
        if not values:
            raise _Broken("IN_CIDR without values")
        test = _cidr_test(_address_matcher(values))
    else:
        symbol = _ORDINAL_OPERATORS[op]
        test = _ordinal_test(symbol, constraint.value)  # raises for what cannot compile
        literal = (constraint.value or "").strip(_GRAMMAR_SPACE)
        if prop is not None and not constraint.inverted and not _DATE_LITERAL.fullmatch(literal):
            # Parsers are cached; the comparison is one of five fixed operators.
            if _SEMVER_LITERAL.fullmatch(literal):
                inline = (
                    f"v is not None and (n := parse_semver(v)) is not None and n {symbol} {{arg}}"
                )
                return _Check(prop, get, test, inline=inline, arg=_parse_semver(literal))
            if symbol != "==":
                inline = (
                    f"v is not None and (n := parse_number(v)) is not None and n {symbol} {{arg}}"
                )
                return _Check(prop, get, test, inline=inline, arg=float(literal))
    if constraint.inverted:
        inner = test
        return _Check(prop, get, lambda value, now: not inner(value, now))
    return _Check(prop, get, test)


def _list_test(values: frozenset[str], want_in: bool) -> _Test:
    if want_in:

        def test_in(value: _Value, now: datetime | None) -> bool:
            if value is None:
                return False
            return (value if type(value) is str else _as_text(value)) in values

        return test_in

    def test_not_in(value: _Value, now: datetime | None) -> bool:
        if value is None:
            return True
        return (value if type(value) is str else _as_text(value)) not in values

    return test_not_in


def _string_test(op: str, values: tuple[str, ...], fold: bool) -> _Test:
    if fold:
        values = tuple(v.lower() for v in values)
    # Decide the operator once, here, rather than on every evaluation.
    if op == "STR_STARTS_WITH":

        def test(text: str) -> bool:
            return text.startswith(values)

    elif op == "STR_ENDS_WITH":

        def test(text: str) -> bool:
            return text.endswith(values)

    else:

        def test(text: str) -> bool:
            return any(v in text for v in values)

    def test_text(raw: _Value, now: datetime | None) -> bool:
        if raw is None:
            return False
        text = raw if type(raw) is str else _as_text(raw)
        return test(text.lower() if fold else text)

    return test_text


def _regex_test(matches: Matcher | None) -> _Test:
    if matches is None:
        return _test_false  # invalid patterns make the constraint false; inversion applies

    def test(raw: _Value, now: datetime | None) -> bool:
        return raw is not None and matches(_as_text(raw))

    return test


def _cidr_test(matches: Callable[[str], bool]) -> _Test:
    def test(raw: _Value, now: datetime | None) -> bool:
        return raw is not None and matches(_as_text(raw))

    return test


# The operator module's functions, not lambdas: one call less on the hot path. Floats,
# datetimes and the semver key tuples all compare to a bool.
_COMPARE: Final[Mapping[str, Callable[[Any, Any], bool]]] = MappingProxyType(
    {"==": operator.eq, ">": operator.gt, ">=": operator.ge, "<": operator.lt, "<=": operator.le}
)


def _ordinal_test(symbol: str, operand: str | None) -> _Test:
    """NUM_*, DATE_* and SEMVER_*: the operand's shape decides how values compare."""
    if operand is None:
        raise _Broken("comparison without a value")
    literal = operand.strip(_GRAMMAR_SPACE)
    compare = _COMPARE[symbol]
    if _DATE_LITERAL.fullmatch(literal):
        moment = _parse_date_literal(literal)
        if moment is None:
            raise _Broken(f"invalid date {operand!r}")

        def check_date(raw: _Value, now: datetime | None) -> bool:
            if raw is None:
                return False
            value = _aware(raw) if isinstance(raw, datetime) else _parse_context_date(raw)
            return value is not None and compare(value, moment)

        return check_date
    if _SEMVER_LITERAL.fullmatch(literal):
        version = _parse_semver(literal)
        if version is None:
            raise _Broken(f"invalid semantic version {operand!r}")

        def check_semver(raw: _Value, now: datetime | None) -> bool:
            if raw is None:
                return False
            value = _parse_semver(raw if type(raw) is str else _as_text(raw))
            return value is not None and compare(value, version)

        return check_semver
    if _NUMBER_LITERAL.fullmatch(literal):
        number = float(literal)
        if symbol == "==":

            def check_equal(raw: _Value, now: datetime | None) -> bool:
                if raw is None:
                    return False
                value = _parse_number(raw if type(raw) is str else _as_text(raw))
                return value is not None and abs(value - number) < sys.float_info.epsilon

            return check_equal

        def check_number(raw: _Value, now: datetime | None) -> bool:
            if raw is None:
                return False
            value = _parse_number(raw if type(raw) is str else _as_text(raw))
            return value is not None and compare(value, number)

        return check_number
    raise _Broken(f"{operand!r} is neither a number, a date nor a semantic version")


# Stickiness resolvers: (context, random, now) -> the value to hash, or None.
_Stickiness: TypeAlias = Callable[[UnleashContext, RandomSource, "datetime | None"], "str | None"]


def _random_stickiness(ctx: UnleashContext, rnd: RandomSource, now: datetime | None) -> str:
    return str(int(rnd() * 100))


def _default_stickiness(ctx: UnleashContext, rnd: RandomSource, now: datetime | None) -> str | None:
    if ctx.user_id is not None:
        return ctx.user_id
    if ctx.session_id is not None:
        return ctx.session_id
    return str(int(rnd() * 100))


def _stickiness(name: str | None) -> _Stickiness:
    if name is None or name == "default":
        return _default_stickiness
    if name == "random":
        return _random_stickiness
    get = _getter(name)

    def resolve(ctx: UnleashContext, rnd: RandomSource, now: datetime | None) -> str | None:
        value = get(ctx, now)
        return None if value is None else _as_text(value)

    return resolve


def _rollout_rule(percentage: int, stickiness: _Stickiness, group: str | None) -> _Rule:
    if percentage > 100:
        raise _Broken(f"rollout of {percentage}%")
    if percentage == 100:
        # Every bucket is at most 100: only whether there is a value to stick to matters
        # (asked all the same, so a random source is drawn from exactly as before).
        def rule_all_in(
            ctx: UnleashContext,
            default: str,
            rnd: RandomSource,
            now: datetime | None,
            host: str | None,
        ) -> bool:
            return stickiness(ctx, rnd, now) is not None

        return rule_all_in
    prefix = None if group is None else group + ":"
    hash32 = mmh3.hash

    def rule(
        ctx: UnleashContext, default: str, rnd: RandomSource, now: datetime | None, host: str | None
    ) -> bool:
        value = stickiness(ctx, rnd, now)
        if value is None:
            return False
        key = (prefix + value) if prefix is not None else f"{default}:{value}"
        return int(hash32(key, 0, False)) % 100 + 1 <= percentage

    return rule


def _user_rule(ids: frozenset[str]) -> _Rule:
    def rule(
        ctx: UnleashContext, default: str, rnd: RandomSource, now: datetime | None, host: str | None
    ) -> bool:
        return ctx.user_id is not None and ctx.user_id in ids

    return rule


def _random_rule(percentage: int) -> _Rule:
    def rule(
        ctx: UnleashContext, default: str, rnd: RandomSource, now: datetime | None, host: str | None
    ) -> bool:
        return int(rnd() * 100) < percentage

    return rule


def _address_rule(matches: Callable[[str], bool]) -> _Rule:
    def rule(
        ctx: UnleashContext, default: str, rnd: RandomSource, now: datetime | None, host: str | None
    ) -> bool:
        return ctx.remote_address is not None and matches(ctx.remote_address)

    return rule


def _hostname_rule(hosts: frozenset[str]) -> _Rule:
    def rule(
        ctx: UnleashContext, default: str, rnd: RandomSource, now: datetime | None, host: str | None
    ) -> bool:
        return host is not None and host.lower() in hosts

    return rule


def _embedded_list(text: str) -> list[str]:
    """A comma-separated parameter, trimmed, each item as the reference engine reads it back."""
    items = []
    for item in text.split(","):
        resolved = _grammar_string(item.strip(), escaped=False)
        if resolved is None:
            raise _Broken(f"parameter item {item!r} cannot be read")
        items.append(resolved)
    return items


def _base_rule(strategy: Strategy) -> _Rule:
    """The strategy's own condition, before constraints; raises ``_Broken``.

    A missing or unparseable parameter makes only this strategy false, as in the reference
    engine; what breaks its rule text (a rollout above 100, a stray quote) breaks the feature.
    """
    params = strategy.parameters
    name = strategy.name
    if name == "default":
        return _always
    if name == "userWithId":
        user_ids = params.get("userIds")
        if user_ids is None:
            return _never
        ids = []
        for item in user_ids.split(","):
            resolved = _grammar_string(item.strip(), escaped=True)
            if resolved is None:
                raise _Broken(f"user id {item!r} cannot be read")
            ids.append(resolved)
        return _user_rule(frozenset(ids))
    if name in ("gradualRolloutUserId", "gradualRolloutSessionId"):
        percentage = _parse_usize(params.get("percentage"))
        group = params.get("groupId")
        if percentage is None or group is None:
            return _never
        resolved = _grammar_string(group, escaped=False)
        if resolved is None:
            raise _Broken("groupId cannot be read")
        field_name = "userId" if name == "gradualRolloutUserId" else "sessionId"
        return _rollout_rule(percentage, _stickiness(field_name), resolved)
    if name == "gradualRolloutRandom":
        percentage = _parse_usize(params.get("percentage"))
        return _never if percentage is None else _random_rule(percentage)
    if name == "flexibleRollout":
        percentage = _parse_usize(params.get("rollout"))
        if percentage is None:
            return _never
        group = params.get("groupId")
        resolved_group = None if group is None else _grammar_string(group, escaped=False)
        if group is not None and resolved_group is None:
            raise _Broken("groupId cannot be read")
        return _rollout_rule(percentage, _stickiness(params.get("stickiness")), resolved_group)
    if name == "remoteAddress":
        addresses = params.get("IPs")
        if addresses is None:
            return _never
        return _address_rule(_address_matcher(_embedded_list(addresses)))
    if name == "applicationHostname":
        hosts = _embedded_list(params.get("hostNames", ""))
        return _hostname_rule(frozenset(h.lower() for h in hosts))
    return _never  # custom strategies are not evaluated here


def _constrained(base: _Rule, checks: Sequence[_Check]) -> _Rule:
    """The strategy's rule: every constraint, then its base condition, as one function.

    The function is written out for these constraints (names bound to values, never flag
    data in the source): properties are read and IN / NOT_IN tested in line, one call per
    other constraint, no loop. This is the hot path of every evaluation with constraints.
    """
    if not checks:
        return base
    names: dict[str, Any] = {
        "base": base,
        "_context_text": _context_text,
        "parse_number": _parse_number,
        "parse_semver": _parse_semver,
    }
    lines = [
        "def rule(ctx, default, rnd, now, host):",
        "    props = ctx.properties",
    ]
    for i, check in enumerate(checks):
        if check.prop is None:
            names[f"get{i}"] = check.get
            lines.append(f"    v = get{i}(ctx, now)")
        else:
            names[f"prop{i}"] = check.prop
            lines.append(f"    v = None if props is None else props.get(prop{i})")
            lines.append("    if v is not None and type(v) is not str:")
            lines.append("        v = _context_text(v)")
        if check.inline is not None:
            names[f"arg{i}"] = check.arg
            lines.append(f"    if not ({check.inline.format(arg=f'arg{i}')}):")
        elif check.members is not None:
            names[f"members{i}"] = check.members
            if check.want_in:
                lines.append(f"    if v is None or v not in members{i}:")
            else:
                lines.append(f"    if v is not None and v in members{i}:")
        else:
            names[f"test{i}"] = check.test
            lines.append(f"    if not test{i}(v, now):")
        lines.append("        return False")
    lines.append("    return base(ctx, default, rnd, now, host)")
    exec("\n".join(lines), names)
    rule: _Rule = names["rule"]
    return rule


def _compile_strategy(strategy: Strategy, segments: Mapping[int, Segment]) -> _Rule:
    if strategy.disabled:
        return _never  # never on, and nothing in it can break the feature
    base = _base_rule(strategy)
    constraints = list(strategy.constraints)
    for segment_id in strategy.segments:
        segment = segments.get(segment_id)
        if segment is None:
            # The reference engine turns the whole feature off, not just this strategy.
            raise _Broken(f"segment {segment_id} does not exist")
        constraints.extend(segment.constraints)
    return _constrained(base, [_compile_constraint(c) for c in constraints])


def _any_of(rules: Sequence[_Rule]) -> _Rule:
    if not rules:
        return _always  # a feature with no strategies is on for everyone
    if len(rules) == 1:
        return rules[0]
    rules = tuple(rules)

    def rule(
        ctx: UnleashContext, default: str, rnd: RandomSource, now: datetime | None, host: str | None
    ) -> bool:
        # A plain loop: any() over a generator costs more on this hot path.
        for each in rules:  # noqa: SIM110
            if each(ctx, default, rnd, now, host):
                return True
        return False

    return rule


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


# --------------------------------------------------------------------------------------------
# State


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


# --------------------------------------------------------------------------------------------
# Evaluation


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


# --------------------------------------------------------------------------------------------
# Loading and deltas


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


# --------------------------------------------------------------------------------------------
# Validation: what a server should refuse before storing a flag. Evaluation itself tolerates
# all of this, as Unleash SDKs do, because a client must keep working on whatever it receives.


@dataclass(frozen=True, slots=True)
class FlagProblem:
    """One thing wrong with a flag definition, with a stable code and a hint."""

    code: str
    feature: str | None
    path: str
    message: str
    hint: str

    def to_dict(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "feature": self.feature,
            "path": self.path,
            "message": self.message,
            "hint": self.hint,
        }


def _constraint_problems(
    constraint: Constraint, feature: str | None, path: str
) -> list[FlagProblem]:
    def problem(code: str, message: str, hint: str) -> FlagProblem:
        return FlagProblem(code, feature, path, message, hint)

    op = constraint.operator
    if op not in KNOWN_OPERATORS:
        return [
            problem(
                "flag-operator-unknown",
                f"unknown constraint operator {op!r}",
                "use one of " + ", ".join(sorted(KNOWN_OPERATORS)),
            )
        ]
    if op in ("IN", "NOT_IN", "IN_CIDR", *_STRING_OPERATORS) and not constraint.values:
        return [problem("flag-constraint-values-missing", f"{op} needs values", "list values")]
    if op == "IN_CIDR":
        bad = [v for v in constraint.values if _parse_network(v) is None]
        if bad:
            return [
                problem(
                    "flag-address-invalid",
                    f"not IP addresses or CIDR ranges: {', '.join(map(repr, bad))}",
                    "write addresses like 10.0.0.1 or ranges like 10.0.0.0/8",
                )
            ]
    if op == "REGEX":
        if constraint.value is None:
            return [problem("flag-regex-invalid", "REGEX needs a value", "set value")]
        why = pattern_problem(constraint.value, constraint.case_insensitive)
        if why is not None:
            return [
                problem(
                    "flag-regex-invalid",
                    f"invalid regular expression {constraint.value!r}: {why}",
                    "use Rust regex syntax as RE2 runs it; look-around, back-references and "
                    "Unicode word boundaries are not supported",
                )
            ]
    if op in _ORDINAL_OPERATORS:
        value = (constraint.value or "").strip(_GRAMMAR_SPACE)
        if op.startswith("NUM_") and not _NUMBER_LITERAL.fullmatch(value):
            return [
                problem(
                    "flag-number-invalid",
                    f"{op} needs a number, got {constraint.value!r}",
                    "write a decimal number such as 42 or 4.2",
                )
            ]
        if op.startswith("DATE_") and _parse_date_literal(value) is None:
            return [
                problem(
                    "flag-date-invalid",
                    f"{op} needs an RFC 3339 date, got {constraint.value!r}",
                    "write a date such as 2026-01-31T12:00:00.000Z",
                )
            ]
        if op.startswith("SEMVER_") and _parse_semver(value) is None:
            return [
                problem(
                    "flag-semver-invalid",
                    f"{op} needs a semantic version, got {constraint.value!r}",
                    "write MAJOR.MINOR.PATCH with an optional -pre.release, without a leading v",
                )
            ]
    return []


def _percentage_problem(
    strategy: Strategy, key: str, feature: str, path: str
) -> FlagProblem | None:
    value = strategy.parameters.get(key)
    number = _parse_usize(value)
    if number is None or number > 100:
        return FlagProblem(
            "flag-percentage-invalid",
            feature,
            f"{path}.parameters.{key}",
            f"{strategy.name} {key} must be a whole number from 0 to 100, got {value!r}",
            'write the percentage as text, e.g. "25"',
        )
    return None


def _strategy_problems(
    strategy: Strategy, feature: Feature, state: FeatureState, path: str
) -> list[FlagProblem]:
    problems: list[FlagProblem] = []
    name = feature.name
    allowed = _STRATEGY_PARAMETERS.get(strategy.name)
    if allowed is None:
        problems.append(
            FlagProblem(
                "flag-strategy-unknown",
                name,
                f"{path}.name",
                f"unknown strategy {strategy.name!r}",
                "use one of " + ", ".join(sorted(KNOWN_STRATEGIES)),
            )
        )
    else:
        for key in sorted(set(strategy.parameters) - allowed):
            problems.append(
                FlagProblem(
                    "flag-strategy-parameter-unknown",
                    name,
                    f"{path}.parameters.{key}",
                    f"strategy {strategy.name!r} has no parameter {key!r}",
                    "its parameters are " + (", ".join(sorted(allowed)) or "none"),
                )
            )
        required = {
            "userWithId": ("userIds",),
            "gradualRolloutUserId": ("percentage", "groupId"),
            "gradualRolloutSessionId": ("percentage", "groupId"),
            "gradualRolloutRandom": ("percentage",),
            "flexibleRollout": ("rollout",),
            "remoteAddress": ("IPs",),
            "applicationHostname": ("hostNames",),
        }.get(strategy.name, ())
        for key in required:
            if key not in strategy.parameters:
                problems.append(
                    FlagProblem(
                        "flag-strategy-parameter-missing",
                        name,
                        f"{path}.parameters",
                        f"strategy {strategy.name!r} needs parameter {key!r}",
                        f"set {key}",
                    )
                )
        for key in ("percentage", "rollout"):
            if key in allowed and key in strategy.parameters:
                found = _percentage_problem(strategy, key, name, path)
                if found is not None:
                    problems.append(found)
        if strategy.name == "remoteAddress" and "IPs" in strategy.parameters:
            bad = [
                a.strip()
                for a in strategy.parameters["IPs"].split(",")
                if _parse_network(a.strip()) is None
            ]
            if bad:
                problems.append(
                    FlagProblem(
                        "flag-address-invalid",
                        name,
                        f"{path}.parameters.IPs",
                        f"not IP addresses or CIDR ranges: {', '.join(map(repr, bad))}",
                        "write addresses like 10.0.0.1 or ranges like 10.0.0.0/8, "
                        "separated by commas",
                    )
                )
    for i, constraint in enumerate(strategy.constraints):
        problems.extend(_constraint_problems(constraint, name, f"{path}.constraints[{i}]"))
    for i, segment_id in enumerate(strategy.segments):
        if segment_id not in state.segments:
            problems.append(
                FlagProblem(
                    "flag-segment-missing",
                    name,
                    f"{path}.segments[{i}]",
                    f"segment {segment_id} does not exist",
                    "create the segment first or remove the reference",
                )
            )
    if strategy.variants:
        problems.extend(_weight_problems(strategy.variants, name, f"{path}.variants"))
    return problems


def _weight_problems(
    variants: Sequence[VariantDefinition], feature: str, path: str
) -> list[FlagProblem]:
    if any(v.weight < 0 for v in variants) or sum(v.weight for v in variants) <= 0:
        return [
            FlagProblem(
                "flag-variant-weights-invalid",
                feature,
                path,
                "variant weights must be zero or more and add up to more than zero",
                "give at least one variant a positive weight (Unleash uses weights out of 1000)",
            )
        ]
    return []


def _dependency_cycle(start: str, features: Mapping[str, Feature]) -> list[str] | None:
    """A path of dependencies from ``start`` back to itself, if there is one."""
    stack = [[start]]
    seen = {start}
    while stack:
        path = stack.pop()
        current = features.get(path[-1])
        for dependency in current.dependencies if current is not None else ():
            if dependency.feature == start:
                return [*path, start]
            if dependency.feature not in seen:
                seen.add(dependency.feature)
                stack.append([*path, dependency.feature])
    return None


def _dependency_problems(feature: Feature, state: FeatureState, path: str) -> list[FlagProblem]:
    problems: list[FlagProblem] = []
    cycle = _dependency_cycle(feature.name, state.features)
    if cycle is not None:
        problems.append(
            FlagProblem(
                "flag-dependency-cycle",
                feature.name,
                f"{path}.dependencies",
                "dependency cycle: " + " -> ".join(cycle),
                "remove one of the dependencies in the cycle",
            )
        )
    for i, dependency in enumerate(feature.dependencies):
        here = f"{path}.dependencies[{i}]"
        parent = state.features.get(dependency.feature)
        if parent is None:
            problems.append(
                FlagProblem(
                    "flag-dependency-missing",
                    feature.name,
                    here,
                    f"parent feature {dependency.feature!r} does not exist",
                    "create the parent first or remove the dependency",
                )
            )
        elif parent.dependencies and cycle is None:
            problems.append(
                FlagProblem(
                    "flag-dependency-transitive",
                    feature.name,
                    here,
                    f"parent {parent.name!r} depends on other features itself",
                    "depend on a feature that has no dependencies (one level only)",
                )
            )
    return problems


def find_problems(state: FeatureState) -> list[FlagProblem]:
    """Everything in ``state`` a server should refuse to store, in payload order."""
    problems: list[FlagProblem] = []
    for i, feature in enumerate(state.features.values()):
        path = f"features[{i}]"
        for j, strategy in enumerate(feature.strategies):
            problems.extend(_strategy_problems(strategy, feature, state, f"{path}.strategies[{j}]"))
        if feature.variants:
            problems.extend(_weight_problems(feature.variants, feature.name, f"{path}.variants"))
        problems.extend(_dependency_problems(feature, state, path))
    for i, segment in enumerate(state.segments.values()):
        for j, constraint in enumerate(segment.constraints):
            problems.extend(
                _constraint_problems(constraint, None, f"segments[{i}].constraints[{j}]")
            )
    # Whatever else keeps a feature from compiling (quotes or a trailing backslash in names
    # and values, for instance) is reported as it is.
    reported = {p.feature for p in problems}
    names = list(state.features)
    for name, reason in state.broken_features().items():
        if name not in reported:
            problems.append(
                FlagProblem(
                    "flag-definition-broken",
                    name,
                    f"features[{names.index(name)}]",
                    f"the feature cannot be evaluated: {reason}",
                    "remove quotes and trailing backslashes from names and values",
                )
            )
    return problems


def _problem_key(problem: FlagProblem) -> tuple[str, str | None, str]:
    # Not the path: its feature index moves when another feature is added or removed.
    return (problem.code, problem.feature, problem.message)


def new_problems(before: FeatureState, after: FeatureState) -> list[FlagProblem]:
    """Problems of ``after`` that ``before`` did not have: what a change would bring in.

    A flag imported leniently keeps its oddities (Unleash serves them); later changes are
    judged only on what they add, so they are not blocked by what was already there.
    """
    known = {_problem_key(p) for p in find_problems(before)}
    return [p for p in find_problems(after) if _problem_key(p) not in known]


def problem_effect(problem: FlagProblem, state: FeatureState) -> str:
    """How Unleash (and so Shipyard) evaluates a flag that has ``problem``."""
    if problem.feature is not None and problem.feature in state.broken_features():
        return "the flag is off for everyone until this is fixed"
    return _EFFECTS.get(problem.code, "evaluated as Unleash evaluates it")


_EFFECTS: Final[Mapping[str, str]] = MappingProxyType(
    {
        "flag-strategy-unknown": "this strategy is never on (custom strategies evaluate as false)",
        "flag-address-invalid": "the invalid entries are ignored",
        "flag-regex-invalid": "this constraint is false",
        "flag-constraint-values-missing": "IN with no values is false, NOT_IN with none is true",
        "flag-strategy-parameter-unknown": "the parameter is ignored",
        "flag-strategy-parameter-missing": "this strategy is never on",
        "flag-percentage-invalid": "this strategy is never on",
        "flag-variant-weights-invalid": "the flag gives no variant",
        "flag-dependency-missing": "the flag is off for everyone until its parent exists",
        "flag-dependency-transitive": "the flag is off for everyone (one level of dependency)",
        "flag-dependency-cycle": "the flags in the cycle are off for everyone",
    }
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


def raise_problems(problems: Sequence[FlagProblem]) -> None:
    """Raise ``FlagDefinitionInvalid``, coded as the first of ``problems``, if there is any."""
    if not problems:
        return
    first = problems[0]
    where = f"feature {first.feature!r}" if first.feature else first.path
    more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
    raise FlagDefinitionInvalid(
        f"{where}: {first.message}{more}",
        first.hint,
        code=first.code,
        details={"problems": [p.to_dict() for p in problems]},
    )


def validate_state(state: FeatureState) -> None:
    """Raise ``FlagDefinitionInvalid``, coded as the first problem, if there is any."""
    raise_problems(find_problems(state))
