"""Bounds on JSON from outside: nesting counted on the bytes, strings left out."""

from __future__ import annotations

import pytest

from shipyard.jsonlimits import MAX_JSON_BYTES, MAX_JSON_DEPTH, JsonTooComplex, check, depth


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b"1", 0),
        (b"[]", 1),
        (b'{"a": [1, {"b": []}]}', 4),
        (b'{"a": "[[[[{{{{"}', 1),  # brackets in strings do not nest
        (b'["\\"[[[", "]"]', 1),  # nor after an escaped quote
        (b"[[],[],[]]", 2),
        (b"[" * 1000, MAX_JSON_DEPTH + 1),  # the scan stops once past the bound
    ],
)
def test_depth_counts_nesting_outside_strings(body: bytes, expected: int) -> None:
    """Depth is the deepest nesting of arrays and objects, whatever strings hold."""
    assert depth(body) == expected


def test_bodies_past_either_bound_are_refused() -> None:
    """Too deep is 422 and too large is 413, both json-too-complex with a hint."""
    with pytest.raises(JsonTooComplex) as deep:
        check(b"[" * (MAX_JSON_DEPTH + 1) + b"]" * (MAX_JSON_DEPTH + 1))
    with pytest.raises(JsonTooComplex) as large:
        check(b" " * (MAX_JSON_BYTES + 1))
    assert (deep.value.http_status, large.value.http_status) == (422, 413)
    assert deep.value.code == large.value.code == "json-too-complex" and deep.value.hint
    check(b"[" * MAX_JSON_DEPTH + b"]" * MAX_JSON_DEPTH)  # at the bound: accepted
