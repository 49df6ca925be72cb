"""Scheduled flag changes on a real store (SQLite and PostgreSQL), with explicit times."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shipyard.errors import InputError, NotFound, ShipyardError
from shipyard.services.flags import flag_schedules as sched
from shipyard.services.flags import flags
from shipyard.store.uow import Store

P, ENV = "shop", "dev"
NOW = datetime(2026, 6, 1, 9, 0, tzinfo=UTC)


def _kinds(store: Store) -> list[str]:
    with store.read() as uow:
        return [e.to_dict()["kind"] for e in uow.events.query(project=P, kind="flag.*")]


def _flag(store: Store) -> dict[str, Any]:
    return flags.list_flags(store, P, ENV)[0]


def test_a_schedule_applies_only_once_its_time_has_come(store: Store) -> None:
    """An enable at +1h does nothing at +59m, applies at +1h, and applying again is a no-op."""
    flags.create(store, P, ENV, "beta", "alice")
    row = sched.schedule(store, P, ENV, "beta", "enable", "+1h", actor="alice", now=NOW)
    assert row["at"] == "2026-06-01T10:00:00Z" and row["status"] == "pending"
    assert sched.apply_due(store, NOW + timedelta(minutes=59)) == []
    assert _flag(store)["enabled"] is False
    applied = sched.apply_due(store, NOW + timedelta(hours=1))
    assert [a["id"] for a in applied] == [row["id"]]
    assert _flag(store)["enabled"] is True
    assert sched.apply_due(store, NOW + timedelta(hours=2)) == []
    assert _kinds(store) == [
        "flag.changed",
        "flag.scheduled",
        "flag.changed",
        "flag.schedule-applied",
    ]
    assert [s["status"] for s in sched.list_schedules(store, P, ENV)] == ["applied"]


def test_the_applied_change_is_recorded_as_the_scheduler_of_it(store: Store) -> None:
    """The flag.changed of an applied schedule names who scheduled it and holds before/after."""
    flags.create(store, P, ENV, "beta", "alice", enabled=True)
    sched.schedule(
        store, P, ENV, "beta", "disable", NOW + timedelta(minutes=5), actor="bob", now=NOW
    )
    sched.apply_due(store, NOW + timedelta(minutes=5))
    with store.read() as uow:
        changed = [e.to_dict() for e in uow.events.query(project=P, kind="flag.changed")][-1]
    assert changed["actor"] == "bob"
    assert changed["payload"]["before"]["enabled"] is True
    assert changed["payload"]["after"]["enabled"] is False


def test_a_stepped_rollout_applies_each_step_in_order(store: Store) -> None:
    """Steps 10@+1h, 50@+2h, 100@+4h move the rollout 10, 50, 100 as each time passes."""
    flags.create(store, P, ENV, "beta", "alice", rollout=0)
    rows = sched.schedule_steps(
        store, P, ENV, "beta", [(10, "+1h"), (50, "+2h"), (100, "+4h")], actor="a", now=NOW
    )
    assert [r["percentage"] for r in rows] == [10, 50, 100]
    seen = []
    for hours in (1, 2, 3, 4):
        sched.apply_due(store, NOW + timedelta(hours=hours))
        seen.append(_flag(store)["rollout"])
    assert seen == [10, 50, 50, 100]


def test_late_applying_runs_every_due_step_oldest_first(store: Store) -> None:
    """When applying starts after several steps are due, each is applied in time order."""
    flags.create(store, P, ENV, "beta", "alice", rollout=0)
    sched.schedule_steps(store, P, ENV, "beta", [(10, "+1h"), (50, "+2h")], actor="a", now=NOW)
    applied = sched.apply_due(store, NOW + timedelta(hours=3))
    assert [a["percentage"] for a in applied] == [10, 50]
    assert _flag(store)["rollout"] == 50
    assert _kinds(store).count("flag.changed") == 3


def test_a_cancelled_schedule_never_applies(store: Store) -> None:
    """Cancelling a pending schedule keeps it from applying; cancelling again changes nothing."""
    flags.create(store, P, ENV, "beta", "alice")
    row = sched.schedule(store, P, ENV, "beta", "enable", "+1h", actor="a", now=NOW)
    assert sched.cancel(store, P, row["id"], actor="a", now=NOW)["changed"] is True
    assert sched.cancel(store, P, row["id"], actor="a", now=NOW)["changed"] is False
    assert sched.apply_due(store, NOW + timedelta(days=1)) == []
    assert _flag(store)["enabled"] is False
    assert sched.list_schedules(store, P, ENV)[0]["status"] == "cancelled"
    assert sched.list_schedules(store, P, ENV, pending=True) == []


def test_an_applied_schedule_cannot_be_cancelled(store: Store) -> None:
    """Cancelling a schedule that already applied is refused with schedule-not-pending."""
    flags.create(store, P, ENV, "beta", "alice")
    row = sched.schedule(store, P, ENV, "beta", "enable", "+1h", actor="a", now=NOW)
    sched.apply_due(store, NOW + timedelta(hours=1))
    with pytest.raises(ShipyardError) as err:
        sched.cancel(store, P, row["id"], actor="a")
    assert err.value.code == "schedule-not-pending"


def test_a_schedule_for_a_deleted_flag_fails_without_stopping_others(store: Store) -> None:
    """A due schedule whose flag is gone is marked failed; the others due still apply."""
    flags.create(store, P, ENV, "gone", "a")
    flags.create(store, P, ENV, "kept", "a")
    sched.schedule(store, P, ENV, "gone", "enable", "+1h", actor="a", now=NOW)
    sched.schedule(store, P, ENV, "kept", "enable", "+1h", actor="a", now=NOW)
    flags.delete(store, P, ENV, "gone", "a")
    applied = sched.apply_due(store, NOW + timedelta(hours=1))
    assert [a["flag"] for a in applied] == ["kept"]
    states = {s["flag"]: (s["status"], s["error"]) for s in sched.list_schedules(store, P)}
    assert states["kept"] == ("applied", None)
    assert states["gone"][0] == "failed" and "gone" in states["gone"][1]
    assert "flag.schedule-failed" in _kinds(store)
    assert sched.apply_due(store, NOW + timedelta(hours=2)) == []


def _bad() -> list[Any]:
    past = NOW - timedelta(minutes=1)
    naive = datetime(2026, 7, 1, 9, 0)
    return [
        pytest.param(dict(flag="nope", action="enable", at="+1h"), "flag-not-found", id="flag"),
        pytest.param(
            dict(action="rollout", at="+1h", percentage=101), "flag-percentage-invalid", id="pct"
        ),
        pytest.param(
            dict(action="rollout", at="+1h", percentage=-1), "flag-percentage-invalid", id="neg"
        ),
        pytest.param(dict(action="rollout", at="+1h"), "flag-percentage-invalid", id="no-pct"),
        pytest.param(
            dict(action="enable", at="+1h", percentage=5),
            "schedule-percentage-unexpected",
            id="extra",
        ),
        pytest.param(dict(action="explode", at="+1h"), "schedule-action-unknown", id="action"),
        pytest.param(dict(action="enable", at=past), "schedule-in-past", id="past"),
        pytest.param(
            dict(action="enable", at="2026-06-01T08:00Z"), "schedule-in-past", id="past-text"
        ),
        pytest.param(dict(action="enable", at=naive), "schedule-time-naive", id="naive"),
        pytest.param(
            dict(action="enable", at="2026-07-01T09:00"), "schedule-time-naive", id="naive-text"
        ),
        pytest.param(dict(action="enable", at="tomorrow"), "schedule-time-invalid", id="text"),
    ]


@pytest.mark.parametrize(("args", "code"), _bad())
def test_bad_schedules_are_refused_with_a_code(
    store: Store, args: dict[str, Any], code: str
) -> None:
    """Each bad schedule raises its own code and stores nothing."""
    flags.create(store, P, ENV, "beta", "a")
    args = {"flag": "beta", **args}
    with pytest.raises(ShipyardError) as err:
        sched.schedule(store, P, ENV, actor="a", now=NOW, **args)
    assert err.value.code == code
    assert sched.list_schedules(store, P) == []
    assert isinstance(err.value, InputError | NotFound)


@pytest.mark.parametrize(
    ("steps", "code"),
    [
        pytest.param([(10, "+2h"), (50, "+1h")], "schedule-steps-unordered", id="order"),
        pytest.param([(10, "+1h"), (150, "+2h")], "flag-percentage-invalid", id="pct"),
        pytest.param([], "schedule-steps-invalid", id="empty"),
        pytest.param([(10, NOW - timedelta(hours=1)), (50, "+1h")], "schedule-in-past", id="past"),
    ],
)
def test_bad_steps_are_refused_and_none_stored(
    store: Store, steps: list[tuple[int, Any]], code: str
) -> None:
    """A stepped rollout with one bad step stores none of its steps."""
    flags.create(store, P, ENV, "beta", "a")
    with pytest.raises(ShipyardError) as err:
        sched.schedule_steps(store, P, ENV, "beta", steps, actor="a", now=NOW)
    assert err.value.code == code
    assert sched.list_schedules(store, P) == []


def test_cancelling_an_unknown_schedule_is_not_found(store: Store) -> None:
    """Cancelling an id that does not exist raises schedule-not-found."""
    with pytest.raises(NotFound) as err:
        sched.cancel(store, P, 999, actor="a")
    assert err.value.code == "schedule-not-found"
