"""Email notifications over SMTP to a local server: the message, login, retries, failures."""

from __future__ import annotations

import json
import socket
from collections.abc import Iterator

import pytest

from shipyard.adapters.notify.email import EmailSink
from shipyard.errors import InputError
from shipyard.services.coordination import freezes, notify
from shipyard.store.uow import Store
from tests.integration.release_helpers import spec
from tests.smtp_server import SMTPServer

PASSWORD = "smtp-pa55word"


@pytest.fixture
def smtp() -> Iterator[SMTPServer]:
    with SMTPServer(credentials=("shipyard", PASSWORD)) as server:
        yield server


def sink(server: SMTPServer, **kw: object) -> EmailSink:
    args: dict[str, object] = {
        "host": "127.0.0.1",
        "port": server.port,
        "sender": "shipyard@example.com",
        "recipients": ("releases@example.com", "oncall@example.com"),
        "username": "shipyard",
        "password": PASSWORD,
        "timeout": 5.0,
        "sleep": lambda _s: None,
    }
    return EmailSink(**{**args, **kw})  # type: ignore[arg-type]


def add_freeze(store: Store) -> None:
    freezes.add(
        store,
        spec(),
        {"name": "launch", "start": "2026-12-01", "end": "2026-12-03"},
        "rm@example.com",
    )


def test_events_are_mailed_once_with_a_readable_message(store: Store, smtp: SMTPServer) -> None:
    add_freeze(store)
    log = notify.deliver(store, [sink(smtp)], ["freeze.added"])
    assert [(line["kind"], line["status"], line["attempts"]) for line in log] == [
        ("freeze.added", "delivered", 1)
    ]
    [mail] = smtp.received
    assert mail.login == "shipyard" and mail.sender == "shipyard@example.com"
    assert mail.recipients == ["releases@example.com", "oncall@example.com"]
    msg = mail.message
    assert msg["Subject"].startswith("[shipyard] shop: deploy freeze freeze:launch added")
    assert msg["To"] == "releases@example.com, oncall@example.com"
    assert msg["X-Shipyard-Event"] == "freeze.added"
    body = msg.get_payload(decode=True).decode()
    assert "freeze.added freeze:launch by rm@example.com" in body
    assert json.loads(body[body.index("{") :])["definition"]["name"] == "launch"
    assert PASSWORD.encode() not in mail.data
    # The cursor moved: a second dispatch sends nothing.
    assert notify.deliver(store, [sink(smtp)], ["freeze.added"]) == []
    assert len(smtp.received) == 1


def test_a_transient_refusal_is_retried_and_a_permanent_one_is_logged(
    store: Store, smtp: SMTPServer
) -> None:
    add_freeze(store)
    smtp.replies[:] = ["451 4.3.0 try again later"]
    [line] = notify.deliver(store, [sink(smtp)], ["freeze.added"])
    assert (line["status"], line["attempts"]) == ("delivered", 2)
    assert len(smtp.received) == 1

    freezes.add(
        store,
        spec(),
        {"name": "second", "start": "2026-12-10", "end": "2026-12-11"},
        "rm@example.com",
    )
    smtp.replies[:] = ["550 5.1.0 sender rejected"]
    [failed] = notify.deliver(store, [sink(smtp)], ["freeze.added"])
    assert (failed["status"], failed["attempts"]) == ("failed", 1)  # 5xx: not retried
    assert "SMTP 550" in failed["detail"] and PASSWORD not in failed["detail"]
    # Retried on the next dispatch, and delivered once the server accepts again.
    [retried] = notify.deliver(store, [sink(smtp)], ["freeze.added"])
    assert retried["status"] == "delivered" and len(smtp.received) == 2


def test_a_wrong_password_or_a_dead_server_fails_without_leaking(
    store: Store, smtp: SMTPServer
) -> None:
    add_freeze(store)
    [denied] = notify.deliver(store, [sink(smtp, password="wrong")], ["freeze.added"])
    assert denied["status"] == "failed" and "authentication failed" in denied["detail"]
    assert "wrong" not in denied["detail"]

    with socket.socket() as s:  # a port nothing listens on
        s.bind(("127.0.0.1", 0))
        dead = s.getsockname()[1]
    [down] = notify.deliver(store, [sink(smtp, port=dead, timeout=1.0)], ["freeze.added"])
    assert (down["status"], down["attempts"]) == ("failed", 3)  # connection errors are retried
    assert down["sink"] == f"email:127.0.0.1:{dead}:releases@example.com,oncall@example.com"


def test_two_email_subscriptions_keep_their_own_cursors(smtp: SMTPServer, store: Store) -> None:
    """Two lists on one SMTP server: delivering to one does not advance the other."""
    with store.begin() as uow:
        uow.events.append("freeze.added", "env:production", "alice", {"n": 1}, project="p")
    first = sink(smtp, recipients=("releases@example.com",))
    second = sink(smtp, recipients=("oncall@example.com",))
    assert [d["status"] for d in notify.deliver(store, [first], ["freeze.added"])] == ["delivered"]
    assert [d["status"] for d in notify.deliver(store, [second], ["freeze.added"])] == ["delivered"]
    assert notify.deliver(store, [first, second], ["freeze.added"]) == []


def test_email_sink_from_environment_variables(smtp: SMTPServer) -> None:
    env = {
        "SHIPYARD_NOTIFY_EMAIL_HOST": "127.0.0.1",
        "SHIPYARD_NOTIFY_EMAIL_PORT": str(smtp.port),
        "SHIPYARD_NOTIFY_EMAIL_FROM": "shipyard@example.com",
        "SHIPYARD_NOTIFY_EMAIL_TO": "a@example.com, b@example.com",
        "SHIPYARD_NOTIFY_EMAIL_USER": "shipyard",
        "SHIPYARD_NOTIFY_EMAIL_PASSWORD": PASSWORD,
    }
    [email] = notify.sinks_from_env(env)
    assert isinstance(email, EmailSink)
    assert email.recipients == ("a@example.com", "b@example.com") and email.port == smtp.port
    assert email.send({"kind": "train.cut", "project": "shop", "payload": {}}) == 1
    assert smtp.received[-1].recipients == ["a@example.com", "b@example.com"]
    with pytest.raises(InputError) as bad:
        notify.sinks_from_env({**env, "SHIPYARD_NOTIFY_EMAIL_TO": ""})
    assert bad.value.code == "notify-email-invalid"
