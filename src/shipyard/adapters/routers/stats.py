"""Per-pool request counts, 5xx counts and latency histograms, in Prometheus text format."""

from __future__ import annotations

import bisect
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field

# Seconds; fine below 10 ms where a proxy's own cost shows, coarse above.
BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

REQUESTS = "shipyard_router_requests_total"
ERRORS = "shipyard_router_errors_total"
LATENCY = "shipyard_router_request_duration_seconds"
WEIGHT = "shipyard_router_weight_percent"
IN_FLIGHT = "shipyard_router_in_flight"


@dataclass
class _Pool:
    codes: dict[int, int] = field(default_factory=dict)
    errors: int = 0
    buckets: list[int] = field(default_factory=lambda: [0] * (len(BUCKETS) + 1))
    total_seconds: float = 0.0


class PoolStats:
    """Counters shared by the proxy (writing) and the admin side or callers (reading)."""

    def __init__(self) -> None:
        self._pools: dict[str, _Pool] = {}
        self._lock = threading.Lock()

    def record(self, pool: str, status: int, seconds: float) -> None:
        with self._lock:
            p = self._pools.get(pool)
            if p is None:
                p = self._pools[pool] = _Pool()
            p.codes[status] = p.codes.get(status, 0) + 1
            if status >= 500:
                p.errors += 1
            p.buckets[bisect.bisect_left(BUCKETS, seconds)] += 1
            p.total_seconds += seconds

    def render(self, weights: Mapping[str, int], in_flight: Mapping[str, int] | None = None) -> str:
        """The exposition text: counters by pool and status, errors, latency, weights and
        requests in flight."""
        with self._lock:
            pools = {
                k: _Pool(dict(v.codes), v.errors, list(v.buckets), v.total_seconds)
                for k, v in self._pools.items()
            }
        for name in weights:
            pools.setdefault(name, _Pool())
        out = [
            f"# HELP {REQUESTS} Requests answered, by pool and status code.",
            f"# TYPE {REQUESTS} counter",
        ]
        for name, p in sorted(pools.items()):
            for code, n in sorted(p.codes.items()):
                out.append(f'{REQUESTS}{{pool="{name}",code="{code}"}} {n}')
        out += [
            f"# HELP {ERRORS} Requests answered with a 5xx status, by pool.",
            f"# TYPE {ERRORS} counter",
        ]
        out += [f'{ERRORS}{{pool="{name}"}} {p.errors}' for name, p in sorted(pools.items())]
        out += [
            f"# HELP {LATENCY} Time from request head to the end of the response.",
            f"# TYPE {LATENCY} histogram",
        ]
        for name, p in sorted(pools.items()):
            running = 0
            for bound, n in zip((*BUCKETS, None), p.buckets, strict=True):
                running += n
                le = "+Inf" if bound is None else repr(bound)
                out.append(f'{LATENCY}_bucket{{pool="{name}",le="{le}"}} {running}')
            out.append(f'{LATENCY}_sum{{pool="{name}"}} {p.total_seconds!r}')
            out.append(f'{LATENCY}_count{{pool="{name}"}} {running}')
        out += [f"# HELP {WEIGHT} Share of unmatched traffic per pool.", f"# TYPE {WEIGHT} gauge"]
        out += [f'{WEIGHT}{{pool="{name}"}} {w}' for name, w in sorted(weights.items())]
        out += [
            f"# HELP {IN_FLIGHT} Requests forwarded and not yet answered.",
            f"# TYPE {IN_FLIGHT} gauge",
        ]
        out += [
            f'{IN_FLIGHT}{{pool="{name}"}} {n}' for name, n in sorted((in_flight or {}).items())
        ]
        return "\n".join(out) + "\n"
