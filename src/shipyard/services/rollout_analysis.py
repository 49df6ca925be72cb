"""One running analysis: measure the canary against the stable pool every interval, judge with
the template's limits, and report a verdict with the numbers behind it.

Windows are cumulative from the analysis' start, so each measurement sees more traffic than the
last; a failure ends the analysis at once (the bad canary is caught in its first window), while
a pass or an inconclusive result waits for the full duration.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from shipyard.domain import analysis as a
from shipyard.domain.rollout import AnalysisResult
from shipyard.errors import ShipyardError

CONSECUTIVE_ERRORS = 4


def check_template(template: Mapping[str, Any]) -> None:
    """Refuse a template no measurement could be judged by; `shipyard validate` and a deploy
    ask this before a rollout starts, so a bad template never waits for traffic to fail."""
    metric = template.get("metric", "error_rate")
    _address(template)
    if metric == "query":
        _query_parts(template)
        return
    if template.get("max") is None and template.get("max_increase") is None:
        raise a.AnalysisConfigInvalid(
            f"the {metric} analysis has no limit, so it could never fail",
            "set max (an absolute limit) or max_increase (over the stable version)",
            details={"key": "metric"},
        )
    if metric != "latency_p99":
        _threshold(template)  # negative limits, error rates above 1


def _address(template: Mapping[str, Any]) -> str | None:
    """The Prometheus address of a prometheus template; None for the built-in provider."""
    if template.get("provider") != "prometheus":
        return None
    if not template.get("address"):
        raise a.AnalysisConfigInvalid(
            "a prometheus analysis needs an address",
            "e.g. address: http://127.0.0.1:9090",
            details={"key": "provider"},
        )
    return str(template["address"])


def source_for(template: Mapping[str, Any], router_admin_url: str) -> Any:
    """The metrics source a template names: the router itself, or a Prometheus server."""
    address = _address(template)
    if address is not None:
        from shipyard.adapters.metrics.prometheus import PrometheusMetrics

        return PrometheusMetrics(address)
    from shipyard.adapters.metrics.builtin import BuiltinMetrics

    return BuiltinMetrics(router_admin_url + "/metrics")


def _threshold(template: Mapping[str, Any]) -> a.ThresholdJudge:
    limit, increase = template.get("max"), template.get("max_increase")
    minimum = int(template.get("min_samples", 50))
    if template.get("metric", "error_rate") == "error_rate":
        return a.ThresholdJudge(max_error_rate=limit, max_increase=increase, min_requests=minimum)
    return a.ThresholdJudge(
        max_p95_latency_ms=limit, max_latency_increase=increase, min_requests=minimum
    )


def judge(
    template: Mapping[str, Any], canary: a.Window, baseline: a.Window, source: Any
) -> a.Verdict:
    """The template's verdict on one measurement."""
    metric = template.get("metric", "error_rate")
    if metric in ("error_rate", "latency_p95"):
        return _threshold(template).judge(canary, baseline)
    if metric == "latency_p99":
        limit, increase = template.get("max"), template.get("max_increase")
        return _p99(canary, baseline, limit, increase, int(template.get("min_samples", 50)))
    return _query(template, source)


def _p99(
    canary: a.Window, baseline: a.Window, limit: float | None, increase: float | None, n: int
) -> a.Verdict:
    if canary.requests < n:
        c = a.Check("samples", a.Phase.INCONCLUSIVE, f"{canary.requests} < {n} requests")
        return a.Verdict(c.phase, c.message, (c,))
    p99 = canary.quantile(0.99)
    checks = []
    if p99 is not None and limit is not None:
        bad = p99 > limit
        checks.append(
            a.Check(
                "p99_latency_ms",
                a.Phase.FAILED if bad else a.Phase.SUCCESSFUL,
                f"canary p99 {p99:.1f}ms {'>' if bad else '<='} max {limit:g}ms",
                value=p99,
                threshold=limit,
                samples=canary.requests,
            )
        )
    base = baseline.quantile(0.99)
    if p99 is not None and increase is not None and base:
        ratio = p99 / base - 1
        bad = ratio > increase
        checks.append(
            a.Check(
                "p99_latency_increase",
                a.Phase.FAILED if bad else a.Phase.SUCCESSFUL,
                f"canary p99 {p99:.1f}ms vs baseline {base:.1f}ms",
                value=ratio,
                threshold=increase,
                baseline=base,
                samples=canary.requests,
            )
        )
    return a.combine(checks)


def _query_parts(template: Mapping[str, Any]) -> tuple[str, float]:
    expr, limit = template.get("query"), template.get("max")
    if template.get("provider") != "prometheus":
        raise a.AnalysisConfigInvalid(
            "metric: query reads Prometheus, and this analysis uses the built-in provider",
            "set provider: prometheus and its address, or use error_rate or a latency metric",
            details={"key": "metric"},
        )
    if not expr or limit is None:
        raise a.AnalysisConfigInvalid(
            "a query analysis needs a query and a max",
            'e.g. query: "sum(rate(errors[1m]))", max: 5',
            details={"key": "metric"},
        )
    return str(expr), float(limit)


def _query(template: Mapping[str, Any], source: Any) -> a.Verdict:
    expr, limit = _query_parts(template)
    rows = source.query(str(expr))
    if not rows:
        c = a.Check("query", a.Phase.INCONCLUSIVE, f"query {expr!r} returned no series")
        return a.Verdict(c.phase, c.message, (c,))
    value = rows[0][1]
    bad = value > limit
    c = a.Check(
        "query",
        a.Phase.FAILED if bad else a.Phase.SUCCESSFUL,
        f"{expr} = {value:g} {'>' if bad else '<='} max {limit:g}",
        value=value,
        threshold=limit,
    )
    return a.Verdict(c.phase, c.message, (c,))


class AnalysisRun:
    """Measurements of one analysis step; ``poll`` returns the verdict once there is one."""

    def __init__(
        self,
        name: str,
        template: Mapping[str, Any],
        duration: float,
        source: Any,
        canary_pool: str,
        stable_pool: str,
        now: float,
    ) -> None:
        self.name, self.template, self.source = name, template, source
        self.pools = (canary_pool, stable_pool)
        self.interval = max(0.2, min(float(template.get("interval", 10.0)), duration))
        self.end = now + duration
        self.next = now + self.interval
        self.verdicts: list[a.Verdict] = []
        self.start = self._windows()
        self.last: dict[str, Any] = {}

    def _windows(self) -> Mapping[str, a.Window]:
        try:
            return self.source.windows(list(self.pools))
        except ShipyardError:
            return {p: a.Window() for p in self.pools}

    def poll(self, now: float) -> AnalysisResult | None:
        if now < self.next:
            return None
        self.next = now + self.interval
        final = now >= self.end
        try:
            w = self.source.windows(list(self.pools))
            canary = w[self.pools[0]].since(self.start[self.pools[0]])
            base = w[self.pools[1]].since(self.start[self.pools[1]])
            verdict = judge(self.template, canary, base, self.source)
        except ShipyardError as exc:  # an unreachable source is an Error measurement
            canary = base = a.Window()
            verdict = a.Verdict(a.Phase.ERROR, exc.message)
        self.verdicts.append(verdict)
        assessment = a.assess(
            self.verdicts,
            failure_limit=int(self.template.get("failure_limit", 0)),
            inconclusive_limit=len(self.verdicts),  # too little traffic yet is no verdict
            consecutive_error_limit=CONSECUTIVE_ERRORS,
            terminating=final,
        )
        phase = assessment.phase
        if phase is a.Phase.SUCCESSFUL and verdict.phase is a.Phase.INCONCLUSIVE:
            phase = a.Phase.INCONCLUSIVE  # never enough traffic to say
        if phase is a.Phase.SUCCESSFUL and verdict.phase is not a.Phase.SUCCESSFUL:
            phase = verdict.phase
        from shipyard.adapters.metrics.base import summarize

        details = {
            "template": dict(self.template),
            "measurements": len(self.verdicts),
            "verdict": verdict.to_dict(),
            "numbers": verdict.numbers(),
            "canary": summarize(canary),
            "baseline": summarize(base),
            "assessment": assessment.to_dict(),
        }
        self.last = details
        if not phase.completed:
            return None
        message = f"{verdict.message} ({len(self.verdicts)} measurement(s))"
        return AnalysisResult(self.name, phase, message, details)
