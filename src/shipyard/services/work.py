"""Leases on background work (``store/work.py``): take, keep, fence, log and let go.

A ``Lease`` is one worker's hold on one row. ``lease.fenced`` is the store to write through
while holding it: every write transaction first renews the lease with the holder's fencing
token, in that transaction, and raises ``LeaseLost`` if the token is no longer current (another
worker took the work after this one's lease expired), so the write is rolled back and the stale
holder stops. A heartbeat thread renews the lease while the holder waits on something slow.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING

from shipyard.store import work as repo
from shipyard.store.append import utcnow
from shipyard.store.uow import Store
from shipyard.store.work import LogLine, WorkItem

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

LEASE_S = float(os.environ.get("SHIPYARD_LEASE_S") or 6.0)  # a dead holder is replaced after this
HEARTBEAT_S = LEASE_S / 3
RETRY_S = 5.0  # work whose attempt failed waits this long before another worker tries it

_OWNER = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(3)}"


_ROLE = ["cli"]  # what this process is: a worker's leases are revoked, never signalled


def act_as(role: str) -> None:
    """Make this process's leases say ``role`` (`shipyard worker`, a server's own worker)."""
    _ROLE[0] = role


def owner_id(role: str | None = None) -> str:
    """Who holds a lease: the role, host and process (with a nonce: pids are reused)."""
    return f"{role or _ROLE[0]}@{_OWNER}"


class LeaseLost(BaseException):
    """Another worker holds this work now. A BaseException, as KeyboardInterrupt is, so that
    a controller's ``except Exception`` never takes it for a failure to roll back from."""


@dataclass
class Lease:
    store: Store
    item: str
    owner: str
    fence: int
    lease_s: float = LEASE_S
    lost: threading.Event = field(default_factory=threading.Event)

    def check(self, conn: Connection) -> None:
        """Renew, in the caller's transaction; LeaseLost when the fencing token is stale."""
        if not repo.renew(conn, self.item, self.owner, self.fence, self.lease_s):
            self.lost.set()
            raise LeaseLost(f"{self.item}: fencing token {self.fence} of {self.owner} is stale")

    @property
    def fenced(self) -> Store:
        """The store whose every write transaction checks this lease first (the same engine:
        made now if it was not yet, so the copy does not make a second one)."""
        self.store.engine  # noqa: B018
        return replace(self.store, fence=self.check)

    def held(self) -> bool:
        """Whether this holder still holds the lease (a read: no renewal). A supervisor looks
        before acting on processes, so one whose lease was revoked starts nothing."""
        with self.store.read() as uow:
            row = repo.get(uow.conn, self.item)
        ok = (
            row is not None
            and row["owner"] == self.owner
            and row["fence"] == self.fence
            and row["state"] == "pending"
            and (row["left_s"] or -1) >= 0
        )
        if not ok:
            self.lost.set()
        return ok

    def renew(self) -> bool:
        try:
            with self.fenced.begin():
                pass
        except LeaseLost:
            return False
        return True

    @contextlib.contextmanager
    def heartbeat(self, every: float = 0.0) -> Iterator[None]:
        """Renew the lease in the background while the body runs; a renewal that fails marks
        it lost (the body's next write raises LeaseLost), and so does a lease period without
        one (the database away, or the project's schema dropped): another holder may have it
        by then."""
        stop = threading.Event()

        def beat() -> None:
            renewed = time.monotonic()
            while not stop.wait(every or self.lease_s / 3):
                try:
                    if not self.renew():
                        return
                    renewed = time.monotonic()
                except Exception:  # the database briefly away: try again, the expiry decides
                    if time.monotonic() - renewed > self.lease_s:
                        self.lost.set()
                        return

        thread = threading.Thread(target=beat, name=f"heartbeat {self.item}", daemon=True)
        thread.start()
        try:
            yield
        finally:
            stop.set()
            thread.join(5)

    def log(self, line: str) -> None:
        """A line of the holder's log, kept with the work (fenced: a stale holder's is refused)."""
        with self.fenced.begin() as uow:
            repo.log(uow.conn, self.item, utcnow(), self.owner, self.fence, line[:4000])

    def release(self, *, done: bool, wait_s: float = 0.0) -> None:
        with self.store.begin() as uow:
            repo.release(
                uow.conn, self.item, self.owner, self.fence, done=done, at=utcnow(), wait_s=wait_s
            )


def add(conn: Connection, item_id: str, kind: str, project: str, *, revive: bool = False) -> None:
    repo.add(conn, item_id, kind, project, utcnow(), revive=revive)


def add_held(conn: Connection, item_id: str, kind: str, project: str, owner: str) -> int:
    """Record new work already held by ``owner``, in the caller's transaction: a command that
    drives it in the foreground, so no worker takes it between recording and driving. Returns
    the fencing token of ``Lease(store, item_id, owner, token)``."""
    repo.add(conn, item_id, kind, project, utcnow())
    if not repo.take(conn, item_id, 0, owner, LEASE_S):
        raise RuntimeError(f"{item_id} exists already")  # ids are new: never reached
    return 1


def finish_unheld(conn: Connection, item_id: str) -> bool:
    """Mark work nobody holds done, in the caller's transaction; False if a worker holds it
    (a row that does not exist counts as unheld: work recorded before leases)."""
    if repo.get(conn, item_id) is None:
        return True
    return repo.finish_unheld(conn, item_id, utcnow())


def take(
    store: Store, kinds: list[str], owner: str, limit: int, lease_s: float = LEASE_S
) -> list[Lease]:
    """Up to ``limit`` pending items of ``kinds`` nobody holds, each now held by ``owner``."""
    if limit <= 0:
        return []
    taken = []
    with store.begin() as uow:
        for row in repo.candidates(uow.conn, kinds, limit):
            if repo.take(uow.conn, row["id"], row["fence"], owner, lease_s):
                taken.append(Lease(store, row["id"], owner, row["fence"] + 1, lease_s))
    return taken


def take_item(store: Store, item_id: str, owner: str, lease_s: float = LEASE_S) -> Lease | None:
    """Hold ``item_id`` if nobody does; None when a live lease holds it or it is done."""
    with store.begin() as uow:
        row = repo.get(uow.conn, item_id)
        if row is None or not repo.take(uow.conn, item_id, row["fence"], owner, lease_s):
            return None
    return Lease(store, item_id, owner, row["fence"] + 1, lease_s)


def get(store: Store, item_id: str) -> WorkItem | None:
    with store.read() as uow:
        return repo.get(uow.conn, item_id)


def logs(store: Store, item_id: str, limit: int = 50) -> list[LogLine]:
    with store.read() as uow:
        return repo.logs(uow.conn, item_id, limit)
