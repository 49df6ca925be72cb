"""Notifications over real HTTP to a small local receiver: signatures, retries, Slack shape."""

from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from shipyard.adapters.notify.slack import SlackSink
from shipyard.adapters.notify.webhook import Poster, WebhookSink
from shipyard.services.coordination import freezes, notify
from shipyard.store.uow import Store
from tests.integration.release_helpers import spec

SECRET = "s3cret-hmac-key"


class Receiver:
    """Answers with the queued statuses (200 when empty); ``hang`` delays every answer."""

    def __init__(self) -> None:
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.statuses: list[int] = []
        self.hang = 0.0
        outer = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers["Content-Length"]))
                outer.requests.append((dict(self.headers), body))
                if outer.hang:
                    time.sleep(outer.hang)
                self.send_response(outer.statuses.pop(0) if outer.statuses else 200)
                self.end_headers()

            def log_message(self, *_: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hooks/T0KEN-in-path"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.server.shutdown()
    r.server.server_close()


def _poster(url: str, timeout: float = 5.0) -> Poster:
    return Poster(url, timeout=timeout, attempts=3, sleep=lambda _s: None)


def _freeze(store: Store, name: str = "launch") -> None:
    freezes.add(store, spec(), {"name": name, "start": "2026-11-25", "end": "2026-11-26"}, "ops")


def test_webhook_posts_signed_json(store: Store, receiver: Receiver) -> None:
    """A freeze.added event arrives as JSON with a verifiable HMAC-SHA256 signature."""
    _freeze(store)
    sink = WebhookSink(receiver.url, SECRET, _poster(receiver.url))
    log = notify.deliver(store, [sink], notify.DEFAULT_KINDS)
    assert [(x["kind"], x["status"]) for x in log] == [("freeze.added", "delivered")]
    headers, body = receiver.requests[0]
    expected = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert headers["X-Shipyard-Signature"] == expected
    assert json.loads(body)["subject"] == "freeze:launch"
    assert notify.deliver(store, [sink], notify.DEFAULT_KINDS) == []  # each event once


def test_failing_endpoint_is_retried_then_caught_up(store: Store, receiver: Receiver) -> None:
    """Three 500s record a failure without raising; the next delivery sends it again."""
    _freeze(store)
    receiver.statuses = [500, 500, 500]
    sink = WebhookSink(receiver.url, SECRET, _poster(receiver.url))
    (line,) = notify.deliver(store, [sink], notify.DEFAULT_KINDS)
    assert (line["status"], line["attempts"]) == ("failed", 3)
    assert "T0KEN" not in line["detail"] and "T0KEN" not in sink.name
    _freeze(store, "second")
    later = notify.deliver(store, [sink], notify.DEFAULT_KINDS)
    assert [x["status"] for x in later] == ["delivered", "delivered"]
    assert len(receiver.requests) == 5


def test_client_errors_are_not_retried(store: Store, receiver: Receiver) -> None:
    """A 400 means the request itself is wrong, so it is tried once."""
    _freeze(store)
    receiver.statuses = [400]
    sink = WebhookSink(receiver.url, None, _poster(receiver.url))
    (line,) = notify.deliver(store, [sink], notify.DEFAULT_KINDS)
    assert (line["status"], line["attempts"]) == ("failed", 1)


def test_hanging_endpoint_times_out_and_is_retried(store: Store, receiver: Receiver) -> None:
    """An endpoint that does not answer in time counts as a failed attempt each time."""
    _freeze(store)
    receiver.hang = 1.0
    sink = WebhookSink(receiver.url, SECRET, _poster(receiver.url, timeout=0.2))
    (line,) = notify.deliver(store, [sink], notify.DEFAULT_KINDS)
    assert line["status"] == "failed" and line["attempts"] == 3
    assert "Timeout" in line["detail"]


def test_slack_gets_an_incoming_webhook_payload(store: Store, receiver: Receiver) -> None:
    """Slack receives text and blocks naming the freeze; its URL never names the sink."""
    _freeze(store)
    sink = SlackSink(receiver.url, _poster(receiver.url))
    notify.deliver(store, [sink], ["freeze.*"])
    body = json.loads(receiver.requests[0][1])
    assert "launch" in body["text"] and body["blocks"][0]["type"] == "section"
    assert sink.name.startswith("slack:") and "hooks" not in sink.name


def test_dispatch_uses_environment_and_never_raises(
    store: Store, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A configured webhook is called after a freeze is added; secrets stay out of the log."""
    monkeypatch.setenv("SHIPYARD_NOTIFY_WEBHOOK_URL", receiver.url)
    monkeypatch.setenv("SHIPYARD_NOTIFY_WEBHOOK_SECRET", SECRET)
    monkeypatch.setenv("SHIPYARD_NOTIFY_KINDS", "freeze.*")
    _freeze(store)
    assert len(receiver.requests) == 1
    with store.read() as uow:
        text = json.dumps([e.to_dict() for e in uow.events.query()])
    assert SECRET not in text and "T0KEN" not in text


def test_kind_selection() -> None:
    """Exact kinds and prefixes with * select events."""
    assert notify.wanted("break-glass.used", notify.DEFAULT_KINDS)
    assert not notify.wanted("lock.acquired", notify.DEFAULT_KINDS)
    assert notify.kinds_from_env({"SHIPYARD_NOTIFY_KINDS": "a, b.*"}) == ("a", "b.*")
