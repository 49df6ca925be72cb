"""Flag evaluation: bucketing, context, operators, strategies, variants, dependencies, deltas,
payload errors and validation. Expected values in the tables were checked against the Unleash
reference engine; ``test_agrees_with_the_reference_engine`` keeps checking when it is installed."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from random import Random
from typing import Any

import pytest

from shipyard.domain.flag_validation import find_problems, validate_state
from shipyard.errors import InputError
from shipyard_sdk.flags import (
    DISABLED_VARIANT,
    VARIANT_SEED,
    Feature,
    FeatureState,
    FlagDefinitionInvalid,
    FlagPayloadInvalid,
    Payload,
    Segment,
    Strategy,
    UnleashContext,
    Variant,
    apply_delta,
    bucket,
    get_variant,
    hydrate_delta,
    is_enabled,
    load_state,
)

SPEC = Path(__file__).resolve().parents[1] / "conformance" / "unleash"
NOW = datetime(2024, 6, 1, 12, 0, tzinfo=UTC)


def no_random() -> float:
    raise AssertionError("evaluation drew a random number where none was needed")


def fixed(value: float) -> Callable[[], float]:
    return lambda: value


def feature(
    name: str = "f", strategies: list[dict[str, Any]] | None = None, **extra: Any
) -> dict[str, Any]:
    strategies = [{"name": "default"}] if strategies is None else strategies
    return {"name": name, "enabled": True, "strategies": strategies, **extra}


def state_of(
    *features: dict[str, Any], segments: list[dict[str, Any]] | None = None
) -> FeatureState:
    return load_state({"version": 2, "features": list(features), "segments": segments or []})


def strategy(name: str, **parameters: str) -> dict[str, Any]:
    return feature(strategies=[{"name": name, "parameters": parameters}])


def condition(operator: str, **fields: Any) -> dict[str, Any]:
    constraint = {"contextName": "x", "operator": operator, **fields}
    return feature(strategies=[{"name": "default", "constraints": [constraint]}])


def constrained(*constraints: dict[str, Any]) -> FeatureState:
    return state_of(feature(strategies=[{"name": "default", "constraints": list(constraints)}]))


def on(
    state: FeatureState, context: UnleashContext | None = None, name: str = "f", **kw: Any
) -> bool:
    kw.setdefault("now", NOW)
    kw.setdefault("random", no_random)
    return is_enabled(state, name, context, **kw)


def props(**values: str) -> UnleashContext:
    return UnleashContext(properties=values)


# --------------------------------------------------------------------------------------------
# Bucketing

BUCKETS = [
    # (group id, stickiness value, normalizer, seed, bucket)
    ("Feature.flexibleRollout.10", "174", 100, 0, 10),
    ("Feature.flexibleRollout.10", "499", 100, 0, 32),
    ("AB12A", "122", 100, 0, 23),
    ("AB12A", "155", 100, 0, 100),
    ("Feature.flexibleRollout.userId.55", "25", 100, 0, 55),
    ("gr1", "123", 100, 0, 73),
    ("", "", 100, 0, 31),
    ("Feature.UTF-8.Hellø_Wørld", "ünïcødé", 100, 0, 44),
    ("checkout", "user-42", 100, 0, 42),
    ("a:b", "c", 100, 0, 98),
    ("gr1", "123", 1000, VARIANT_SEED, 796),
    ("checkout", "user-42", 1000, VARIANT_SEED, 838),
    ("Feature.flexibleRollout.10", "174", 1000, VARIANT_SEED, 156),
    ("a:b", "c", 1000, VARIANT_SEED, 248),
]


@pytest.mark.parametrize(("group", "value", "normalizer", "seed", "expected"), BUCKETS)
def test_bucket(group: str, value: str, normalizer: int, seed: int, expected: int) -> None:
    """Buckets are murmur3 x86 32-bit of "group:value", modulo the normalizer, plus one."""
    assert bucket(group, value, normalizer, seed) == expected


def test_bucket_stays_in_range() -> None:
    """Every bucket lies in 1..normalizer."""
    rng = Random(7)
    for _ in range(2000):
        normalizer = rng.randint(1, 1000)
        assert 1 <= bucket(str(rng.random()), str(rng.random()), normalizer) <= normalizer


@pytest.mark.parametrize(("rollout", "expected"), [("10", True), ("9", False), ("100", True)])
def test_rollout_switches_on_at_the_users_bucket(rollout: str, expected: bool) -> None:
    """A user in bucket 10 is in a 10% rollout and out of a 9% one."""
    state = state_of(
        feature(
            "Feature.flexibleRollout.10",
            [
                {
                    "name": "flexibleRollout",
                    "parameters": {"rollout": rollout, "stickiness": "userId"},
                }
            ],
        )
    )
    assert on(state, UnleashContext(user_id="174"), "Feature.flexibleRollout.10") is expected


# --------------------------------------------------------------------------------------------
# Context


CONTEXTS = [
    ({"userId": "1"}, UnleashContext(user_id="1")),
    ({"userId": 7}, UnleashContext(user_id="7")),
    ({"properties": {"userId": "2"}}, UnleashContext(user_id="2", properties={"userId": "2"})),
    (
        {"userId": "1", "properties": {"userId": "2"}},
        UnleashContext(user_id="1", properties={"userId": "2"}),
    ),
    ({"plan": "pro"}, UnleashContext(properties={"plan": "pro"})),
    ({"plan": "pro", "properties": {"plan": "free"}}, UnleashContext(properties={"plan": "pro"})),
    (
        {"properties": {"beta": True, "n": 5, "x": 1.5}},
        UnleashContext(properties={"beta": "true", "n": "5", "x": "1.5"}),
    ),
    ({"properties": {"gone": None, "list": [1], "obj": {}}}, UnleashContext()),
    (
        {"sessionId": "s", "remoteAddress": "::1", "environment": "e", "appName": "a"},
        UnleashContext(session_id="s", remote_address="::1", environment="e", app_name="a"),
    ),
    ({"currentTime": "2024-01-01T00:00:00Z"}, UnleashContext(current_time="2024-01-01T00:00:00Z")),
]


@pytest.mark.parametrize(("data", "expected"), CONTEXTS)
def test_context_from_dict(data: dict[str, Any], expected: UnleashContext) -> None:
    """SDK-shaped contexts read as the reference engine reads them."""
    assert UnleashContext.from_dict(data) == expected


def test_context_keeps_a_datetime_current_time() -> None:
    """A datetime ``currentTime`` is kept as a datetime, and written back as ISO text."""
    context = UnleashContext.from_dict({"currentTime": NOW})
    assert context.current_time == NOW
    assert context.to_dict() == {"currentTime": NOW.isoformat()}


def test_context_round_trips() -> None:
    """``to_dict`` gives back what ``from_dict`` read."""
    data = {"userId": "1", "sessionId": "2", "appName": "web", "properties": {"plan": "pro"}}
    assert UnleashContext.from_dict(data).to_dict() == data


def test_context_must_be_an_object() -> None:
    """A context that is not an object is refused with a payload error."""
    with pytest.raises(FlagPayloadInvalid):
        UnleashContext.from_dict(["userId"])  # type: ignore[arg-type]


# --------------------------------------------------------------------------------------------
# Constraint operators

OPERATORS = [
    # (constraint, context value of property "x" or None for missing, expected)
    ({"operator": "IN", "values": ["a", "b"]}, "b", True),
    ({"operator": "IN", "values": ["a", "b"]}, "c", False),
    ({"operator": "IN", "values": ["a"]}, None, False),
    ({"operator": "IN", "values": []}, "a", False),
    ({"operator": "IN", "values": ["A"], "caseInsensitive": True}, "a", False),
    ({"operator": "NOT_IN", "values": ["a"]}, "b", True),
    ({"operator": "NOT_IN", "values": ["a"]}, None, True),
    ({"operator": "NOT_IN", "values": []}, "a", True),
    ({"operator": "IN", "values": ["a"], "inverted": True}, "a", False),
    ({"operator": "IN", "values": ["a"], "inverted": True}, None, True),
    ({"operator": "STR_CONTAINS", "values": ["ell"]}, "hello", True),
    ({"operator": "STR_CONTAINS", "values": ["ELL"]}, "hello", False),
    ({"operator": "STR_CONTAINS", "values": ["ELL"], "caseInsensitive": True}, "hello", True),
    ({"operator": "STR_CONTAINS", "values": ["x"]}, None, False),
    ({"operator": "STR_STARTS_WITH", "values": ["e1", "e2"]}, "e2 cool", True),
    ({"operator": "STR_STARTS_WITH", "values": ["e1", "e2"]}, "cool e1", False),
    ({"operator": "STR_ENDS_WITH", "values": [".com"], "caseInsensitive": True}, "a@B.COM", True),
    ({"operator": "STR_ENDS_WITH", "values": [".com"], "inverted": True}, "a@b.org", True),
    ({"operator": "NUM_EQ", "value": "12"}, "12.0", True),
    ({"operator": "NUM_EQ", "value": "12"}, " 12", False),
    ({"operator": "NUM_EQ", "value": "12"}, "1_2", False),
    ({"operator": "NUM_EQ", "value": "0.5"}, ".5", True),
    ({"operator": "NUM_GT", "value": "12"}, "13", True),
    ({"operator": "NUM_GT", "value": "12"}, "12", False),
    ({"operator": "NUM_GT", "value": "5"}, "Infinity", True),
    ({"operator": "NUM_GTE", "value": "12"}, "12", True),
    ({"operator": "NUM_LT", "value": "12"}, "-1e3", True),
    ({"operator": "NUM_LTE", "value": "12"}, "12.5", False),
    ({"operator": "NUM_LT", "value": "5"}, "NaN", False),
    ({"operator": "NUM_EQ", "value": "5", "inverted": True}, None, True),
    ({"operator": "DATE_AFTER", "value": "2022-01-29T13:00:00.000Z"}, "2022-01-29T13:00:01Z", True),
    (
        {"operator": "DATE_AFTER", "value": "2022-01-29T13:00:00.000Z"},
        "2022-01-29T13:00:00Z",
        False,
    ),
    (
        {"operator": "DATE_BEFORE", "value": "2022-01-29T13:00:00+02:00"},
        "2022-01-29T10:59:59Z",
        True,
    ),
    ({"operator": "DATE_BEFORE", "value": "2022-01-29T13:00:00Z"}, "not a date", False),
    ({"operator": "SEMVER_EQ", "value": "1.2.3"}, "1.2.3", True),
    ({"operator": "SEMVER_EQ", "value": "1.2.3"}, "1.2.3+build.7", True),
    ({"operator": "SEMVER_EQ", "value": "1.2.3"}, "v1.2.3", False),
    ({"operator": "SEMVER_GT", "value": "2.0.0-alpha.1"}, "2.0.0-beta.1", True),
    ({"operator": "SEMVER_GT", "value": "2.0.0-rc"}, "2.0.0-alpha.1", False),
    ({"operator": "SEMVER_GTE", "value": "1.2.2"}, "1.2.2", True),
    ({"operator": "SEMVER_LT", "value": "2.0.0-alpha.3"}, "2.0.0-alpha.1", True),
    ({"operator": "SEMVER_LT", "value": "1.0.0-a"}, "1.0.0-1", True),
    ({"operator": "SEMVER_LTE", "value": "1.2.2"}, "1.2.3", False),
    ({"operator": "REGEX", "value": "^user\\d{3}$"}, "user123", True),
    ({"operator": "REGEX", "value": "^abc$", "inverted": True}, "xyz", True),
    ({"operator": "REGEX", "value": "^abc$"}, None, False),
    ({"operator": "IN_CIDR", "values": ["10.0.0.0/8", "bad"]}, "10.1.2.3", True),
    ({"operator": "IN_CIDR", "values": ["2001:db8::/32"]}, "2001:db8:0:1::42", True),
    ({"operator": "IN_CIDR", "values": ["10.0.0.0/8"]}, "::ffff:10.0.0.1", False),
    ({"operator": "IN_CIDR", "values": ["10.0.0.0/8"]}, "not an address", False),
]


@pytest.mark.parametrize(("constraint", "value", "expected"), OPERATORS)
def test_operator(constraint: dict[str, Any], value: str | None, expected: bool) -> None:
    """Each operator compares the context value as Unleash does."""
    state = constrained({"contextName": "x", **constraint})
    context = UnleashContext() if value is None else props(x=value)
    assert on(state, context) is expected


SHAPES = [
    # The operand's shape, not the operator, decides how values compare.
    ({"operator": "NUM_GT", "value": "1.2.3"}, "1.2.10", True),
    ({"operator": "DATE_AFTER", "value": "5"}, "6", True),
    ({"operator": "SEMVER_EQ", "value": "1.0"}, "1.00", True),
    ({"operator": "NUM_GT", "value": "2022-01-01T00:00:00Z"}, "2023-01-01T00:00:00Z", True),
]


@pytest.mark.parametrize(("constraint", "value", "expected"), SHAPES)
def test_operand_shape_picks_the_comparison(
    constraint: dict[str, Any], value: str, expected: bool
) -> None:
    """Ordinal operators compare numbers, dates or versions by the operand's shape."""
    assert on(constrained({"contextName": "x", **constraint}), props(x=value)) is expected


def test_semver_with_a_leading_v_is_false_even_inverted() -> None:
    """A ``v``-prefixed semver operand makes the constraint false, inverted or not."""
    state = constrained(
        {"contextName": "x", "operator": "SEMVER_EQ", "value": "v1.0.0", "inverted": True}
    )
    assert on(state, props(x="2.0.0")) is False
    assert state.broken_features() == {}


def test_invalid_regex_is_false_and_can_be_inverted() -> None:
    """An invalid pattern makes its constraint false without switching the feature off."""
    constraint = {"contextName": "x", "operator": "REGEX", "value": "(unclosed"}
    assert on(constrained(constraint), props(x="(unclosed")) is False
    assert on(constrained({**constraint, "inverted": True}), props(x="(unclosed")) is True


BROKEN = [
    # Definitions the reference engine cannot compile: the whole feature is off.
    ({"contextName": "x", "operator": "NUM_EQ", "value": "abc"}, "is neither"),
    ({"contextName": "x", "operator": "NUM_EQ"}, "without a value"),
    ({"contextName": "x", "operator": "NUM_EQ", "value": ".5"}, "is neither"),
    (
        {"contextName": "x", "operator": "DATE_AFTER", "value": "2022-13-01T00:00:00Z"},
        "invalid date",
    ),
    ({"contextName": "x", "operator": "DATE_AFTER", "value": "2022-01-01 00:00:00Z"}, "is neither"),
    ({"contextName": "x", "operator": "SEMVER_EQ", "value": "01.0.0"}, "invalid semantic version"),
    ({"contextName": "x", "operator": "STR_CONTAINS", "values": []}, "without values"),
    ({"contextName": "x", "operator": "IN_CIDR", "values": []}, "without values"),
    ({"contextName": "x", "operator": "NOT_AN_OPERATOR", "values": ["a"]}, "unknown operator"),
    ({"contextName": "x", "operator": "IN", "values": ["trailing\\"]}, "cannot be read"),
    ({"contextName": 'quo"te', "operator": "IN", "values": ["a"]}, "cannot be read"),
]


@pytest.mark.parametrize(("constraint", "reason"), BROKEN)
def test_uncompilable_constraint_switches_the_feature_off(
    constraint: dict[str, Any], reason: str
) -> None:
    """A constraint the reference engine cannot compile turns the whole feature off."""
    state = state_of(
        feature(strategies=[{"name": "default", "constraints": [constraint]}, {"name": "default"}])
    )
    assert on(state, props(x="1")) is False
    assert reason in state.broken_features()["f"]
    assert get_variant(state, "f", props(x="1")) == DISABLED_VARIANT


# --------------------------------------------------------------------------------------------
# REGEX follows the Rust regex crate

REGEX = [
    # (pattern, input, caseInsensitive, matches)
    ("^cat$", "cat", False, True),
    ("^cat$", "cat\n", False, False),
    ("^cat$", "Cat", False, False),
    ("^cat$", "Cat", True, True),
    ("(?m)^foo$", "x\nfoo\ny", False, True),
    ("^[[:alpha:]]+$", "AlphaBeta", False, True),
    ("^[[:alpha:]]+$", "Alpha1", False, False),
    ("[[:^digit:]]", "123", False, False),
    ("(?i)[[:^lower:]]", "cat", False, False),
    ("^(?i)abc$", "AbC", False, True),
    ("a(?i)b|c", "C", False, True),
    ("(?i)a(?-i)b", "AB", False, False),
    ("(?i)a(?-i)b", "Ab", False, True),
    ("^(?-i:abc)$", "ABC", True, False),
    ("^(?=a)b$", "ab", False, False),
    ("^(a)\\1$", "aa", False, False),
    ("(?#note)a", "a", False, False),
    ("(?x) a b c ", "abc", False, True),
    ("a{ 2 }", "aa", False, True),
    ("^[a-z--c]+$", "cat", False, False),
    ("^[a-z--c]+$", "bat", False, True),
    ("^[a-c~~b-d]+$", "ad", False, True),
    ("^[a-c~~b-d]+$", "b", False, False),
    ("^\\p{L}+$", "Ωmega", False, True),
    ("^\\p{Lu}", "élan", False, False),
    ("\\bcat\\b", "concatenate", False, False),
    ("\\x{41}\\u0042", "AB", False, True),
    ("[\\d-z]", "-", False, False),
    ("(?s)a.b", "a\nb", False, True),
    ("a.b", "a\nb", False, False),
    ("(?R)a.b", "a\rb", False, False),
    ("", "anything", False, True),
    ("[]a]", "]", False, True),
    ("\\Aab\\z", "ab", False, True),
    ("(?<name>a)b", "ab", False, True),
    ("(?-u)\\w+", "é", False, False),
    ("a**", "aa", False, True),
    ("(regex", "(regex", False, False),
]


@pytest.mark.parametrize(("pattern", "text", "case_insensitive", "expected"), REGEX)
def test_regex_follows_rust_syntax(
    pattern: str, text: str, case_insensitive: bool, expected: bool
) -> None:
    """REGEX matches as Rust's regex crate does, and what Rust rejects never matches."""
    state = constrained(
        {
            "contextName": "userId",
            "operator": "REGEX",
            "value": pattern,
            "caseInsensitive": case_insensitive,
        }
    )
    assert on(state, UnleashContext(user_id=text)) is expected


# --------------------------------------------------------------------------------------------
# Dates and the clock


def test_current_time_defaults_to_the_callers_now() -> None:
    """Without ``currentTime`` in the context, date constraints compare the ``now`` passed in."""
    state = constrained(
        {"contextName": "currentTime", "operator": "DATE_AFTER", "value": "2024-01-01T00:00:00Z"}
    )
    assert on(state, now=NOW) is True
    assert on(state, now=datetime(2023, 6, 1, tzinfo=UTC)) is False
    assert on(state, UnleashContext(current_time="2023-06-01T00:00:00Z"), now=NOW) is False


def test_without_a_clock_date_constraints_are_false() -> None:
    """Evaluation never reads the clock: no ``now`` and no ``currentTime`` means no time."""
    state = constrained(
        {"contextName": "currentTime", "operator": "DATE_BEFORE", "value": "2999-01-01T00:00:00Z"}
    )
    assert on(state, now=None) is False


def test_naive_datetimes_are_utc() -> None:
    """A naive ``current_time`` is read as UTC."""
    state = constrained(
        {"contextName": "currentTime", "operator": "DATE_AFTER", "value": "2024-06-01T11:59:59Z"}
    )
    assert on(state, UnleashContext(current_time=datetime(2024, 6, 1, 12, 0))) is True
    plus_two = datetime(2024, 6, 1, 13, 0, tzinfo=timezone(timedelta(hours=2)))
    assert on(state, UnleashContext(current_time=plus_two)) is False


CONTEXT_DATES = [
    # chrono's relaxed RFC 3339, as the reference engine reads context values
    ("2024-06-01T12:00:00Z", True),
    ("2024-06-01 12:00:00+0000", True),
    ("2024-06-01t12:00:00z", True),
    ("2024-06-01T12:00:00 UTC", True),
    ("2024-06-01T14:00:00.123456789+02:00", True),
    ("2024-6-1T12:0:0Z", True),
    ("2024-06-01T12:00:00", False),
    ("2024-06-01T12:00Z", False),
    ("2024-06-01T12:00:00+02", False),
    ("2024-06-01T12:00:00GMT", False),
    ("2024-02-30T12:00:00Z", False),
]


@pytest.mark.parametrize(("text", "parsed"), CONTEXT_DATES)
def test_context_date_formats(text: str, parsed: bool) -> None:
    """Context dates parse in the forms the reference engine accepts, and only those."""
    after = constrained(
        {"contextName": "currentTime", "operator": "DATE_AFTER", "value": "2024-06-01T11:00:00Z"}
    )
    assert on(after, UnleashContext(current_time=text)) is parsed


# --------------------------------------------------------------------------------------------
# Strategies


def test_user_with_id_trims_the_list() -> None:
    """``userWithId`` matches ids from a comma-separated list, ignoring spaces."""
    state = state_of(strategy("userWithId", userIds=" 1 , 22,333 "))
    results = [on(state, UnleashContext(user_id=u)) for u in ("1", "22", "333", "2", None)]
    assert results == [True, True, True, False, False]


def test_remote_address_takes_addresses_and_ranges() -> None:
    """``remoteAddress`` matches listed addresses and CIDR ranges and skips invalid entries."""
    ips = "192.168.0.1, 10.0.0.0/8, 192.invalid, 2001:db8::/32"
    state = state_of(strategy("remoteAddress", IPs=ips))
    results = [
        on(state, UnleashContext(remote_address=a))
        for a in ("192.168.0.1", "10.9.8.7", "2001:db8::1", "192.168.0.2", None)
    ]
    assert results == [True, True, True, False, False]


def test_application_hostname_compares_the_given_host() -> None:
    """``applicationHostname`` compares the host name the caller passes, ignoring case."""
    state = state_of(strategy("applicationHostname", hostNames="web-1, Web-2"))
    assert on(state, hostname="WEB-2") is True
    assert on(state, hostname="web-3") is False
    assert on(state) is False


@pytest.mark.parametrize(
    ("draw", "percentage", "expected"),
    [(0.42, "43", True), (0.42, "42", False), (0.0, "0", False), (0.999, "100", True)],
)
def test_gradual_rollout_random_uses_the_injected_source(
    draw: float, percentage: str, expected: bool
) -> None:
    """``gradualRolloutRandom`` is on when the drawn number (0..99) is below the percentage."""
    state = state_of(strategy("gradualRolloutRandom", percentage=percentage))
    assert on(state, random=fixed(draw)) is expected


def test_sticky_rollouts_never_draw_random_numbers() -> None:
    """Rollouts sticky on a present user id are decided by the hash alone."""
    state = state_of(strategy("flexibleRollout", rollout="50"))
    for user in range(200):
        on(state, UnleashContext(user_id=str(user)), random=no_random)


def test_default_stickiness_falls_back_to_session_then_random() -> None:
    """Default stickiness hashes the user id, else the session id, else a random number."""
    state = state_of(
        feature("g", [{"name": "flexibleRollout", "parameters": {"rollout": "42", "groupId": "g"}}])
    )
    assert on(state, UnleashContext(session_id="147"), "g") is (bucket("g", "147") <= 42)
    draws: list[int] = []

    def source() -> float:
        draws.append(1)
        return 0.5

    on(state, UnleashContext(), "g", random=source)
    assert draws == [1]


def test_custom_stickiness_reads_a_property() -> None:
    """A custom stickiness hashes that property, and is off without it."""
    state = state_of(strategy("flexibleRollout", rollout="50", stickiness="tenant", groupId="g"))
    tenants = [str(n) for n in range(50)]
    assert [on(state, props(tenant=t)) for t in tenants] == [bucket("g", t) <= 50 for t in tenants]
    assert on(state, UnleashContext(user_id="1")) is False


def test_group_id_defaults_to_the_feature_name() -> None:
    """Without a group id a rollout hashes with the feature's name."""
    state = state_of(
        feature(
            "checkout",
            [{"name": "flexibleRollout", "parameters": {"rollout": "42", "stickiness": "userId"}}],
        )
    )
    users = [str(n) for n in range(100)]
    results = [on(state, UnleashContext(user_id=u), "checkout") for u in users]
    assert results == [bucket("checkout", u) <= 42 for u in users]


PERCENTAGES = [("+20", True), ("20", True), ("20 ", False), ("twenty", False), ("٢٠", False)]


@pytest.mark.parametrize(("percentage", "parsed"), PERCENTAGES)
def test_percentages_parse_like_rust_integers(percentage: str, parsed: bool) -> None:
    """Percentages are ASCII digits with an optional plus; anything else turns the strategy off."""
    state = state_of(strategy("gradualRolloutUserId", percentage=percentage, groupId="g"))
    user = next(str(n) for n in range(1000) if bucket("g", str(n)) <= 20)
    assert on(state, UnleashContext(user_id=user)) is parsed


def test_rollout_above_100_switches_the_feature_off() -> None:
    """A rollout above 100% cannot be compiled, so the feature is off for everyone."""
    rollout = {"name": "flexibleRollout", "parameters": {"rollout": "101"}}
    state = state_of(feature(strategies=[rollout, {"name": "default"}]))
    assert on(state, UnleashContext(user_id="1")) is False


STRATEGY_CASES = [
    ([], True),
    ([{"name": "default"}], True),
    ([{"name": "myCustomStrategy"}], False),
    ([{"name": "myCustomStrategy"}, {"name": "default"}], True),
    ([{"name": "gradualRolloutUserId", "parameters": {"percentage": "100"}}], False),
    ([{"name": "flexibleRollout"}], False),
    ([{"name": "default", "segments": [404]}, {"name": "default"}], False),
]


@pytest.mark.parametrize(("strategies", "expected"), STRATEGY_CASES)
def test_strategy_combinations(strategies: list[dict[str, Any]], expected: bool) -> None:
    """Any strategy on turns the feature on; none means on; unknown ones and gaps are off."""
    assert on(state_of(feature(strategies=strategies)), UnleashContext(user_id="1")) is expected


def test_disabled_and_unknown_features_are_off() -> None:
    """Disabled and unknown features are off and give the disabled variant."""
    state = state_of({"name": "off", "enabled": False, "strategies": [{"name": "default"}]})
    assert on(state, name="off") is False
    assert on(state, name="missing") is False
    assert get_variant(state, "missing") == DISABLED_VARIANT


def test_segments_add_their_constraints() -> None:
    """A strategy's segments add their constraints to its own."""
    segments = [
        {"id": 1, "constraints": [{"contextName": "plan", "operator": "IN", "values": ["pro"]}]}
    ]
    state = state_of(feature(strategies=[{"name": "default", "segments": [1]}]), segments=segments)
    assert on(state, props(plan="pro")) is True
    assert on(state, props(plan="free")) is False


# --------------------------------------------------------------------------------------------
# Variants

PAYLOAD_A = {"type": "string", "value": "A"}


def test_variants_follow_the_bucket() -> None:
    """Users land on the variant whose cumulative weight first reaches their bucket."""
    variants = [{"name": "a", "weight": 250}, {"name": "b", "weight": 750}]
    state = state_of(feature("exp", variants=variants))
    for user in (str(n) for n in range(100)):
        expected = "a" if bucket("exp", user, 1000, VARIANT_SEED) <= 250 else "b"
        assert (
            get_variant(state, "exp", UnleashContext(user_id=user), random=no_random).name
            == expected
        )


def test_override_pins_a_variant() -> None:
    """An override wins over the weights for the listed context values."""
    variants = [
        {"name": "a", "weight": 1, "payload": PAYLOAD_A},
        {"name": "b", "weight": 999, "overrides": [{"contextName": "plan", "values": ["pro"]}]},
    ]
    state = state_of(feature(variants=variants))
    assert get_variant(state, "f", props(plan="pro"), random=no_random).name == "b"


def test_variant_stickiness_reads_its_field_and_falls_back_to_random() -> None:
    """Variant stickiness hashes its field; without the field the random source picks."""
    variants = [
        {"name": "a", "weight": 1, "stickiness": "tenant"},
        {"name": "b", "weight": 1, "stickiness": "tenant"},
    ]
    state = state_of(feature(variants=variants))
    expected = "a" if bucket("f", "t1", 2, VARIANT_SEED) == 1 else "b"
    assert get_variant(state, "f", props(tenant="t1"), random=no_random).name == expected
    assert get_variant(state, "f", UnleashContext(user_id="1"), random=fixed(0.0)).name == "a"
    assert get_variant(state, "f", UnleashContext(user_id="1"), random=fixed(0.99)).name == "b"


def test_first_matching_strategy_decides_the_variants() -> None:
    """The first strategy that matches gives its own variants, else the feature's."""
    strategies = [
        {"name": "userWithId", "parameters": {"userIds": "1"}},
        {"name": "default", "variants": [{"name": "strategy", "weight": 1}]},
    ]
    state = state_of(feature(strategies=strategies, variants=[{"name": "feature", "weight": 1}]))
    assert get_variant(state, "f", UnleashContext(user_id="1")).name == "feature"
    assert get_variant(state, "f", UnleashContext(user_id="2")).name == "strategy"


def test_variant_results() -> None:
    """On gives a variant or disabled with feature_enabled; off gives disabled."""
    state = state_of(
        feature("with", variants=[{"name": "a", "weight": 1, "payload": PAYLOAD_A}]),
        feature("without"),
        feature("zero", variants=[{"name": "a", "weight": 0}]),
        {"name": "off", "enabled": False, "variants": [{"name": "a", "weight": 1}]},
    )
    assert get_variant(state, "with") == Variant("a", Payload("string", "A"), True, True)
    assert get_variant(state, "without") == Variant("disabled", None, False, True)
    assert get_variant(state, "zero") == Variant("disabled", None, False, True)
    assert get_variant(state, "off") == DISABLED_VARIANT
    assert get_variant(state, "with").to_dict() == {
        "name": "a",
        "payload": PAYLOAD_A,
        "enabled": True,
        "feature_enabled": True,
    }


# --------------------------------------------------------------------------------------------
# Dependencies


def test_parent_is_asked_with_the_childs_name_as_group() -> None:
    """A parent rollout without a group id buckets users under the child's name, as Unleash does."""
    rollout = [{"name": "flexibleRollout", "parameters": {"rollout": "50", "stickiness": "userId"}}]
    state = state_of(
        feature("parent", rollout), feature("child", dependencies=[{"feature": "parent"}])
    )
    for user in (str(n) for n in range(100)):
        context = UnleashContext(user_id=user)
        assert on(state, context, "parent") is (bucket("parent", user) <= 50)
        assert on(state, context, "child") is (bucket("child", user) <= 50)


DEPENDENCIES = [
    ([{"feature": "on"}], True),
    ([{"feature": "on", "enabled": True}], True),
    ([{"feature": "off"}], False),
    ([{"feature": "off", "enabled": False}], True),
    ([{"feature": "on", "enabled": False}], False),
    ([{"feature": "missing"}], False),
    ([{"feature": "grandchild_parent"}], False),
    ([{"feature": "with_variant", "variants": ["v"]}], True),
    ([{"feature": "with_variant", "variants": ["other"]}], False),
    ([{"feature": "with_variant", "variants": []}], True),
    ([{"feature": "on", "variants": ["disabled"]}], True),
    ([{"feature": "on"}, {"feature": "off", "enabled": False}], True),
    ([{"feature": "on"}, {"feature": "off"}], False),
]


@pytest.mark.parametrize(("dependencies", "expected"), DEPENDENCIES)
def test_dependencies(dependencies: list[dict[str, Any]], expected: bool) -> None:
    """A child is on only when every parent is as it expects: on or off, on a listed variant."""
    state = state_of(
        feature("on"),
        {"name": "off", "enabled": False, "strategies": []},
        feature("with_variant", variants=[{"name": "v", "weight": 1}]),
        feature("grandchild_parent", dependencies=[{"feature": "on"}]),
        feature("child", dependencies=dependencies),
    )
    # With no user, a parent's variant is drawn at random; it has only one to give.
    assert on(state, name="child", random=fixed(0.5)) is expected


# --------------------------------------------------------------------------------------------
# Deltas


def test_hydration_equals_the_full_payload() -> None:
    """A hydration event builds the same state as the client features payload it carries."""
    features = [feature("a"), feature("b", strategies=[{"name": "default", "segments": [1]}])]
    segments = [
        {"id": 1, "constraints": [{"contextName": "appName", "operator": "IN", "values": ["web"]}]}
    ]
    hydrated = hydrate_delta(
        [{"eventId": 1, "type": "hydration", "features": features, "segments": segments}]
    )
    assert hydrated == state_of(*features, segments=segments)


def test_delta_events_update_the_state_without_changing_the_old_one() -> None:
    """Each event returns a new state; the state it was applied to stays as it was."""
    start = hydrate_delta(
        [{"eventId": 1, "type": "hydration", "features": [feature("a")], "segments": []}]
    )
    gated = feature("b", strategies=[{"name": "default", "segments": [7]}])
    state = apply_delta(start, {"eventId": 2, "type": "feature-updated", "feature": gated})
    assert on(state, props(plan="pro"), "b") is False  # segment 7 does not exist yet
    segment = {
        "id": 7,
        "constraints": [{"contextName": "plan", "operator": "IN", "values": ["pro"]}],
    }
    state = apply_delta(state, {"eventId": 3, "type": "segment-updated", "segment": segment})
    assert on(state, props(plan="pro"), "b") is True
    state = apply_delta(state, {"eventId": 4, "type": "segment-removed", "segmentId": 7})
    assert on(state, props(plan="pro"), "b") is False
    state = apply_delta(
        state, {"eventId": 5, "type": "feature-removed", "featureName": "a", "project": "default"}
    )
    assert "a" not in state
    assert "a" in start and "b" not in start


def test_unknown_delta_event_is_refused() -> None:
    """An unknown event type is a payload error naming where it is."""
    with pytest.raises(FlagPayloadInvalid) as caught:
        hydrate_delta(
            [{"eventId": 1, "type": "hydration", "features": []}, {"type": "feature-exploded"}]
        )
    assert caught.value.details == {"path": "events[1].type"}


def test_load_state_reads_both_shapes() -> None:
    """``load_state`` takes a client features payload or a delta payload."""
    full = load_state({"version": 2, "features": [feature("a")]})
    delta = load_state(
        {"events": [{"eventId": 1, "type": "feature-updated", "feature": feature("a")}]}
    )
    assert full == delta


# --------------------------------------------------------------------------------------------
# Payloads


def test_payload_round_trips() -> None:
    """Every conformance state survives ``to_payload`` and reading it back."""
    for path in sorted(SPEC.glob("[0-9][0-9]-*.json")):
        state = load_state(json.loads(path.read_text(encoding="utf-8"))["state"])
        assert FeatureState.from_payload(state.to_payload()) == state, path.name


def test_state_from_models() -> None:
    """A state built from model objects evaluates like one read from JSON."""
    state = FeatureState(
        [Feature("f", True, strategies=(Strategy("default", segments=(1,)),))],
        [Segment(1)],
    )
    assert on(state) is True
    assert state.with_segment(Segment(1, name="renamed")).segments[1].name == "renamed"


BAD_PAYLOADS = [
    ([], "payload"),
    ({"features": {}}, "payload.features"),
    ({"features": [1]}, "features[0]"),
    ({"features": [{"enabled": True}]}, "features[0].name"),
    ({"features": [{"name": "f", "enabled": "yes"}]}, "features[0].enabled"),
    (
        {"features": [{"name": "f", "strategies": [{"name": "default", "parameters": {"a": []}}]}]},
        "features[0].strategies[0].parameters.a",
    ),
    (
        {
            "features": [
                {
                    "name": "f",
                    "strategies": [{"name": "default", "constraints": [{"contextName": "x"}]}],
                }
            ]
        },
        "features[0].strategies[0].constraints[0].operator",
    ),
    (
        {"features": [{"name": "f", "variants": [{"name": "a", "weight": "1"}]}]},
        "features[0].variants[0].weight",
    ),
    (
        {"features": [{"name": "f", "dependencies": [{"enabled": True}]}]},
        "features[0].dependencies[0].feature",
    ),
    ({"features": [], "segments": [{"id": "1"}]}, "segments[0].id"),
    ({"version": "2", "features": []}, "version"),
]


@pytest.mark.parametrize(("payload", "path"), BAD_PAYLOADS)
def test_malformed_payload_is_refused(payload: Any, path: str) -> None:
    """A malformed payload raises an input error with a code, a hint and the path at fault."""
    with pytest.raises(FlagPayloadInvalid) as caught:
        load_state(payload)
    error = caught.value
    assert isinstance(error, InputError)
    assert error.code == "flag-payload-invalid"
    assert error.hint
    assert error.details == {"path": path}
    assert error.message.startswith(path)


# --------------------------------------------------------------------------------------------
# Validation


PROBLEMS = [
    (strategy("myStrategy"), "flag-strategy-unknown"),
    (strategy("default", rollout="5"), "flag-strategy-parameter-unknown"),
    (strategy("flexibleRollout"), "flag-strategy-parameter-missing"),
    (strategy("flexibleRollout", rollout="101"), "flag-percentage-invalid"),
    (strategy("gradualRolloutRandom", percentage="-1"), "flag-percentage-invalid"),
    (strategy("remoteAddress", IPs="10.0.0.1, nope"), "flag-address-invalid"),
    (strategy("flexibleRollout", rollout="5", groupId='a"b'), "flag-definition-broken"),
    (condition("REGEX", value="(?=a)"), "flag-regex-invalid"),
    (condition("REGEX", value="\\bword\\b{end}"), "flag-regex-invalid"),
    (condition("SEMVER_GT", value="v1.2.3"), "flag-semver-invalid"),
    (condition("NUM_LT", value="ten"), "flag-number-invalid"),
    (condition("DATE_AFTER", value="tomorrow"), "flag-date-invalid"),
    (condition("LIKE", values=["a"]), "flag-operator-unknown"),
    (condition("STR_CONTAINS"), "flag-constraint-values-missing"),
    (condition("IN_CIDR", values=["10.0.0.0/8", "nope"]), "flag-address-invalid"),
    (feature(strategies=[{"name": "default", "segments": [9]}]), "flag-segment-missing"),
    (feature(variants=[{"name": "a", "weight": 0}]), "flag-variant-weights-invalid"),
    (
        feature(strategies=[{"name": "default", "variants": [{"name": "a", "weight": -1}]}]),
        "flag-variant-weights-invalid",
    ),
    (feature(dependencies=[{"feature": "nowhere"}]), "flag-dependency-missing"),
    (feature(dependencies=[{"feature": "f"}]), "flag-dependency-cycle"),
]


@pytest.mark.parametrize(("definition", "code"), PROBLEMS)
def test_problem_is_found(definition: dict[str, Any], code: str) -> None:
    """Each kind of bad definition is reported with its own code and a hint."""
    problems = find_problems(state_of(definition))
    assert [p.code for p in problems] == [code]
    assert problems[0].feature == "f"
    assert problems[0].hint


def test_cycles_and_transitive_parents_are_found() -> None:
    """A dependency cycle is named in full; depending on a child is refused as transitive."""
    state = state_of(
        feature("a", dependencies=[{"feature": "b"}]),
        feature("b", dependencies=[{"feature": "a"}]),
        feature("c"),
        feature("d", dependencies=[{"feature": "c"}]),
        feature("e", dependencies=[{"feature": "d"}]),
    )
    found = {(p.feature, p.code, p.message) for p in find_problems(state)}
    assert ("a", "flag-dependency-cycle", "dependency cycle: a -> b -> a") in found
    assert ("b", "flag-dependency-cycle", "dependency cycle: b -> a -> b") in found
    assert {(f, c) for f, c, _ in found if c == "flag-dependency-transitive"} == {
        ("e", "flag-dependency-transitive")
    }


def test_validate_state_raises_the_first_problem() -> None:
    """``validate_state`` raises an input error coded as the first problem, listing them all."""
    state = state_of(
        feature("a", strategies=[{"name": "flexibleRollout", "parameters": {"rollout": "150"}}]),
        feature("b", variants=[{"name": "v", "weight": 0}]),
    )
    with pytest.raises(FlagDefinitionInvalid) as caught:
        validate_state(state)
    error = caught.value
    assert error.code == "flag-percentage-invalid"
    assert error.family == "input"
    assert "feature 'a'" in error.message and "1 more" in error.message
    assert [p["code"] for p in error.details["problems"]] == [
        "flag-percentage-invalid",
        "flag-variant-weights-invalid",
    ]


def test_valid_state_passes_validation() -> None:
    """A sound definition has no problems."""
    state = state_of(
        feature(
            "parent",
            [
                {
                    "name": "flexibleRollout",
                    "parameters": {"rollout": "25", "stickiness": "default", "groupId": "parent"},
                }
            ],
        ),
        feature(
            "child",
            dependencies=[{"feature": "parent", "variants": ["blue"]}],
            variants=[{"name": "x", "weight": 1000}],
        ),
    )
    validate_state(state)
    assert find_problems(state) == []


# --------------------------------------------------------------------------------------------
# Agreement with the reference engine on many contexts


def _random_context(rng: Random) -> dict[str, Any]:
    context: dict[str, Any] = {}
    if rng.random() < 0.8:
        context["userId"] = str(rng.randint(0, 5000))
    if rng.random() < 0.5:
        context["sessionId"] = str(rng.randint(0, 5000))
    for key, choices in (
        ("environment", ["dev", "prod", "stage", "default"]),
        ("appName", ["web", "abc", "sun-app"]),
        ("remoteAddress", ["127.0.0.1", "192.168.0.2", "160.33.0.33", "2001:db8::1", "10.0.0.1"]),
        (
            "currentTime",
            ["2022-01-25T13:00:00.000Z", "2022-01-30T13:00:00Z", "2021-01-01T00:00:00Z"],
        ),
    ):
        if rng.random() < 0.3:
            context[key] = rng.choice(choices)
    properties = {
        key: rng.choice(choices)
        for key, choices in (
            ("customField", [str(rng.randint(0, 1000)), "some-string-x", "TEST@x"]),
            ("version", ["1.2.2", "1.2.3", "2.0.0-alpha.1", "2.0.0", "v2.0.0"]),
            ("someValue", ["12", "13", "12.0", "s1"]),
            ("email", ["a@some-email.com", "x@another.com"]),
            ("clientId", ["1", "2", "3"]),
        )
        if rng.random() < 0.4
    }
    if properties:
        context["properties"] = properties
    return context


def test_agrees_with_the_reference_engine() -> None:
    """On every conformance state and thousands of contexts, results equal the official engine's."""
    engine_module = pytest.importorskip("yggdrasil_engine.engine")
    rng = Random(2024)
    compared = 0
    for path in sorted(SPEC.glob("[0-9][0-9]-*.json")):
        raw = json.loads(path.read_text(encoding="utf-8"))["state"]
        if "features" not in raw:
            continue
        engine = engine_module.UnleashEngine()
        engine.take_state(json.dumps(raw))
        state = load_state(raw)
        names = [f["name"] for f in raw["features"]] + ["missing"]
        for _ in range(200):
            name, data = rng.choice(names), _random_context(rng)
            drawn: list[float] = []

            def source(drawn: list[float] = drawn) -> float:
                drawn.append(0.5)
                return 0.5

            context = UnleashContext.from_dict(data)
            mine = is_enabled(state, name, context, now=NOW, random=source)
            variant = get_variant(state, name, context, now=NOW, random=source)
            if drawn:
                continue  # random outcomes cannot be compared
            theirs = engine.check_enabled(name, data).is_enabled
            their_variant = engine.get_variant(name, data).variant
            assert mine is theirs, (path.name, name, data)
            assert (variant.name, variant.enabled, variant.feature_enabled) == (
                their_variant.name,
                their_variant.enabled,
                their_variant.feature_enabled,
            ), (path.name, name, data)
            assert (variant.payload.to_dict() if variant.payload else None) == their_variant.payload
            compared += 1
    assert compared > 3000
