"""DORA four keys over plain records: figures, their evidence, levels and weekly trends."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Literal

import pytest

from shipyard.domain.dora import (
    Classification,
    Deployment,
    Figure,
    History,
    Hotfix,
    Incident,
    Level,
    Restore,
    Rollback,
    TimeRangeInvalid,
    Window,
    change_failure_rate,
    changes,
    classify,
    deployment_frequency,
    four_keys,
    lead_time,
    percentile,
    time_to_restore,
    weekly,
)

T0 = datetime(2026, 3, 2, tzinfo=UTC)  # a Monday
WEEK = Window(T0, T0 + timedelta(days=7))
H = timedelta(hours=1)


def deploy(
    did: str,
    at: timedelta,
    *,
    success: bool = True,
    env: str = "production",
    service: str = "checkout",
    commits: tuple[timedelta, ...] = (),
    kind: str = "deploy",
) -> Deployment:
    """A deployment finishing ``at`` after T0 whose commits were made ``commits`` before it."""
    finished = T0 + at
    return Deployment(
        did, service, env, finished, success, tuple(finished - c for c in commits), kind
    )


def test_window_must_end_after_it_starts() -> None:
    """A time range that ends before it starts is refused with time-range-invalid."""
    with pytest.raises(TimeRangeInvalid) as info:
        Window(T0, T0 - timedelta(days=1))
    assert info.value.code == "time-range-invalid"
    assert info.value.family == "input"


def test_empty_history_says_no_data() -> None:
    """With no records every figure is "no data", not 0, and there is no level."""
    report = four_keys(History(), WEEK)
    assert all(f.no_data for f in report.figures)
    assert [str(f) for f in report.figures] == [
        "deployment_frequency: no data",
        "lead_time: no data",
        "change_failure_rate: no data",
        "time_to_restore: no data",
    ]
    assert report.levels.overall is None


HISTORY = History(
    deployments=(
        deploy("d1", 1 * H, commits=(2 * H, 4 * H)),
        deploy("d2", 25 * H, commits=(1 * H,)),
        deploy("d3", 49 * H, success=False, commits=(3 * H,)),
        deploy("d4", 50 * H, commits=(3 * H,)),
        deploy("d5", 73 * H, commits=(10 * H,)),
        deploy("f1", 80 * H, kind="flag"),
        deploy("s1", 2 * H, env="staging", commits=(1 * H,)),
        deploy("o1", 3 * H, service="search", commits=(1 * H,)),
        deploy("old", -48 * H),
    ),
    rollbacks=(Rollback("rb1", "d3", T0 + 49.5 * H), Rollback("rb0", "old", T0 - 47 * H)),
    hotfixes=(Hotfix("hf1", "d2", T0 + 30 * H),),
    incidents=(
        Incident("inc1", "checkout", T0 + 74 * H, "d5", T0 + 76 * H),
        Incident("inc2", "checkout", T0 + 90 * H, None, None),
    ),
    restores=(),
)


@pytest.mark.parametrize(
    ("per", "service", "include_flags", "count", "value"),
    [
        ("day", None, True, 6, 6 / 7),
        ("week", None, True, 6, 6.0),
        ("day", "checkout", True, 5, 5 / 7),
        ("day", "checkout", False, 4, 4 / 7),
        ("week", "search", True, 1, 1.0),
    ],
)
def test_deployment_frequency(
    per: Literal["day", "week"], service: str | None, include_flags: bool, count: int, value: float
) -> None:
    """Successful production deployments and flag flips per day or week; failures, staging
    and other windows do not count."""
    f = deployment_frequency(
        HISTORY,
        WEEK,
        per=per,
        service=service,
        include_flags=include_flags,
    )
    assert (f.numerator, f.value) == (count, pytest.approx(value))
    assert f.denominator == (7 if per == "day" else 1)
    assert len(f.ids) == count


def test_deployment_frequency_zero_when_history_has_data_elsewhere() -> None:
    """A window without deployments in a history that has some is a real 0."""
    later = Window(T0 + timedelta(days=30), T0 + timedelta(days=37))
    f = deployment_frequency(HISTORY, later)
    assert f.value == 0
    assert not f.no_data


def test_lead_time_per_commit() -> None:
    """Lead time is deploy finish minus commit time for each commit; median and p90."""
    f = lead_time(HISTORY, WEEK, service="checkout")
    # d1: 2h, 4h; d2: 1h; d4: 3h; d5: 10h. d3 failed and does not count.
    assert f.denominator == 5
    assert f.numerator == (2 + 4 + 1 + 3 + 10) * 3600
    assert f.value == 3 * 3600
    assert f.p90 == pytest.approx(7.6 * 3600)
    assert f.ids == ("d1", "d2", "d4", "d5")


def test_lead_time_skips_commits_after_the_deploy() -> None:
    """A commit dated after its deploy (clock skew) is left out and noted."""
    history = History(deployments=(deploy("d1", H, commits=(-H, 2 * H)),))
    f = lead_time(history, WEEK)
    assert f.denominator == 1
    assert "commit dated after" in f.notes[0]


def test_change_failure_rate_with_evidence() -> None:
    """Failed rollouts and deployments linked to a rollback, hotfix or incident count as
    failures over all production deployments (a flag flip is not one), each with the record
    that proves it."""
    f = change_failure_rate(HISTORY, WEEK, service="checkout")
    assert (f.numerator, f.denominator) == (3, 5)
    assert f.value == 0.6
    assert f.ids == ("d1", "d2", "d3", "d4", "d5")
    assert f.numerator_ids == ("d2", "d3", "d5")
    assert f.evidence == (
        ("d2", "hotfix hf1"),
        ("d3", "failed rollout"),
        ("d3", "rollback rb1"),
        ("d5", "incident inc1"),
    )


def test_change_failure_rate_notes_links_it_cannot_count() -> None:
    """A rollback of a deployment outside the window and an incident with no deployment are
    noted, not counted."""
    f = change_failure_rate(HISTORY, WEEK, service="checkout")
    assert any("rollback rb0 links deployment old, not counted here" in n for n in f.notes)
    assert any("incident inc2 links no deployment" in n for n in f.notes)


@pytest.mark.parametrize(
    ("count_failed_rollouts", "numerator", "denominator"),
    [(True, 3, 5), (False, 2, 4)],
)
def test_change_failure_rate_failed_rollouts_switch(
    count_failed_rollouts: bool, numerator: int, denominator: int
) -> None:
    """Failed rollouts count on both sides by default and on neither when switched off."""
    f = change_failure_rate(
        HISTORY, WEEK, service="checkout", count_failed_rollouts=count_failed_rollouts
    )
    assert (f.numerator, f.denominator) == (numerator, denominator)


def test_time_to_restore() -> None:
    """Failure to next healthy state: a rollback restores a failed rollout, a resolution an
    incident; unrestored failures are noted and left out."""
    f = time_to_restore(HISTORY, WEEK, service="checkout")
    # d3 failed at 49h, rolled back at 49.5h; inc1 opened 74h, resolved 76h; inc2 still open.
    assert f.ids == ("d3", "inc1")
    assert f.evidence == (("d3", "rollback rb1"), ("inc1", "incident inc1 resolved"))
    assert f.value == pytest.approx((0.5 + 2) / 2 * 3600)
    assert (f.numerator, f.denominator) == (2.5 * 3600, 2)
    assert any(n.startswith("inc2") and "not restored" in n for n in f.notes)


def test_time_to_restore_uses_the_earliest_healthy_state() -> None:
    """The next successful deployment or a restore record ends a failure if it comes first."""
    history = History(
        deployments=(deploy("x1", H, success=False), deploy("x2", 2 * H)),
        restores=(Restore("r1", "checkout", T0 + 1.25 * H),),
    )
    f = time_to_restore(history, WEEK)
    assert f.value == pytest.approx(0.25 * 3600)
    assert f.evidence == (("x1", "restore r1"),)
    without_restore = time_to_restore(History(deployments=history.deployments), WEEK)
    assert without_restore.evidence == (("x1", "deployment x2"),)


@pytest.mark.parametrize(
    ("values", "q", "expected"),
    [
        ([1.0], 90, 1.0),
        ([1.0, 2.0, 3.0, 4.0], 50, 2.5),
        ([1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0], 90, 9.1),
        ([10.0, 1.0, 5.0], 0, 1.0),
        ([10.0, 1.0, 5.0], 100, 10.0),
    ],
)
def test_percentile(values: list[float], q: float, expected: float) -> None:
    """Percentiles interpolate linearly between closest ranks."""
    assert percentile(values, q) == pytest.approx(expected)


def fig(key: str, value: float | None, unit: str = "") -> Figure:
    """A bare figure for classification tests."""
    return Figure(key, unit, value, 0, 0)


@pytest.mark.parametrize(
    ("key", "value", "level"),
    [
        ("deployment_frequency", 3.0, Level.ELITE),
        ("deployment_frequency", 1.0, Level.ELITE),
        ("deployment_frequency", 0.5, Level.HIGH),
        ("deployment_frequency", 1 / 7, Level.HIGH),
        ("deployment_frequency", 0.05, Level.MEDIUM),
        ("deployment_frequency", 0.01, Level.LOW),
        ("lead_time", 3600.0, Level.ELITE),
        ("lead_time", 2 * 86400.0, Level.HIGH),
        ("lead_time", 10 * 86400.0, Level.MEDIUM),
        ("lead_time", 60 * 86400.0, Level.LOW),
        ("change_failure_rate", 0.05, Level.ELITE),
        ("change_failure_rate", 0.08, Level.HIGH),
        ("change_failure_rate", 0.15, Level.MEDIUM),
        ("change_failure_rate", 0.40, Level.LOW),
        ("time_to_restore", 1800.0, Level.ELITE),
        ("time_to_restore", 7200.0, Level.HIGH),
        ("time_to_restore", 3 * 86400.0, Level.MEDIUM),
        ("time_to_restore", 30 * 86400.0, Level.LOW),
    ],
)
def test_levels_follow_2023_clusters(key: str, value: float, level: Level) -> None:
    """Each key is placed in the 2023 State of DevOps cluster whose band holds its value."""
    figures = {
        "deployment_frequency": fig("deployment_frequency", None, "deployments/day"),
        "lead_time": fig("lead_time", None),
        "change_failure_rate": fig("change_failure_rate", None),
        "time_to_restore": fig("time_to_restore", None),
    }
    figures[key] = fig(key, value, "deployments/day" if key == "deployment_frequency" else "")
    levels = classify(**figures)
    assert getattr(levels, key) is level
    assert levels.overall is level


def test_weekly_frequency_is_classified_per_day() -> None:
    """A frequency per week is converted to per day before classification."""
    levels = classify(
        fig("deployment_frequency", 7.0, "deployments/week"),
        fig("lead_time", None),
        fig("change_failure_rate", None),
        fig("time_to_restore", None),
    )
    assert levels.deployment_frequency is Level.ELITE


def test_overall_level_is_the_lowest() -> None:
    """Speed without stability is not elite: the overall level is the lowest key."""
    levels = Classification(Level.ELITE, Level.ELITE, Level.LOW, None)
    assert levels.overall is Level.LOW


def test_four_keys_report() -> None:
    """The report holds all four figures for the window and their levels; the flag flip is in
    none of them, only in `changes`."""
    report = four_keys(HISTORY, WEEK, service="checkout")
    assert report.deployment_frequency.numerator == 4
    assert changes(HISTORY, WEEK, service="checkout").numerator == 5
    assert report.change_failure_rate.numerator == 3
    assert report.levels.change_failure_rate is Level.LOW
    assert report.levels.lead_time is Level.ELITE
    assert report.levels.overall is Level.LOW


def test_weekly_buckets_cover_the_window() -> None:
    """Weekly trends use ISO weeks from Monday, clipped to the window at both ends."""
    history = History(
        deployments=tuple(deploy(f"d{i}", timedelta(days=i) + H) for i in range(-3, 17))
    )
    window = Window(T0 - timedelta(days=3), T0 + timedelta(days=17))  # Fri .. Thu
    buckets = weekly(history, window)
    assert [
        (b.window.start.date().isoformat(), b.window.end.date().isoformat()) for b in buckets
    ] == [
        ("2026-02-27", "2026-03-02"),
        ("2026-03-02", "2026-03-09"),
        ("2026-03-09", "2026-03-16"),
        ("2026-03-16", "2026-03-19"),
    ]
    assert [b.deployment_frequency.numerator for b in buckets] == [3, 7, 7, 3]
    assert [b.deployment_frequency.value for b in buckets] == pytest.approx([7.0, 7.0, 7.0, 7.0])
