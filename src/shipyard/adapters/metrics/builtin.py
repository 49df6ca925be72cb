"""Reads the built-in router's ``/metrics`` into per-pool analysis windows."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import httpx

from shipyard.adapters import local_http
from shipyard.adapters.metrics.base import MetricsUnavailable
from shipyard.adapters.routers.stats import ERRORS, LATENCY, REQUESTS
from shipyard.domain import promtext
from shipyard.domain.analysis import Window, window_from_samples


class BuiltinMetrics:
    """Implements ``metrics.base.MetricsSource`` over a router's admin URL."""

    def __init__(self, metrics_url: str, *, timeout: float = 5.0) -> None:
        self.metrics_url = metrics_url
        self.timeout = timeout

    def scrape(self) -> tuple[promtext.Sample, ...]:
        try:
            resp = local_http.get(self.metrics_url, timeout=self.timeout)
            resp.raise_for_status()
        except httpx.HTTPError as exc:
            raise MetricsUnavailable(
                f"cannot read router metrics at {self.metrics_url}: {exc}"
            ) from exc
        return promtext.parse(resp.text)

    def windows(self, pools: Sequence[str]) -> Mapping[str, Window]:
        samples = self.scrape()
        return {pool: pool_window(samples, pool) for pool in pools}


def pool_window(samples: Sequence[promtext.Sample], pool: str) -> Window:
    """One pool's cumulative window from the router's samples (latency in ms)."""
    return window_from_samples(
        samples,
        requests=REQUESTS,
        errors=ERRORS,
        latency=LATENCY,
        match={"pool": pool},
        latency_unit_ms=1000.0,
    )
