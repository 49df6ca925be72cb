"""Reading the client API payload into the flag model. Errors carry the JSON path of what is
wrong (``features[2].strategies[0].parameters.rollout``).

Shape only: whether the flags make sense is ``validation``'s question, asked by the server
before it stores them; an SDK reads whatever it receives.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NoReturn

from shipyard_sdk.flags.errors import FlagPayloadInvalid
from shipyard_sdk.flags.model import (
    Constraint,
    Dependency,
    Feature,
    Override,
    Payload,
    Segment,
    Strategy,
    VariantDefinition,
)


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
