"""Routing decisions and nginx config rendering over literal tables (no I/O)."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from shipyard.adapters.routers.base import (
    RouterConfigInvalid,
    RouteTable,
    WeightsInvalid,
    check_weights,
)
from shipyard.adapters.routers.nginx import render

POOLS = {"stable": ("127.0.0.1:8001",), "canary": ("127.0.0.1:8002",)}


def table(stable: int, canary: int) -> RouteTable:
    t = RouteTable()
    for pool, backends in POOLS.items():
        t = t.with_pool(pool, backends)
    return t.with_weights({"stable": stable, "canary": canary})


def no_headers(name: str) -> None:
    return None


@pytest.mark.parametrize(
    ("weights", "cookie", "header", "expected"),
    [
        ((100, 0), None, None, ("stable", True)),
        ((0, 100), None, None, ("canary", True)),
        ((100, 0), "canary", None, ("stable", True)),  # cookie to a pool without traffic
        ((50, 50), "canary", None, ("canary", False)),
        ((50, 50), "unknown", None, None),  # falls through to weights
        ((100, 0), "stable", "internal", ("canary", False)),  # header beats cookie
        ((100, 0), None, "external", ("stable", True)),
    ],
)
def test_choose_follows_header_then_cookie_then_weight(
    weights: tuple[int, int],
    cookie: str | None,
    header: str | None,
    expected: tuple[str, bool] | None,
) -> None:
    """A header route wins, then a cookie for a pool with traffic, then the weights."""
    t = table(*weights).with_header_route("X-Ring", "internal", "canary")
    got = t.choose(lambda name: header if name == "x-ring" else None, cookie, random.Random(1))
    if expected is None:
        assert got[1] is True and got[0] in ("stable", "canary")
    else:
        assert got == expected


def test_choose_without_weights_has_no_pool() -> None:
    """With no weights yet no pool is chosen, so the router answers 503."""
    assert RouteTable().with_pool("stable", ["127.0.0.1:1"]).choose(
        no_headers, None, random.Random(0)
    ) == (None, False)


def test_choose_splits_by_weight() -> None:
    """Over many draws a 20% weight gets about 20% (seeded, so exact and repeatable)."""
    rng = random.Random(42)
    t = table(80, 20)
    picks = [t.choose(no_headers, None, rng)[0] for _ in range(10_000)]
    assert 1800 < picks.count("canary") < 2200


@pytest.mark.parametrize(
    ("weights", "words"),
    [
        ({"stable": 60, "canary": 30}, "add up to 90"),
        ({"stable": 100, "blue": 0}, "unknown pool 'blue'"),
        ({"stable": 101, "canary": -1}, "not a whole 0..100"),
        ({"stable": 99.5, "canary": 0.5}, "not a whole 0..100"),
        ({"stable": True, "canary": 99}, "not a whole 0..100"),
    ],
)
def test_bad_weights_are_refused(weights: dict[str, object], words: str) -> None:
    """Weights must be whole percents of known pools adding up to 100."""
    with pytest.raises(WeightsInvalid) as info:
        check_weights(weights, POOLS)
    assert words in info.value.message and info.value.code == "weights-invalid"


def test_an_empty_pools_share_goes_to_the_others() -> None:
    """A weighted pool without backends (all ejected) gets nothing: the other weighted pools
    take its share, a header route to it falls back to the weights, and with no backend at
    all no pool is chosen (503)."""
    t = table(10, 90).with_header_route("x-ring", "internal", "canary").with_pool("canary", [])
    rng = random.Random(7)
    ring = {"x-ring": "internal"}.get
    assert {t.choose(no_headers, None, rng)[0] for _ in range(500)} == {"stable"}
    assert t.choose(ring, "canary", rng) == ("stable", True)
    empty = t.with_pool("stable", [])
    assert empty.choose(ring, None, rng) == (None, False)


@pytest.mark.parametrize(
    ("pool", "backends"),
    [("Stable", ["127.0.0.1:1"]), ("", []), ("ok", ["127.0.0.1"]), ("ok", ["h:70000"])],
)
def test_bad_pools_and_backends_are_refused(pool: str, backends: list[str]) -> None:
    """Pool names are lowercase identifiers and backends host:port."""
    with pytest.raises(RouterConfigInvalid):
        RouteTable().with_pool(pool, backends)


def test_nginx_config_has_weights_stickiness_and_header_map() -> None:
    """The rendered config splits 20% to canary, maps the ring header and the cookie."""
    t = table(80, 20).with_header_route("x-ring", "internal", "canary")
    conf = render(t, port=8080, prefix=Path("/tmp/p"), generation=3)
    assert "upstream pool_canary {\n    server 127.0.0.1:8002 max_fails=0;" in conf
    assert "    80% stable;\n    * canary;" in conf
    assert 'map $http_x_ring $by_header {\n    default "";\n    "internal" canary;' in conf
    assert "map $cookie_shipyard_pool $by_cookie" in conf
    assert "listen 127.0.0.1:8080;" in conf and 'return 200 "3\\n";' in conf


def test_nginx_config_at_full_weight_has_one_branch() -> None:
    """At 0/100 only the canary appears in the split and in the cookie map."""
    conf = render(table(0, 100), port=1, prefix=Path("/p"))
    assert "    * canary;\n  }" in conf and "stable stable;" not in conf
