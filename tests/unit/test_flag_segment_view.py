"""A segment as the flag services show it: the segment's own Unleash fields, in the order
``Segment.to_dict`` writes them, between its environment and the flags that use it."""

from __future__ import annotations

import json

import pytest

from shipyard.services.flags.flag_segments import _view
from shipyard_sdk.flags import FeatureState

STATE = FeatureState.from_payload(
    {
        "features": [
            {
                "name": "checkout",
                "enabled": True,
                "strategies": [{"name": "default", "segments": [1]}],
            }
        ],
        "segments": [
            {
                "id": 1,
                "name": "beta",
                "constraints": [{"contextName": "userId", "operator": "IN", "values": ["1"]}],
            },
            {"id": 2, "constraints": []},
        ],
    }
)


@pytest.mark.parametrize("segment_id", [1, 2])
def test_the_view_holds_the_segments_fields_in_their_order(segment_id: int) -> None:
    segment = STATE.segments[segment_id]
    view = _view(STATE, "dev", segment)
    expected = {"environment": "dev", **segment.to_dict(), "used_by": view["used_by"]}
    assert json.dumps(view) == json.dumps(expected)
    assert view["used_by"] == (["checkout"] if segment_id == 1 else [])
