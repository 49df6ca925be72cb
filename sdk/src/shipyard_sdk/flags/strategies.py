"""Strategies compiled to rules: each built-in strategy's own condition (user ids, gradual
and flexible rollouts with their stickiness, remote addresses, host names), then its
constraints and segments, written out as one function; and a feature's strategies as one
rule that is on when any of them is.

The hot path of every evaluation, kept apart from the constraint tests it is made of.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import Any, TypeAlias

import mmh3

from shipyard_sdk.flags.constraints import (
    _Broken,
    _Check,
    _compile_constraint,
    _getter,
)
from shipyard_sdk.flags.context import UnleashContext, _as_text, _context_text
from shipyard_sdk.flags.literals import (
    _address_matcher,
    _grammar_string,
    _parse_number,
    _parse_semver,
    _parse_usize,
)
from shipyard_sdk.flags.model import Segment, Strategy
from shipyard_sdk.flags.vocabulary import RandomSource

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
