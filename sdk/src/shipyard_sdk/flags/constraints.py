"""Constraints compiled to tests: each operator (IN, STR_*, REGEX, IN_CIDR, NUM_*, DATE_*,
SEMVER_*) becomes a function of the field's value, or an expression a strategy's rule writes
out in line, built once per state.

What the reference engine cannot compile raises ``_Broken``, which switches the whole
feature off; strategies (``strategies``) and features (``compiled``) let it through.
"""

from __future__ import annotations

import operator
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from types import MappingProxyType
from typing import Any, Final, TypeAlias

from shipyard_sdk.flag_regex import Matcher, compile_pattern
from shipyard_sdk.flags.context import UnleashContext, _as_text, _context_text
from shipyard_sdk.flags.literals import (
    _DATE_LITERAL,
    _GRAMMAR_SPACE,
    _NUMBER_LITERAL,
    _SEMVER_LITERAL,
    _address_matcher,
    _aware,
    _grammar_string,
    _parse_context_date,
    _parse_date_literal,
    _parse_number,
    _parse_semver,
)
from shipyard_sdk.flags.model import Constraint
from shipyard_sdk.flags.vocabulary import (
    _ORDINAL_OPERATORS,
    _STANDARD_FIELDS,
    _STRING_OPERATORS,
    KNOWN_OPERATORS,
)


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


def _test_false(value: _Value, now: datetime | None) -> bool:
    return False


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
