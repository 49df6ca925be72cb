"""The built-in router's latency histogram: log-linear buckets precise enough to judge p99."""

from __future__ import annotations

import random

import pytest

from shipyard.adapters.metrics.builtin import pool_window
from shipyard.adapters.routers.stats import PoolStats, bounds_of, bucket_of
from shipyard.domain import promtext


def exact(values: list[float], q: float) -> float:
    ordered = sorted(values)
    position = (len(ordered) - 1) * q
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


@pytest.mark.parametrize("micros", [0, 1, 127, 128, 129, 1000, 85_000, 99_999, 10**9])
def test_every_latency_falls_in_a_bucket_at_most_one_64th_wide(micros: int) -> None:
    """A bucket holds its value and is at most 1/64 of its lower bound wide (above 128 us)."""
    lower, upper = bounds_of(bucket_of(micros))
    assert lower <= micros < upper
    assert upper - lower == 1 or (upper - lower) / lower <= 1 / 64


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_quantiles_from_the_scrape_are_within_two_percent(seed: int) -> None:
    """p50, p95 and p99 read back from /metrics text are within 2% of the exact ones, for the
    whole history and for the window since an earlier scrape; 5xx are counted apart."""
    rng = random.Random(seed)
    stats = PoolStats()
    first = [rng.lognormvariate(-3.0, 0.6) for _ in range(20_000)]  # seconds, ~50 ms median
    for s in first:
        stats.record("canary", 200, s)
    before = pool_window(promtext.parse(stats.render({"canary": 100})), "canary")
    later = [rng.lognormvariate(-2.5, 0.4) + 0.03 for _ in range(20_000)]
    for s in later:
        stats.record("canary", 200, s)
    for _ in range(150):
        stats.record("canary", 502, 0.0001)
    after = pool_window(promtext.parse(stats.render({"canary": 100})), "canary")
    window = after.since(before)
    assert (window.requests, window.errors, window.latency_count) == (20_150, 150, 20_000)
    for q in (0.5, 0.95, 0.99):
        for got, values in ((before.quantile(q), first), (window.quantile(q), later)):
            want = exact(values, q) * 1000
            assert got is not None and abs(got - want) / want <= 0.02, (q, got, want)


def test_the_hand_written_text_reads_as_prometheus_client_writes_it() -> None:
    """The router writes its text by hand (it renders in the proxy's loop, where the library is
    slow); written again by prometheus_client from what it says, it reads back the same."""
    stats = PoolStats()
    for i, status in enumerate([200, 200, 404, 503, 200] * 40):
        stats.record("canary" if i % 3 else "stable", status, 0.0001 * (i + 1))
    text = stats.render({"canary": 10, "stable": 90}, {"canary": 1})
    families = promtext.parse_families(text)
    again = promtext.render(families.values())
    assert promtext.parse_families(again) == families
