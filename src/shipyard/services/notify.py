"""Deliver selected event kinds to the configured sinks, after the fact, from the event log.

A cursor per sink (the delivery log) means each event goes out once, a failing endpoint is
retried on the next dispatch, and nothing that records state waits on or fails for a sink.
Subscriptions come from shipyard.yaml's ``notifications:`` section (each with its own kinds,
secrets by reference) and from the environment: ``SHIPYARD_NOTIFY_WEBHOOK_URL``,
``SHIPYARD_NOTIFY_WEBHOOK_SECRET``, ``SHIPYARD_NOTIFY_SLACK_URL``, ``SHIPYARD_NOTIFY_EMAIL_*``
(``HOST``, ``PORT``, ``FROM``, ``TO``, ``USER``, ``PASSWORD``, ``STARTTLS``) and
``SHIPYARD_NOTIFY_KINDS`` (comma-separated; a trailing ``*`` matches a prefix).
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, Protocol

from sqlalchemy import func, select

from shipyard.settings import find_project_root
from shipyard.store.events import utcnow
from shipyard.store.release import notify_deliveries
from shipyard.store.uow import Store

DEFAULT_KINDS = ("deployment.finished", "freeze.added", "break-glass.*")
# A delivery run stops after this many events per sink so one dispatch stays short.
BATCH = 200


class Sink(Protocol):
    @property
    def name(self) -> str: ...

    def send(self, event: dict[str, Any]) -> int: ...


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


def _secret(ref: Any, what: str, root: Path) -> str:
    """A secret's value from its variable or file; errors name the source, never the value."""
    from shipyard.services.deploy_plan import resolve_secrets

    return resolve_secrets({what: ref.model_dump(exclude_none=True)}, root)[what]


def _sink_from_spec(sub: Any, i: int, root: Path) -> Sink:
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
    spec: Any | None, root: Path | None = None, env: Mapping[str, str] | None = None
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


def deliver_all(store: Store, subs: Sequence[tuple[Sink, Sequence[str]]]) -> list[dict[str, Any]]:
    """Each subscription's wanted events after its own cursor."""
    return [line for sink, kinds in subs for line in deliver(store, [sink], kinds)]


def kinds_from_env(env: Mapping[str, str] | None = None) -> tuple[str, ...]:
    env = os.environ if env is None else env
    raw = env.get("SHIPYARD_NOTIFY_KINDS", "")
    return tuple(k.strip() for k in raw.split(",") if k.strip()) or DEFAULT_KINDS


def wanted(kind: str, kinds: Sequence[str]) -> bool:
    return any(kind.startswith(k[:-1]) if k.endswith("*") else kind == k for k in kinds)


def deliver(
    store: Store, sinks: Sequence[Sink], kinds: Sequence[str] = DEFAULT_KINDS
) -> list[dict[str, Any]]:
    """Send every wanted event after each sink's cursor; returns the delivery log lines."""
    from shipyard.adapters.notify.webhook import NotifyFailed

    log: list[dict[str, Any]] = []
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
            after = (failed - 1) if failed is not None else (last if last is not None else -1)
            events = [
                e
                for e in uow.events.query(after_seq=after, limit=BATCH * 10)
                if wanted(e.kind, kinds)
            ][:BATCH]
        for e in events:
            try:
                attempts, status, detail = sink.send(e.to_dict()), "delivered", ""
            except NotifyFailed as exc:
                attempts, status, detail = exc.details.get("attempts", 0), "failed", exc.message
            line = {
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


def dispatch(
    store: Store, spec: Any | None = None, root: Path | None = None
) -> list[dict[str, Any]]:
    """Best effort after a state change: never raises, so a sink cannot block a release."""
    try:
        subs = subscriptions(spec, root)
        if not subs:
            return []
        return deliver_all(store, subs)
    except Exception:
        return []
