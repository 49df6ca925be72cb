"""One watcher per server process for every open flag stream.

Streams subscribe with their environment and token; one thread waits on the database's change
signal (``store.flag_signal``: LISTEN/NOTIFY on PostgreSQL, ``data_version`` on SQLite) and,
on a wake-up, reads the revisions of the watched environments and the state of the watched
tokens in one go, then wakes only the streams concerned. A revoked or expired token's streams
are closed. Nothing polls per stream, so 200 idle streams cost what one does.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from dataclasses import dataclass, field

from shipyard.services.flags import flags_client
from shipyard.store.uow import Store

log = logging.getLogger("shipyard.flags.feed")
WAIT_S = 1.0  # the longest a wait blocks, so a stopped feed ends promptly
RESYNC_S = 5.0  # read anyway this often: a notification lost to a reconnect is not lost long


@dataclass(eq=False)
class Subscription:
    project: str
    environment: str
    token_id: str
    revision: int
    loop: asyncio.AbstractEventLoop
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    closed: str | None = None  # why the stream must end: "revoked" or "expired"


class FlagFeed:
    def __init__(self, store: Store) -> None:
        self._store = store
        self._subs: set[Subscription] = set()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    def subscribe(self, project: str, env: str, token_id: str, revision: int) -> Subscription:
        sub = Subscription(project, env, token_id, revision, asyncio.get_running_loop())
        with self._lock:
            self._subs.add(sub)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="flag-feed", daemon=True)
                self._thread.start()
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        with self._lock:
            self._subs.discard(sub)

    def close_all(self, reason: str) -> None:
        """End every open stream (the server is stopping)."""
        with self._lock:
            subs = list(self._subs)
        for sub in subs:
            sub.closed = reason
            sub.loop.call_soon_threadsafe(sub.wake.set)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(WAIT_S * 3)

    def _run(self) -> None:
        from shipyard.store.flag_signal import open_signal

        signal = None
        last = 0.0
        while not self._stop.is_set():
            try:
                if signal is None:
                    signal = open_signal(self._store.url)
                    changed = True  # (re)connected: whatever happened meanwhile is read now
                else:
                    changed = signal.wait(WAIT_S)
                if changed or time.monotonic() - last > RESYNC_S:
                    last = time.monotonic()
                    self._check()
            except Exception:  # a database restart must not end every stream's updates
                log.warning("flag change watcher failed; reconnecting", exc_info=True)
                if signal is not None:
                    with contextlib.suppress(Exception):  # it is being dropped anyway
                        signal.close()
                signal = None
                self._stop.wait(WAIT_S)
        if signal is not None:
            signal.close()

    def _check(self) -> None:
        with self._lock:
            subs = list(self._subs)
        if not subs:
            return
        revisions, unusable = flags_client.watch_state(
            self._store,
            {(s.project, s.environment) for s in subs},
            {s.token_id for s in subs},
        )
        for sub in subs:
            why = unusable.get(sub.token_id)
            if why is not None:
                sub.closed = why
            elif revisions.get((sub.project, sub.environment), 0) == sub.revision:
                continue
            sub.loop.call_soon_threadsafe(sub.wake.set)
