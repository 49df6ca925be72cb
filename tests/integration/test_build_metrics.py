"""Build figures: SQL aggregates agree with domain/buildstats.py; the cost of slow builds."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest

from shipyard.domain import buildstats
from shipyard.domain.buildstats import CostInputInvalid
from shipyard.services.pipelines import builds
from shipyard.store import build_sql
from shipyard.store.uow import Store

T0 = datetime(2026, 1, 5, tzinfo=UTC)
NOW = T0 + timedelta(days=10)
ARGS = {"since": "2026-01-05", "until": "2026-01-15", "now": NOW}


def ts(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def pipeline(store: Store, runs: int = 30) -> None:
    """Runs of lint, test (flaky now and then) and build, with cache hits and run totals."""
    rng = random.Random(3)
    with store.begin() as uow:
        for r in range(runs):
            at = T0 + timedelta(hours=3 * r)
            for job in ("lint", "test", "build"):
                cached = rng.random() < 0.3
                attempts = 2 if job == "test" and rng.random() < 0.2 else 1
                for a in range(1, attempts + 1):
                    at += timedelta(seconds=rng.uniform(5, 300))
                    status = "failure" if a < attempts else "success"
                    uow.events.append(
                        "step.finished",
                        f"run:r{r}",
                        "ci",
                        {
                            "node": job,
                            "job": job,
                            "matrix": {},
                            "status": status,
                            "cached": cached,
                            "duration_s": 0.1 if cached else rng.uniform(5, 300),
                            "queued_s": rng.uniform(0, 30),
                            "attempt": a,
                            "key": "k",
                            "saved_s": 60.0 if cached else 0,
                        },
                        project="shop",
                        ts=ts(at),
                    )
            uow.events.append(
                "run.finished",
                f"run:r{r}",
                "ci",
                {
                    "status": "success",
                    "duration_s": rng.uniform(300, 900),
                    "steps": 3,
                    "cached": 0,
                    "critical_path_s": 100,
                },
                project="shop",
                ts=ts(at),
            )


def test_sql_build_aggregates_agree_with_buildstats(store: Store) -> None:
    """Per-job percentiles, cache hits and lookups from SQL equal buildstats.job_stats."""
    pipeline(store)
    report = builds.builds_report(store, **ARGS)
    with store.read() as uow:
        runs = builds.load_runs(uow.conn, None, "2026-01-05", "2026-01-15")
    pure = {s.job: s for s in buildstats.job_stats(runs)}
    assert [j["job"] for j in report["jobs"]] == sorted(pure)
    for j in report["jobs"]:
        s = pure[j["job"]]
        assert (j["runs"], j["cache_hits"], j["cache_lookups"]) == (
            s.runs,
            s.cache_hits,
            s.cache_lookups,
        )
        assert s.duration is not None and s.queue is not None
        for q in ("p50", "p90", "p99"):
            assert j["duration_s"][q] == pytest.approx(getattr(s.duration, q), abs=1e-5)
            assert j["queue_s"][q] == pytest.approx(getattr(s.queue, q), abs=1e-5)
    assert report["flaky"] and report["flaky"][0]["job"] == "test"


def test_cost_from_measured_run_durations(store: Store) -> None:
    """The cost uses the median measured run, as cost_from_durations does over the same runs."""
    pipeline(store)
    got = builds.cost_report(store, 100, 5, 100.0, **ARGS)
    with store.read() as uow:
        rows = uow.events.query(kind="run.finished")
    want = buildstats.cost_from_durations([e.payload["duration_s"] for e in rows], 100, 5, 100.0)
    assert want is not None and got["runs"] == 30
    assert got["cost"]["cost_per_year"] == pytest.approx(want.cost_per_year)
    assert got["cache_saved_hours"] > 0


def test_cost_without_runs_says_no_data(store: Store) -> None:
    """With no measured runs the cost is None with a note, not 0."""
    got = builds.cost_report(store, 10, 2, 80.0, **ARGS)
    assert got["cost"] is None and "no data" in got["notes"][0]
    assert builds.builds_report(store, **ARGS)["runs"] is None
    with store.read() as uow:
        assert build_sql.run_durations(uow.conn, None, "2026-01-05", "2026-01-15") is None


@pytest.mark.parametrize(
    "developers,runs,cost", [(-1, 5, 100.0), (10, -2, 100.0), (10, 5, float("nan"))]
)
def test_cost_bad_input(store: Store, developers: int, runs: float, cost: float) -> None:
    """Negative or non-finite cost inputs are refused with cost-input-invalid."""
    with pytest.raises(CostInputInvalid) as err:
        builds.cost_report(store, developers, runs, cost, **ARGS)
    assert err.value.code == "cost-input-invalid" and err.value.hint


def test_cache_hits_listed_in_run_finished_count_per_job(store: Store) -> None:
    """Steps a run lists in run.finished's cached_steps count as hits and lookups of their
    job (a matrix job's combinations as its steps), and a run once per job."""
    at = T0 + timedelta(hours=1)
    with store.begin() as uow:
        uow.events.append(
            "step.finished",
            "run:9",
            "ci",
            {"node": "test[py=3.12]", "job": "test", "status": "success", "cached": False,
             "duration_s": 40.0, "queued_s": 1.0, "attempt": 1},
            project="shop",
            ts=ts(at),
        )  # fmt: skip
        uow.events.append(
            "run.finished",
            "run:9",
            "ci",
            {"status": "success", "duration_s": 50.0, "steps": 3, "cached": 2,
             "cached_steps": {"test[py=3.11]": 30.0, "lint": 5.0}},
            project="shop",
            ts=ts(at + timedelta(seconds=50)),
        )  # fmt: skip
    jobs = {j["job"]: j for j in builds.builds_report(store, **ARGS)["jobs"]}
    assert (jobs["test"]["runs"], jobs["test"]["steps"]) == (1, 2)
    assert (jobs["test"]["cache_hits"], jobs["test"]["cache_lookups"]) == (1, 2)
    assert jobs["test"]["saved_s_reported"] == 30.0
    assert (jobs["lint"]["runs"], jobs["lint"]["cache_hits"], jobs["lint"]["cache_lookups"]) == (
        1,
        1,
        1,
    )
    assert jobs["test"]["duration_s"]["count"] == 1  # percentiles: the steps that ran
