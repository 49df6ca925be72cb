"""Leases on background work: one holder at a time, taken over when it runs out, and a stale
holder's writes refused by its fencing token."""

from __future__ import annotations

import threading
import time
from dataclasses import replace

import pytest
from sqlalchemy import select

from shipyard.services import work
from shipyard.store import work as repo
from shipyard.store.schema import projects
from shipyard.store.uow import Store


def _add(store: Store, item: str = "rollout:d1") -> str:
    with store.begin() as uow:
        work.add(uow.conn, item, "rollout", "shop")
        work.add(uow.conn, item, "rollout", "shop")  # twice: still one row
    return item


def _write(lease: work.Lease, name: str) -> None:
    """A write of the holder's, through its fenced store."""
    with lease.fenced.begin() as uow:
        uow.conn.execute(projects.insert(), {"name": name, "created_at": "now"})


def _names(store: Store) -> set[str]:
    with store.read() as uow:
        return {r[0] for r in uow.conn.execute(select(projects.c.name))}


def test_one_holder_at_a_time(store: Store) -> None:
    """Of two workers taking at once, one gets the item; the other gets nothing."""
    item = _add(store)
    got: dict[str, list[work.Lease]] = {}
    barrier = threading.Barrier(2)

    def take(owner: str) -> None:
        barrier.wait()
        got[owner] = work.take(store, ["rollout"], owner, 5)

    threads = [threading.Thread(target=take, args=(o,)) for o in ("w1", "w2")]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    held = [lease for leases in got.values() for lease in leases]
    assert [(lease.item, lease.fence) for lease in held] == [(item, 1)]
    assert work.take_item(store, item, "w3") is None
    assert work.take(store, ["schedules"], "w3", 5) == []


def test_a_stale_holder_is_fenced_off(store: Store) -> None:
    """When a lease runs out and another worker takes the work, the first holder's next write
    is refused and rolled back; the new holder writes, and its token is one higher."""
    item = _add(store)
    (old,) = work.take(store, ["rollout"], "w1", 1, lease_s=0.3)
    _write(old, "by-w1-in-time")
    time.sleep(0.5)  # w1 stalls past its lease (a pause, a partition)
    new = work.take_item(store, item, "w2", lease_s=5)
    assert new is not None and new.fence == old.fence + 1
    with pytest.raises(work.LeaseLost):
        _write(old, "by-w1-stale")
    assert old.lost.is_set()
    _write(new, "by-w2")
    assert _names(store) == {"by-w1-in-time", "by-w2"}
    with pytest.raises(work.LeaseLost):
        old.log("stale line")
    new.log("fresh line")
    assert [entry["line"] for entry in work.logs(store, item)] == ["fresh line"]


def test_a_lease_past_its_expiry_that_no_one_took_is_renewed(store: Store) -> None:
    """A renewal late by more than the lease (it waited on the write lock) keeps the lease
    when no one took the work meanwhile; once another holder takes it, it is refused."""
    item = _add(store)
    (late,) = work.take(store, ["rollout"], "w1", 1, lease_s=0.2)
    time.sleep(0.4)
    assert late.renew() and late.held()
    _write(late, "by-w1-after-renewing")
    assert work.take_item(store, item, "w2", lease_s=5) is None  # renewed: not takeable
    time.sleep(0.4)
    assert work.take_item(store, item, "w2", lease_s=5) is not None
    assert not late.renew()


def test_heartbeat_keeps_a_lease_and_release_frees_it(store: Store) -> None:
    """A holder whose heartbeat runs keeps its work past the lease period; released
    unfinished, the work is taken by the next worker; released done, by nobody."""
    item = _add(store)
    (lease,) = work.take(store, ["rollout"], "w1", 1, lease_s=1.5)
    with lease.heartbeat(every=0.25):
        time.sleep(2.5)
        assert work.take_item(store, item, "w2") is None
    _write(lease, "still-mine")
    lease.release(done=False)
    again = work.take_item(store, item, "w2")
    assert again is not None and again.fence == 2
    again.release(done=True)
    assert work.take_item(store, item, "w3") is None
    assert work.get(store, item)["state"] == "done"  # type: ignore[index]


def test_work_that_failed_waits_before_it_is_taken_again(store: Store) -> None:
    """Released with a wait after a failed attempt, the work is not taken until it passes."""
    item = _add(store)
    (lease,) = work.take(store, ["rollout"], "w1", 1)
    lease.release(done=False, wait_s=0.4)
    assert work.take_item(store, item, "w2") is None
    time.sleep(0.5)
    assert work.take_item(store, item, "w2") is not None


def test_unheld_work_can_be_finished_held_work_cannot(store: Store) -> None:
    """Work nobody holds is marked done (a cancelled rollout); work a worker holds is not."""
    a, b = _add(store, "rollout:a"), _add(store, "rollout:b")
    work.take_item(store, b, "w1")
    with store.begin() as uow:
        assert work.finish_unheld(uow.conn, a)
        assert not work.finish_unheld(uow.conn, b)
        assert repo.get(uow.conn, a)["state"] == "done"  # type: ignore[index]


def test_lease_times_follow_the_database_clock(store: Store) -> None:
    """Expiry is the database's now plus the lease, whatever this host's clock says."""
    item = _add(store)
    work.take_item(store, item, "w1", lease_s=30)
    row = work.get(store, item)
    assert row is not None and 29 < row["left_s"] <= 30


def test_a_fenced_store_shares_the_engine(store: Store) -> None:
    """The fenced store is the same database connection pool, not a second one."""
    item = _add(store)
    lease = work.take_item(store, item, "w1")
    assert lease is not None
    assert lease.fenced.engine is store.engine
    assert replace(store).fence is None


def test_work_recorded_held_is_never_taken_by_a_worker(store: Store) -> None:
    """A foreground command records its work already held (`deploy`, `rollback`): a worker
    polling at that moment gets nothing, and the command's lease (token 1) writes."""
    with store.begin() as uow:
        token = work.add_held(uow.conn, "rollout:d2", "rollout", "shop", "cli@host")
    assert work.take(store, ["rollout"], "worker@other", 5) == []
    assert work.take_item(store, "rollout:d2", "worker@other") is None
    lease = work.Lease(store, "rollout:d2", "cli@host", token)
    _write(lease, "held-writes")
    assert "held-writes" in _names(store)


def test_a_lease_that_cannot_be_renewed_for_its_period_is_lost(store: Store) -> None:
    """With the work's table gone (the database lost, the project's schema dropped), every
    renewal fails: the holder marks the lease lost once a lease period passed without one, so
    a supervisor stops instead of retrying forever beside whoever took the work over."""
    item = _add(store)
    lease = work.take_item(store, item, "w1", lease_s=0.6)
    assert lease is not None
    with lease.heartbeat(every=0.05):
        with store.begin() as uow:
            uow.conn.execute(repo.work_items.delete())
            uow.conn.exec_driver_sql("DROP TABLE work_items")
        assert not lease.lost.wait(0.3)  # not yet a lease period
        assert lease.lost.wait(3)


def test_two_processes_recording_the_same_work_at_once_both_succeed(store: Store) -> None:
    """A deploy and its supervisor record an environment's supervision in transactions open
    at the same time: neither fails on the other's row, and there is one row."""
    first = store.engine.connect()
    first.begin()
    repo.add(first, "supervise:shop/dev", "supervise", "shop", "now")
    errors: list[BaseException] = []

    def second() -> None:
        try:
            with store.begin() as uow:
                work.add(uow.conn, "supervise:shop/dev", "supervise", "shop", revive=True)
        except BaseException as exc:  # reported by the assertion below
            errors.append(exc)

    thread = threading.Thread(target=second)
    thread.start()
    time.sleep(0.3)  # the second transaction reaches its insert while the first is open
    first.commit()
    first.close()
    thread.join(30)
    assert errors == [] and work.get(store, "supervise:shop/dev") is not None
