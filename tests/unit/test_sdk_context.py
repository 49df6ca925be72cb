"""The SDK's fast context path answers exactly as the general context reader does."""

from __future__ import annotations

from typing import Any

import pytest

from shipyard_sdk.client import _Evaluator
from shipyard_sdk.flags import FeatureState, UnleashContext


def _in(field: str, *values: str) -> dict[str, Any]:
    return {
        "name": f"{field}-in",
        "enabled": True,
        "strategies": [
            {
                "name": "default",
                "constraints": [{"contextName": field, "operator": "IN", "values": list(values)}],
            }
        ],
        "variants": [
            {"name": "a", "weight": 1, "stickiness": field},
            {"name": "b", "weight": 1, "stickiness": field},
        ],
    }


STATE = FeatureState.from_payload(
    {
        "features": [
            _in("plan", "pro"),
            _in("beta", "true"),
            _in("age", "31"),
            _in("ratio", "0.5"),
            _in("userId", "7"),
            _in("appName", "shop"),
            _in("tags", "x"),
        ]
    }
)


@pytest.mark.parametrize(
    "context",
    [
        {"userId": "7", "properties": {"plan": "pro"}},
        {"userId": "8", "properties": {"plan": "free"}},
        {"userId": "7", "properties": {"beta": True, "age": 31, "ratio": 0.5}},
        {"userId": "7", "properties": {"beta": False, "age": 30}},
        {"properties": {"userId": "7"}},  # a standard field among the properties is lifted
        {"properties": {"appName": "shop"}},
        {"userId": "7", "properties": {"tags": ["x"], "plan": None}},  # lists read as absent
        {"sessionId": "s", "remoteAddress": "10.0.0.1", "properties": {}},
        {"userId": "7"},
    ],
)
def test_fast_path_matches_the_general_reader(context: dict[str, Any]) -> None:
    """Every flag is on, and picks the variant, for the fast path's context exactly as for
    the context the general reader builds from the same dict."""
    evaluator = _Evaluator("production", "web", STATE)
    general = UnleashContext.from_dict({"environment": "production", "appName": "web", **context})
    fast = evaluator._context(context)
    for name in STATE.features:
        assert STATE.is_enabled(name, fast) is STATE.is_enabled(name, general), name
        assert STATE.get_variant(name, fast) == STATE.get_variant(name, general), name
