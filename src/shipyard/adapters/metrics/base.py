"""What every metrics provider offers: per-pool windows that the analysis judges take.

A provider returns cumulative counters (requests, 5xx errors, a latency histogram in ms) for
each pool as ``domain.analysis.Window``; the deploy service keeps the window read when an
analysis started and judges ``later.since(earlier)``, so a provider never needs to know the
analysis interval and a router restart (counters reset) is handled in one place.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Protocol, runtime_checkable

from shipyard.domain.analysis import Window
from shipyard.errors import ShipyardError


class MetricsUnavailable(ShipyardError):
    code = "metrics-unavailable"
    default_hint = "check that the metrics endpoint is up and reachable from here"


@runtime_checkable
class MetricsSource(Protocol):
    def windows(self, pools: Sequence[str]) -> Mapping[str, Window]:
        """Cumulative measurements of each pool in ``pools`` (an empty window if unseen)."""
        ...


def summarize(window: Window) -> dict[str, float | int | str | None]:
    """Counts, error rate and latency quantiles (ms, from the histogram, errors counted as
    the slowest answers: "inf" when they reach the quantile) for reports."""
    out: dict[str, float | int | str | None] = {
        "requests": window.requests,
        "errors": window.errors,
        "error_rate": window.error_rate,
    }
    for name, q in (("p50_ms", 0.5), ("p95_ms", 0.95), ("p99_ms", 0.99)):
        value = window.latency_quantile(q)
        out[name] = "inf" if value is not None and math.isinf(value) else value
    return out
