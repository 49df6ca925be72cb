"""Reads per-pool analysis windows from a Prometheus server's HTTP API (``/api/v1/query``).

The server scrapes the router (built-in, or anything exporting the same metric names); the
queries sum each counter and histogram bucket by pool at one instant, giving the same
cumulative windows as ``metrics.builtin`` reads straight from the router.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

import httpx

from shipyard.adapters.metrics.base import MetricsUnavailable
from shipyard.adapters.routers.stats import ERRORS, LATENCY, REQUESTS
from shipyard.domain.analysis import Window
from shipyard.errors import InputError

_LABEL_VALUE = re.compile(r'^[^"\\\n]*$')


class PrometheusQueryFailed(InputError):
    code = "prometheus-query-failed"
    default_hint = "try the query in Prometheus' own UI; check metric and label names"


class PrometheusMetrics:
    """Implements ``metrics.base.MetricsSource`` over a Prometheus server."""

    def __init__(
        self,
        url: str,
        *,
        selector: Mapping[str, str] | None = None,
        timeout: float = 10.0,
    ) -> None:
        for key, value in (selector or {}).items():
            if not re.fullmatch(r"[a-zA-Z_][a-zA-Z0-9_]*", key) or not _LABEL_VALUE.match(value):
                raise PrometheusQueryFailed(
                    f"selector {key}={value!r} cannot go into a query",
                    "label names are identifiers; values cannot hold quotes or backslashes",
                )
        self.url = url.rstrip("/")
        self.selector = dict(selector or {})
        self.timeout = timeout

    def query(self, expr: str) -> list[tuple[dict[str, str], float]]:
        """An instant query: each series' labels and value (a scalar has no labels)."""
        try:
            resp = httpx.get(
                f"{self.url}/api/v1/query", params={"query": expr}, timeout=self.timeout
            )
        except httpx.HTTPError as exc:
            raise MetricsUnavailable(f"cannot reach Prometheus at {self.url}: {exc}") from exc
        try:
            body: Any = resp.json()
        except ValueError as exc:
            raise MetricsUnavailable(
                f"Prometheus at {self.url} answered {resp.status_code} without JSON"
            ) from exc
        if not isinstance(body, dict) or body.get("status") != "success":
            error = body.get("error", "no error given") if isinstance(body, dict) else body
            kind = body.get("errorType", "error") if isinstance(body, dict) else "error"
            raise PrometheusQueryFailed(f"query {expr!r} failed ({kind}): {error}")
        data = body.get("data", {})
        kind = data.get("resultType")
        if kind == "scalar":
            return [({}, _value(data["result"][1]))]
        if kind != "vector":
            raise PrometheusQueryFailed(
                f"query {expr!r} returned a {kind}, not an instant vector",
                "drop the range selector ([5m]) or wrap it in a function such as increase()",
            )
        return [(dict(s.get("metric", {})), _value(s["value"][1])) for s in data["result"]]

    def windows(self, pools: Sequence[str]) -> Mapping[str, Window]:
        sel = self._selector()
        requests = self._by_pool(f"sum by (pool) ({REQUESTS}{sel})")
        errors = self._by_pool(f"sum by (pool) ({ERRORS}{sel})")
        buckets: dict[str, dict[float, int]] = {}
        for labels, value in self.query(f"sum by (pool, le) ({LATENCY}_bucket{sel})"):
            pool, le = labels.get("pool"), labels.get("le")
            if pool is not None and le is not None:
                bound = math.inf if le == "+Inf" else float(le) * 1000.0
                buckets.setdefault(pool, {})[bound] = int(value)
        out: dict[str, Window] = {}
        for pool in pools:
            n = int(requests.get(pool, 0))
            e = min(int(errors.get(pool, 0)), n)
            out[pool] = Window(n, e, (), tuple(sorted(buckets.get(pool, {}).items())))
        return out

    def _by_pool(self, expr: str) -> dict[str, float]:
        return {labels.get("pool", ""): v for labels, v in self.query(expr)}

    def _selector(self) -> str:
        if not self.selector:
            return ""
        return "{" + ",".join(f'{k}="{v}"' for k, v in sorted(self.selector.items())) + "}"


def _value(text: Any) -> float:
    try:
        return float(text)
    except (TypeError, ValueError) as exc:
        raise PrometheusQueryFailed(f"Prometheus returned a non-number {text!r}") from exc
