"""Change requests on a real store (SQLite and PostgreSQL): protection, separation of duties,
every step an event, one application under concurrency, scheduled and failed changes."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shipyard.errors import ShipyardError
from shipyard.services.flags import flag_requests, flag_schedules, flags
from shipyard.store.uow import Store

P, ENV = "shop", "production"


def _kinds(store: Store) -> list[tuple[str, str]]:
    with store.read() as uow:
        return [(e.kind, e.actor) for e in uow.events.query(project=P, kind="flag.*")]


@pytest.fixture
def protected(store: Store) -> Store:
    flags.create(store, P, ENV, "checkout", "ann")
    flag_requests.protect(store, P, ENV, 1, "admin")
    return store


def test_a_protected_environment_refuses_direct_changes(protected: Store) -> None:
    """enable, rollout, delete, import, segments and schedules are refused with
    flag-change-request-required, and nothing changes."""
    store = protected
    before = flags.export(store, P, ENV)
    attempts = [
        lambda: flags.set_enabled(store, P, ENV, "checkout", True, "ann"),
        lambda: flags.set_rollout(store, P, ENV, "checkout", 5, "ann"),
        lambda: flags.delete(store, P, ENV, "checkout", "ann"),
        lambda: flags.import_payload(store, P, ENV, {"features": [{"name": "x"}]}, "ann"),
        lambda: flag_schedules.schedule(store, P, ENV, "checkout", "enable", "+1h", actor="ann"),
    ]
    for attempt in attempts:
        with pytest.raises(ShipyardError) as err:
            attempt()
        assert err.value.code == "flag-change-request-required"
    assert flags.export(store, P, ENV) == before


def test_proposed_approved_by_another_then_applied(protected: Store) -> None:
    """The proposer cannot approve; another actor's approval makes it approved; applying turns
    the flag on; each step is an event, and the flag change is the proposer's."""
    store = protected
    request = flag_requests.propose(store, P, ENV, "checkout", "enable", "ann")
    assert request["status"] == "open" and request["approvals_needed"] == 1
    with pytest.raises(ShipyardError) as err:
        flag_requests.approve(store, P, request["id"], "ann")
    assert err.value.code == "flag-request-self-approval"
    with pytest.raises(ShipyardError) as early:
        flag_requests.apply(store, P, request["id"], "ann")
    assert early.value.code == "flag-request-not-approved"
    approved = flag_requests.approve(store, P, request["id"], "bob")
    assert approved["status"] == "approved" and approved["approved_by"] == ["bob"]
    applied = flag_requests.apply(store, P, request["id"], "ann")
    assert applied["status"] == "applied" and applied["changed"] is True
    assert flags.show(store, P, "checkout", ENV)["environments"][ENV]["enabled"] is True
    assert _kinds(store)[-5:] == [
        ("flag.protection-changed", "admin"),
        ("flag.change-requested", "ann"),
        ("flag.change-approved", "bob"),
        ("flag.changed", "ann"),
        ("flag.change-applied", "ann"),
    ]
    with pytest.raises(ShipyardError) as again:
        flag_requests.apply(store, P, request["id"], "ann")
    assert again.value.code == "flag-request-not-open"


def test_two_approvals_from_two_other_people(protected: Store) -> None:
    """With two approvals required, one approver twice does not count twice."""
    store = protected
    flag_requests.protect(store, P, ENV, 2, "admin")
    request = flag_requests.propose(store, P, ENV, "checkout", "rollout", "ann", percentage=20)
    assert flag_requests.approve(store, P, request["id"], "bob")["status"] == "open"
    with pytest.raises(ShipyardError) as err:
        flag_requests.approve(store, P, request["id"], "bob")
    assert err.value.code == "flag-request-already-approved"
    assert flag_requests.approve(store, P, request["id"], "cat")["status"] == "approved"
    flag_requests.apply(store, P, request["id"], "cat")
    assert flags.list_flags(store, P, ENV)[0]["rollout"] == 20


def test_applying_twice_at_once_applies_once(protected: Store) -> None:
    """Two appliers racing: one applies, the other is refused, one flag.change-applied."""
    store = protected
    request = flag_requests.propose(store, P, ENV, "checkout", "enable", "ann")
    flag_requests.approve(store, P, request["id"], "bob")
    results: list[Any] = []
    barrier = threading.Barrier(2)

    def run() -> None:
        barrier.wait()
        try:
            results.append(flag_requests.apply(store, P, request["id"], "ann")["status"])
        except ShipyardError as exc:
            results.append(exc.code)

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(results) == ["applied", "flag-request-not-open"]
    assert [k for k, _ in _kinds(store)].count("flag.change-applied") == 1


def test_a_scheduled_request_applies_when_due(protected: Store) -> None:
    """Approved with a time, the change waits for it, then the server's pass applies it."""
    store = protected
    now = datetime.now(UTC)
    request = flag_requests.propose(
        store, P, ENV, "checkout", "enable", "ann", at=now + timedelta(hours=1), now=now
    )
    flag_requests.approve(store, P, request["id"], "bob", now=now)
    with pytest.raises(ShipyardError) as err:
        flag_requests.apply(store, P, request["id"], "bob", now=now)
    assert err.value.code == "flag-request-scheduled"
    assert flag_requests.apply_due(store, now + timedelta(minutes=30)) == []
    done = flag_requests.apply_due(store, now + timedelta(hours=2))
    assert [d["id"] for d in done] == [request["id"]]
    assert flag_requests.apply_due(store, now + timedelta(hours=3)) == []
    assert flags.show(store, P, "checkout", ENV)["environments"][ENV]["enabled"] is True


def test_a_change_that_cannot_be_made_fails_visibly(protected: Store) -> None:
    """If the flag is gone when the approved change applies, the request is failed, with an
    event, and nothing else changes."""
    store = protected
    request = flag_requests.propose(store, P, ENV, "checkout", "enable", "ann")
    flag_requests.approve(store, P, request["id"], "bob")
    flag_requests.protect(store, P, ENV, 0, "admin")
    flags.delete(store, P, ENV, "checkout", "admin")
    with pytest.raises(ShipyardError) as err:
        flag_requests.apply(store, P, request["id"], "ann")
    assert err.value.code == "flag-not-found"
    shown = flag_requests.show(store, P, request["id"])
    assert shown["status"] == "failed" and "checkout" in shown["error"]
    assert _kinds(store)[-1] == ("flag.change-failed", "ann")


def test_reject_and_cancel(protected: Store) -> None:
    """An approver rejects, the proposer cancels; neither can then be approved."""
    store = protected
    first = flag_requests.propose(store, P, ENV, "checkout", "enable", "ann")
    second = flag_requests.propose(store, P, ENV, "checkout", "disable", "ann")
    rejected = flag_requests.close(store, P, first["id"], "bob", cancel=False, reason="not now")
    assert rejected["status"] == "rejected" and rejected["error"] == "not now"
    with pytest.raises(ShipyardError) as other:
        flag_requests.close(store, P, second["id"], "bob", cancel=True)
    assert other.value.code == "flag-request-not-proposer"
    assert flag_requests.close(store, P, second["id"], "ann", cancel=True)["status"] == "cancelled"
    with pytest.raises(ShipyardError) as closed:
        flag_requests.approve(store, P, first["id"], "cat")
    assert closed.value.code == "flag-request-not-open"
    assert [r["status"] for r in flag_requests.list_requests(store, P, ENV)] == [
        "rejected",
        "cancelled",
    ]


def test_an_unprotected_environment_needs_no_request(store: Store) -> None:
    """Proposing where no approval is needed says so; a request of another project is not
    found."""
    flags.create(store, P, "dev", "f", "ann")
    with pytest.raises(ShipyardError) as err:
        flag_requests.propose(store, P, "dev", "f", "enable", "ann")
    assert err.value.code == "flag-environment-unprotected"
    with pytest.raises(ShipyardError) as missing:
        flag_requests.show(store, "other", 1)
    assert missing.value.code == "flag-request-not-found"
