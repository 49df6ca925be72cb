"""Canary judges, their statistics, Argo-style aggregation and the metrics text parser."""

from __future__ import annotations

import math
import re
from collections.abc import Callable
from typing import Any

import pytest

from shipyard.domain import analysis, promtext
from shipyard.domain.analysis import (
    AnalysisConfigInvalid,
    NoData,
    Phase,
    StatisticalJudge,
    ThresholdJudge,
    Verdict,
    Window,
    assess,
)

INF = math.inf
OK, FAIL, INC, ERR, RUN = (
    Phase.SUCCESSFUL,
    Phase.FAILED,
    Phase.INCONCLUSIVE,
    Phase.ERROR,
    Phase.RUNNING,
)

# -- statistics -------------------------------------------------------------------------------


def test_z_test_matches_the_textbook_value() -> None:
    """3% against 1% errors on 1000 requests each gives z 3.194 and p 0.0007."""
    r = analysis.two_proportion_z_test(30, 1000, 10, 1000)
    assert r.statistic == pytest.approx(3.19438, abs=1e-4)
    assert r.p_value == pytest.approx(0.000700, abs=2e-5)


def test_z_test_without_variation_finds_nothing() -> None:
    """No errors anywhere is no evidence that the canary is worse."""
    assert analysis.two_proportion_z_test(0, 500, 0, 500).p_value == 1.0


@pytest.mark.parametrize(
    ("x1", "n1", "x2", "n2", "p"),
    [
        pytest.param(3, 4, 1, 4, 17 / 70, id="lady-tasting-tea"),
        pytest.param(3, 10, 0, 10, 19448 / 184756, id="three-vs-none"),
        pytest.param(0, 10, 3, 10, 1.0, id="canary-better"),
        pytest.param(3, 200, 0, 200, (200 * 199 * 198) / (400 * 399 * 398), id="rare-errors"),
    ],
)
def test_fisher_exact_matches_the_hypergeometric_tail(
    x1: int, n1: int, x2: int, n2: int, p: float
) -> None:
    """Fisher's one-sided p-value equals the exact hypergeometric tail."""
    assert analysis.fisher_exact_greater(x1, n1, x2, n2).p_value == pytest.approx(p, rel=1e-9)


@pytest.mark.parametrize(
    ("x1", "n1", "x2", "n2", "method"),
    [
        pytest.param(3, 200, 0, 200, "Fisher's exact test", id="few-errors-fisher"),
        pytest.param(30, 1000, 10, 1000, "two-proportion z-test", id="enough-errors-z"),
    ],
)
def test_error_rate_test_picks_fisher_for_small_counts(
    x1: int, n1: int, x2: int, n2: int, method: str
) -> None:
    """An expected cell count below 5 switches to Fisher's exact test."""
    assert analysis.error_rate_test(x1, n1, x2, n2).method == method


@pytest.mark.parametrize(
    ("x1", "n1", "x2", "n2"),
    [(1, 0, 0, 10), (11, 10, 0, 10), (-1, 10, 0, 10), (0, 10, 0, 0)],
)
def test_proportion_tests_refuse_impossible_counts(x1: int, n1: int, x2: int, n2: int) -> None:
    """Counts that cannot be proportions raise analysis-config-invalid."""
    with pytest.raises(AnalysisConfigInvalid):
        analysis.error_rate_test(x1, n1, x2, n2)


def test_mann_whitney_separated_samples() -> None:
    """Fully separated samples of three give U 9 and p 0.0404 (scipy's asymptotic value)."""
    r = analysis.mann_whitney_u([4, 5, 6], [1, 2, 3])
    assert r.statistic == 9
    assert r.p_value == pytest.approx(0.040428, abs=1e-5)


def test_mann_whitney_handles_ties() -> None:
    """Tied values share their average rank and shrink the variance."""
    r = analysis.mann_whitney_u([1, 2, 2, 3], [1, 1, 2])
    assert r.statistic == 9
    assert r.p_value == pytest.approx(0.16987, abs=1e-4)


def test_mann_whitney_grouped_equals_expanded() -> None:
    """Counting values in groups gives the same test as listing every sample."""
    grouped = analysis.mann_whitney_u_grouped([(1.0, 1), (2.0, 2), (3.0, 1)], [(1.0, 2), (2.0, 1)])
    assert grouped == analysis.mann_whitney_u([1, 2, 2, 3], [1, 1, 2])


def test_mann_whitney_identical_values_find_nothing() -> None:
    """All-equal samples carry no evidence of a shift."""
    assert analysis.mann_whitney_u([5, 5], [5, 5, 5]).p_value == 1.0


# -- windows and quantiles --------------------------------------------------------------------

BUCKETS = ((10.0, 50), (50.0, 90), (100.0, 100), (INF, 100))


@pytest.mark.parametrize(
    ("q", "buckets", "expected"),
    [
        pytest.param(0.95, BUCKETS, 75.0, id="interpolated-p95"),
        pytest.param(0.5, BUCKETS, 10.0, id="median-at-bound"),
        pytest.param(0.25, BUCKETS, 5.0, id="first-bucket-from-zero"),
        pytest.param(0.95, ((10.0, 50), (INF, 100)), 10.0, id="inf-bucket-highest-bound"),
        pytest.param(0.95, ((10.0, 0), (INF, 0)), None, id="empty"),
    ],
)
def test_histogram_quantile_like_prometheus(
    q: float, buckets: tuple[tuple[float, int], ...], expected: float | None
) -> None:
    """Quantiles interpolate inside the bucket that holds the rank, as Prometheus does."""
    assert analysis.histogram_quantile(q, buckets) == expected


def test_window_quantile_prefers_raw_samples() -> None:
    """Raw latency samples are interpolated between order statistics."""
    w = Window(5, 0, (50.0, 10.0, 40.0, 20.0, 30.0), BUCKETS)
    assert w.quantile(0.95) == pytest.approx(48.0)
    assert w.latency_count == 5


def test_window_since_subtracts_counters() -> None:
    """A window between two scrapes is the increase of each counter and bucket."""
    earlier = Window(100, 10, (), ((50.0, 60), (INF, 100)))
    later = Window(250, 16, (), ((50.0, 140), (INF, 250)))
    assert later.since(earlier) == Window(150, 6, (), ((50.0, 80), (INF, 150)))


def test_window_since_survives_a_counter_reset() -> None:
    """A counter that went down restarted, so its value is the whole increase."""
    earlier = Window(1000, 10, (), ((50.0, 900), (INF, 1000)))
    later = Window(40, 2, (), ((50.0, 30), (INF, 40)))
    assert later.since(earlier) == later


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda: Window(10, 11), id="more-errors-than-requests"),
        pytest.param(lambda: Window(-1, 0), id="negative"),
        pytest.param(lambda: Window(10, 0, (), ((50.0, 9), (10.0, 10))), id="bounds-descending"),
        pytest.param(lambda: Window(10, 0, (), ((10.0, 9), (50.0, 5))), id="counts-descending"),
    ],
)
def test_impossible_windows_are_refused(make: Callable[[], object]) -> None:
    """A window that cannot have been measured raises analysis-config-invalid."""
    with pytest.raises(AnalysisConfigInvalid):
        make()


# -- threshold judge --------------------------------------------------------------------------

LAT = (10.0, 20.0, 30.0, 40.0, 50.0)  # p95 48 ms
CANARY_1PCT = Window(1000, 10, LAT)
RATE = ThresholdJudge(max_error_rate=0.01, min_requests=50)
INCREASE = ThresholdJudge(max_increase=0.005)
P95 = ThresholdJudge(max_p95_latency_ms=45)
LATENCY_UP = ThresholdJudge(max_latency_increase=0.2)

THRESHOLD_CASES = [
    pytest.param(RATE, Window(0, 0), None, INC, id="no-data-inconclusive"),
    pytest.param(
        ThresholdJudge(max_error_rate=0.01, no_data=NoData.PASS),
        Window(),
        None,
        OK,
        id="no-data-pass",
    ),
    pytest.param(
        ThresholdJudge(max_error_rate=0.01, no_data=NoData.FAIL),
        Window(),
        None,
        FAIL,
        id="no-data-fail",
    ),
    pytest.param(RATE, Window(10, 10), None, INC, id="too-few-requests"),
    pytest.param(RATE, Window(100, 2), None, FAIL, id="rate-over"),
    pytest.param(RATE, Window(100, 1), None, OK, id="rate-at-limit"),
    pytest.param(INCREASE, CANARY_1PCT, Window(1000, 4), FAIL, id="increase-over"),
    pytest.param(INCREASE, CANARY_1PCT, Window(1000, 6), OK, id="increase-within"),
    pytest.param(INCREASE, CANARY_1PCT, None, INC, id="increase-no-baseline"),
    pytest.param(INCREASE, CANARY_1PCT, Window(10, 0), INC, id="increase-thin-baseline"),
    pytest.param(P95, CANARY_1PCT, None, FAIL, id="p95-over"),
    pytest.param(ThresholdJudge(max_p95_latency_ms=50), CANARY_1PCT, None, OK, id="p95-within"),
    pytest.param(P95, Window(1000, 10), None, INC, id="p95-no-latency"),
    pytest.param(
        LATENCY_UP, Window(1000, 0, LAT), Window(1000, 0, (40.0,) * 10), OK, id="latency-at-limit"
    ),
    pytest.param(
        LATENCY_UP, Window(1000, 0, LAT), Window(1000, 0, (30.0,) * 10), FAIL, id="latency-up-over"
    ),
    pytest.param(
        LATENCY_UP, CANARY_1PCT, Window(1000, 0, (40.0,) * 10), FAIL, id="errors-are-slowest"
    ),
    pytest.param(
        ThresholdJudge(max_p95_latency_ms=1000), Window(100, 6, LAT), None, FAIL, id="6pct-5xx"
    ),
    pytest.param(
        ThresholdJudge(max_p95_latency_ms=1000, quantile=0.99),
        Window(100, 100),
        None,
        FAIL,
        id="all-failed-no-latency",
    ),
    pytest.param(LATENCY_UP, CANARY_1PCT, Window(1000, 0), INC, id="latency-up-no-baseline"),
    pytest.param(
        ThresholdJudge(max_error_rate=0.001, max_latency_increase=0.2),
        CANARY_1PCT,
        Window(1000, 0),
        FAIL,
        id="failed-beats-inconclusive",
    ),
]


@pytest.mark.parametrize(("judge", "canary", "baseline", "phase"), THRESHOLD_CASES)
def test_threshold_judge(
    judge: ThresholdJudge, canary: Window, baseline: Window | None, phase: Phase
) -> None:
    """Each limit passes, fails or cannot tell, and the worst check decides."""
    assert judge.judge(canary, baseline).phase is phase


def test_threshold_verdict_carries_its_numbers() -> None:
    """A verdict records the canary and baseline rates and the limit it was held to."""
    v = INCREASE.judge(CANARY_1PCT, Window(1000, 4))
    (check,) = v.checks
    assert check.name == "error_rate_increase"
    assert check.value == pytest.approx(0.006)
    assert check.baseline == pytest.approx(0.004)
    assert check.threshold == 0.005
    assert (check.samples, check.baseline_samples) == (1000, 1000)
    assert v.message == "canary error rate 1% vs baseline 0.4%: increase 0.6% > max 0.5%"
    assert v.numbers()["error_rate_increase.value"] == pytest.approx(0.006)


def test_too_few_requests_says_how_many() -> None:
    """An inconclusive verdict for a thin sample names the count and the minimum."""
    v = RATE.judge(Window(7, 1))
    assert v.message == "only 7 canary requests, fewer than the minimum 50"
    assert (v.checks[0].value, v.checks[0].threshold) == (7, 50)


@pytest.mark.parametrize(
    "make",
    [
        pytest.param(lambda: ThresholdJudge(), id="no-limit"),
        pytest.param(lambda: ThresholdJudge(max_error_rate=5), id="rate-as-percent"),
        pytest.param(lambda: ThresholdJudge(max_p95_latency_ms=-1), id="negative"),
        pytest.param(lambda: ThresholdJudge(max_error_rate=0.1, min_requests=0), id="min-zero"),
        pytest.param(lambda: StatisticalJudge(alpha=0), id="alpha-zero"),
        pytest.param(lambda: StatisticalJudge(errors=False, latency=False), id="nothing-to-test"),
        pytest.param(lambda: StatisticalJudge(error_margin=-0.1), id="negative-margin"),
    ],
)
def test_bad_judge_settings_are_refused(make: Callable[[], object]) -> None:
    """A judge that could never decide raises analysis-config-invalid with exit status 2."""
    with pytest.raises(AnalysisConfigInvalid) as caught:
        make()
    assert caught.value.code == "analysis-config-invalid"
    assert caught.value.exit_code == 2


# -- statistical judge ------------------------------------------------------------------------

ERRORS_ONLY = StatisticalJudge(latency=False)
LATENCY_ONLY = StatisticalJudge(errors=False, latency_margin=0.1)
SLOW = Window(60, 0, tuple(float(v) for v in range(100, 160)))
FAST = Window(60, 0, tuple(float(v) for v in range(50, 110)))

STATISTICAL_CASES = [
    pytest.param(ERRORS_ONLY, Window(1000, 30), Window(1000, 10), FAIL, id="errors-significant"),
    pytest.param(ERRORS_ONLY, Window(1000, 12), Window(1000, 10), OK, id="errors-noise"),
    pytest.param(ERRORS_ONLY, Window(200, 3), Window(200, 0), OK, id="rare-errors-not-enough"),
    pytest.param(ERRORS_ONLY, Window(50, 5), Window(1000, 0), INC, id="below-min-requests"),
    pytest.param(ERRORS_ONLY, Window(0, 0), Window(1000, 0), INC, id="no-data"),
    pytest.param(
        ERRORS_ONLY, Window(100_000, 1100), Window(100_000, 1000), FAIL, id="tiny-but-significant"
    ),
    pytest.param(
        StatisticalJudge(latency=False, error_margin=0.005),
        Window(100_000, 1100),
        Window(100_000, 1000),
        OK,
        id="within-practical-margin",
    ),
    pytest.param(LATENCY_ONLY, SLOW, FAST, FAIL, id="latency-shifted"),
    pytest.param(LATENCY_ONLY, FAST, FAST, OK, id="latency-same"),
    pytest.param(LATENCY_ONLY, FAST, SLOW, OK, id="canary-faster"),
    pytest.param(LATENCY_ONLY, Window(60, 0, (1.0,) * 10), FAST, INC, id="few-latencies"),
    pytest.param(
        LATENCY_ONLY,
        Window(100, 0, (), ((50.0, 10), (100.0, 60), (INF, 100))),
        Window(100, 0, (), ((50.0, 60), (100.0, 95), (INF, 100))),
        FAIL,
        id="histograms-shifted",
    ),
    pytest.param(
        StatisticalJudge(), Window(1000, 30, SLOW.latencies_ms), Window(1000, 10), FAIL, id="both"
    ),
]


@pytest.mark.parametrize(("judge", "canary", "baseline", "phase"), STATISTICAL_CASES)
def test_statistical_judge(
    judge: StatisticalJudge, canary: Window, baseline: Window, phase: Phase
) -> None:
    """The canary fails only when significantly and materially worse than the baseline."""
    assert judge.judge(canary, baseline).phase is phase


def test_statistical_verdict_carries_the_p_value() -> None:
    """A statistical verdict records both rates, alpha, the p-value and the method."""
    v = ERRORS_ONLY.judge(Window(1000, 30), Window(1000, 10))
    (check,) = v.checks
    assert check.value == pytest.approx(0.03)
    assert check.baseline == pytest.approx(0.01)
    assert check.threshold == 0.05
    assert check.p_value == pytest.approx(0.0007, abs=2e-5)
    assert "two-proportion z-test" in check.message


def test_verdict_round_trips_through_a_dict() -> None:
    """A verdict, infinite numbers included, survives to_dict and from_dict."""
    v = ThresholdJudge(max_latency_increase=0.2).judge(
        Window(100, 0, (5.0,)), Window(100, 0, (0.0,))
    )
    assert v.checks[0].value == INF
    assert Verdict.from_dict(v.to_dict()) == v


# -- assessment -------------------------------------------------------------------------------

ASSESS_CASES = [
    pytest.param([], {}, Phase.PENDING, id="nothing-yet"),
    pytest.param([], {"terminating": True}, OK, id="stopped-before-measuring"),
    pytest.param([OK, RUN], {}, RUN, id="in-flight"),
    pytest.param([OK, FAIL], {}, FAIL, id="one-failure-over-zero-limit"),
    pytest.param([OK, FAIL], {"failure_limit": 1}, RUN, id="failure-within-limit"),
    pytest.param([OK, FAIL], {"failure_limit": 1, "count": 2}, OK, id="count-reached-within-limit"),
    pytest.param([FAIL, FAIL], {"failure_limit": 1}, FAIL, id="failures-over-limit"),
    pytest.param([INC], {}, INC, id="inconclusive-over-zero-limit"),
    pytest.param([INC], {"inconclusive_limit": 1, "count": 1}, OK, id="inconclusive-within"),
    pytest.param([ERR] * 4, {}, RUN, id="four-errors-within-default"),
    pytest.param([ERR] * 5, {}, ERR, id="five-consecutive-errors"),
    pytest.param([ERR, ERR, ERR, ERR, OK, ERR], {}, RUN, id="errors-not-consecutive"),
    pytest.param([FAIL, INC], {}, INC, id="inconclusive-check-wins-over-failed"),
    pytest.param([FAIL, ERR, ERR, ERR, ERR, ERR], {}, ERR, id="error-check-wins-last"),
    pytest.param([OK, OK, OK], {"count": 3}, OK, id="count-reached"),
    pytest.param([OK, OK], {"count": 3}, RUN, id="count-not-reached"),
    pytest.param([OK, OK], {"terminating": True}, OK, id="terminated-within-limits"),
]


@pytest.mark.parametrize(("phases", "options", "expected"), ASSESS_CASES)
def test_assess_like_argo(phases: list[Phase], options: dict[str, Any], expected: Phase) -> None:
    """Measurements fold into one phase with Argo's limits and precedence."""
    assert assess(phases, **options).phase is expected


def test_assess_reports_its_tallies() -> None:
    """An assessment says how many measurements of each kind it counted, and why."""
    verdicts = [Verdict(OK, "ok"), Verdict(FAIL, "bad"), Verdict(ERR, "down"), Verdict(ERR, "down")]
    a = assess(verdicts, failure_limit=0)
    assert a.phase is FAIL
    assert a.message == "failed (1) > failure_limit (0)"
    assert (a.measurements, a.successful, a.failed, a.errors, a.consecutive_errors) == (
        4,
        1,
        1,
        2,
        2,
    )
    assert a.to_dict()["limits"] == {
        "failure_limit": 0,
        "inconclusive_limit": 0,
        "consecutive_error_limit": 4,
    }


def test_assess_refuses_negative_limits() -> None:
    """A negative limit is a configuration error."""
    with pytest.raises(AnalysisConfigInvalid):
        assess([OK], failure_limit=-1)


def test_worst_orders_like_argo() -> None:
    """Failed is worse than Error, than Inconclusive, than Successful."""
    assert analysis.worst([OK, INC, ERR]) is ERR
    assert analysis.worst([OK, FAIL, ERR]) is FAIL
    assert analysis.worst([]) is Phase.PENDING


# -- Prometheus text --------------------------------------------------------------------------

ROUTER = """\
# HELP shipyard_router_requests_total Requests by pool and status class.
# TYPE shipyard_router_requests_total counter
shipyard_router_requests_total{pool="stable",code="2xx"} 990
shipyard_router_requests_total{pool="stable",code="5xx"} 10
shipyard_router_requests_total{pool="canary",code="2xx"} 90
shipyard_router_requests_total{pool="canary",code="5xx"} 10 1767225600000
# TYPE shipyard_router_request_duration_seconds histogram
shipyard_router_request_duration_seconds_bucket{pool="canary",le="0.05"} 50
shipyard_router_request_duration_seconds_bucket{pool="canary",le="0.1"} 90
shipyard_router_request_duration_seconds_bucket{pool="canary",le="+Inf"} 100
shipyard_router_request_duration_seconds_sum{pool="canary"} 6.5
shipyard_router_request_duration_seconds_count{pool="canary"} 100
"""


def test_parse_reads_names_labels_values_and_timestamps() -> None:
    """Each sample line becomes a name, sorted labels, a value and an optional timestamp."""
    samples = promtext.parse(ROUTER)
    assert len(samples) == 9
    assert samples[3] == promtext.Sample(
        "shipyard_router_requests_total",
        (("code", "5xx"), ("pool", "canary")),
        10.0,
        1767225600000,
    )
    assert samples[6].labels == (("le", "+Inf"), ("pool", "canary"))


def test_parse_families_groups_histogram_series() -> None:
    """Bucket, sum and count series belong to the histogram named by its TYPE line."""
    families = promtext.parse_families(ROUTER)
    assert set(families) == {
        "shipyard_router_requests_total",
        "shipyard_router_request_duration_seconds",
    }
    histogram = families["shipyard_router_request_duration_seconds"]
    assert histogram.type == "histogram"
    assert len(histogram.samples) == 5
    assert families["shipyard_router_requests_total"].help == ("Requests by pool and status class.")


@pytest.mark.parametrize(
    ("line", "value", "labels"),
    [
        pytest.param("up 1", 1.0, (), id="bare"),
        pytest.param("x{} +Inf", INF, (), id="empty-labels-inf"),
        pytest.param('x{a="1",} -2.5e3', -2500.0, (("a", "1"),), id="trailing-comma"),
        pytest.param(
            'x{path="/a\\"b\\\\c\\n"} 3', 3.0, (("path", '/a"b\\c\n'),), id="escapes-in-value"
        ),
        pytest.param('x { a = "1" } 4', 4.0, (("a", "1"),), id="blanks-between-tokens"),
        pytest.param('x{a="1"}4', None, None, id="no-blank-before-value"),
    ],
)
def test_parse_sample_lines(
    line: str, value: float | None, labels: tuple[tuple[str, str], ...] | None
) -> None:
    """Label values unescape, special numbers parse, and malformed lines are refused."""
    if value is None:
        with pytest.raises(promtext.MetricsParseError):
            promtext.parse(line)
        return
    (sample,) = promtext.parse(line)
    assert (sample.value, sample.labels) == (value, labels)


def test_parse_reads_nan() -> None:
    """NaN is a valid sample value."""
    (sample,) = promtext.parse("x NaN")
    assert math.isnan(sample.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        pytest.param("x", "line 1: expected 'name{labels} value [timestamp]'", id="no-value"),
        pytest.param("ok 1\nx abc", "line 2: bad number 'abc'", id="bad-number"),
        pytest.param("x 1 2 3", "line 1: expected 'name{labels} value [timestamp]'", id="3-values"),
        pytest.param('x{a="1"}4', "line 1: expected 'name{labels} value [timestamp]'", id="glued"),
        pytest.param("1x 1", "line 1: expected a metric name: '1x 1'", id="name"),
        pytest.param("x 1_000", "line 1: bad number '1_000'", id="underscore-number"),
        pytest.param("x 1 soon", "line 1: bad timestamp 'soon'", id="timestamp"),
        pytest.param("x 1 1.5", "line 1: bad timestamp '1.5'", id="fractional-timestamp"),
        pytest.param("# TYPE x widget", "line 1: unknown metric type 'widget'", id="type"),
    ],
)
def test_parse_errors_name_the_line(text: str, message: str) -> None:
    """Malformed exposition text raises metrics-parse-error naming the line."""
    with pytest.raises(promtext.MetricsParseError) as caught:
        promtext.parse_families(text)
    assert caught.value.message == message
    assert caught.value.code == "metrics-parse-error"
    assert caught.value.hint.startswith("the endpoint must serve the Prometheus text format")


@pytest.mark.parametrize(
    ("text", "labels"),
    [
        pytest.param('ok 1\nx{a="1} 1', '{a="1}', id="unterminated"),
        pytest.param('x{a="1",a="2"} 1', '{a="1",a="2"}', id="duplicate"),
        pytest.param('x{1a="1"} 1', '{1a="1"}', id="label-name"),
        pytest.param("x{a=1} 1", "{a=1}", id="unquoted"),
        pytest.param('x{a="1"}} 1', '{a="1"}}', id="two-braces"),
    ],
)
def test_label_set_errors_from_the_library_keep_the_code(text: str, labels: str) -> None:
    """A label set prometheus_client refuses is a metrics-parse-error naming the line and the
    label set, with the library's ValueError as its cause (its messages named no line)."""
    with pytest.raises(promtext.MetricsParseError) as caught:
        promtext.parse(text)
    line = text.count("\n") + 1
    assert caught.value.message == f"line {line}: bad label set: {labels!r}"
    assert caught.value.code == "metrics-parse-error"
    assert isinstance(caught.value.__cause__, ValueError)


def test_parse_keeps_counter_names_and_merges_split_families() -> None:
    """A counter not named *_total keeps its samples' names, and samples of one family that
    are not adjacent stay one family (the library's own grouping does neither)."""
    text = '# TYPE hits counter\nhits{a="1"} 2\nup 1\nhits{a="2"} 3\nx_created 5\n'
    assert [s.name for s in promtext.parse(text)] == ["hits", "up", "hits", "x_created"]
    families = promtext.parse_families(text)
    assert [len(f.samples) for f in families.values()] == [2, 1, 1]
    assert families["hits"].type == "counter"


def test_render_writes_what_parse_reads() -> None:
    """Families written by prometheus_client read back the same; labels come out sorted,
    values as Go floats, help escaped, families without samples keep their HELP and TYPE."""
    families = [
        promtext.Family(
            "req_total",
            "counter",
            "Requests,\nby pool.",
            (promtext.Sample("req_total", (("pool", 'a"b'), ("code", "200")), 3),),
        ),
        promtext.Family(
            "lat_seconds",
            "histogram",
            "Latency.",
            (
                promtext.Sample("lat_seconds_bucket", (("le", "0.5"),), 2),
                promtext.Sample("lat_seconds_bucket", (("le", "+Inf"),), 2),
                promtext.Sample("lat_seconds_sum", (), 0.75, 1767225600123),
                promtext.Sample("lat_seconds_count", (), 2),
            ),
        ),
        promtext.Family("big", "gauge", "Big.", (promtext.Sample("big", (), 1234567.0),)),
        promtext.Family("idle", "gauge", "Nothing yet."),
    ]
    text = promtext.render(families)
    assert text.splitlines()[:3] == [
        "# HELP req_total Requests,\\nby pool.",
        "# TYPE req_total counter",
        'req_total{code="200",pool="a\\"b"} 3.0',
    ]
    assert "lat_seconds_sum 0.75 1767225600123\n" in text
    assert "big 1.234567e+06\n" in text
    assert text.endswith("# HELP idle Nothing yet.\n# TYPE idle gauge\n")
    back = promtext.parse_families(text)
    assert list(back) == ["req_total", "lat_seconds", "big", "idle"]
    assert back["req_total"].help == "Requests,\nby pool."
    assert back["req_total"].samples[0].labels == (("code", "200"), ("pool", 'a"b'))
    assert back["lat_seconds"].samples == tuple(
        promtext.Sample(s.name, tuple(sorted(s.labels)), s.value, s.timestamp_ms)
        for s in families[1].samples
    )
    with pytest.raises(ValueError, match="_total"):
        promtext.render([promtext.Family("hits", "counter")])


def test_select_total_and_buckets_filter_by_labels() -> None:
    """Label matches, exact or by pattern, pick the series to sum."""
    samples = promtext.parse(ROUTER)
    name = "shipyard_router_requests_total"
    assert promtext.total(samples, name) == 1100
    assert promtext.total(samples, name, {"pool": "canary"}) == 100
    assert promtext.total(samples, name, {"code": re.compile("5..")}) == 20
    assert promtext.total(samples, name, {"zone": "eu"}) == 0
    assert promtext.buckets(samples, "shipyard_router_request_duration_seconds") == (
        (0.05, 50),
        (0.1, 90),
        (INF, 100),
    )


def test_router_metrics_become_a_judged_window() -> None:
    """A scrape of the router turns into a canary window a judge can decide on."""
    samples = promtext.parse(ROUTER)
    canary = analysis.window_from_samples(
        samples,
        requests="shipyard_router_requests_total",
        errors="shipyard_router_requests_total",
        error_match={"code": "5xx"},
        latency="shipyard_router_request_duration_seconds",
        match={"pool": "canary"},
        latency_unit_ms=1000,
    )
    assert canary == Window(100, 10, (), ((50.0, 50), (100.0, 90), (INF, 100)))
    stable = analysis.window_from_samples(
        samples,
        requests="shipyard_router_requests_total",
        errors="shipyard_router_requests_total",
        error_match={"code": "5xx"},
        match={"pool": "stable"},
    )
    verdict = ThresholdJudge(max_increase=0.005).judge(canary, stable)
    assert verdict.phase is FAIL
    assert verdict.checks[0].value == pytest.approx(0.09)
