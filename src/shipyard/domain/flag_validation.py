"""Validation: what a server should refuse before storing a flag, each problem with a stable
code, the JSON path and a hint, and how Unleash evaluates a flag that has it.

Evaluation itself tolerates all of this, as Unleash SDKs do, because a client must keep
working on whatever it receives; so these checks live apart from it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any, Final

from shipyard_sdk.flag_regex import pattern_problem
from shipyard_sdk.flags.errors import FlagDefinitionInvalid
from shipyard_sdk.flags.literals import (
    _GRAMMAR_SPACE,
    _NUMBER_LITERAL,
    _parse_date_literal,
    _parse_network,
    _parse_semver,
    _parse_usize,
)
from shipyard_sdk.flags.model import Constraint, Feature, Strategy, VariantDefinition
from shipyard_sdk.flags.state import FeatureState
from shipyard_sdk.flags.vocabulary import (
    _ORDINAL_OPERATORS,
    _STRATEGY_PARAMETERS,
    _STRING_OPERATORS,
    KNOWN_OPERATORS,
    KNOWN_STRATEGIES,
)


@dataclass(frozen=True)
class _OrdinalLiteral:
    """The literal the ordinal operators starting ``prefix`` compare with: whether a value is
    one, and the problem's code, what the operator needs and how to write it when it is not."""

    prefix: str
    valid: Callable[[str], bool]
    code: str
    needs: str
    hint: str


_ORDINAL_LITERALS: Final = (
    _OrdinalLiteral(
        "NUM_",
        lambda v: _NUMBER_LITERAL.fullmatch(v) is not None,
        code="flag-number-invalid",
        needs="a number",
        hint="write a decimal number such as 42 or 4.2",
    ),
    _OrdinalLiteral(
        "DATE_",
        lambda v: _parse_date_literal(v) is not None,
        code="flag-date-invalid",
        needs="an RFC 3339 date",
        hint="write a date such as 2026-01-31T12:00:00.000Z",
    ),
    _OrdinalLiteral(
        "SEMVER_",
        lambda v: _parse_semver(v) is not None,
        code="flag-semver-invalid",
        needs="a semantic version",
        hint="write MAJOR.MINOR.PATCH with an optional -pre.release, without a leading v",
    ),
)


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
        for lit in _ORDINAL_LITERALS:
            if op.startswith(lit.prefix) and not lit.valid(value):
                return [
                    problem(lit.code, f"{op} needs {lit.needs}, got {constraint.value!r}", lit.hint)
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
