"""Subscriptions declared in shipyard.yaml's `notifications:` section, delivered by the real
`shipyard` command to a real HTTP receiver and a real SMTP server, secrets never printed."""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.e2e.helpers import as_json, shipyard
from tests.integration.release_helpers import SPEC
from tests.integration.test_release_notify import Receiver
from tests.smtp_server import SMTPServer

HOOK_SECRET = "hmac-key-from-a-file"
SMTP_PASSWORD = "smtp-pa55word"


def _spec(port: int) -> str:
    return SPEC + (
        "notifications:\n"
        "  - webhook: {url: {env: RELEASE_HOOK_URL}, secret: {file: hook.secret}}\n"
        "    kinds: [freeze.added]\n"
        "  - email:\n"
        f"      host: 127.0.0.1\n      port: {port}\n"
        "      from: shipyard@example.com\n      to: [releases@example.com]\n"
        "      username: shipyard\n      password: {env: RELEASE_SMTP_PASSWORD}\n"
        '    kinds: ["freeze.*"]\n'
    )


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    r = Receiver()
    yield r
    r.server.shutdown()
    r.server.server_close()


@pytest.fixture
def smtp() -> Iterator[SMTPServer]:
    with SMTPServer(credentials=("shipyard", SMTP_PASSWORD)) as server:
        yield server


def _repo(tmp_path: Path, port: int) -> Path:
    repo = tmp_path / "r"
    repo.mkdir()
    (repo / "shipyard.yaml").write_text(_spec(port))
    (repo / "hook.secret").write_text(HOOK_SECRET + "\n")
    return repo


def _no_secret(text: str, url: str) -> None:
    for secret in (HOOK_SECRET, SMTP_PASSWORD, "T0KEN-in-path", url):
        assert secret not in text


def test_declared_subscriptions_get_their_own_kinds(
    tmp_path: Path, receiver: Receiver, smtp: SMTPServer
) -> None:
    """A runtime freeze reaches the webhook (signed with the key from the file) and the mailbox
    (logged in with the password from the variable); removing it reaches only the mailbox."""
    repo = _repo(tmp_path, smtp.port)
    env = {"RELEASE_HOOK_URL": receiver.url, "RELEASE_SMTP_PASSWORD": SMTP_PASSWORD}
    added = shipyard(
        "freeze", "add", "launch", "--start", "2026-11-25", "--end", "2026-11-26",
        cwd=repo, env=env,
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    [(headers, body)] = receiver.requests  # delivered right after the freeze was stored
    expected = "sha256=" + hmac.new(HOOK_SECRET.encode(), body, hashlib.sha256).hexdigest()
    assert headers["X-Shipyard-Signature"] == expected
    assert json.loads(body)["kind"] == "freeze.added"
    assert [m.login for m in smtp.received] == ["shipyard"]

    assert shipyard("freeze", "remove", "launch", cwd=repo, env=env).returncode == 0
    assert len(receiver.requests) == 1  # freeze.removed is not among the webhook's kinds
    assert len(smtp.received) == 2  # the mailbox takes every freeze.* event
    out = shipyard("notify", "deliver", "--json", cwd=repo, env=env)
    assert out.returncode == 0 and as_json(out)["deliveries"] == []  # each event went once
    _no_secret(added.stdout + added.stderr + out.stdout + out.stderr, receiver.url)


def test_a_missing_secret_names_its_source_never_a_value(
    tmp_path: Path, receiver: Receiver, smtp: SMTPServer
) -> None:
    """Without the webhook's variable `notify deliver` fails with secret-missing naming the
    variable; the command that changed state still succeeds (delivery is best effort)."""
    repo = _repo(tmp_path, smtp.port)
    env = {"RELEASE_SMTP_PASSWORD": SMTP_PASSWORD}
    added = shipyard(
        "freeze", "add", "launch", "--start", "2026-11-25", "--end", "2026-11-26",
        cwd=repo, env=env,
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    out = shipyard("notify", "deliver", cwd=repo, env=env)
    assert out.returncode == 2 and "error[secret-missing]" in out.stderr
    assert "RELEASE_HOOK_URL" in out.stderr
    _no_secret(out.stdout + out.stderr, receiver.url)


def test_a_bad_notifications_section_is_a_spec_error(tmp_path: Path) -> None:
    """Two sinks in one subscription, or a URL written in the file, fail validation with the
    line and column."""
    repo = tmp_path / "r"
    repo.mkdir()
    (repo / "shipyard.yaml").write_text(
        SPEC
        + "notifications:\n  - slack: {url: {env: S}}\n"
        + "    email: {host: h, from: a@example.com, to: [b@example.com]}\n"
    )
    two = shipyard("validate", cwd=repo)
    assert two.returncode == 2 and "exactly one sink" in two.stderr
    (repo / "shipyard.yaml").write_text(
        SPEC + "notifications:\n  - webhook: {url: 'https://hooks.example/T0KEN'}\n"
    )
    inline = shipyard("validate", cwd=repo)
    assert inline.returncode == 2 and "notifications.0.webhook.url" in inline.stderr
