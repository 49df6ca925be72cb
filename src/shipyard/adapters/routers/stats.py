"""Per-pool request counts, 5xx counts and latency histograms, in Prometheus text format.

Latency is kept in log-linear buckets, as HDR histograms keep it: each power of two of
microseconds is split into 64 equal buckets, so a bucket is at most 1/64 (1.6%) of its lower
bound wide and any quantile interpolated inside its bucket is within 1.6% of the true one, from
microseconds to minutes. Only buckets that hold a sample are written, each with its lower and
upper bound, so ``histogram_quantile`` interpolates inside the bucket and the text stays short.

The histogram counts responses below 500: a 5xx (a crashed instance answers fast) would make a
failing version look fast. Errors are counted in ``shipyard_router_errors_total`` and enter
latency judgements as the slowest answers (``domain.analysis.Window.latency_quantile``).

The text is written here rather than by ``prometheus_client`` (``domain.promtext.render``):
``render`` runs in the proxy's event loop on every scrape, where the library took about eight
times as long for the same 1,800 lines (and its first import some 40 ms more), a stall every
request in flight would wait out. The tests read this text with the library's parser.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from dataclasses import dataclass, field

SUB = 64  # linear sub-buckets per power of two of microseconds
TOP = 1 << 36  # microseconds (19 hours): anything slower counts here

REQUESTS = "shipyard_router_requests_total"
ERRORS = "shipyard_router_errors_total"
LATENCY = "shipyard_router_request_duration_seconds"
WEIGHT = "shipyard_router_weight_percent"
IN_FLIGHT = "shipyard_router_in_flight"


def bucket_of(micros: int) -> int:
    """The index of the bucket holding a latency of ``micros`` microseconds."""
    us = min(max(micros, 0), TOP)
    if us < 2 * SUB:
        return us  # one microsecond wide below 128 us
    shift = us.bit_length() - 7  # us >> shift is in [64, 128)
    return SUB * shift + (us >> shift)


def bounds_of(index: int) -> tuple[int, int]:
    """The ``[lower, upper)`` microseconds of bucket ``index``."""
    if index < 2 * SUB:
        return index, index + 1
    shift = index // SUB - 1
    mantissa = index % SUB + SUB
    return mantissa << shift, (mantissa + 1) << shift


@dataclass
class _Pool:
    codes: dict[int, int] = field(default_factory=dict)
    errors: int = 0
    buckets: dict[int, int] = field(default_factory=dict)  # bucket index -> count
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
                return
            i = bucket_of(int(seconds * 1_000_000))
            p.buckets[i] = p.buckets.get(i, 0) + 1
            p.total_seconds += seconds

    def render(self, weights: Mapping[str, int], in_flight: Mapping[str, int] | None = None) -> str:
        """The exposition text: counters by pool and status, errors, latency, weights and
        requests in flight."""
        with self._lock:
            pools = {
                k: _Pool(dict(v.codes), v.errors, dict(v.buckets), v.total_seconds)
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
            f"# HELP {LATENCY} Time from request head to the end of a response below 500.",
            f"# TYPE {LATENCY} histogram",
        ]
        for name, p in sorted(pools.items()):
            out += _histogram(name, p)
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


def _histogram(name: str, p: _Pool) -> list[str]:
    """Cumulative buckets at the lower and upper bound of each bucket holding a sample."""
    lines = []
    running, last = 0, -1
    for index in sorted(p.buckets):
        lower, upper = bounds_of(index)
        if lower != last:
            lines.append(f'{LATENCY}_bucket{{pool="{name}",le="{_seconds(lower)}"}} {running}')
        running += p.buckets[index]
        lines.append(f'{LATENCY}_bucket{{pool="{name}",le="{_seconds(upper)}"}} {running}')
        last = upper
    lines.append(f'{LATENCY}_bucket{{pool="{name}",le="+Inf"}} {running}')
    lines.append(f'{LATENCY}_sum{{pool="{name}"}} {p.total_seconds!r}')
    lines.append(f'{LATENCY}_count{{pool="{name}"}} {running}')
    return lines


def _seconds(micros: int) -> str:
    return repr(micros / 1_000_000)
