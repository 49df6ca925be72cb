"""One running analysis: measure the canary against the stable pool every interval, judge every
metric of the template with its judge, and report a verdict with the numbers behind it.

A template is one metric (``metric:`` and its limits) or several (``metrics:``), each taking
what it leaves out (provider, address, judge, min_samples, alpha) from the template. At every
interval every metric is judged on the same windows, so a canary that starts failing while a
latency check runs fails that check too (errors count as the slowest answers) and the error
check beside it. Each metric folds its measurements Argo's way (``failure_limit``,
``inconclusive_limit``, ``consecutive_error_limit``); the run ends as soon as one metric fails,
errors or is inconclusive past its limit, and passes when the duration is over with every
metric passing. Every measurement is kept (``measurements``) for ``shipyard rollout explain``.

Windows are cumulative from the analysis' start, so each measurement sees more traffic than the
last; a failure ends the analysis at once (the bad canary is caught in its first window).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping
from typing import Any, TypedDict

from shipyard.adapters.clock import SystemClock
from shipyard.domain import analysis as a
from shipyard.domain.rollout import AnalysisResult
from shipyard.errors import ShipyardError
from shipyard.ports.clock import Clock

JUDGES = ("threshold", "mann-whitney", "two-proportion")
SPAN = 10  # intervals a background analysis judges
_INHERITED = ("provider", "address", "min_samples", "judge", "alpha")
_OWN = ("metric", "query", "max", "max_increase")


def metrics_of(template: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Each metric of ``template`` complete, with a name unique in the template."""
    base = {k: template.get(k) for k in _INHERITED}
    entries = template.get("metrics") or [{k: template.get(k) for k in _OWN}]
    out: list[dict[str, Any]] = []
    seen: Counter[str] = Counter()
    for entry in entries:
        m = {**base, **{k: v for k, v in entry.items() if v is not None}}
        m.setdefault("metric", "error_rate")
        m["judge"] = m.get("judge") or "threshold"
        name = str(entry.get("name") or m["metric"])
        seen[name] += 1
        m["name"] = name if seen[name] == 1 else f"{name}-{seen[name]}"
        out.append(m)
    return out


def check_template(template: Mapping[str, Any]) -> None:
    """Refuse a template no measurement could be judged by; `shipyard validate` and a deploy
    ask this before a rollout starts, so a bad template never waits for traffic to fail."""
    listed = bool(template.get("metrics"))
    for m in metrics_of(template):
        try:
            _check_metric(m)
        except a.AnalysisConfigInvalid as exc:
            if listed:  # placed at the list, named in the message
                exc.message = f"metric '{m['name']}': {exc.message}"
                exc.details["key"] = "metrics"
            raise


def _check_metric(m: Mapping[str, Any]) -> None:
    metric, judge = m["metric"], m["judge"]
    _address(m)
    if metric == "query":
        if judge != "threshold":
            raise _invalid("a query metric is judged by its max only (judge: threshold)", "judge")
        _query_parts(m)
        return
    if judge == "two-proportion" and metric != "error_rate":
        raise _invalid(
            f"judge two-proportion compares error rates, not {metric}",
            "judge",
            "use judge: mann-whitney for latency",
        )
    if judge == "mann-whitney" and metric == "error_rate":
        raise _invalid(
            "judge mann-whitney compares latencies, not error rates",
            "judge",
            "use judge: two-proportion for error_rate",
        )
    if judge != "threshold":
        _statistical(m)  # margins cannot be negative
        return
    if m.get("max") is None and m.get("max_increase") is None:
        raise a.AnalysisConfigInvalid(
            f"the {metric} analysis has no limit, so it could never fail",
            "set max (an absolute limit) or max_increase (over the stable version)",
            details={"key": "metric"},
        )
    _threshold(m)  # negative limits, error rates above 1


def _invalid(message: str, key: str, hint: str | None = None) -> a.AnalysisConfigInvalid:
    return a.AnalysisConfigInvalid(message, hint, details={"key": key})


def _address(m: Mapping[str, Any]) -> str | None:
    """The Prometheus address of a prometheus metric; None for the built-in provider."""
    if m.get("provider") != "prometheus":
        return None
    if not m.get("address"):
        raise a.AnalysisConfigInvalid(
            "a prometheus analysis needs an address",
            "e.g. address: http://127.0.0.1:9090",
            details={"key": "provider"},
        )
    return str(m["address"])


def source_for(m: Mapping[str, Any], router_admin_url: str) -> Any:
    """The metrics source a metric names: the router itself, or a Prometheus server."""
    address = _address(m)
    if address is not None:
        from shipyard.adapters.metrics.prometheus import PrometheusMetrics

        return PrometheusMetrics(address)
    from shipyard.adapters.metrics.builtin import BuiltinMetrics

    return BuiltinMetrics(router_admin_url + "/metrics")


def _quantile(metric: str) -> float:
    return 0.99 if metric == "latency_p99" else 0.95


def _threshold(m: Mapping[str, Any]) -> a.ThresholdJudge:
    limit, increase = m.get("max"), m.get("max_increase")
    minimum = int(m.get("min_samples") or 50)
    if m.get("metric", "error_rate") == "error_rate":
        return a.ThresholdJudge(max_error_rate=limit, max_increase=increase, min_requests=minimum)
    return a.ThresholdJudge(
        max_p95_latency_ms=limit,
        max_latency_increase=increase,
        min_requests=minimum,
        quantile=_quantile(m["metric"]),
    )


def _statistical(m: Mapping[str, Any]) -> a.StatisticalJudge:
    """Two-proportion z-test (Fisher's exact test for few errors) on error rates, or
    Mann-Whitney U on latency distributions; ``max_increase`` is the practical margin a
    significant difference must also exceed."""
    minimum = int(m.get("min_samples") or 50)
    margin = float(m.get("max_increase") or 0.0)
    errors = m["judge"] == "two-proportion"
    return a.StatisticalJudge(
        alpha=float(m.get("alpha") or 0.05),
        min_requests=minimum,
        min_latency_samples=minimum,
        error_margin=margin if errors else 0.0,
        latency_margin=0.0 if errors else margin,
        errors=errors,
        latency=not errors,
    )


def judge(m: Mapping[str, Any], canary: a.Window, baseline: a.Window, source: Any) -> a.Verdict:
    """One metric's verdict on one measurement."""
    if m["metric"] == "query":
        return _query(m, source)
    if m["judge"] == "threshold":
        return _threshold(m).judge(canary, baseline)
    return _statistical(m).judge(canary, baseline)


def _query_parts(m: Mapping[str, Any]) -> tuple[str, float]:
    expr, limit = m.get("query"), m.get("max")
    if m.get("provider") != "prometheus":
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


def _query(m: Mapping[str, Any], source: Any) -> a.Verdict:
    expr, limit = _query_parts(m)
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


def source_key(key: tuple[Any, Any]) -> str:
    """``builtin|`` or ``prometheus|http://...``: where a metric's windows come from."""
    provider, address = key
    return f"{provider or 'builtin'}|{address or ''}"


class MetricResult(TypedDict):
    """One metric's verdict on one measurement, with the numbers and windows behind it."""

    metric: str
    judge: str
    phase: str  # the metric's phase after it
    verdict: dict[str, Any]  # ``analysis.Verdict.to_dict()``
    numbers: dict[str, float | int | str]
    canary: dict[str, float | int | str | None]  # ``summarize``d windows
    baseline: dict[str, float | int | str | None]
    assessment: dict[str, Any]  # ``analysis.Assessment.to_dict()``


class Measurement(TypedDict):
    """One interval's measurement of one metric, as ``rollout explain`` reads it back
    (``store.deployments.add_measurements``)."""

    analysis: str
    kind: str  # when it ran: step, background, watch...
    metric: str  # its name in the template
    seq: int
    at: str
    phase: str  # this measurement's verdict
    decision: str  # the metric's phase after it
    data: MetricResult


class AnalysisRun:
    """Measurements of one analysis; ``poll`` returns the verdict once there is one.

    ``duration`` None runs until stopped (a background analysis): it never passes, it only
    fails, and it judges the last ``SPAN`` intervals rather than everything since it started,
    so a version that turns bad late is not diluted by its good hours. ``baselines`` (by
    ``source_key``) replaces the stable pool's window with one measured before, for a pool
    that is gone (the watch after promotion). Each interval's measurements wait in
    ``measurements`` for the caller to store."""

    def __init__(
        self,
        name: str,
        template: Mapping[str, Any],
        duration: float | None,
        router_admin_url: str,
        canary_pool: str,
        stable_pool: str,
        now: float,
        when: str = "step",
        baselines: Mapping[str, a.Window] | None = None,
        sources: Callable[[Mapping[str, Any], str], Any] | None = None,
        clock: Clock | None = None,
    ) -> None:
        """``sources`` gives a metric's source (``source_for`` unless given); ``clock`` stamps
        each measurement (the system's unless given)."""
        self.name, self.template, self.when = name, template, when
        self.clock: Clock = clock or SystemClock()
        self.metrics = metrics_of(template)
        self.baselines = baselines
        self.sources: dict[tuple[Any, Any], Any] = {}
        for m in self.metrics:
            key = (m.get("provider"), m.get("address"))
            if key not in self.sources:
                self.sources[key] = (sources or source_for)(m, router_admin_url)
        self.pools = (canary_pool, stable_pool)
        every = float(template.get("interval", 10.0))
        self.interval = max(0.2, every if duration is None else min(every, duration))
        self.end = None if duration is None else now + duration
        self.next = now + self.interval
        self.verdicts: dict[str, list[a.Verdict]] = {m["name"]: [] for m in self.metrics}
        self.start = {key: self._windows(source) for key, source in self.sources.items()}
        self.past: dict[tuple[Any, Any], list[Mapping[str, a.Window]]] = {
            key: [w] for key, w in self.start.items()
        }
        self.last: dict[str, Any] = {}
        self.measurements: list[Measurement] = []  # taken by the caller to store

    def _windows(self, source: Any) -> Mapping[str, a.Window]:
        try:
            return dict(source.windows(list(self.pools)))
        except ShipyardError:
            return {p: a.Window() for p in self.pools}

    def _measure(self, key: tuple[Any, Any]) -> tuple[a.Window, a.Window]:
        w = self.sources[key].windows(list(self.pools))
        canary, stable = self.pools
        start = self.start[key]
        if self.end is None:  # a background run: the last SPAN intervals
            past = self.past[key]
            start = past[0]
            past.append(w)
            del past[: max(0, len(past) - SPAN)]
        if self.baselines is not None:
            return w[canary].since(start[canary]), self.baselines.get(source_key(key), a.Window())
        return w[canary].since(start[canary]), w[stable].since(start[stable])

    def stable_windows(self) -> dict[str, dict[str, Any]]:
        """What the stable pool served since this run started, per source (``source_key``),
        as the baseline of a later watch; a source that cannot be read is left out."""
        out = {}
        stable = self.pools[1]
        for key, source in self.sources.items():
            try:
                now = source.windows([stable])[stable]
            except ShipyardError:
                continue
            out[source_key(key)] = now.since(self.start[key][stable]).to_dict()
        return out

    def poll(self, now: float) -> AnalysisResult | None:
        if now < self.next:
            return None
        self.next = now + self.interval
        final = self.end is not None and now >= self.end
        at = self.clock.now().isoformat()
        measured: dict[tuple[Any, Any], tuple[a.Window, a.Window] | ShipyardError] = {}
        results: dict[str, MetricResult] = {}
        phases: list[a.Phase] = []
        from shipyard.adapters.metrics.base import summarize

        for m in self.metrics:
            key = (m.get("provider"), m.get("address"))
            if key not in measured:
                try:
                    measured[key] = self._measure(key)
                except ShipyardError as exc:
                    measured[key] = exc
            got = measured[key]
            canary = base = a.Window()
            try:
                if isinstance(got, ShipyardError):
                    raise got
                canary, base = got
                verdict = judge(m, canary, base, self.sources[key])
            except ShipyardError as exc:  # an unreachable source is an Error measurement
                verdict = a.Verdict(a.Phase.ERROR, exc.message)
            history = self.verdicts[m["name"]]
            history.append(verdict)
            limit = self.template.get("inconclusive_limit")
            assessment = a.assess(
                history,
                failure_limit=int(self.template.get("failure_limit", 0)),
                # Unset, too little traffic so far is no verdict; only the last one counts.
                inconclusive_limit=len(history) if limit is None else int(limit),
                consecutive_error_limit=int(self.template.get("consecutive_error_limit", 4)),
                terminating=final,
            )
            phase = a.metric_phase(assessment, verdict)
            phases.append(phase)
            results[m["name"]] = {
                "metric": m["metric"],
                "judge": m["judge"],
                "phase": phase.value,
                "verdict": verdict.to_dict(),
                "numbers": verdict.numbers(),
                "canary": summarize(canary),
                "baseline": summarize(base),
                "assessment": assessment.to_dict(),
            }
            self.measurements.append(
                {
                    "analysis": self.name,
                    "kind": self.when,
                    "metric": m["name"],
                    "seq": len(history),
                    "at": at,
                    "phase": verdict.phase.value,
                    "decision": phase.value,
                    "data": results[m["name"]],
                }
            )
        phase = a.run_phase(phases, terminating=final)
        deciding = [n for n, r in results.items() if r["phase"] == phase.value] or list(results)
        first = results[deciding[0]]
        details = {
            "template": dict(self.template),
            "measurements": len(self.verdicts[self.metrics[0]["name"]]),
            "metrics": results,
            # The deciding metric's numbers, where a single-metric reader looks for them.
            "verdict": first["verdict"],
            "numbers": first["numbers"],
            "canary": first["canary"],
            "baseline": first["baseline"],
            "assessment": first["assessment"],
        }
        self.last = details
        if not phase.completed:
            return None
        said = "; ".join(
            f"{n}: {results[n]['verdict']['message']}"
            if len(results) > 1
            else results[n]["verdict"]["message"]
            for n in deciding
        )
        message = f"{said} ({details['measurements']} measurement(s))"
        return AnalysisResult(self.name, phase, message, details)

    def take_measurements(self) -> list[Measurement]:
        out, self.measurements = self.measurements, []
        return out
