"""The names Unleash defines: its strategies and their parameters, its constraint operators,
the context fields read from the top level of a context, and the source of randomness.

Constants only, shared by compilation, evaluation and validation, so that each of those can
depend on them without depending on the others.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Final, TypeAlias

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
