"""Build analytics: job figures, cache savings, critical path, flaky and slowing steps, cost."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from shipyard.domain.buildstats import (
    CostInputInvalid,
    JobRun,
    Percentiles,
    StepRun,
    cost_from_durations,
    critical_path,
    flaky_steps,
    job_stats,
    slow_build_cost,
    slowest_steps,
    trending_steps,
)

T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def job(
    run_id: str,
    name: str,
    start_min: float,
    minutes: float,
    *,
    queued_min: float = 0.0,
    needs: tuple[str, ...] = (),
    steps: tuple[StepRun, ...] = (),
    attempt: int = 1,
    status: str = "passed",
    day: int = 0,
) -> JobRun:
    """A job attempt that waited ``queued_min`` and ran ``minutes`` from ``start_min``."""
    base = T0 + timedelta(days=day)
    start = base + timedelta(minutes=start_min)
    return JobRun(
        run_id=run_id,
        job=name,
        queued_at=start - timedelta(minutes=queued_min),
        started_at=start,
        finished_at=start + timedelta(minutes=minutes),
        status=status,
        attempt=attempt,
        needs=needs,
        steps=steps,
    )


# -- the cost of slow builds --------------------------------------------------------------


def test_cost_of_slow_builds_design_example() -> None:
    """30-minute builds, 100 developers, 5 builds a day at $100/h: 250 h and $25,000 a day,
    $6,500,000 a year."""
    cost = slow_build_cost(
        build_minutes=30, developers=100, builds_per_developer_per_day=5, hourly_cost=100
    )
    assert cost.hours_per_day == 250
    assert cost.cost_per_day == 25_000
    assert cost.hours_per_year == 65_000
    assert cost.cost_per_year == 6_500_000
    assert cost.working_days == 260


@pytest.mark.parametrize(
    ("minutes", "developers", "builds", "hourly", "hours_day", "cost_day", "cost_year"),
    [
        (30, 100, 5, 100, 250, 25_000, 6_500_000),
        (10, 100, 5, 100, 250 / 3, 25_000 / 3, 6_500_000 / 3),
        (6, 50, 10, 80, 50, 4_000, 1_040_000),
        (0, 100, 5, 100, 0, 0, 0),
        (45, 1, 1, 0, 0.75, 0, 0),
    ],
)
def test_cost_table(
    minutes: float,
    developers: int,
    builds: float,
    hourly: float,
    hours_day: float,
    cost_day: float,
    cost_year: float,
) -> None:
    """Hours = minutes / 60 x developers x builds; cost = hours x rate; year = 260 days."""
    cost = slow_build_cost(minutes, developers, builds, hourly)
    assert cost.hours_per_day == pytest.approx(hours_day)
    assert cost.cost_per_day == pytest.approx(cost_day)
    assert cost.cost_per_year == pytest.approx(cost_year)


@pytest.mark.parametrize(
    "args",
    [(-1, 100, 5, 100), (30, -5, 5, 100), (30, 100, float("nan"), 100), (30, 100, 5, True)],
)
def test_cost_rejects_bad_input(args: tuple[float, int, float, float]) -> None:
    """Negative, NaN or boolean inputs raise cost-input-invalid."""
    with pytest.raises(CostInputInvalid) as info:
        slow_build_cost(*args)
    assert info.value.code == "cost-input-invalid"


def test_cost_from_measured_durations() -> None:
    """The cost is computed from the median measured build duration by default."""
    cost = cost_from_durations([1200.0, 1800.0, 1800.0, 3600.0, 1800.0], 100, 5, 100)
    assert cost is not None
    assert cost.build_minutes == 30
    assert cost.cost_per_year == 6_500_000
    assert cost_from_durations([], 100, 5, 100) is None


# -- per-job figures ----------------------------------------------------------------------


def pipeline(run_id: str, *, cached: bool, day: int = 0) -> list[JobRun]:
    """lint -> (test, docs) -> build; a cached run restores test's and build's main steps."""
    return [
        job(run_id, "lint", 0, 2, queued_min=1, day=day, steps=(StepRun("ruff", 120),)),
        job(
            run_id,
            "test",
            2,
            1 if cached else 10,
            queued_min=2,
            needs=("lint",),
            day=day,
            steps=(StepRun("pytest", 0.5 if cached else 540, cached=cached),),
        ),
        job(run_id, "docs", 2, 3, needs=("lint",), day=day, steps=(StepRun("mkdocs", 180),)),
        job(
            run_id,
            "build",
            3 if cached else 12,
            4 if cached else 5,
            needs=("test", "docs"),
            day=day,
            steps=(StepRun("wheel", 1 if cached else 300, cached=cached),),
        ),
    ]


RUNS = [*pipeline("r1", cached=False), *pipeline("r2", cached=True, day=1)]


def test_job_percentiles_and_queue() -> None:
    """Durations and queue times are summarised as p50/p90/p99 per job."""
    stats = {s.job: s for s in job_stats(RUNS)}
    assert stats["test"].runs == 2
    assert stats["test"].duration == Percentiles(330.0, 546.0, 594.6, 2)
    assert stats["lint"].queue == Percentiles(60.0, 60.0, 60.0, 2)


def test_cache_hit_rate_and_time_saved() -> None:
    """A hit saves the duration of the step's last uncached run; the rate is hits/lookups."""
    stats = {s.job: s for s in job_stats(RUNS)}
    assert (stats["test"].cache_hits, stats["test"].cache_lookups) == (1, 2)
    assert stats["test"].cache_hit_rate == 0.5
    assert stats["test"].time_saved_s == 540
    assert stats["build"].time_saved_s == 300
    assert stats["lint"].cache_hit_rate == 0
    assert stats["lint"].time_saved_s == 0


def test_hit_without_baseline_is_counted_not_guessed() -> None:
    """A hit with no earlier uncached run saves an unknown amount, counted separately."""
    runs = [job("r1", "test", 0, 1, steps=(StepRun("pytest", 1, cached=True),))]
    (stats,) = job_stats(runs)
    assert (stats.time_saved_s, stats.hits_without_baseline) == (0, 1)


@pytest.mark.parametrize(
    ("run_id", "expected"),
    [("r1", ["lint", "test", "build"]), ("r2", ["lint", "docs", "build"])],
)
def test_critical_path(run_id: str, expected: list[str]) -> None:
    """The critical path follows, from the last job back, the need that finished last."""
    assert critical_path([r for r in RUNS if r.run_id == run_id]) == expected


def test_critical_path_share() -> None:
    """A job's share is its time on the critical path over the wall time of its runs."""
    stats = {s.job: s for s in job_stats(RUNS)}
    # r1 wall: queued 08:59 .. 09:17 = 18 min; r2: 08:59 .. 09:07 = 8 min.
    assert stats["test"].critical_path_runs == 1
    assert stats["test"].critical_path_share == pytest.approx(10 / 26)
    assert stats["docs"].critical_path_share == pytest.approx(3 / 26)
    assert stats["lint"].critical_path_share == pytest.approx(4 / 26)


def test_retried_job_spans_all_attempts() -> None:
    """A retried job occupies the critical path from its first start to its last finish."""
    runs = [
        job("r", "a", 0, 5, attempt=1, status="failed"),
        job("r", "a", 5, 5, attempt=2),
        job("r", "b", 10, 1, needs=("a",)),
    ]
    (a, b) = job_stats(runs)
    assert critical_path(runs) == ["a", "b"]
    assert a.critical_path_s == 600
    assert b.critical_path_share == pytest.approx(1 / 11)


# -- flaky and slowing steps --------------------------------------------------------------


@pytest.mark.parametrize(
    ("statuses", "flaky"),
    [
        (["failed", "passed"], True),
        (["failed", "failed", "passed"], True),
        (["failed", "failed"], False),
        (["passed"], False),
        (["passed", "failed"], False),
    ],
)
def test_flaky_means_failed_then_passed_on_retry(statuses: list[str], flaky: bool) -> None:
    """A step is flaky in a run when a failed attempt is followed by a passing one."""
    runs = [
        job("r1", "test", i * 5, 5, attempt=i + 1, steps=(StepRun("pytest", 60, status=s),))
        for i, s in enumerate(statuses)
    ]
    found = flaky_steps(runs)
    assert bool(found) is flaky


# Per run, the (e2e, unit) step statuses of each job attempt.
ATTEMPTS = {
    "r0": [("failed", "failed"), ("passed", "passed")],
    "r1": [("failed", "passed"), ("passed", "passed")],
    "r2": [("failed", "passed"), ("passed", "passed")],
    "r3": [("passed", "passed")],
}


def test_flakiest_steps_are_ranked() -> None:
    """Steps are ranked by how many runs they flaked in, with the run ids to look at."""
    runs = [
        job(
            rid,
            "test",
            attempt * 5,
            5,
            day=day,
            attempt=attempt + 1,
            steps=(StepRun("e2e", 60, status=e2e), StepRun("unit", 10, status=unit)),
        )
        for day, (rid, attempts) in enumerate(ATTEMPTS.items())
        for attempt, (e2e, unit) in enumerate(attempts)
    ]
    ranked = flaky_steps(runs)
    assert [(f.step, f.flaky_runs, f.runs) for f in ranked] == [("e2e", 3, 4), ("unit", 1, 4)]
    assert ranked[0].run_ids == ("r0", "r1", "r2")
    assert ranked[0].rate == 0.75


def step_history(durations_by_day: dict[int, float]) -> list[JobRun]:
    """One run a day of job "test" with an uncached "pytest" step of the given seconds."""
    return [
        job(f"d{day}", "test", 0, 10, day=day, steps=(StepRun("pytest", secs),))
        for day, secs in durations_by_day.items()
    ]


@pytest.mark.parametrize(
    ("earlier", "recent", "trending"),
    [
        ([100, 100, 100], [150, 150, 150], True),
        ([100, 100, 100], [105, 105, 105], False),
        ([100, 100, 100], [80, 80, 80], False),
        ([100, 100], [300, 300, 300], False),
        ([100, 100, 100], [300, 300], False),
    ],
)
def test_trending_steps(earlier: list[float], recent: list[float], trending: bool) -> None:
    """A step trends up when its recent median beats its earlier median by more than 10%,
    with at least three samples on each side."""
    durations = {i: d for i, d in enumerate(earlier)}
    durations |= {10 + i: d for i, d in enumerate(recent)}
    found = trending_steps(step_history(durations), since=T0 + timedelta(days=10))
    assert bool(found) is trending
    if trending:
        assert found[0].increase_s == 50
        assert found[0].ratio == 1.5


def test_trending_ignores_cache_hits() -> None:
    """Cache hits do not count as fast runs of a step."""
    runs = step_history({0: 100, 1: 100, 2: 100, 10: 100, 11: 100, 12: 100})
    runs += [job("h", "test", 0, 1, day=13, steps=(StepRun("pytest", 0.1, cached=True),))]
    assert trending_steps(runs, since=T0 + timedelta(days=10)) == []


def test_slowest_steps() -> None:
    """Slowest steps are ranked by median uncached duration."""
    rows = slowest_steps(RUNS, limit=2)
    assert [(j, s, p.p50) for j, s, p in rows] == [("test", "pytest", 540), ("build", "wheel", 300)]
