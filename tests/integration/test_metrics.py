"""DORA figures from the event log: SQL aggregation and the pure functions agree, on both
databases; incidents link deployments by id; bad input gets a coded error."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from shipyard.domain.dora import TimeRangeInvalid
from shipyard.errors import Conflict, InputError, NotFound
from shipyard.services.coordination import incidents
from shipyard.services.metrics import metrics
from shipyard.store import metrics as repo
from shipyard.store.uow import Store

T0 = datetime(2026, 1, 5, tzinfo=UTC)  # a Monday
NOW = T0 + timedelta(days=60)


def ts(t: datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def deploy(
    store: Store,
    did: str,
    service: str | None,
    at: datetime,
    status: str = "succeeded",
    env: str = "production",
    commit_ages_h: tuple[float, ...] = (2.0,),
) -> None:
    """Append one deployment's started and finished events as the deployment service does."""
    commits = [
        {"sha": f"{did}-{i}", "time": ts(at - timedelta(hours=h))}
        for i, h in enumerate(commit_ages_h)
    ]
    base = {"service": service, "environment": env, "version": "1.0.0"}
    with store.begin() as uow:
        uow.events.append(
            "deployment.started",
            f"deployment:{did}",
            "ci",
            {**base, "strategy": "canary", "commits": commits},
            project="shop",
            ts=ts(at - timedelta(minutes=10)),
        )
        uow.events.append(
            "deployment.finished",
            f"deployment:{did}",
            "ci",
            {**base, "status": status, "reason": ""},
            project="shop",
            ts=ts(at),
        )


def incident(
    store: Store,
    iid: str,
    service: str,
    did: str | None,
    opened: datetime,
    resolved: datetime | None,
) -> None:
    with store.begin() as uow:
        repo.insert_incident(
            uow.conn,
            {
                "id": iid,
                "project": "shop",
                "service": service,
                "deployment_id": did,
                "title": "",
                "opened_at": ts(opened),
                "opened_by": "t",
                "resolved_at": ts(resolved) if resolved else None,
                "resolved_by": None,
            },
        )


def history(store: Store, n: int = 60) -> None:
    """A mixed history: two services, two environments, every status, flags and incidents."""
    rng = random.Random(7)
    statuses = ["succeeded"] * 6 + ["rolled-back", "failed", "aborted"]
    for i in range(n):
        at = T0 + timedelta(hours=i * 17 + rng.random())
        deploy(
            store,
            f"d{i}",
            rng.choice(["cart", "pay"]),
            at,
            rng.choice(statuses),
            rng.choice(["production", "production", "staging"]),
            tuple(rng.uniform(-1, 200) for _ in range(rng.randint(0, 4))),
        )
    with store.begin() as uow:
        for i in range(5):
            uow.events.append(
                "flag.changed",
                "flag:new-checkout",
                "dev",
                {"environment": "production", "before": False, "after": True},
                project="shop",
                ts=ts(T0 + timedelta(days=3 * i, hours=5)),
            )
    incident(store, "i1", "cart", "d3", T0 + timedelta(days=3), T0 + timedelta(days=3, hours=4))
    incident(store, "i2", "pay", None, T0 + timedelta(days=9), T0 + timedelta(days=10))
    incident(store, "i3", "pay", "d40", T0 + timedelta(days=30), None)
    incident(store, "i4", "cart", "d-missing", T0 + timedelta(days=31), T0 + timedelta(days=32))


def close(a: dict, b: dict) -> None:
    for key in ("deployment_frequency", "lead_time", "change_failure_rate", "time_to_restore"):
        fa, fb = a[key], b[key]
        assert fa["level"] == fb["level"], key
        for field in ("value", "numerator", "denominator", "p90"):
            if fa[field] is None or fb[field] is None:
                assert fa[field] == fb[field], (key, field)
            else:
                assert fa[field] == pytest.approx(fb[field], rel=1e-6, abs=1e-2), (key, field)
    assert a["level"] == b["level"]


@pytest.mark.parametrize("service", [None, "cart"])
def test_sql_and_pure_functions_agree(store: Store, service: str | None) -> None:
    """SQL aggregation gives the figures domain/dora.py gives, overall and week by week."""
    history(store)
    args = {
        "since": "2026-01-07T12:00:00Z",
        "until": "2026-02-20",
        "by": "week",
        "service": service,
        "now": NOW,
    }
    sql = metrics.dora_report(store, engine="sql", **args)
    py = metrics.dora_report(store, engine="python", **args)
    assert sql["figures"]["deployment_frequency"]["numerator"] > 0
    assert sql["figures"]["change_failure_rate"]["numerator"] > 0
    close(sql["figures"], py["figures"])
    assert [t["week"] for t in sql["trend"]] == [t["week"] for t in py["trend"]]
    for a, b in zip(sql["trend"], py["trend"], strict=True):
        close(a, b)
    assert sql["services"] == py["services"]
    assert [f["deployment"] for f in sql["evidence"]["change_failures"]] == sorted(
        {f["deployment"] for f in py["evidence"]["change_failures"]},
        key=lambda d: int(d[1:]),
    )


def test_empty_history_says_no_data(store: Store) -> None:
    """With no deployments every key is None ("no data"), never 0, on both engines."""
    for engine in ("sql", "python"):
        report = metrics.dora_report(store, engine=engine, now=NOW, by="week")  # type: ignore[arg-type]
        assert all(
            report["figures"][k]["value"] is None
            for k in ("deployment_frequency", "lead_time", "change_failure_rate", "time_to_restore")
        )
        assert report["figures"]["level"] is None and "no data" in report["notes"][0]


def test_time_range_that_ends_before_it_starts(store: Store) -> None:
    """--since after --until is refused with time-range-invalid."""
    with pytest.raises(TimeRangeInvalid) as err:
        metrics.dora_report(store, since="2026-02-01", until="2026-01-01", now=NOW)
    assert err.value.code == "time-range-invalid" and err.value.hint


def test_unparseable_time_and_unknown_grouping(store: Store) -> None:
    """A --since that is no time and a --by other than week are input errors with codes."""
    with pytest.raises(InputError) as err:
        metrics.dora_report(store, since="yesterday", now=NOW)
    assert err.value.code == "time-invalid"
    with pytest.raises(InputError) as err:
        metrics.dora_report(store, by="month", now=NOW)
    assert err.value.code == "metrics-by-invalid"


def test_unknown_service_and_environment(store: Store) -> None:
    """A service or environment nothing was deployed to is an error naming the known ones."""
    deploy(store, "d1", "cart", T0)
    with pytest.raises(InputError) as err:
        metrics.dora_report(store, service="nope", now=NOW)
    assert err.value.code == "metrics-service-unknown" and "cart" in err.value.hint
    with pytest.raises(InputError) as err:
        metrics.dora_report(store, env="prod", now=NOW)
    assert err.value.code == "metrics-env-unknown" and "production" in err.value.hint


def test_incident_outside_the_window_is_noted_not_counted(store: Store) -> None:
    """An incident linking a deployment outside the window does not count as a change failure."""
    deploy(store, "old", "cart", T0)
    deploy(store, "new", "cart", T0 + timedelta(days=20))
    incident(store, "i1", "cart", "old", T0 + timedelta(days=21), None)
    args = {"since": "2026-01-20", "until": "2026-02-01", "now": NOW}
    for engine in ("sql", "python"):
        cfr = metrics.dora_report(store, engine=engine, **args)["figures"]["change_failure_rate"]  # type: ignore[arg-type]
        assert (cfr["numerator"], cfr["denominator"]) == (0, 1)
    notes = metrics.dora_report(store, engine="python", **args)["notes"]
    assert any("i1" in n and "not counted" in n for n in notes)


def test_open_and_resolve_an_incident(store: Store) -> None:
    """An incident links its deployment by id and is resolved once, each with its event."""
    deploy(store, "d1", "cart", T0)
    row = incidents.open_incident(store, "cart", "d1", title="errors up")
    assert row["project"] == "shop" and row["deployment_id"] == "d1"
    done = incidents.resolve_incident(store, row["id"])
    assert done["resolved_at"] >= row["opened_at"]
    with store.read() as uow:
        kinds = [e.kind for e in uow.events.query(subject=f"incident:{row['id']}")]
    assert kinds == ["incident.opened", "incident.resolved"]
    with pytest.raises(Conflict) as err:
        incidents.resolve_incident(store, row["id"])
    assert err.value.code == "incident-already-resolved"
    report = metrics.dora_report(store, since="2026-01-01", until="2026-01-10", now=NOW)
    assert report["figures"]["change_failure_rate"]["numerator"] == 1


def test_incident_bad_input(store: Store) -> None:
    """Unknown deployment, no deployment, wrong service and unknown incident are coded errors."""
    deploy(store, "d1", "cart", T0)
    with pytest.raises(NotFound) as nf:
        incidents.open_incident(store, "cart", "d404")
    assert nf.value.code == "deployment-not-found" and "audit log" in nf.value.hint
    with pytest.raises(InputError) as err:
        incidents.open_incident(store, "cart", None)
    assert err.value.code == "incident-deployment-missing" and "--unlinked" in err.value.hint
    with pytest.raises(InputError) as err:
        incidents.open_incident(store, "pay", "d1")
    assert err.value.code == "incident-service-mismatch"
    with pytest.raises(NotFound) as nf:
        incidents.resolve_incident(store, "inc-nope")
    assert nf.value.code == "incident-not-found"
    with store.read() as uow:
        assert repo.list_incidents(uow.conn) == []  # nothing half-written


def test_unlinked_incident_counts_for_restore_only(store: Store) -> None:
    """An unlinked incident is recorded and counted for time to restore, not as a failure."""
    deploy(store, "d1", "cart", T0 - timedelta(days=1))
    row = incidents.open_incident(store, "cart", None, unlinked=True, project="shop")
    incidents.resolve_incident(store, row["id"])
    report = metrics.dora_report(store, since="2026-01-01", now=datetime.now(UTC))
    assert report["figures"]["change_failure_rate"]["numerator"] == 0
    assert report["figures"]["time_to_restore"]["denominator"] == 1


def _projected(store: Store) -> dict[str, int]:
    from shipyard.store import dora_projection

    with store.read() as uow:
        return dict(dora_projection.counts(uow.conn))


def test_projection_catches_up_incrementally_and_rebuilds_the_same(store: Store) -> None:
    """The projection follows the log a batch at a time, and a rebuild gives the same figures."""
    from shipyard.store import dora_projection

    args = {"since": "2026-01-05", "until": "2026-02-20", "by": "week", "now": NOW}
    history(store, 30)
    first = metrics.dora_report(store, **args)
    seen = _projected(store)
    assert seen["deployments"] > 0 and seen["commits"] > 0
    with store.read() as uow:
        assert not dora_projection.behind(uow.conn)
        top = uow.conn.execute(text("SELECT MAX(seq) FROM events")).scalar()
    assert seen["cursor"] == top
    # Nothing new: reading again projects nothing and gives the same figures.
    assert metrics.dora_report(store, **args) == first
    assert _projected(store) == seen
    # New deployments, one of them started before the catch-up and finished after it.
    deploy(store, "late-1", "cart", T0 + timedelta(days=40), commit_ages_h=(1.0, 3.0))
    with store.begin() as uow:
        uow.events.append(
            "deployment.started",
            "deployment:late-2",
            "ci",
            {
                "service": "pay",
                "environment": "production",
                "commits": [{"sha": "x", "time": ts(T0 + timedelta(days=40))}],
            },
            project="shop",
            ts=ts(T0 + timedelta(days=41)),
        )
    with store.begin() as uow:
        assert dora_projection.project_events(uow.conn, batch=2) == 3
    with store.begin() as uow:
        uow.events.append(
            "deployment.finished",
            "deployment:late-2",
            "ci",
            {"service": "pay", "environment": "production", "status": "succeeded"},
            project="shop",
            ts=ts(T0 + timedelta(days=41, hours=1)),
        )
    incremental = metrics.dora_report(store, **args)
    after = _projected(store)
    assert after["deployments"] == seen["deployments"] + 2
    assert after["commits"] == seen["commits"] + 3
    assert (
        incremental["figures"]["lead_time"]["denominator"]
        == first["figures"]["lead_time"]["denominator"] + 3
    )
    close(incremental["figures"], metrics.dora_report(store, engine="python", **args)["figures"])
    # Dropped and rebuilt from the log, in small batches: the same rows and figures.
    with store.begin() as uow:
        dora_projection.rebuild(uow.conn, batch=3)
    assert _projected(store) == after
    assert metrics.dora_report(store, **args) == incremental
    rebuilt = metrics.rebuild_projection(store)
    assert rebuilt["events"] > 0 and {k: rebuilt[k] for k in after} == after


@pytest.mark.parametrize(
    ("since", "until"),
    [
        ("2026-01-05", "2026-02-16"),  # whole weeks only: the roll-ups alone
        ("2026-01-13T05:00:00Z", "2026-01-15T20:00:00Z"),  # inside one week
        ("2026-01-11T23:00:00Z", "2026-01-12T01:00:00Z"),  # across one Monday
        ("2025-12-01", "2026-03-30"),  # beyond the history at both ends
    ],
)
def test_sql_and_pure_functions_agree_on_any_window(store: Store, since: str, until: str) -> None:
    """Whole weeks read from the roll-ups and cut weeks read from rows add up as dora.py's."""
    history(store)
    args = {"since": since, "until": until, "by": "week", "now": NOW}
    sql = metrics.dora_report(store, engine="sql", **args)
    py = metrics.dora_report(store, engine="python", **args)
    close(sql["figures"], py["figures"])
    for a, b in zip(sql["trend"], py["trend"], strict=True):
        close(a, b)
    assert sql["services"] == py["services"]
