"""One grammar for every duration: spec timeouts, gates, TTLs, windows, --since."""

from __future__ import annotations

import pytest

from shipyard.domain.durations import DurationInvalid, parse_seconds


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        ("90s", 90.0),
        ("10m", 600.0),
        ("1h30m", 5400.0),
        ("1w2d", 777600.0),
        ("1.5h", 5400.0),
        ("250ms", 0.25),
        ("1m 30s", 90.0),
        ("2s500ms", 2.5),
        ("0s", 0.0),
        ("3660d", 3660 * 86400.0),
        (45, 45.0),
        (0.5, 0.5),
        ("45", 45.0),
        ("2.5", 2.5),
    ],
)
def test_parses(value: object, seconds: float) -> None:
    """Parts with units, largest first; a plain number (or its text) counts seconds."""
    assert parse_seconds(value) == seconds


@pytest.mark.parametrize(
    "value",
    ["", " ", "h", "10x", "5m garbage", "1m1h", "1h1h", "30s1m", "ms5", "-5m", "-5", "3D",
     "1h-2m", "3661d", True, None, -1, [1]],
)  # fmt: skip
def test_refuses(value: object) -> None:
    """Anything else is duration-invalid: no unit out of order or twice, nothing negative,
    nothing over ten years, no booleans."""
    with pytest.raises(DurationInvalid) as info:
        parse_seconds(value)
    assert info.value.code == "duration-invalid" and "1h30m" in info.value.hint


@pytest.mark.parametrize("value", [45, "45", 0.5])
def test_a_unit_can_be_required(value: object) -> None:
    """Where a bare number would be ambiguous (--since 3), a unit is required."""
    with pytest.raises(DurationInvalid):
        parse_seconds(value, bare=False)
    assert parse_seconds("45s", bare=False) == 45.0
