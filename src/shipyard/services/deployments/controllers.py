"""Rollout controllers under a lease: whoever drives a deployment (a `shipyard worker`, the
CLI's `deploy` in the foreground, `rollout continue`) first holds its work row
``rollout:<deployment>`` (``services/work.py``), writes only through the lease's fenced store
and logs what it decides beside the row. Two controllers never drive one deployment: the second
finds the lease held (``rollout-in-progress``), and one whose lease was taken over has its next
write refused by the fencing token and stops.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from shipyard.errors import Conflict
from shipyard.services import work
from shipyard.store import deployments as repo
from shipyard.store import work as work_repo
from shipyard.store.deployments import DeploymentRow
from shipyard.store.uow import Store

Line = Callable[[str, dict[str, Any]], None]
Out = TypeVar("Out")  # how the controller ended
Control = Callable[[Store, Line], Out]  # runs the controller on the fenced store


def item_of(deployment_id: str) -> str:
    return f"rollout:{deployment_id}"


def state(conn: Any, dep: DeploymentRow) -> str:
    """``running`` (a live lease holds it), ``waiting`` (recorded, never taken by a
    controller) or ``stopped`` (its controller died or stopped; another may take over)."""
    row = work_repo.get(conn, item_of(dep["id"]))
    if row is None:
        return _legacy(dep)
    if row["owner"] is not None and row["left_s"] is not None and row["left_s"] >= 0:
        return "running"
    return "waiting" if row["fence"] == 0 else "stopped"


def _legacy(dep: DeploymentRow) -> str:
    """A deployment recorded before leases: judged by its controller's pid, on this host."""
    from shipyard.adapters import processes

    pid = dep.get("controller_pid")
    if not pid:
        return "waiting"
    return "running" if processes.exists(int(pid)) else "stopped"


def _in_progress(dep_id: str, row: Mapping[str, Any] | None) -> Conflict:
    holder = (row or {}).get("owner") or "another controller"
    left = (row or {}).get("left_s")
    when = f"; its lease ends in {left:.0f}s unless renewed" if left is not None else ""
    return Conflict(
        f"deployment {dep_id} is driven by {holder}{when}",
        "follow it with `shipyard rollout status ENV`",
        code="rollout-in-progress",
        details={"deployment": dep_id, "owner": holder},
    )


def hold(store: Store, deployment_id: str, owner: str, *, wait: bool) -> work.Lease:
    """The deployment's lease, now held by ``owner``. With ``wait``, a lease still running
    out (its holder died moments ago) is waited for, once; a live holder that renews it is
    ``rollout-in-progress``."""
    item = item_of(deployment_id)
    with store.begin() as uow:
        work.add(uow.conn, item, "rollout", _project(uow.conn, deployment_id))
    for attempt in range(2):
        lease = work.take_item(store, item, owner)
        if lease is not None:
            return lease
        row: Mapping[str, Any] | None = work.get(store, item)
        left = (row or {}).get("left_s")
        if row is None or row["state"] == "done" or not wait or attempt or left is None:
            break
        time.sleep(max(0.0, min(float(left), work.LEASE_S)) + 0.2)
    raise _in_progress(deployment_id, work.get(store, item))


def _project(conn: Any, deployment_id: str) -> str:
    dep = repo.get_deployment(conn, deployment_id)
    if dep is None:
        from shipyard.errors import NotFound

        raise NotFound(f"deployment {deployment_id} does not exist", code="deployment-not-found")
    return str(dep["project"])


def drive(
    store: Store,
    deployment_id: str,
    control: Control[Out],
    *,
    on_line: Line | None = None,
    lease: work.Lease | None = None,
    owner: str | None = None,
    wait: bool = False,
) -> Out:
    """Run ``control`` for the deployment while holding its lease (taken here unless given),
    logging each line it says; the lease is let go at the end: done when the deployment
    finished, free for another controller when it did not (held and stopped, or failed)."""
    lease = lease or hold(store, deployment_id, owner or work.owner_id(), wait=wait)

    def line(text: str, data: dict[str, Any]) -> None:
        lease.log(text)
        if on_line is not None:
            on_line(text, data)

    finished, wait_s = False, 0.0
    try:
        with lease.heartbeat():
            lease.log(f"{lease.owner} drives deployment {deployment_id} (token {lease.fence})")
            out = control(lease.fenced, line)
        finished = _finished(store, deployment_id)
        return out
    except work.LeaseLost:
        logging.getLogger("shipyard.worker").warning(
            "%s: lease lost (token %s of %s is stale): another controller drives it; stopped",
            lease.item,
            lease.fence,
            lease.owner,
        )
        raise Conflict(
            f"deployment {deployment_id} was taken over by another controller; this one stopped",
            "follow it with `shipyard rollout status ENV`",
            code="lease-lost",
        ) from None
    except BaseException as exc:
        finished = _finished(store, deployment_id)
        if not finished:
            wait_s = work.RETRY_S  # not at once: a controller failing on start would spin
            with _quiet():
                lease.log(f"controller stopped: {type(exc).__name__}: {exc}")
        raise
    finally:
        if not lease.lost.is_set():
            with _quiet():
                lease.release(done=finished, wait_s=wait_s)


def _finished(store: Store, deployment_id: str) -> bool:
    with store.read() as uow:
        dep = repo.get_deployment(uow.conn, deployment_id)
    return dep is None or dep["status"] != "running"


def _quiet() -> Any:
    import contextlib

    return contextlib.suppress(Exception, work.LeaseLost)
