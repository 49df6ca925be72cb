"""Deliver selected event kinds to the configured sinks, from the event log, as they are written.

A cursor per sink (the delivery log) means each event goes out once, a failing endpoint is
retried on the next pass, and nothing that records state waits on or fails for a sink. A sink
seen for the first time starts at the end of the log: it gets what happens from then on, never
the history before it (``new_from``). Events go out when they are written: the command that
writes one delivers it right after (``dispatch``), and an environment's supervisor runs a
``Sender`` that delivers what rollouts write (a rollback, a hold, a finished deployment) within
a second. Passes hold a lock, so two processes never send the same event twice.
Subscriptions come from shipyard.yaml's ``notifications:`` section (each with its own kinds,
secrets by reference) and from the environment: ``SHIPYARD_NOTIFY_WEBHOOK_URL``,
``SHIPYARD_NOTIFY_WEBHOOK_SECRET``, ``SHIPYARD_NOTIFY_SLACK_URL``, ``SHIPYARD_NOTIFY_EMAIL_*``
(``HOST``, ``PORT``, ``FROM``, ``TO``, ``USER``, ``PASSWORD``, ``STARTTLS``) and
``SHIPYARD_NOTIFY_KINDS`` (comma-separated; a trailing ``*`` matches a prefix).
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypedDict

from sqlalchemy import func, select

from shipyard.ports.notify import Sink as Sink
from shipyard.settings import find_project_root
from shipyard.store.append import utcnow
from shipyard.store.release import notify_deliveries
from shipyard.store.uow import Store

if TYPE_CHECKING:
    from shipyard.spec.base import SecretRef
    from shipyard.spec.models import Spec
    from shipyard.spec.notifications import Subscription

DEFAULT_KINDS = ("deployment.finished", "freeze.added", "break-glass.*")
# A delivery run stops after this many events per sink so one dispatch stays short.
BATCH = 200
CURSOR = "cursor"  # the status of the row that holds a sink's place in the log


def sinks_from_env(env: Mapping[str, str] | None = None) -> list[Sink]:
    from shipyard.adapters.notify.slack import SlackSink
    from shipyard.adapters.notify.webhook import WebhookSink

    env = os.environ if env is None else env
    out: list[Sink] = []
    if env.get("SHIPYARD_NOTIFY_WEBHOOK_URL"):
        out.append(
            WebhookSink(
                env["SHIPYARD_NOTIFY_WEBHOOK_URL"], env.get("SHIPYARD_NOTIFY_WEBHOOK_SECRET")
            )
        )
    if env.get("SHIPYARD_NOTIFY_SLACK_URL"):
        out.append(SlackSink(env["SHIPYARD_NOTIFY_SLACK_URL"]))
    if env.get("SHIPYARD_NOTIFY_EMAIL_HOST"):
        out.append(_email_sink(env))
    return out


def _email_sink(env: Mapping[str, str]) -> Sink:
    from shipyard.adapters.notify.email import EmailSink
    from shipyard.errors import InputError

    recipients = tuple(a.strip() for a in env.get("SHIPYARD_NOTIFY_EMAIL_TO", "").split(",") if a)
    sender = env.get("SHIPYARD_NOTIFY_EMAIL_FROM", "")
    port = env.get("SHIPYARD_NOTIFY_EMAIL_PORT", "25")
    if not recipients or not sender or not port.isdigit():
        raise InputError(
            "email notifications need SHIPYARD_NOTIFY_EMAIL_FROM, SHIPYARD_NOTIFY_EMAIL_TO "
            "(comma-separated) and a numeric SHIPYARD_NOTIFY_EMAIL_PORT",
            "e.g. SHIPYARD_NOTIFY_EMAIL_FROM=shipyard@example.com "
            "SHIPYARD_NOTIFY_EMAIL_TO=releases@example.com",
            code="notify-email-invalid",
        )
    return EmailSink(
        host=env["SHIPYARD_NOTIFY_EMAIL_HOST"],
        port=int(port),
        sender=sender,
        recipients=recipients,
        username=env.get("SHIPYARD_NOTIFY_EMAIL_USER") or None,
        password=env.get("SHIPYARD_NOTIFY_EMAIL_PASSWORD") or None,
        starttls=env.get("SHIPYARD_NOTIFY_EMAIL_STARTTLS", "").lower() in ("1", "true", "yes"),
    )


def _secret(ref: SecretRef, what: str, root: Path) -> str:
    """A secret's value from its variable or file; errors name the source, never the value."""
    from shipyard.services.deployments.deploy_plan import resolve_secrets

    return resolve_secrets({what: ref.model_dump(exclude_none=True)}, root)[what]


def _sink_from_spec(sub: Subscription, i: int, root: Path) -> Sink:
    from shipyard.adapters.notify.email import EmailSink
    from shipyard.adapters.notify.slack import SlackSink
    from shipyard.adapters.notify.webhook import Poster, WebhookSink

    where = f"notifications[{i}]"
    if sub.webhook is not None:
        w = sub.webhook
        url = _secret(w.url, f"{where}.webhook.url", root)
        secret = _secret(w.secret, f"{where}.webhook.secret", root) if w.secret else None
        return WebhookSink(url, secret, Poster(url, timeout=w.timeout, attempts=w.attempts))
    if sub.slack is not None:
        return SlackSink(_secret(sub.slack.url, f"{where}.slack.url", root))
    e = sub.email
    assert e is not None  # a subscription has exactly one sink (the schema)
    password = _secret(e.password, f"{where}.email.password", root) if e.password else None
    return EmailSink(
        host=e.host,
        port=e.port,
        sender=e.from_,
        recipients=tuple(e.to),
        username=e.username,
        password=password,
        starttls=e.starttls,
    )


def subscriptions(
    spec: Spec | None, root: Path | None = None, env: Mapping[str, str] | None = None
) -> list[tuple[Sink, tuple[str, ...]]]:
    """Every (sink, kinds): shipyard.yaml's ``notifications:`` first, then the environment's."""
    out: list[tuple[Sink, tuple[str, ...]]] = []
    declared = getattr(spec, "notifications", None) or []
    for i, sub in enumerate(declared):
        # File references are relative to the project root, like every path in shipyard.yaml.
        base = root or find_project_root() or Path.cwd()
        out.append((_sink_from_spec(sub, i, base), tuple(sub.kinds)))
    env_kinds = kinds_from_env(env)
    out += [(sink, env_kinds) for sink in sinks_from_env(env)]
    return out


class Delivery(TypedDict):
    """An attempt to send an event to a sink."""

    sink: str
    seq: int  # the event's
    kind: str
    status: str  # delivered, failed
    attempts: int
    detail: str  # why it failed


class DeliveryLogged(Delivery):
    at: str


def deliver_all(
    store: Store, subs: Sequence[tuple[Sink, Sequence[str]]], *, new_from: int | None = None
) -> list[Delivery]:
    """Each subscription's wanted events after its own cursor (a new sink's starts after
    event ``new_from``), one pass at a time across processes."""
    with _passing(store):
        return [
            line
            for sink, kinds in subs
            for line in deliver(store, [sink], kinds, new_from=new_from)
        ]


@contextlib.contextmanager
def _passing(store: Store) -> Iterator[None]:
    """One delivery pass at a time for the store, whichever process makes it."""
    store.home.mkdir(parents=True, exist_ok=True)
    with open(store.home / "notify.lock", "a+") as fh:
        fcntl.flock(fh, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(fh, fcntl.LOCK_UN)


def last_seq(store: Store) -> int:
    """The sequence number of the newest event, -1 for an empty log."""
    with store.read() as uow:
        newest = uow.events.query(limit=1, descending=True)
    return newest[0].seq if newest else -1


def delivery_log(store: Store, limit: int = 50) -> list[DeliveryLogged]:
    """The newest delivery attempts first: sink, event, status, attempts, detail, when."""
    c = notify_deliveries.c
    with store.read() as uow:
        rows = uow.conn.execute(
            select(notify_deliveries)
            .where(c.status != CURSOR)
            .order_by(c.at.desc(), c.seq.desc())
            .limit(limit)
        )
        return [
            {
                "sink": r.sink,
                "seq": r.seq,
                "kind": r.kind,
                "status": r.status,
                "attempts": r.attempts,
                "detail": r.detail,
                "at": r.at,
            }
            for r in rows
        ]


def kinds_from_env(env: Mapping[str, str] | None = None) -> tuple[str, ...]:
    env = os.environ if env is None else env
    raw = env.get("SHIPYARD_NOTIFY_KINDS", "")
    return tuple(k.strip() for k in raw.split(",") if k.strip()) or DEFAULT_KINDS


def wanted(kind: str, kinds: Sequence[str]) -> bool:
    return any(kind.startswith(k[:-1]) if k.endswith("*") else kind == k for k in kinds)


def deliver(
    store: Store,
    sinks: Sequence[Sink],
    kinds: Sequence[str] = DEFAULT_KINDS,
    *,
    new_from: int | None = None,
) -> list[Delivery]:
    """Send every wanted event after each sink's cursor; returns the delivery log lines.

    A sink with no cursor yet starts after event ``new_from`` (None: from the first event)."""
    from shipyard.ports.notify import NotifyFailed

    log: list[Delivery] = []
    for sink in sinks:
        with store.read() as uow:
            last = uow.conn.execute(
                select(func.max(notify_deliveries.c.seq)).where(
                    notify_deliveries.c.sink == sink.name
                )
            ).scalar()
            # A failed delivery keeps the cursor before it, so it is tried again next time.
            failed = uow.conn.execute(
                select(func.min(notify_deliveries.c.seq)).where(
                    notify_deliveries.c.sink == sink.name, notify_deliveries.c.status == "failed"
                )
            ).scalar()
        if last is None and new_from is not None:
            _move_cursor(store, sink.name, new_from)  # a new sink: nothing before now
            last = new_from
        after = (failed - 1) if failed is not None else (last if last is not None else -1)
        with store.read() as uow:
            scanned = uow.events.query(after_seq=after, limit=BATCH * 10)
        events = [e for e in scanned if wanted(e.kind, kinds)][:BATCH]
        if scanned and not events and failed is None:
            _move_cursor(store, sink.name, scanned[-1].seq)  # past what it does not want
        for e in events:
            try:
                attempts, status, detail = sink.send(e.to_dict()), "delivered", ""
            except NotifyFailed as exc:
                attempts, status, detail = exc.details.get("attempts", 0), "failed", exc.message
            line: Delivery = {
                "sink": sink.name,
                "seq": e.seq,
                "kind": e.kind,
                "status": status,
                "attempts": attempts,
                "detail": detail,
            }
            with store.begin() as uow:
                uow.conn.execute(
                    notify_deliveries.delete().where(
                        notify_deliveries.c.sink == sink.name, notify_deliveries.c.seq == e.seq
                    )
                )
                uow.conn.execute(notify_deliveries.insert(), {**line, "at": utcnow()})
            log.append(line)
            if status == "failed":
                break  # keep order: later events wait for this one
    return log


def _move_cursor(store: Store, sink: str, seq: int) -> None:
    """Hold ``sink``'s place after event ``seq`` (a row of status ``cursor``)."""
    c = notify_deliveries.c
    with store.begin() as uow:
        uow.conn.execute(notify_deliveries.delete().where(c.sink == sink, c.status == CURSOR))
        uow.conn.execute(
            notify_deliveries.insert(),
            {
                "sink": sink,
                "seq": seq,
                "kind": "",
                "status": CURSOR,
                "attempts": 0,
                "detail": "",
                "at": utcnow(),
            },
        )


def dispatch(store: Store, spec: Spec | None = None, root: Path | None = None) -> list[Delivery]:
    """Best effort right after a state change: never raises, so a sink cannot block a
    release. A sink seen for the first time gets the event just written, nothing older."""
    try:
        subs = subscriptions(spec, root)
        if not subs:
            return []
        return deliver_all(store, subs, new_from=last_seq(store) - 1)
    except Exception:
        return []


class Sender:
    """Delivers events as they are written, from a long-running process (an environment's
    supervisor): a pass every ``every`` seconds over shipyard.yaml's subscriptions (read
    again when the file changes) and SHIPYARD_NOTIFY_*; a sink that failed waits
    ``backoff`` seconds before it is tried again."""

    def __init__(self, store: Store, root: Path, every: float = 0.5, backoff: float = 30.0):
        self.store, self.root, self.every, self.backoff = store, root, every, backoff
        self._spec: Spec | None = None
        self._read_at: float | None = None
        self._retry: dict[str, float] = {}

    def subscriptions(self) -> list[tuple[Sink, tuple[str, ...]]]:
        from shipyard.settings import SPEC_NAME
        from shipyard.spec.load import load_spec

        path = self.root / SPEC_NAME
        try:
            changed = path.stat().st_mtime
        except OSError:
            return []
        if changed != self._read_at:
            self._spec, self._read_at = load_spec(path), changed
        return subscriptions(self._spec, self.root)

    def once(self, now: float) -> list[Delivery]:
        """One pass: each due sink's new events."""
        due = [(s, k) for s, k in self.subscriptions() if self._retry.get(s.name, 0) <= now]
        if not due:
            return []
        lines = deliver_all(self.store, due, new_from=last_seq(self.store))
        for line in lines:
            if line["status"] == "failed":
                self._retry[line["sink"]] = now + self.backoff
        return lines

    def run(self, stop: threading.Event, say: Any = None) -> None:
        import time

        while not stop.is_set():
            try:
                for line in self.once(time.monotonic()):
                    if say is not None:
                        say(
                            f"notified {line['sink']} of event {line['seq']} ({line['kind']}): "
                            f"{line['status']}"
                        )
            except Exception as exc:  # a broken spec or sink must not end the sender
                if say is not None:
                    say(f"notifications: {type(exc).__name__}: {exc}")
            stop.wait(self.every)
