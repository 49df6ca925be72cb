"""Canary judges over measurements, and Argo-style aggregation of their verdicts.

A ``Window`` is what was measured for one pool over one interval: requests, errors (5xx) and
latencies, as raw samples or as a Prometheus histogram. A judge compares the canary's window
with the baseline's (the stable pool over the same interval) and returns a ``Verdict`` that
carries every number behind it, so the decision can be stored and shown as it was made:

- ``ThresholdJudge``: fixed limits on error rate and p95 latency, absolute or relative to the
  baseline.
- ``StatisticalJudge``: the canary fails only when it is worse with significance: a one-sided
  two-proportion z-test (Fisher's exact test for small counts) on errors and a one-sided
  Mann-Whitney U test on latencies.

Both need a minimum sample size (below it the verdict is ``Inconclusive``) and follow an
explicit no-data policy when the canary got no traffic at all. ``assess`` folds a run of
verdicts into one phase with failure, inconclusive and consecutive-error limits, as
argo-rollouts' ``assessMetricStatus`` does. Everything here is pure.
"""

from __future__ import annotations

import bisect
import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from shipyard.domain import promtext
from shipyard.errors import InputError

__all__ = [
    "AnalysisConfigInvalid",
    "Assessment",
    "Check",
    "NoData",
    "Phase",
    "StatisticalJudge",
    "TestResult",
    "ThresholdJudge",
    "Verdict",
    "Window",
    "assess",
    "combine",
    "error_rate_test",
    "fisher_exact_greater",
    "histogram_quantile",
    "mann_whitney_u",
    "mann_whitney_u_grouped",
    "metric_phase",
    "run_phase",
    "two_proportion_z_test",
    "window_from_samples",
    "worst",
]


class AnalysisConfigInvalid(InputError):
    code = "analysis-config-invalid"


class Phase(StrEnum):
    """Outcome of a measurement, a metric or a whole analysis run (Argo's names)."""

    PENDING = "Pending"
    RUNNING = "Running"
    SUCCESSFUL = "Successful"
    INCONCLUSIVE = "Inconclusive"
    ERROR = "Error"
    FAILED = "Failed"

    @property
    def completed(self) -> bool:
        return self not in (Phase.PENDING, Phase.RUNNING)


# Argo's order from best to worst; the worst completed phase wins an aggregate.
_SEVERITY = {p: i for i, p in enumerate(Phase)}


def worst(phases: Iterable[Phase]) -> Phase:
    """The worst of ``phases`` (Successful < Inconclusive < Error < Failed); Pending if none."""
    return max(phases, key=_SEVERITY.__getitem__, default=Phase.PENDING)


class NoData(StrEnum):
    """What a judge says when the canary received no requests at all in the window."""

    INCONCLUSIVE = "inconclusive"
    PASS = "pass"
    FAIL = "fail"


# -- verdicts ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Check:
    """One criterion with the numbers behind it.

    ``value`` is the canary's figure, ``baseline`` the stable pool's, ``threshold`` the limit
    it was held to (for a statistical test, the significance level alpha).
    """

    name: str
    phase: Phase
    message: str
    value: float | None = None
    threshold: float | None = None
    baseline: float | None = None
    p_value: float | None = None
    samples: int | None = None
    baseline_samples: int | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"name": self.name, "phase": self.phase.value}
        out["message"] = self.message
        for key in ("value", "threshold", "baseline", "p_value", "samples", "baseline_samples"):
            v = getattr(self, key)
            if v is not None:
                out[key] = _json_number(v)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Check:
        return cls(
            name=str(data["name"]),
            phase=Phase(data["phase"]),
            message=str(data.get("message", "")),
            value=_float_or_none(data.get("value")),
            threshold=_float_or_none(data.get("threshold")),
            baseline=_float_or_none(data.get("baseline")),
            p_value=_float_or_none(data.get("p_value")),
            samples=_int_or_none(data.get("samples")),
            baseline_samples=_int_or_none(data.get("baseline_samples")),
        )


@dataclass(frozen=True)
class Verdict:
    """The outcome of one judgement (one measurement, in Argo's terms)."""

    phase: Phase
    message: str
    checks: tuple[Check, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "phase": self.phase.value,
            "message": self.message,
            "checks": [c.to_dict() for c in self.checks],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Verdict:
        return cls(
            Phase(data["phase"]),
            str(data.get("message", "")),
            tuple(Check.from_dict(c) for c in data.get("checks", ())),
        )

    def numbers(self) -> dict[str, float | int | str]:
        """Flat ``check.field -> number`` for events and status tables (JSON: an infinite
        value is ``"inf"``)."""
        out: dict[str, float | int | str] = {}
        for c in self.checks:
            for key in ("value", "threshold", "baseline", "p_value", "samples"):
                v = getattr(c, key)
                if v is not None:
                    out[f"{c.name}.{key}"] = _json_number(float(v))
        return out


def combine(checks: Sequence[Check]) -> Verdict:
    """One verdict from several checks: the worst phase, with the non-passing checks named."""
    if not checks:
        return Verdict(Phase.INCONCLUSIVE, "no checks were evaluated")
    phase = worst(c.phase for c in checks)
    if phase is Phase.SUCCESSFUL:
        message = "; ".join(c.message for c in checks)
    else:
        message = "; ".join(c.message for c in checks if c.phase is not Phase.SUCCESSFUL)
    return Verdict(phase, message, tuple(checks))


def _no_data(policy: NoData, what: str) -> Verdict:
    phase = {
        NoData.INCONCLUSIVE: Phase.INCONCLUSIVE,
        NoData.PASS: Phase.SUCCESSFUL,
        NoData.FAIL: Phase.FAILED,
    }[policy]
    check = Check("no_data", phase, f"{what} (no-data policy: {policy.value})", samples=0)
    return Verdict(phase, check.message, (check,))


# -- measurements -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Window:
    """Requests, errors and latencies of one pool over one interval.

    Latencies come either as raw samples (``latencies_ms``) or as a cumulative Prometheus
    histogram (``latency_buckets``: ascending ``(le, count)`` pairs, ``le`` in milliseconds,
    the last usually ``inf``). Raw samples win when both are given.
    """

    requests: int = 0
    errors: int = 0
    latencies_ms: tuple[float, ...] = ()
    latency_buckets: tuple[tuple[float, int], ...] = ()

    def __post_init__(self) -> None:
        if self.requests < 0 or self.errors < 0:
            raise AnalysisConfigInvalid("request and error counts cannot be negative")
        if self.errors > self.requests:
            raise AnalysisConfigInvalid(
                f"{self.errors} errors out of {self.requests} requests",
                "errors are counted among requests, so they cannot exceed them",
            )
        bounds = [le for le, _ in self.latency_buckets]
        counts = [c for _, c in self.latency_buckets]
        if bounds != sorted(bounds) or counts != sorted(counts) or any(c < 0 for c in counts):
            raise AnalysisConfigInvalid(
                "latency buckets must be cumulative: ascending bounds, non-decreasing counts"
            )

    @property
    def error_rate(self) -> float | None:
        return self.errors / self.requests if self.requests else None

    def to_dict(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "errors": self.errors,
            "latencies_ms": list(self.latencies_ms),
            "latency_buckets": [[_json_number(le), c] for le, c in self.latency_buckets],
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Window:
        return cls(
            int(data.get("requests", 0)),
            int(data.get("errors", 0)),
            tuple(float(v) for v in data.get("latencies_ms", ())),
            tuple((float(le), int(c)) for le, c in data.get("latency_buckets", ())),
        )

    @property
    def latency_count(self) -> int:
        if self.latencies_ms:
            return len(self.latencies_ms)
        return self.latency_buckets[-1][1] if self.latency_buckets else 0

    def quantile(self, q: float) -> float | None:
        """The ``q`` quantile of latency in ms (interpolated), or None without latency data."""
        if self.latencies_ms:
            return _sample_quantile(sorted(self.latencies_ms), q)
        if self.latency_buckets:
            return histogram_quantile(q, self.latency_buckets)
        return None

    def latency_quantile(self, q: float) -> float | None:
        """The ``q`` quantile of latency in ms with every error counted as slower than any
        answer (``inf`` when errors reach past it): a version that fails fast is not fast.

        The latency data describes the answers that were not errors (the built-in router's
        histogram counts no 5xx); errors are ``errors / requests`` of all. None without
        latency data, unless every request failed."""
        if not 0.0 <= q <= 1.0:
            raise AnalysisConfigInvalid(f"quantile {q} is outside [0, 1]")
        if self.latency_count == 0:
            return math.inf if self.requests and self.errors >= self.requests else None
        failed = self.errors / self.requests if self.requests else 0.0
        if failed >= 1.0 or q > 1.0 - failed:
            return math.inf
        return self.quantile(q / (1.0 - failed))

    def latency_groups(self) -> tuple[tuple[float, int], ...]:
        """Latencies as ``(value, count)`` groups, a histogram bucket counting at its bound;
        errors are one more group, slower than every answer (``inf``)."""
        out: list[tuple[float, int]] = []
        if self.latencies_ms:
            out = sorted(Counter(self.latencies_ms).items())
        previous = 0
        for le, count in () if self.latencies_ms else self.latency_buckets:
            if count > previous:
                out.append((le, count - previous))
            previous = count
        if self.errors:
            out.append((math.inf, self.errors))
        return tuple(out)

    def since(self, earlier: Window) -> Window:
        """The increase from ``earlier`` to this window's cumulative counters.

        A counter that went down was reset (the process restarted), so its new value is the
        increase, as Prometheus' ``increase()`` assumes. Raw latency samples are not cumulative
        and are kept as they are.
        """
        requests = _delta(self.requests, earlier.requests)
        errors = min(_delta(self.errors, earlier.errors), requests)
        before = earlier.latency_buckets

        def at(le: float) -> int:
            # A histogram may list only the bounds around buckets that hold samples (the
            # router's does): its count at any bound is the count at the last one listed.
            i = bisect.bisect_right([b for b, _ in before], le)
            return before[i - 1][1] if i else 0

        reset = any(c < at(le) for le, c in self.latency_buckets) or (
            bool(before) and not self.latency_buckets
        )
        buckets = tuple((le, c if reset else c - at(le)) for le, c in self.latency_buckets)
        return Window(requests, errors, self.latencies_ms, buckets)


def _delta(later: int, earlier: int) -> int:
    return later if later < earlier else later - earlier


def window_from_samples(
    samples: Iterable[promtext.Sample],
    *,
    requests: str,
    errors: str,
    latency: str | None = None,
    match: promtext.LabelMatch | None = None,
    error_match: promtext.LabelMatch | None = None,
    latency_unit_ms: float = 1.0,
) -> Window:
    """A cumulative ``Window`` from scraped samples, e.g. one pool of the router's metrics.

    ``requests``/``errors`` are counter names summed over series matching ``match`` (errors
    also matching ``error_match``, so one counter with a status label serves both);
    ``latency`` is a histogram base name whose bounds are multiplied by ``latency_unit_ms``
    (1000 for a histogram in seconds).
    """
    samples = list(samples)
    base = dict(match or {})
    n = int(promtext.total(samples, requests, base))
    e = int(promtext.total(samples, errors, {**base, **(error_match or {})}))
    buckets: tuple[tuple[float, int], ...] = ()
    if latency is not None:
        buckets = tuple(
            (le * latency_unit_ms, c) for le, c in promtext.buckets(samples, latency, base)
        )
    return Window(n, min(e, n), (), buckets)


def histogram_quantile(q: float, buckets: Sequence[tuple[float, int]]) -> float | None:
    """Prometheus' ``histogram_quantile`` over cumulative ``(le, count)`` buckets.

    Interpolates linearly inside the bucket holding the rank; a rank in the ``+Inf`` bucket
    answers the highest finite bound, since nothing better is known.
    """
    if not 0.0 <= q <= 1.0:
        raise AnalysisConfigInvalid(f"quantile {q} is outside [0, 1]")
    if not buckets or buckets[-1][1] == 0:
        return None
    rank = q * buckets[-1][1]
    lower_bound, lower_count = 0.0, 0
    for i, (le, count) in enumerate(buckets):
        if count >= rank and count > 0:
            if math.isinf(le):
                finite = [b for b, _ in buckets[:i] if not math.isinf(b)]
                return finite[-1] if finite else None
            if i == 0 and le <= 0:
                return le
            if count == lower_count:
                return le
            return lower_bound + (le - lower_bound) * (rank - lower_count) / (count - lower_count)
        lower_bound, lower_count = le, count
    return None


def _sample_quantile(ordered: Sequence[float], q: float) -> float:
    if not 0.0 <= q <= 1.0:
        raise AnalysisConfigInvalid(f"quantile {q} is outside [0, 1]")
    position = (len(ordered) - 1) * q
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


# -- statistics -------------------------------------------------------------------------------


@dataclass(frozen=True)
class TestResult:
    """A one-sided test of "the canary is worse": its statistic, p-value and method name."""

    __test__ = False  # not a pytest test class, despite the name

    statistic: float
    p_value: float
    method: str


def _normal_sf(z: float) -> float:
    return 0.5 * math.erfc(z / math.sqrt(2.0))


def two_proportion_z_test(x1: int, n1: int, x2: int, n2: int) -> TestResult:
    """Is proportion ``x1/n1`` greater than ``x2/n2``? Pooled z-test, one-sided."""
    _check_counts(x1, n1, x2, n2)
    pooled = (x1 + x2) / (n1 + n2)
    se = math.sqrt(pooled * (1.0 - pooled) * (1.0 / n1 + 1.0 / n2))
    if se == 0.0:  # both all-success or both all-failure: no evidence of a difference
        return TestResult(0.0, 1.0, "two-proportion z-test")
    z = (x1 / n1 - x2 / n2) / se
    return TestResult(z, _normal_sf(z), "two-proportion z-test")


def fisher_exact_greater(x1: int, n1: int, x2: int, n2: int) -> TestResult:
    """Fisher's exact test that ``x1/n1`` is greater than ``x2/n2`` (hypergeometric tail)."""
    _check_counts(x1, n1, x2, n2)
    n, k = n1 + n2, x1 + x2

    def log_pmf(i: int) -> float:
        return _log_choose(k, i) + _log_choose(n - k, n1 - i) - _log_choose(n, n1)

    top = min(k, n1)
    p = sum(math.exp(log_pmf(i)) for i in range(x1, top + 1))
    odds = math.inf if x2 * (n1 - x1) == 0 else (x1 * (n2 - x2)) / (x2 * (n1 - x1))
    return TestResult(odds, min(1.0, p), "Fisher's exact test")


def error_rate_test(x1: int, n1: int, x2: int, n2: int) -> TestResult:
    """Fisher's exact test when an expected cell count is below 5, else the z-test."""
    _check_counts(x1, n1, x2, n2)
    n, k = n1 + n2, x1 + x2
    expected = [n1 * k / n, n2 * k / n, n1 * (n - k) / n, n2 * (n - k) / n]
    if min(expected) < 5.0:
        return fisher_exact_greater(x1, n1, x2, n2)
    return two_proportion_z_test(x1, n1, x2, n2)


def _check_counts(x1: int, n1: int, x2: int, n2: int) -> None:
    if n1 <= 0 or n2 <= 0 or not 0 <= x1 <= n1 or not 0 <= x2 <= n2:
        raise AnalysisConfigInvalid(f"bad counts for a proportion test: {x1}/{n1} vs {x2}/{n2}")


def _log_choose(n: int, k: int) -> float:
    return math.lgamma(n + 1) - math.lgamma(k + 1) - math.lgamma(n - k + 1)


def mann_whitney_u(x: Sequence[float], y: Sequence[float]) -> TestResult:
    """Do values of ``x`` tend to be larger than those of ``y``? One-sided Mann-Whitney U.

    Normal approximation with tie and continuity corrections (scipy's ``asymptotic`` method).
    """
    return mann_whitney_u_grouped(
        tuple(Counter(x).items()),
        tuple(Counter(y).items()),
    )


def mann_whitney_u_grouped(
    x: Sequence[tuple[float, int]], y: Sequence[tuple[float, int]]
) -> TestResult:
    """``mann_whitney_u`` over ``(value, count)`` groups, so histograms need no expanding."""
    counts: dict[float, list[int]] = {}
    for value, c in x:
        counts.setdefault(value, [0, 0])[0] += c
    for value, c in y:
        counts.setdefault(value, [0, 0])[1] += c
    n1 = sum(c for _, c in x)
    n2 = sum(c for _, c in y)
    if n1 <= 0 or n2 <= 0:
        raise AnalysisConfigInvalid("Mann-Whitney U needs at least one sample on each side")
    rank_sum = 0.0
    ties = 0.0
    below = 0
    for value in sorted(counts):
        cx, cy = counts[value]
        t = cx + cy
        rank_sum += cx * (below + (t + 1) / 2.0)  # tied values share their average rank
        ties += t**3 - t
        below += t
    u = rank_sum - n1 * (n1 + 1) / 2.0
    n = n1 + n2
    variance = n1 * n2 / 12.0 * ((n + 1) - ties / (n * (n - 1)))
    if variance <= 0.0:  # every value identical
        return TestResult(u, 1.0, "Mann-Whitney U")
    z = (u - n1 * n2 / 2.0 - 0.5) / math.sqrt(variance)
    return TestResult(u, _normal_sf(z), "Mann-Whitney U")


def _grouped_median(groups: Sequence[tuple[float, int]]) -> float | None:
    ordered = sorted(groups)
    n = sum(c for _, c in ordered)
    if n == 0:
        return None
    seen = 0
    for value, c in ordered:
        seen += c
        if seen * 2 >= n:
            return value
    return ordered[-1][0]


# -- judges -----------------------------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class ThresholdJudge:
    """Fixed limits on the canary, absolute or relative to the baseline.

    - ``max_error_rate``: canary error rate at most this (0.01 = 1%).
    - ``max_increase``: canary error rate at most this much above the baseline's (absolute:
      0.005 = half a percentage point).
    - ``max_p95_latency_ms``: canary p95 latency at most this (the ``quantile`` judged,
      0.95 unless set: 0.99 for p99).
    - ``max_latency_increase``: canary p95 at most this fraction above the baseline's p95
      (0.2 = 20% slower).

    Latency counts errors as slower than any answer (``Window.latency_quantile``), so a
    canary failing more than 5% of its requests fails a p95 limit whatever its speed.

    The canary needs ``min_requests`` requests, and a relative check needs as many on the
    baseline, else that part is Inconclusive. ``no_data`` decides when the canary got none.
    """

    max_error_rate: float | None = None
    max_increase: float | None = None
    max_p95_latency_ms: float | None = None
    max_latency_increase: float | None = None
    min_requests: int = 50
    no_data: NoData = NoData.INCONCLUSIVE
    quantile: float = 0.95

    def __post_init__(self) -> None:
        if not 0.0 < self.quantile < 1.0:
            raise AnalysisConfigInvalid(f"latency quantile {self.quantile} is outside (0, 1)")
        limits = (
            self.max_error_rate,
            self.max_increase,
            self.max_p95_latency_ms,
            self.max_latency_increase,
        )
        if all(v is None for v in limits):
            raise AnalysisConfigInvalid(
                "a threshold judge needs at least one limit",
                "set max_error_rate, max_increase, max_p95_latency_ms or max_latency_increase",
            )
        if any(v is not None and v < 0 for v in limits):
            raise AnalysisConfigInvalid("threshold limits cannot be negative")
        for name in ("max_error_rate", "max_increase"):
            v = getattr(self, name)
            if v is not None and v > 1:
                raise AnalysisConfigInvalid(
                    f"{name} {v} is above 1", "error rates are fractions: 0.01 means 1%"
                )
        if self.min_requests < 1:
            raise AnalysisConfigInvalid("min_requests must be at least 1")

    def judge(self, canary: Window, baseline: Window | None = None) -> Verdict:
        """The verdict on ``canary``, with ``baseline`` for the relative limits."""
        if canary.requests == 0:
            return _no_data(self.no_data, "the canary received no requests")
        if canary.requests < self.min_requests:
            return _too_few(canary.requests, self.min_requests)
        checks: list[Check] = []
        rate = canary.errors / canary.requests
        base_ok = baseline is not None and baseline.requests >= self.min_requests
        base_rate = baseline.error_rate if baseline is not None and base_ok else None
        if self.max_error_rate is not None:
            checks.append(
                _limit("error_rate", rate, self.max_error_rate, canary.requests, pct=True)
            )
        if self.max_increase is not None:
            if base_rate is None:
                checks.append(_no_baseline("error_rate_increase", baseline, self.min_requests))
            else:
                increase = rate - base_rate
                checks.append(
                    Check(
                        "error_rate_increase",
                        Phase.FAILED if increase > self.max_increase else Phase.SUCCESSFUL,
                        f"canary error rate {_pct(rate)} vs baseline {_pct(base_rate)}: "
                        f"increase {_pct(increase)} "
                        f"{'>' if increase > self.max_increase else '<='} "
                        f"max {_pct(self.max_increase)}",
                        value=increase,
                        threshold=self.max_increase,
                        baseline=base_rate,
                        samples=canary.requests,
                        baseline_samples=baseline.requests if baseline else None,
                    )
                )
        q = self.quantile
        p95 = canary.latency_quantile(q)
        name = f"p{q * 100:g}_latency_ms"
        if self.max_p95_latency_ms is not None:
            if p95 is None:
                checks.append(_no_latency(name, "the canary"))
            else:
                checks.append(_limit(name, p95, self.max_p95_latency_ms, canary.requests))
        if self.max_latency_increase is not None:
            base_p95 = baseline.latency_quantile(q) if baseline is not None and base_ok else None
            if p95 is None:
                checks.append(_no_latency("latency_increase", "the canary"))
            elif base_p95 is None:
                checks.append(_no_baseline("latency_increase", baseline, self.min_requests))
            else:
                checks.append(_latency_ratio(p95, base_p95, self.max_latency_increase, q))
        return combine(checks)


@dataclass(frozen=True, kw_only=True)
class StatisticalJudge:
    """The canary fails only when it is worse than the baseline with significance.

    Errors: one-sided two-proportion z-test, or Fisher's exact test when counts are small.
    Latency: one-sided Mann-Whitney U on the latency distributions. A difference must also
    exceed a practical margin to fail (``error_margin`` absolute on the rate,
    ``latency_margin`` as a fraction of the baseline median), so a tiny but significant change
    at high traffic does not roll back a release. Fewer than ``min_requests`` requests or
    ``min_latency_samples`` latencies on either side make that test Inconclusive.
    """

    alpha: float = 0.05
    min_requests: int = 100
    min_latency_samples: int = 50
    error_margin: float = 0.0
    latency_margin: float = 0.0
    errors: bool = True
    latency: bool = True
    no_data: NoData = NoData.INCONCLUSIVE

    def __post_init__(self) -> None:
        if not 0.0 < self.alpha < 1.0:
            raise AnalysisConfigInvalid(f"alpha {self.alpha} must be between 0 and 1")
        if self.min_requests < 1 or self.min_latency_samples < 1:
            raise AnalysisConfigInvalid("minimum sample sizes must be at least 1")
        if self.error_margin < 0 or self.latency_margin < 0:
            raise AnalysisConfigInvalid("margins cannot be negative")
        if not (self.errors or self.latency):
            raise AnalysisConfigInvalid("a statistical judge needs errors, latency or both")

    def judge(self, canary: Window, baseline: Window) -> Verdict:
        """The verdict on ``canary`` compared with ``baseline`` over the same interval."""
        if canary.requests == 0:
            return _no_data(self.no_data, "the canary received no requests")
        checks: list[Check] = []
        if self.errors:
            checks.append(self._errors(canary, baseline))
        if self.latency:
            checks.append(self._latency(canary, baseline))
        return combine(checks)

    def _errors(self, canary: Window, baseline: Window) -> Check:
        n1, n2 = canary.requests, baseline.requests
        name = "error_rate_test"
        if min(n1, n2) < self.min_requests:
            return self._too_few(name, "requests to compare error rates", n1, n2, self.min_requests)
        r1, r2 = canary.errors / n1, baseline.errors / n2
        test = error_rate_test(canary.errors, n1, baseline.errors, n2)
        failed = test.p_value < self.alpha and r1 - r2 > self.error_margin
        compared = f"canary error rate {_pct(r1)} vs baseline {_pct(r2)}"
        return self._tested(name, failed, "higher", compared, test, (r1, r2), (n1, n2))

    def _latency(self, canary: Window, baseline: Window) -> Check:
        a, b = canary.latency_groups(), baseline.latency_groups()
        n1, n2 = sum(c for _, c in a), sum(c for _, c in b)
        name = "latency_test"
        if min(n1, n2) < self.min_latency_samples:
            return self._too_few(
                name, "latency samples to compare", n1, n2, self.min_latency_samples
            )
        test = mann_whitney_u_grouped(a, b)
        m1, m2 = _grouped_median(a) or 0.0, _grouped_median(b) or 0.0
        slower = (m1 / m2 - 1.0) if m2 > 0 else (math.inf if m1 > 0 else 0.0)
        failed = test.p_value < self.alpha and slower > self.latency_margin
        compared = f"canary median latency {m1:g} ms vs baseline {m2:g} ms"
        return self._tested(name, failed, "slower", compared, test, (m1, m2), (n1, n2))

    def _too_few(self, name: str, what: str, n1: int, n2: int, minimum: int) -> Check:
        """Inconclusive: either side has fewer than ``minimum`` samples to test."""
        return Check(
            name,
            Phase.INCONCLUSIVE,
            f"too few {what}: canary {n1}, baseline {n2}, minimum {minimum} each",
            samples=n1,
            baseline_samples=n2,
            threshold=self.alpha,
        )

    def _tested(
        self,
        name: str,
        failed: bool,
        worse: str,
        compared: str,
        test: TestResult,
        values: tuple[float, float],
        samples: tuple[int, int],
    ) -> Check:
        """A test's verdict: the canary's and the baseline's figures (``values``, said in
        ``compared``) and whether the canary is significantly ``worse``."""
        significance = f"significantly {worse}" if failed else f"not significantly {worse}"
        return Check(
            name,
            Phase.FAILED if failed else Phase.SUCCESSFUL,
            f"{compared}: p={test.p_value:.4g} ({test.method}), {significance}"
            f" at alpha {self.alpha:g}",
            value=values[0],
            threshold=self.alpha,
            baseline=values[1],
            p_value=test.p_value,
            samples=samples[0],
            baseline_samples=samples[1],
        )


def _pct(rate: float) -> str:
    return f"{rate * 100:.3g}%"


def _limit(name: str, value: float, limit: float, samples: int, *, pct: bool = False) -> Check:
    shown = _pct if pct else (lambda v: f"{v:g} ms")
    over = value > limit
    label = name.replace("_ms", "").replace("_", " ")
    return Check(
        name,
        Phase.FAILED if over else Phase.SUCCESSFUL,
        f"canary {label} {shown(value)} {'>' if over else '<='} max {shown(limit)}",
        value=value,
        threshold=limit,
        samples=samples,
    )


def _latency_ratio(p95: float, base_p95: float, limit: float, q: float = 0.95) -> Check:
    # A zero baseline makes any canary latency an infinite increase, and none no increase;
    # an infinite one (errors past the quantile) fails whatever the canary does.
    if math.isinf(base_p95):
        increase = 0.0 if math.isinf(p95) else -1.0
    elif base_p95 > 0:
        increase = p95 / base_p95 - 1.0
    else:
        increase = math.inf if p95 > 0 else 0.0
    over = increase > limit
    return Check(
        "latency_increase",
        Phase.FAILED if over else Phase.SUCCESSFUL,
        f"canary p{q * 100:g} {p95:g} ms vs baseline {base_p95:g} ms: {increase * 100:+.3g}% "
        f"{'>' if over else '<='} max +{limit * 100:.3g}%",
        value=increase,
        threshold=limit,
        baseline=base_p95,
    )


def _too_few(n: int, minimum: int) -> Verdict:
    check = Check(
        "sample_size",
        Phase.INCONCLUSIVE,
        f"only {n} canary requests, fewer than the minimum {minimum}",
        value=n,
        threshold=minimum,
        samples=n,
    )
    return Verdict(Phase.INCONCLUSIVE, check.message, (check,))


def _no_baseline(name: str, baseline: Window | None, minimum: int) -> Check:
    got = 0 if baseline is None else baseline.requests
    return Check(
        name,
        Phase.INCONCLUSIVE,
        f"baseline has {got} requests, fewer than the minimum {minimum} to compare against",
        baseline_samples=got,
        threshold=None,
    )


def _no_latency(name: str, who: str) -> Check:
    return Check(name, Phase.INCONCLUSIVE, f"no latency data for {who}", samples=0)


# -- aggregation ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Assessment:
    """The phase of a run of measurements and the tallies it was decided on."""

    phase: Phase
    message: str
    measurements: int = 0
    successful: int = 0
    failed: int = 0
    inconclusive: int = 0
    errors: int = 0
    consecutive_errors: int = 0
    limits: Mapping[str, int] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "phase": self.phase.value,
            "message": self.message,
            "measurements": self.measurements,
            "successful": self.successful,
            "failed": self.failed,
            "inconclusive": self.inconclusive,
            "errors": self.errors,
            "consecutive_errors": self.consecutive_errors,
            "limits": dict(self.limits),
        }


def assess(
    measurements: Sequence[Verdict | Phase],
    *,
    failure_limit: int = 0,
    inconclusive_limit: int = 0,
    consecutive_error_limit: int = 4,
    count: int | None = None,
    terminating: bool = False,
) -> Assessment:
    """Fold measurements into one phase, as argo-rollouts' ``assessMetricStatus`` does.

    Running while the last measurement is in flight; then Failed when failures exceed
    ``failure_limit``, Inconclusive when inconclusive ones exceed ``inconclusive_limit``,
    Error when the trailing run of errors exceeds ``consecutive_error_limit`` (checked in that
    order, the later winning, as in Argo); Successful once ``count`` measurements were taken
    or the run is ``terminating``; Running otherwise. No measurement at all is Pending, or
    Successful when terminating (stopped before it measured anything).
    """
    if min(failure_limit, inconclusive_limit, consecutive_error_limit) < 0:
        raise AnalysisConfigInvalid("analysis limits cannot be negative")
    limits = {
        "failure_limit": failure_limit,
        "inconclusive_limit": inconclusive_limit,
        "consecutive_error_limit": consecutive_error_limit,
    }
    phases = [m.phase if isinstance(m, Verdict) else m for m in measurements]
    tally = Counter(phases)
    trailing = 0
    for p in reversed(phases):
        if p is not Phase.ERROR:
            break
        trailing += 1

    def result(phase: Phase, message: str) -> Assessment:
        return Assessment(
            phase,
            message,
            len(phases),
            tally[Phase.SUCCESSFUL],
            tally[Phase.FAILED],
            tally[Phase.INCONCLUSIVE],
            tally[Phase.ERROR],
            trailing,
            limits,
        )

    if not phases:
        if terminating:
            return result(Phase.SUCCESSFUL, "stopped before any measurement was taken")
        return result(Phase.PENDING, "no measurement taken yet")
    if not phases[-1].completed:
        return result(Phase.RUNNING, "a measurement is in flight")
    decided: tuple[Phase, str] | None = None
    if tally[Phase.FAILED] > failure_limit:
        decided = (
            Phase.FAILED,
            f"failed ({tally[Phase.FAILED]}) > failure_limit ({failure_limit})",
        )
    if tally[Phase.INCONCLUSIVE] > inconclusive_limit:
        decided = (
            Phase.INCONCLUSIVE,
            f"inconclusive ({tally[Phase.INCONCLUSIVE]}) > inconclusive_limit "
            f"({inconclusive_limit})",
        )
    if trailing > consecutive_error_limit:
        decided = (
            Phase.ERROR,
            f"consecutiveErrors ({trailing}) > consecutive_error_limit ({consecutive_error_limit})",
        )
    if decided is not None:
        return result(*decided)
    if count is not None and len(phases) >= count:
        return result(Phase.SUCCESSFUL, f"count ({count}) reached")
    if terminating:
        return result(Phase.SUCCESSFUL, "run terminated within limits")
    return result(Phase.RUNNING, f"{len(phases)} measurements within limits")


def metric_phase(assessment: Assessment, last: Verdict) -> Phase:
    """One metric's phase after a measurement: the assessment's, except that a run ending
    within its limits passes only if its last measurement did (a last one without enough
    traffic is Inconclusive, a last one that errored is an Error)."""
    if assessment.phase is Phase.SUCCESSFUL and last.phase is not Phase.SUCCESSFUL:
        return last.phase
    return assessment.phase


def run_phase(metrics: Sequence[Phase], *, terminating: bool = False) -> Phase:
    """An analysis run over several metrics, as Argo decides an AnalysisRun: the worst metric
    that ended badly (Failed, Error, Inconclusive) ends the run at once; otherwise it is
    Successful once every metric is, and Running until then."""
    bad = [p for p in metrics if p.completed and p is not Phase.SUCCESSFUL]
    if bad:
        return worst(bad)
    if metrics and all(p is Phase.SUCCESSFUL for p in metrics):
        return Phase.SUCCESSFUL
    return Phase.SUCCESSFUL if terminating and not metrics else Phase.RUNNING


# -- json helpers -----------------------------------------------------------------------------


def _json_number(v: float | int) -> float | int | str:
    if isinstance(v, float) and not math.isfinite(v):
        return "inf" if v > 0 else ("-inf" if v < 0 else "nan")
    return v


def _float_or_none(v: Any) -> float | None:
    return None if v is None else float(v)


def _int_or_none(v: Any) -> int | None:
    return None if v is None else int(v)
